"""Serving the compare to many visitors: admission, an honest busy message, and dropping work
whose visitor has gone.

Why not Gradio's queue limit alone: past ``max_size`` Gradio answers HTTP 503, which
gradio_client turns into a fixed "Queue is full" and which never says how long to wait; and a
visitor waiting in a long queue on a slow machine meets a client-side timeout instead.  So the
compare events are admitted by Gradio without a concurrency limit and wait here, in an asyncio
gate (no thread per waiting visitor): one compare runs at a time, at most ``max_waiting`` wait,
and anyone past that gets at once "The app is busy: N compares are waiting; please try again in
about T s" (T from the recent compare times).  A waiting compare whose visitor has disconnected
is dropped when its turn comes, and a running one stops between models
(``dashboard.core.run_compare`` checks ``core.should_stop``).

The limits come from the app's ``Settings`` (``SR_MAX_WAITING``, ``SR_SESSION_TTL_S``,
``SR_SESSION_CAPACITY``), passed in by the caller: the Compare tab owns its ``ComputeGate``, and
``dashboard.ui.launch_kwargs`` sizes Gradio's own limits with ``gradio_max_threads`` /
``gradio_max_size``.  The constants here are only the defaults.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import math
import os
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from dashboard import core, viewer

MAX_WAITING = 40  # default of SR_MAX_WAITING: compares allowed to wait; past it: busy
COMPARE_SLOTS = 1  # compares at once (each already uses every core; memory stays bounded)
# Sessions: Gradio keeps every session's state (up to 10,000 sessions, a closed one for an hour);
# here a session unused for ``session_ttl_s`` is forgotten, and at most ``session_capacity`` are kept.
SESSION_TTL_S = 1800.0  # default of SR_SESSION_TTL_S
SESSION_CAPACITY = 1000  # default of SR_SESSION_CAPACITY


# Gradio's own limits sit above ours so that they never answer first: every waiting compare is an
# active Gradio job (an await, not a thread), plus the cheap view updates.
def gradio_max_threads(max_waiting: int) -> int:
    """``demo.launch(max_threads=...)`` for a gate letting ``max_waiting`` compares wait."""
    return max_waiting + 64


def gradio_max_size(max_waiting: int) -> int:
    """``demo.queue(max_size=...)`` for a gate letting ``max_waiting`` compares wait."""
    return 4 * max_waiting + 64


class Busy(Exception):
    """Too many compares waiting; the message is meant for the visitor."""


def busy_text(waiting: int, seconds: float) -> str:
    """The busy message: how many wait and when to come back (rounded up to 5 s)."""
    t = max(5, math.ceil(seconds / 5.0) * 5)
    return (
        f"The app is busy: {waiting} compare{'s are' if waiting != 1 else ' is'} waiting. "
        f"Please try again in about {t} s."
    )


REF_PIXELS = 256 * 256  # the output size of one "typical" compare (a 256 px ground truth): cost 1.0
MIN_COST = 0.25
# the arguments that say an upload is the low-res input (upscaled x4: 16 times its pixels come out),
# not a ground truth (shrunk first: its own size comes out): the compare's modes and /upscale's sources
LR_MARKERS = frozenset(core.LR_SOURCE) | frozenset(core.LR_SOURCE.values())


def estimate_cost(args: tuple | list) -> float:
    """The relative cost of a compare from its arguments: the pixels it outputs over ``REF_PIXELS``;
    the input image's (an array, a PIL image, or an image file's path, read from its header) as
    they are for a ground truth, times 16 when an argument says the upload is the low-res input
    (``LR_MARKERS``); 1.0 when no image is among them (an example).  A stand-in for compute time
    and memory, which grow with the output pixels (a 1024 px low-res upload costs 256 times a 256 px
    ground truth, not 16)."""
    px = 0
    lr = False
    for a in args:
        if isinstance(a, dict) and isinstance(a.get("path"), str):
            a = a["path"]
        if isinstance(a, str) and a in LR_MARKERS:
            lr = True
        elif hasattr(a, "shape") and len(getattr(a, "shape", ())) >= 2:
            px += int(a.shape[0]) * int(a.shape[1])
        elif hasattr(a, "size") and isinstance(getattr(a, "size", None), tuple) and len(a.size) == 2:
            px += int(a.size[0]) * int(a.size[1])
        elif isinstance(a, str) and len(a) < 4096 and os.path.isfile(a):
            from PIL import Image

            try:
                with Image.open(a) as im:
                    px += im.size[0] * im.size[1]
            except (OSError, ValueError, Image.DecompressionBombError):
                continue  # not an image, or one the compare itself refuses with a clear message
    if lr:  # a larger low-res upload is centre-cropped to MAX_LR_SIDE first
        px = min(px, core.MAX_LR_SIDE * core.MAX_LR_SIDE) * core.SCALE * core.SCALE
    return max(MIN_COST, px / REF_PIXELS) if px else 1.0


@dataclasses.dataclass
class _Waiter:
    fut: asyncio.Future
    cost: float
    arrived: float
    key: float  # arrival + estimated run time: the smallest goes next (a big upload does not starve small ones)
    session: str | None
    client: str | None


class ComputeGate:
    """At most ``slots`` calls at once and ``max_waiting`` waiting; past that ``Busy`` at once.

    Fair (issue 23): at most one waiting compare per session (a newer one replaces it) and per client
    address (a second from another page of the same address is told to wait); the next to run is the
    waiting compare with the earliest arrival + estimated run time, so small compares are not stuck
    behind large uploads, and a large one is passed only by compares that would end before it.  The
    estimate learns seconds per unit of cost (``estimate_cost``: input pixels) from finished compares.
    """

    def __init__(self, max_waiting: int = MAX_WAITING, slots: int = COMPARE_SLOTS, typical_s: float = 1.5):
        self.max_waiting = max_waiting
        self.slots = slots
        self.typical_s = typical_s  # seconds per unit of cost (a 256x256 compare)
        self.running = 0
        self.dropped = 0  # compares whose visitor left before or while they ran
        self.replaced = 0  # waiting compares replaced by a newer one from the same session
        self._waiters: list[_Waiter] = []
        self._running: list[tuple[float, float]] = []  # (start, cost) of each running compare
        self._free = slots
        self._lock = threading.Lock()

    @property
    def waiting(self) -> int:
        return len(self._waiters)

    def estimate_s(self, ahead: int | None = None, cost: float = 1.0) -> float:
        """Seconds until a newcomer of ``cost`` would be served: what runs (its remaining estimated
        time) and what waits, spread over the slots, plus its own run.  ``ahead`` (compares ahead
        of unknown cost, for callers without the queue) counts each as one unit."""
        now = time.monotonic()
        if ahead is not None and not self._waiters and not self._running:
            return (ahead + 1) * self.typical_s / self.slots
        left = sum(max(0.1 * c, c - (now - t0) / self.typical_s) for t0, c in self._running)
        queued = sum(w.cost for w in self._waiters)
        return (left + queued) * self.typical_s / self.slots + cost * self.typical_s

    def done_in_s(self, waiter: _Waiter) -> float:
        """Seconds until the waiting compare ``waiter`` will have run: what runs now (its remaining
        estimated time), the waiting compares that go before it, and its own run."""
        now = time.monotonic()
        left = sum(max(0.1 * c, c - (now - t0) / self.typical_s) for t0, c in self._running)
        order = (waiter.key, waiter.arrived)
        ahead = sum(w.cost for w in self._waiters if (w.key, w.arrived) <= order and w is not waiter)
        return (left + ahead) * self.typical_s / self.slots + waiter.cost * self.typical_s

    def calibrate(self, seconds: float, cost: float = 1.0) -> None:
        """Start the estimate from a compare timed before any visitor came (the app's opening
        view): without it the first busy messages use the default guess, ``typical_s``."""
        if seconds > 0 and math.isfinite(seconds):
            with self._lock:
                self.typical_s = seconds / max(cost, MIN_COST)

    def record(self, seconds: float, cost: float = 1.0) -> None:
        with self._lock:
            self.typical_s = 0.7 * self.typical_s + 0.3 * seconds / max(cost, MIN_COST)

    def _grant_next(self) -> None:
        """A slot is free: hand it to the waiting compare with the smallest key, or keep it."""
        while self._waiters:
            w = min(self._waiters, key=lambda x: (x.key, x.arrived))
            self._waiters.remove(w)
            if not w.fut.done():
                w.fut.set_result(None)
                return
        self._free += 1

    async def _acquire(self, cost: float, session: str | None, client: str | None) -> None:
        for w in list(self._waiters):
            if session is not None and w.session == session:
                self._waiters.remove(w)  # the page asked again: its older request is void
                self.replaced += 1
                if not w.fut.done():
                    w.fut.set_exception(core.Cancelled("replaced by a newer compare from the same page"))
            elif client is not None and w.client == client:
                raise Busy(
                    "A compare from your address is already waiting. Please try again when it has run "
                    f"(in about {max(5, math.ceil(self.done_in_s(w) / 5) * 5)} s)."
                )
        if self.waiting >= self.max_waiting:
            raise Busy(busy_text(self.waiting, self.estimate_s(cost=cost)))
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        now = time.monotonic()
        fut = asyncio.get_running_loop().create_future()
        w = _Waiter(fut, cost, now, now + cost * self.typical_s, session, client)
        self._waiters.append(w)
        try:
            await fut
        except asyncio.CancelledError:
            if w in self._waiters:
                self._waiters.remove(w)
            elif fut.done() and not fut.cancelled() and fut.exception() is None:
                self._grant_next()  # it was granted the slot just as it was cancelled: pass it on
            raise

    @contextlib.asynccontextmanager
    async def slot(
        self,
        alive: Callable[[], bool] = lambda: True,
        cost: float = 1.0,
        session: str | None = None,
        client: str | None = None,
    ) -> AsyncIterator[None]:
        """Hold a compare slot for the block; ``Busy`` at once if too many wait (or this client
        already has one waiting), ``core.Cancelled`` if the visitor left while waiting or the
        same session asked again.  For streamed compares (``gated_stream``)."""
        await self._acquire(cost, session, client)
        self.running += 1
        t0 = time.monotonic()
        entry = (t0, cost)
        self._running.append(entry)
        try:
            if not alive():
                self.dropped += 1
                raise core.Cancelled("the visitor left before the compare started")
            yield
            self.record(time.monotonic() - t0, cost)
        finally:
            self.running -= 1
            self._running.remove(entry)
            self._grant_next()

    async def run(
        self,
        fn: Callable[..., Any],
        *args: Any,
        alive: Callable[[], bool] = lambda: True,
        cost: float = 1.0,
        session: str | None = None,
        client: str | None = None,
    ) -> Any:
        """``fn(*args)`` in a worker thread once a slot is free; ``Busy`` if too many wait;
        ``core.Cancelled`` if ``alive()`` turns false before it starts (or between its models)."""
        async with self.slot(alive, cost, session, client):
            try:
                return await asyncio.to_thread(_call_with_stop, alive, fn, *args)
            except core.Cancelled:
                self.dropped += 1
                raise


def request_owner() -> tuple[str | None, str | None]:
    """(session, client address) of the Gradio event being processed, for the gate's
    one-waiting-compare rule; (None, None) outside an event."""
    from gradio.context import LocalContext

    req = LocalContext.request.get(None)
    if req is None:
        return None, None
    host = getattr(getattr(req, "client", None), "host", None)
    return getattr(req, "session_hash", None), (str(host) if host else None)


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


def expire_sessions(state_holder: Any, idle_s: float = SESSION_TTL_S) -> int:
    """Forget the Gradio sessions unused for ``idle_s`` seconds; return how many.

    Gradio itself only drops a session when 10,000 newer ones push it out."""
    import datetime

    cutoff = datetime.datetime.now() - datetime.timedelta(seconds=idle_s)
    n = 0
    with state_holder.lock:
        for sid, last in list(state_holder.time_last_used.items()):
            if last < cutoff:
                state_holder.session_data.pop(sid, None)
                state_holder.time_last_used.pop(sid, None)
                n += 1
    return n


def start_session_reaper(blocks: Any, idle_s: float = SESSION_TTL_S, every_s: float | None = None) -> threading.Thread:
    """A daemon thread running ``expire_sessions`` on the launched app's sessions."""
    every = every_s or max(1.0, min(60.0, idle_s / 4))

    def loop() -> None:
        while True:
            time.sleep(every)
            holder = getattr(blocks, "state_holder", None)
            if holder is not None:
                expire_sessions(holder, idle_s)

    t = threading.Thread(target=loop, name="session-reaper", daemon=True)
    t.start()
    return t


