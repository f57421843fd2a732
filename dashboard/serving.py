"""Serving the compare to many visitors: admission, an honest busy message, and dropping work
whose visitor has gone.

Why not Gradio's queue limit alone: past ``max_size`` Gradio answers HTTP 503, which
gradio_client turns into a fixed "Queue is full" and which never says how long to wait; and a
visitor waiting in a long queue on a slow machine meets a client-side timeout instead.  So the
compare events are admitted by Gradio without a concurrency limit and wait here, in an asyncio
gate (no thread per waiting visitor): one compare runs at a time, at most ``MAX_WAITING`` wait,
and anyone past that gets at once "The app is busy: N compares are waiting; please try again in
about T s" (T from the recent compare times).  A waiting compare whose visitor has disconnected
is dropped when its turn comes, and a running one stops between models
(``dashboard.core.run_compare`` checks ``core.should_stop``).
"""

from __future__ import annotations

import asyncio
import functools
import math
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from dashboard import core

MAX_WAITING = int(os.environ.get("SR_MAX_WAITING", "40"))  # compares allowed to wait; past it: busy
COMPARE_SLOTS = 1  # compares at once (each already uses every core; memory stays bounded)
# Gradio's own limits sit above ours so that they never answer first: every waiting compare is an
# active Gradio job (an await, not a thread), plus the cheap view updates.
GRADIO_MAX_THREADS = MAX_WAITING + 64
GRADIO_MAX_SIZE = 4 * MAX_WAITING + 64


class Busy(Exception):
    """Too many compares waiting; the message is meant for the visitor."""


def busy_text(waiting: int, seconds: float) -> str:
    """The busy message: how many wait and when to come back (rounded up to 5 s)."""
    t = max(5, int(math.ceil(seconds / 5.0)) * 5)
    return (f"The app is busy: {waiting} compare{'s are' if waiting != 1 else ' is'} waiting. "
            f"Please try again in about {t} s.")


class ComputeGate:
    """At most ``slots`` calls at once and ``max_waiting`` waiting; past that ``Busy`` at once.

    Keeps an exponential moving average of the call durations for the busy message's estimate."""

    def __init__(self, max_waiting: int = MAX_WAITING, slots: int = COMPARE_SLOTS, typical_s: float = 1.5):
        self.max_waiting = max_waiting
        self.slots = slots
        self.waiting = 0
        self.running = 0
        self.typical_s = typical_s
        self.dropped = 0  # compares whose visitor left before or while they ran
        self._sem: asyncio.Semaphore | None = None
        self._lock = threading.Lock()

    def estimate_s(self, ahead: int) -> float:
        """Seconds until a newcomer behind ``ahead`` compares would be served."""
        return (ahead + 1) * self.typical_s / self.slots

    def record(self, seconds: float) -> None:
        with self._lock:
            self.typical_s = 0.7 * self.typical_s + 0.3 * seconds

    async def run(self, fn: Callable[..., Any], *args: Any, alive: Callable[[], bool] = lambda: True) -> Any:
        """``fn(*args)`` in a worker thread once a slot is free; ``Busy`` if too many wait;
        ``core.Cancelled`` if ``alive()`` turns false before it starts (or between its models)."""
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.slots)
        if self.waiting >= self.max_waiting:
            raise Busy(busy_text(self.waiting, self.estimate_s(self.waiting + self.running)))
        self.waiting += 1
        try:
            await self._sem.acquire()
        finally:
            self.waiting -= 1
        self.running += 1
        try:
            if not alive():
                self.dropped += 1
                raise core.Cancelled("the visitor left before the compare started")
            t0 = time.perf_counter()
            try:
                out = await asyncio.to_thread(_call_with_stop, alive, fn, *args)
            except core.Cancelled:
                self.dropped += 1
                raise
            self.record(time.perf_counter() - t0)
            return out
        finally:
            self.running -= 1
            self._sem.release()


def _call_with_stop(alive: Callable[[], bool], fn: Callable[..., Any], *args: Any) -> Any:
    with core.stop_when(lambda: not alive()):
        return fn(*args)


def event_alive() -> Callable[[], bool]:
    """A check of whether the Gradio event being processed still has a visitor.

    Gradio marks an event dead (``Event.alive = False``) when its visitor's event stream
    disconnects (a closed tab, a cancelled client)."""
    from gradio.context import LocalContext

    blocks, event_id = LocalContext.blocks.get(None), LocalContext.event_id.get(None)
    queue = getattr(blocks, "_queue", None)
    if queue is None or event_id is None:
        return lambda: True

    def alive() -> bool:
        for job in list(queue.active_jobs):
            for ev in job or ():
                if ev._id == event_id:
                    return bool(ev.alive)
        ev = queue.event_ids_to_events.get(event_id)
        return True if ev is None else bool(ev.alive)

    return alive


GATE = ComputeGate()


def gated(fn: Callable[..., Any], gate: ComputeGate | None = None) -> Callable[..., Any]:
    """``fn`` (a sync Gradio callback) behind ``gate``: the visitor past the waiting limit gets the
    busy message as a ``gr.Error``; a compare whose visitor has gone is dropped quietly."""
    import gradio as gr

    g = gate or GATE

    @functools.wraps(fn)
    async def wrapper(*args: Any) -> Any:
        try:
            return await g.run(fn, *args, alive=event_alive())
        except Busy as e:
            raise gr.Error(str(e), duration=10, print_exception=False, title="Busy") from None
        except core.Cancelled as e:
            raise gr.Error(f"Compare cancelled: {e}.", print_exception=False) from None

    return wrapper
