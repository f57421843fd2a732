"""Bad and odd uploads through the running app (issue #7): ``python app.py`` on a free local port,
driven by gradio_client over the table in ``bad_inputs``, each file used as ground truth and as LR input.

For every case: either the compare returns all panels at the right size and the status shows the
note, or the client gets an error with a specific message and no traceback.  After all of them the
app still serves a normal compare, and its log holds no traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from app_helpers import MODELS, PANELS, UPLOAD_HR, UPLOAD_LR, checkpoint_dir, compare, launch, read, stop
from bad_inputs import CASES, MAX_FILE_BYTES

pytestmark = pytest.mark.timeout(600)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    """One app for the whole module (without the rating tabs: they are not under test here)."""
    tmp = tmp_path_factory.mktemp("bad_app")
    ckpt = checkpoint_dir(tmp)
    proc, url = launch(ckpt, tmp / "app.log", extra_env={"SR_RATING_TABS": "0"})
    yield url, proc, tmp / "app.log"
    stop(proc)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return tmp_path_factory.mktemp("bad_files")


_files: dict[str, Path] = {}


def case_file(case, folder: Path) -> Path:
    """The case's file, written once for both modes."""
    if case.name not in _files:
        _files[case.name] = case.make(folder)
    return _files[case.name]


@pytest.mark.parametrize("as_lr", [False, True], ids=["as_hr", "as_lr"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_case(case, as_lr, client, folder):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    want = case.expected(as_lr)
    path = case_file(case, folder)
    mode = UPLOAD_LR if as_lr else UPLOAD_HR
    if not want.ok:
        # AppError: the app refused it; a plain ValueError: gradio_client's own upload-size check
        with pytest.raises(ValueError) as ei:
            compare(client, upload=handle_file(str(path)), mode=mode)
        msg = str(ei.value)
        assert want.error in msg, f"{case.name}: {msg!r}"
        assert "Traceback" not in msg and 'File "' not in msg, msg
        if not case.api_only:
            assert isinstance(ei.value, AppError), repr(ei.value)
        return

    r = compare(client, upload=handle_file(str(path)), mode=mode)
    info, (h, w) = r["info"], want.size
    assert info["source"] == case.filename
    assert info["lr_size"] == [h // 4, w // 4], case.name
    assert info["panels"] == list(PANELS[:-1] if as_lr else PANELS)
    files = r["files"]
    assert ("hr" in files) != as_lr
    assert read(files["lr"]).shape == (h // 4, w // 4, 3), case.name  # the LR as fed to the models
    for p in PANELS[1:] if not as_lr else PANELS[1:-1]:
        assert read(files[p]).shape == (h, w, 3), (case.name, p)
    if as_lr:
        assert info["hr_size"] is None and info["scores"] == {}
        assert "no reference metrics" in r["status"].lower()
    else:
        assert info["hr_size"] == [h, w]
        assert set(info["scores"]) == {"bicubic", *MODELS}
        assert all({"psnr_y", "ssim_y", "lpips"} <= set(s) for s in info["scores"].values())
    if want.note is not None:
        assert want.note in r["status"], f"{case.name}: {want.note!r} not in status {r['status']!r}"
        assert any(want.note in n for n in info["notes"])
    if case.forbid is not None:
        assert case.forbid not in r["status"], f"{case.name}: untrue label {case.forbid!r} in {r['status']!r}"
    if case.check is not None and not as_lr:  # the raw HR panel
        case.check(read(files["hr"]))


def test_upload_cap_refused_by_the_server(app_server, folder):
    """Past gradio_client's own check: the server refuses an upload over the cap (413, with the limit)."""
    import httpx

    case = next(c for c in CASES if c.name == "over_upload_cap")
    path = case_file(case, folder)
    assert path.stat().st_size > MAX_FILE_BYTES
    with open(path, "rb") as fh:
        r = httpx.post(app_server[0] + "gradio_api/upload", files=[("files", (path.name, fh, "image/png"))], timeout=60)
    assert r.status_code == 413, (r.status_code, r.text[:300])
    assert "File size exceeded maximum allowed size" in r.text and str(MAX_FILE_BYTES) in r.text
    assert "Traceback" not in r.text


def test_still_serving_after_bad_inputs(app_server, client):
    """After every bad input above, the same server still gives a normal compare to old and new clients."""
    from gradio_client import Client

    url, proc, log = app_server
    assert proc.poll() is None, "the app exited"
    for c in (client, Client(url, verbose=False)):
        r = compare(c)
        assert r["info"]["hr_size"] == [512, 512] and r["info"]["panels"] == list(PANELS)
        assert all(r["files"].get(p) is not None for p in PANELS if p != "lr")
        assert read(r["files"]["srgan_pl"]).shape == (512, 512, 3)
        assert set(r["info"]["scores"]) == {"bicubic", *MODELS}
    # the only tracebacks allowed in the server log are Gradio's own report of its file-type check
    # (a gr.Error raised in gr.File.preprocess, which Gradio logs; the client gets the plain message)
    errors = [
        b
        for b in logged_exceptions(log.read_text(errors="replace"))
        if not b.startswith('gradio.exceptions.Error: "Invalid file type')
    ]
    assert errors == [], errors


def logged_exceptions(text: str) -> list[str]:
    """The exception line (``Type: message``) ending each traceback in a log."""
    out = []
    for block in text.split("Traceback (most recent call last):")[1:]:
        lines = block.splitlines()
        out.append(next((ln for ln in lines[1:] if ln and not ln[0].isspace()), "?"))
    return out