class PanelFiles:
    """ASGI middleware: the viewer's PNGs and the downloads' files at ``/sr-files/<folder>/<path>``
    (``dashboard.viewer.serve_folder``), so a page never sees the server's temporary paths.  Only
    files inside a served folder are sent; anything else (``..``, links out, unknown folders) is a
    404."""

    MARK = "/" + viewer.FILES_PREFIX

    def __init__(self, app: Any):
        self.app = app

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        path = scope.get("path") or ""
        at = path.find(self.MARK)
        if scope.get("type") != "http" or at < 0 or scope.get("method") not in ("GET", "HEAD"):
            await self.app(scope, receive, send)
            return
        from starlette.responses import FileResponse, PlainTextResponse

        target = self.resolve(path[at + len(self.MARK) :])
        resp: Any = (
            FileResponse(target, headers={"Cache-Control": "private, max-age=3600"})
            if target is not None
            else PlainTextResponse("not found", status_code=404)
        )
        await resp(scope, receive, send)

    @staticmethod
    def resolve(rest: str) -> str | None:
        """The file that ``<folder index>/<path>`` names inside a served folder, or None."""
        index, _, rel = rest.partition("/")
        if not index.isdigit() or int(index) >= len(viewer.SERVED) or not rel:
            return None
        root = viewer.SERVED[int(index)]
        target = (root / rel).resolve()
        return str(target) if target.is_relative_to(root) and target.is_file() else None


