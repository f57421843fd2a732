"""No leftovers after a crash (issue 16): the app's temporary files live in one marked folder per run,
and the next start removes the folders of runs that were killed.

The app runs with ``SR_TEMP_BASE`` (and ``TMPDIR``) pointing at a test folder, so nothing outside it is
looked at.  Run 1 does a compare of an upload, is killed with SIGKILL (no clean-up runs), and its files
are checked to be still there; run 2 starts, does one compare, and none of run 1's files may remain.
Folders that are not the app's (no marker, even with the app's name prefix) must be left alone.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

import pytest
from app_helpers import checkpoint_dir, compare, launch, stop

from dashboard import tempfiles

pytestmark = pytest.mark.timeout(600)


def _files(base: Path, skip: tuple[Path, ...]) -> set[Path]:
    return {p for p in base.rglob("*") if p.is_file() and not any(p.is_relative_to(s) for s in skip)}


def test_kill_9_then_restart_leaves_nothing_of_the_first_run(tmp_path):
    from gradio_client import Client, handle_file
    from PIL import Image
    from skimage import data

    base = tmp_path / "tmpbase"
    base.mkdir()
    decoy = base / f"{tempfiles.PREFIX}not-ours"  # our prefix, no marker: never removed
    decoy.mkdir()
    (decoy / "keep.txt").write_text("someone else's")
    forged = base / f"{tempfiles.PREFIX}forged"  # a marker that is not ours: never removed
    forged.mkdir()
    (forged / tempfiles.MARKER).write_text(json.dumps({"app": "other", "pid": 1}))
    other = base / "unrelated"
    other.mkdir()
    (other / "keep.txt").write_text("unrelated")
    keep = (decoy, forged, other)
    upload = tmp_path / "upload.png"
    Image.fromarray(data.astronaut()[100:228, 100:228]).save(upload)

    env = {"SR_TEMP_BASE": str(base), "TMPDIR": str(base), "SR_RATING_TABS": "0"}
    ckpt = checkpoint_dir(tmp_path)
    proc, url = launch(ckpt, tmp_path / "run1.log", extra_env=env)
    try:
        r = compare(Client(url, verbose=False), upload=handle_file(str(upload)))
        assert r["info"]["hr_size"] == [128, 128]
        first = _files(base, keep)
        roots = [d for d in base.iterdir() if tempfiles.read_marker(d) is not None]
        assert len(roots) == 1 and tempfiles.read_marker(roots[0])["pid"] == proc.pid
        assert any("gradio" in p.parts for p in first), "Gradio's cache is inside the run's folder"
        assert len(first) >= 10, first
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
    assert all(p.exists() for p in first), "kill -9 ran no clean-up: run 1's files are still there"

    proc2, url2 = launch(ckpt, tmp_path / "run2.log", extra_env=env)
    try:
        r = compare(Client(url2, verbose=False), upload=handle_file(str(upload)))
        assert r["info"]["hr_size"] == [128, 128]
        left = sorted(str(p) for p in first if p.exists())
        assert left == [], f"{len(left)} of run 1's {len(first)} files remain: {left[:5]}"
        assert not roots[0].exists()
        assert (
            (decoy / "keep.txt").is_file() and (other / "keep.txt").is_file() and (forged / tempfiles.MARKER).is_file()
        )
        assert "removed 1 temporary folder(s) left by an earlier run" in (tmp_path / "run2.log").read_text()
    finally:
        stop(proc2)
    # a clean stop removes the run's own folder too
    assert [d for d in base.iterdir() if tempfiles.read_marker(d) is not None] == []


def test_clean_stale_only_removes_dead_owners(tmp_path):
    live = tmp_path / f"{tempfiles.PREFIX}live"
    live.mkdir()
    started = tempfiles._process_start(os.getpid())
    (live / tempfiles.MARKER).write_text(json.dumps({"app": tempfiles.APP, "pid": os.getpid(), "started": started}))
    reused = tmp_path / f"{tempfiles.PREFIX}reused-pid"  # this pid, but another start time: a dead run
    reused.mkdir()
    (reused / tempfiles.MARKER).write_text(json.dumps({"app": tempfiles.APP, "pid": os.getpid(), "started": 1.0}))
    garbled = tmp_path / f"{tempfiles.PREFIX}garbled"
    garbled.mkdir()
    (garbled / tempfiles.MARKER).write_text("{not json")
    link = tmp_path / f"{tempfiles.PREFIX}link"
    link.symlink_to(live)
    assert tempfiles.clean_stale(tmp_path) == [reused]
    assert live.is_dir() and garbled.is_dir() and link.is_symlink() and not reused.exists()
