"""One temporary folder per run of the app, marked as ours, and the removal of a crashed run's.

Why: Gradio's upload/output cache and the app's own PNG folders were in the shared temp folder;
a server killed with ``kill -9`` (or by the out-of-memory killer) never ran its atexit clean-up, so
every crash left its files behind for good.  Now everything the app writes lives under one
``sr-loss-lab-*`` folder holding a marker file that names the owning process (pid and start time);
at start-up every such folder whose owner is gone is removed.  A folder without a readable marker
of ours is never touched, whatever its name.

``run_root(base)`` must be called before Gradio is imported (``app.py`` does, with the settings'
``temp_base``) so that Gradio's cache (``GRADIO_TEMP_DIR``) is placed inside the run's folder; it is
called lazily otherwise.  ``base`` (the app's ``SR_TEMP_BASE``, else an operator's
``GRADIO_TEMP_DIR``) sets where the run folders go (default: the system temp folder).
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

PREFIX = "sr-loss-lab-"
MARKER = ".sr-loss-lab-run.json"
APP = "sr-loss-lab"
# Gradio's cache sweep (``gr.Blocks(delete_cache=...)``): every minute, files older than 10 min
# go.  A page shows a compare's images at once; its download links stay valid for 10 minutes.
DELETE_CACHE = (60, 600)
WORK_MAX_AGE_S = 120.0  # the app's own PNG folders: Gradio has copied them into its cache by then

_lock = threading.Lock()
_root: Path | None = None


_GRADIO_TEMP_SET = os.environ.get("GRADIO_TEMP_DIR")  # as the operator set it, before run_root() points it inside


def base_dir(base: str | Path | None = None) -> Path:
    """Where run folders go: ``base`` (the app's ``SR_TEMP_BASE``), else the operator's
    ``GRADIO_TEMP_DIR``, else the system temp folder."""
    return Path(base or _GRADIO_TEMP_SET or tempfile.gettempdir())


def _process_start(pid: int) -> float | None:
    """The start time of process ``pid`` (None if there is no such process)."""
    import psutil

    try:
        return psutil.Process(pid).create_time()
    except (psutil.NoSuchProcess, psutil.AccessDenied, ValueError):
        return None


def read_marker(folder: Path) -> dict | None:
    """The marker of a run folder, or None if the folder is not one of ours."""
    try:
        m = json.loads((folder / MARKER).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(m, dict) or m.get("app") != APP or not isinstance(m.get("pid"), int):
        return None
    return m


def owner_alive(marker: dict) -> bool:
    """Whether the process that wrote ``marker`` still runs (a reused pid has another start time)."""
    started = _process_start(marker["pid"])
    return started is not None and abs(started - float(marker.get("started", 0))) < 2.0


def clean_stale(base: Path | None = None) -> list[Path]:
    """Remove the run folders (under ``base``) whose owner has exited; return what was removed.

    Only folders named ``sr-loss-lab-*`` that are real folders (not links) and hold our marker."""
    base = base or base_dir()
    removed = []
    try:
        candidates = sorted(base.glob(PREFIX + "*"))
    except OSError:
        return removed
    for d in candidates:
        if d.is_symlink() or not d.is_dir():
            continue
        m = read_marker(d)
        if m is None or owner_alive(m):
            continue
        shutil.rmtree(d, ignore_errors=True)
        if not d.exists():
            removed.append(d)
    return removed


def run_root(base: str | Path | None = None) -> Path:
    """This run's temporary folder (made under ``base_dir(base)``, marked and the stale ones cleaned
    on the first call; later calls return it whatever their ``base``)."""
    global _root
    with _lock:
        if _root is not None and _root.is_dir():
            return _root
        where = base_dir(base)
        where.mkdir(parents=True, exist_ok=True)
        removed = clean_stale(where)
        if removed:
            print(
                f"removed {len(removed)} temporary folder(s) left by an earlier run that did not exit cleanly",
                flush=True,
            )
        root = Path(tempfile.mkdtemp(prefix=PREFIX, dir=where))
        pid = os.getpid()
        (root / MARKER).write_text(
            json.dumps({"app": APP, "pid": pid, "started": _process_start(pid) or time.time(), "created": time.time()})
        )
        os.environ["GRADIO_TEMP_DIR"] = str(root / "gradio")
        atexit.register(shutil.rmtree, root, True)
        _root = root
        return root


def work_dir() -> Path:
    """The folder for the app's own per-request files (inside the run folder)."""
    d = run_root() / "work"
    d.mkdir(exist_ok=True)
    return d


def sweep(folder: Path, max_age_s: float) -> int:
    """Remove the entries of ``folder`` older than ``max_age_s`` (by mtime); return how many."""
    now, n = time.time(), 0
    try:
        entries = list(folder.iterdir())
    except OSError:
        return 0
    for d in entries:
        try:
            old = now - d.lstat().st_mtime > max_age_s
        except OSError:
            continue
        if old:
            if d.is_dir() and not d.is_symlink():
                shutil.rmtree(d, ignore_errors=True)
            else:
                d.unlink(missing_ok=True)
            n += 1
    return n