class StaticInfoCache:
    """ASGI middleware: Gradio's page configuration and API description, built once and replayed.

    Why: every visitor (and every gradio_client ``Client``) first fetches ``/config`` (185 kB, a deep
    copy and a JSON encoding: about 0.1 s of CPU under the GIL) and ``/gradio_api/info``.  A burst of
    80 newcomers thus queued about 12 s of work behind a running compare and the later ones hit
    their client's connect timeout.  Both answers are fixed once the app is launched (no
    authentication here), so the first answer per host and query is kept and sent again as is.
    Requests with cookies or credentials are passed through untouched."""

    PATHS = ("/config", "/gradio_api/info")

    def __init__(self, app: Any, ttl_s: float = 600.0):
        self.app = app
        self.ttl_s = ttl_s
        self._store: dict[tuple, tuple[float, int, list, bytes]] = {}

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope.get("type") != "http" or scope.get("method") != "GET" or scope.get("path") not in self.PATHS:
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        if b"cookie" in headers or b"authorization" in headers:
            await self.app(scope, receive, send)
            return
        key = (
            scope["path"],
            scope.get("query_string", b""),
            scope.get("scheme"),
            scope.get("root_path", ""),
            headers.get(b"host"),
            headers.get(b"x-forwarded-host"),
            headers.get(b"x-forwarded-proto"),
            headers.get(b"accept-encoding"),
        )
        hit = self._store.get(key)
        if hit is not None and time.monotonic() - hit[0] < self.ttl_s:
            _, status, resp_headers, body = hit
            await send({"type": "http.response.start", "status": status, "headers": resp_headers})
            await send({"type": "http.response.body", "body": body})
            return
        parts: list[bytes] = []
        start: dict = {}

        async def capture(message: dict) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                parts.append(message.get("body", b""))
            await send(message)

        await self.app(scope, receive, capture)
        if start.get("status") == 200 and not any(k.lower() == b"set-cookie" for k, _ in start.get("headers", [])):
            if len(self._store) > 64:
                self._store.clear()
            self._store[key] = (time.monotonic(), 200, list(start.get("headers", [])), b"".join(parts))


