"""Shared by the app tests: a checkpoint folder for the app and launching ``python app.py``."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from benchmarks import _process  # benchmarks/_process.py: start / wait / stop python app.py
from dashboard.core import UPLOAD_HR, UPLOAD_LR  # noqa: F401  (the /compare modes, for the tests)
from srcore.zoo import MODEL_NAMES

ROOT = Path(__file__).resolve().parent.parent

MODELS = MODEL_NAMES
PERCEPTUAL = ("vgg16_relu3_3.safetensors", "alexnet_features.safetensors", "lpips_alex_lin.safetensors")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def checkpoint_dir(tmp_root: Path) -> Path:
    """The repo's checkpoints/ if it ships all four generators; else a temporary folder with the
    shipped ones, untrained stand-ins for the missing ones, and the training material."""
    shipped = ROOT / "checkpoints"
    if all((shipped / f"{m}.safetensors").is_file() for m in MODELS):
        return shipped
    missing = [f for f in PERCEPTUAL if not (shipped / f).is_file()]
    if missing:
        pytest.skip(f"perceptual-network weights missing from checkpoints/: {', '.join(missing)}")
    from srcore.checkpoint import save_generator
    from srcore.models.generator import Generator
    from srcore.zoo import GENERATOR

    d = tmp_root / "ckpt"
    d.mkdir(parents=True, exist_ok=True)
    for m in MODELS:
        if (shipped / f"{m}.safetensors").is_file():
            shutil.copy(shipped / f"{m}.safetensors", d)
        else:
            save_generator(Generator(GENERATOR), d / f"{m}.safetensors", name=m)
    for f in PERCEPTUAL:
        shutil.copy(shipped / f, d)
    for sub in ("history", "progress", "report_histories"):
        if (shipped / sub).is_dir():
            shutil.copytree(shipped / sub, d / sub, dirs_exist_ok=True)
    for f in ("benchmark.json", "prefilter.json"):  # prefilter.json: the LR mode's unknown-source treatment
        if (shipped / f).is_file():
            shutil.copy(shipped / f, d)
    return d


def launch(ckpt: Path, log: Path, timeout: float = 300, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``python app.py`` on a free port; return (process, url) once the API answers."""
    proc, url = _process.start_app(
        log, {"SR_CHECKPOINTS": str(ckpt), "SR_RATINGS_DB": str(log.parent / "ratings.sqlite3"), **(extra_env or {})}
    )
    try:
        _process.wait_ready(proc, url, log, timeout=timeout, interval=0.5, must_contain=None)
    except (RuntimeError, TimeoutError):
        stop(proc)
        raise
    return proc, url


def stop(proc: subprocess.Popen) -> None:
    _process.stop(proc, 15)


# ---------------------------------------------------------------- the /compare endpoint

PANELS = ("lr", "bicubic", *MODELS, "hr")
N = len(PANELS)


def compare(client, example="Astronaut", upload=None, mode=UPLOAD_HR, chosen=MODELS) -> dict:
    """Call the named ``/compare`` endpoint through gradio_client: (fields, files).

    Returns the named fields (``info``: source, sizes, panels, scores, best, notes, status, files)
    and ``files``: panel key -> downloaded PNG (``lr`` is the LR as fed to the models, each SR panel
    ``<image>_<panel>_x4.png``, ``hr`` the ground truth) plus ``zip``."""
    fields, files = client.predict(upload, example, mode, list(chosen), api_name="/compare")[:2]
    by_name = {Path(f).name: f for f in files}
    named = {k.removesuffix("_x4"): by_name[n] for k, n in fields["files"].items()}
    return {"status": fields["status"], "info": fields, "files": named}


def read(path):
    """An image file returned by the API as an HxWx3 uint8 array."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))


def viewer_cfg(pg) -> dict:
    """The synced viewer's current config (panels, files) as the page holds it (a Playwright page)."""
    return pg.evaluate("() => document.querySelector('.srv-host')._srv.cfg")


def wait_viewer_idle(pg) -> None:
    """Until the viewer shows a finished comparison (no progress line, every panel's image loaded)."""
    pg.wait_for_function("""() => { const v = document.querySelector('.srv-host')?._srv;
        return v && v.cfg && !v.cfg.progress && v.cfg.panels.every(p => p.url && !p.stale)
            && v.cfg.panels.every(p => v.images.get(p.url)?._ok); }""")
