"""Per-request temporary folders for the files the app serves (PNGs, zips)."""

from __future__ import annotations

import atexit
import shutil
import tempfile
import threading
from pathlib import Path

from dashboard import tempfiles


class TempStore:
    """Per-request temporary folders under one root; old ones are removed, all of them at exit,
    so a long-running Space does not fill its disk."""

    def __init__(self, max_age_s: float = tempfiles.WORK_MAX_AGE_S):
        self.root = tempfiles.work_dir()  # inside the run's marked folder: removed after a crash too
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.root, True)

    def new(self) -> Path:
        with self._lock:
            tempfiles.sweep(self.root, self.max_age_s)
            return Path(tempfile.mkdtemp(dir=self.root))