def trust_proxies(proxies: tuple[str, ...] | list[str]) -> str:
    """Believe ``X-Forwarded-For`` / ``X-Forwarded-Proto`` only on connections from ``proxies``
    (the app's ``SR_TRUSTED_PROXIES``: addresses or networks; none by default).  Call before launch.

    Why: uvicorn, which Gradio runs, rewrites the client address from ``X-Forwarded-For`` for
    connections from ``FORWARDED_ALLOW_IPS`` - by default 127.0.0.1 - so any local client (or
    anything a local reverse proxy passes on) could pick a new address per request and escape the
    per-address limits (organiser-token throttle, session creation in an open study).  Uvicorn's
    own rule then applies: the client is the right-most address not itself a trusted proxy."""
    value = ",".join(proxies) if proxies else "none-trusted"  # a literal no peer address equals
    os.environ["FORWARDED_ALLOW_IPS"] = value
    return value


def app_kwargs() -> dict:
    """``demo.launch(app_kwargs=...)``: the FastAPI app with ``StaticInfoCache`` and ``PanelFiles`` in front."""
    from starlette.middleware import Middleware

    return {"middleware": [Middleware(StaticInfoCache), Middleware(PanelFiles)]}


def _visitor_error(e: Exception) -> Exception:
    """The message a visitor sees when the gate says busy or their compare was dropped."""
    import gradio as gr

    if isinstance(e, Busy):
        return gr.Error(str(e), duration=10, print_exception=False, title="Busy")
    return gr.Error(f"Compare cancelled: {e}.", print_exception=False)


