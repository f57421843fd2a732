"""Security: nothing is unpickled, no user-supplied path reaches the filesystem, temporary files
are removed, and the running app writes only to its temp folders and the ratings database."""

from __future__ import annotations

import ast
import json
import os
import signal
import urllib.request
from pathlib import Path

import pytest
from app_helpers import MODELS, ROOT, checkpoint_dir, launch

SOURCES = [
    ROOT / "app.py",
    *sorted((ROOT / "srcore").rglob("*.py")),
    *sorted((ROOT / "dashboard").rglob("*.py")),
    *sorted((ROOT / "benchmarks").rglob("*.py")),
]


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            yield node, ast.unparse(node.func)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_unpickling_anywhere(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            names = [a.name for a in node.names] + (
                [node.module] if isinstance(node, ast.ImportFrom) and node.module else []
            )
            assert not {"pickle", "cPickle", "dill", "joblib", "shelve", "marshal"} & {
                n.split(".")[0] for n in names
            }, ast.unparse(node)
    for call, fn in _calls(tree):
        assert fn not in ("torch.load", "torch.jit.load", "torch.hub.load", "torch.hub.load_state_dict_from_url"), (
            f"{path.name}:{call.lineno}: {fn}"
        )
        if fn.endswith(("np.load", "numpy.load")):
            kw = {k.arg: ast.unparse(k.value) for k in call.keywords}
            assert kw.get("allow_pickle", "False") == "False", f"{path.name}:{call.lineno}: allow_pickle"
        if fn.endswith("read_pickle"):
            raise AssertionError(f"{path.name}:{call.lineno}: {fn}")


def _snapshot(folder: Path) -> dict[str, tuple[int, int]]:
    return {
        str(p.relative_to(folder)): (p.stat().st_mtime_ns, p.stat().st_size) for p in folder.rglob("*") if p.is_file()
    }


def _call(url: str, api: str, data: list) -> tuple[str, str]:
    """Raw HTTP call of an API endpoint (no gradio_client file handling): (event, payload)."""
    req = urllib.request.Request(
        f"{url}gradio_api/call/{api}",
        data=json.dumps({"data": data}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(req, timeout=60) as r:
        event_id = json.loads(r.read())["event_id"]
    with urllib.request.urlopen(f"{url}gradio_api/call/{api}/{event_id}", timeout=300) as r:
        text = r.read().decode()
    events = [ln.split(":", 1)[1].strip() for ln in text.splitlines() if ln.startswith("event:")]
    return events[-1], text


@pytest.mark.timeout(600)
def test_app_paths_temp_files_and_writes(tmp_path):
    from gradio_client import Client, handle_file
    from PIL import Image
    from skimage import data

    ckpt = checkpoint_dir(tmp_path)
    gtmp, tmp = tmp_path / "gradio-tmp", tmp_path / "tmp"
    gtmp.mkdir()
    tmp.mkdir()
    before_ckpt, before_root = _snapshot(ckpt), set(os.listdir(ROOT))
    db = tmp_path / "ratings.sqlite3"
    proc, url = launch(ckpt, tmp_path / "app.log", extra_env={"GRADIO_TEMP_DIR": str(gtmp), "TMPDIR": str(tmp)})
    try:
        c = Client(url, verbose=False)
        up = tmp_path / "photo.png"
        Image.fromarray(data.chelsea()[:96, :96]).save(up)
        args = [handle_file(str(up)), "Astronaut", "Ground truth (the app makes the ×4 smaller input)", list(MODELS)]
        c.predict(*args, api_name="/compare")
        files = c.predict(api_name="/downloads")
        assert files and all(Path(f["path"] if isinstance(f, dict) else f).suffix in (".png", ".zip") for f in files)

        # a server-side path smuggled in as an "upload" is refused, and nothing of it comes back
        secret = tmp_path / "secret.png"
        Image.fromarray(data.coffee()[:64, :64]).save(secret)
        smuggled = {"path": str(secret), "meta": {"_type": "gradio.FileData"}, "orig_name": "x.png"}
        ev, text = _call(url, "compare", [smuggled, "Astronaut", args[2], list(MODELS)])
        assert ev == "error", text[:500]
        for name in ("../../../../etc/passwd", "/etc/passwd"):
            ev, text = _call(url, "compare", [None, name, args[2], list(MODELS)])
            assert ev == "error" and "root:" not in text, text[:500]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(60)
    log = (tmp_path / "app.log").read_text()
    # Gradio logs its own refusals (the smuggled path, values outside the dropdown) with a
    # traceback; none may come from the app's code
    assert f"{ROOT / 'dashboard'}" not in log and f"{ROOT / 'srcore'}" not in log, log[-3000:]
    assert "not uploaded by a user" in log
    # nothing written into the checkpoints or the repository; the app's own temp files are gone
    assert _snapshot(ckpt) == before_ckpt
    assert set(os.listdir(ROOT)) == before_root
    assert not list(tmp.glob("sr-dashboard-*")), list(tmp.iterdir())
    # the run's marked folder (dashboard.tempfiles) went inside the operator's GRADIO_TEMP_DIR, and is gone
    assert not list(gtmp.glob("sr-loss-lab-*")) and not list(tmp.glob("sr-loss-lab-*")), list(gtmp.iterdir())
    written = {p.name for p in tmp_path.iterdir()} - {"app.log", "photo.png", "secret.png", "gradio-tmp", "tmp", "ckpt"}
    assert written <= {db.name, db.name + "-wal", db.name + "-shm"}, written
