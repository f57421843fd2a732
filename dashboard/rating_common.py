"""What the rating pages share: model titles, the client address, inline images, private exports.

Split from ``dashboard/rating_tab.py`` (issue 23): the rater's page (``rating_rate``), the results
view (``rating_results``) and the organiser's tools (``rating_admin``) each import from here.
"""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

from dashboard import tempfiles
from srcore import zoo

TITLES = {"bicubic": "Bicubic", **zoo.TITLES, "hr": "HR (original)"}
CONCURRENCY = 16  # rating events are short database transactions; let many run at once
EXPORTS = "exports"  # the organiser's downloads: inside this run's temp folder, 0600, gone at stop
EXPORT_MAX_AGE_S = 600.0  # Gradio has copied a download into its cache long before this

_OWN_TITLES: dict[str, str] = {}  # titles of the user's own models, filled by make_service from the settings


def note_own_titles(checkpoints: Path, model_dirs: tuple[Path, ...]) -> None:
    """Titles of the models discovered beside the table's (the checkpoints folder and ``SR_MODELS``)."""
    with contextlib.suppress(OSError, ValueError):
        _OWN_TITLES.update({s.key: s.title for s in zoo.discover(checkpoints, model_dirs).specs})


def title(m: str) -> str:
    return TITLES.get(m) or _OWN_TITLES.get(m, m)


def client_of(request: Any) -> str:
    """Who is asking, for throttling: the address the server sees.  Uvicorn replaces the socket's
    address with the ``X-Forwarded-For`` one only for connections from ``SR_TRUSTED_PROXIES``
    (``dashboard.serving.trust_proxies``), so a client cannot choose its own address."""
    host = getattr(getattr(request, "client", None), "host", None)
    return str(host or "unknown")


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


def exports_dir() -> Path:
    """The folder of the organiser's exports: in this run's marked temp folder (so removed at
    stop and, after a crash, by the next start's sweep), 0700, old files swept."""
    d = tempfiles.run_root() / EXPORTS
    d.mkdir(mode=0o700, exist_ok=True)
    os.chmod(d, 0o700)
    tempfiles.sweep(d, EXPORT_MAX_AGE_S)
    return d


def export_path(stem: str, suffix: str) -> Path:
    """A fresh, unguessable file name for one export (the caller writes it 0600)."""
    return exports_dir() / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(8)}{suffix}"