def gated(fn: Callable[..., Any], gate: ComputeGate) -> Callable[..., Any]:
    """``fn`` (a sync Gradio callback) behind ``gate``: the visitor past the waiting limit gets the
    busy message as a ``gr.Error``; a compare whose visitor has gone is dropped quietly."""

    @functools.wraps(fn)
    async def wrapper(*args: Any) -> Any:
        session, client = request_owner()
        try:
            return await gate.run(
                fn, *args, alive=event_alive(), cost=estimate_cost(args), session=session, client=client
            )
        except (Busy, core.Cancelled) as e:
            raise _visitor_error(e) from None

    return wrapper


def gated_stream(
    fn: Callable[..., Iterator[Any]], gate: ComputeGate, waiting: Callable[[int], Any] | None = None
) -> Callable[..., Any]:
    """``fn`` (a sync generator callback: one update per finished model) behind ``gate``: busy past the
    waiting limit; each step runs in a worker thread, and the compare stops between models once its
    visitor has gone.  ``waiting(ahead)``, if given, is yielded at once, before the turn comes (the
    visitor learns that the compare started and how many are ahead)."""
    done = object()

    async def wrapper(*args: Any) -> AsyncIterator[Any]:
        alive = event_alive()
        session, client = request_owner()
        if waiting is not None and gate.waiting < gate.max_waiting:
            yield waiting(gate.waiting + gate.running)
        try:
            async with gate.slot(alive, estimate_cost(args), session, client):
                gen = fn(*args)
                try:
                    while True:
                        item = await asyncio.to_thread(next, gen, done)
                        if item is done:
                            break
                        yield item
                        if not alive():
                            gate.dropped += 1
                            raise core.Cancelled("the visitor left during the compare")
                finally:
                    gen.close()
        except (Busy, core.Cancelled) as e:
            raise _visitor_error(e) from None

    wrapper.__name__ = getattr(fn, "__name__", "gated_stream")
    wrapper.__doc__ = fn.__doc__
    return wrapper
