"""Per-request temporary folders for the files the app serves (PNGs, zips)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
import time
from pathlib import Path


class TempStore:
    """Per-request temporary folders under one root; old ones are removed, all of them at exit,
    so a long-running Space does not fill its disk."""

    def __init__(self, max_age_s: float = 900):
        self.root = Path(tempfile.mkdtemp(prefix="sr-dashboard-"))
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.root, True)

    def new(self) -> Path:
        with self._lock:
            now = time.time()
            for d in self.root.iterdir():
                if d.is_dir() and now - d.stat().st_mtime > self.max_age_s:
                    shutil.rmtree(d, ignore_errors=True)
            return Path(tempfile.mkdtemp(dir=self.root))
