"""Compare results held once, by key, in one bounded size-aware cache, not copied into every session.

Why: the Compare tab kept the whole ``Result`` (seven full-size panels, about 6 MB for a 512x512
image) in each visitor's ``gr.State``; Gradio deep-copies a State's initial value into every
session that touches it and keeps a closed session's state for an hour, so memory grew by
megabytes per visitor.  Now a session holds only the key (a short string) and the results live
here, least recently used first out once their pixels exceed the budget (``Settings.result_cache_mb``,
``SR_RESULT_CACHE_MB``, default 160 MB; the Compare tab passes it in).
The same input compared twice (the examples; one file uploaded by many) is computed once.

An evicted example is recomputed on demand (its key says how); an evicted upload asks the visitor
to press Compare again (``Expired``).
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

from dashboard.core import Result

DEFAULT_BUDGET_MB = 160.0  # default of SR_RESULT_CACHE_MB
EXAMPLE_PREFIX = "example:"


class Expired(LookupError):
    """A result that is no longer held (and cannot be remade from its key)."""


def result_bytes(res: Result) -> int:
    """The memory a result holds: every panel, the LR input and the ground truth (its PNGs are
    files in the tab's temporary folder, not memory)."""
    arrays = {id(a): a for a in (*res.images.values(), res.lr, res.hr) if a is not None}
    return sum(a.nbytes for a in arrays.values())


def _file_digest(path: str | Path) -> str:
    h = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def upload_path(upload) -> str | None:
    """The server-side path of a ``gr.File`` value (a path, a tempfile-like object or a dict)."""
    if not upload:
        return None
    if isinstance(upload, (str, Path)):
        return str(upload)
    return getattr(upload, "name", None) or (upload.get("path") if isinstance(upload, dict) else None)


def key_for(example: str | None, upload: str | None, mode: str, models: list[str]) -> str:
    """The cache key of a compare: what it was made from (file content, not its name or path),
    the input mode and the models.  Example keys start with ``EXAMPLE_PREFIX``."""
    tail = f"|{','.join(models)}"
    if upload:
        try:
            digest = _file_digest(upload)
        except OSError:  # unreadable: a key that never repeats (the compare itself reports the problem)
            digest = "unreadable-" + os.urandom(8).hex()
        return f"upload:{digest}|{hashlib.blake2b(mode.encode(), digest_size=4).hexdigest()}{tail}"
    return f"{EXAMPLE_PREFIX}{example}{tail}"


def example_of(key: str) -> tuple[str, list[str]] | None:
    """(example, models) of an example's key (which can be computed again), else ``None``."""
    if not key.startswith(EXAMPLE_PREFIX):
        return None
    example, _, models = key[len(EXAMPLE_PREFIX) :].partition("|")
    return example, [m for m in models.split(",") if m]


class ResultCache:
    """Key -> Result, least recently used evicted first once the pixels exceed ``budget_bytes``.

    The newest result is always kept (a single compare larger than the budget still works)."""

    def __init__(self, budget_mb: float = DEFAULT_BUDGET_MB):
        self.budget_bytes = int(budget_mb * 1e6)
        self._items: OrderedDict[str, tuple[Result, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self._key_locks: dict[str, threading.Lock] = {}
        self.hits = self.misses = self.evictions = 0

    def __len__(self) -> int:
        return len(self._items)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def get(self, key: str) -> Result | None:
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            self._items.move_to_end(key)
            return item[0]

    def put(self, key: str, res: Result) -> Result:
        res.key = key
        size = result_bytes(res)
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._bytes -= old[1]
            self._items[key] = (res, size)
            self._bytes += size
            while self._bytes > self.budget_bytes and len(self._items) > 1:
                _, (_, s) = self._items.popitem(last=False)
                self._bytes -= s
                self.evictions += 1
        return res

    def get_or_compute(self, key: str, compute: Callable[[], Result]) -> Result:
        """The cached result of ``key``, or ``compute()`` once (concurrent callers of one key wait
        for the first instead of computing it again)."""
        res = self.get(key)
        if res is not None:
            self.hits += 1
            return res
        with self._lock:
            klock = self._key_locks.setdefault(key, threading.Lock())
        with klock:
            res = self.get(key)
            if res is not None:
                self.hits += 1
                return res
            self.misses += 1
            res = self.put(key, compute())
        with self._lock:
            self._key_locks.pop(key, None)
        return res

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self._bytes = 0
