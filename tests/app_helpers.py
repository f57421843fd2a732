"""Shared by the app tests: a checkpoint folder for the app and launching ``python app.py``."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("srcnn_mse", "srcnn_pl", "srgan_mse", "srgan_pl")
PERCEPTUAL = ("vgg16_relu3_3.safetensors", "alexnet_features.safetensors", "lpips_alex_lin.safetensors")
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run"]


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
    if (shipped / "benchmark.json").is_file():
        shutil.copy(shipped / "benchmark.json", d)
    return d


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(ckpt: Path, log: Path, timeout: float = 300, extra_env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """Start ``python app.py`` on a free port; return (process, url) once the API answers."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_SERVER_PORT": str(port),
           "SR_CHECKPOINTS": str(ckpt), "GRADIO_ANALYTICS_ENABLED": "False",
           "SR_RATINGS_DB": str(log.parent / "ratings.sqlite3"), **(extra_env or {})}
    fh = open(log, "wb")
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=fh, stderr=subprocess.STDOUT)
    fh.close()
    url = f"http://127.0.0.1:{port}/"
    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=2) as r:
                if r.status == 200:
                    return proc, url
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise TimeoutError(f"app not ready in {timeout} s:\n{log.read_text()[-3000:]}")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


# ---------------------------------------------------------------- the /compare endpoint

UPLOAD_HR = "Ground truth (the app makes the ×4 smaller input)"
UPLOAD_LR = "Low-res input: just upscale it (no ground truth, no metrics)"
PANELS = ("lr", "bicubic", *MODELS, "hr")
N = len(PANELS)


def compare(client, example="Astronaut", upload=None, mode=UPLOAD_HR, chosen=MODELS, size=96) -> dict:
    """Call /compare through gradio_client; its outputs by name."""
    out = client.predict(example, upload, mode, list(chosen), "Images", size, "Bicubic", "SRGAN-PL", False,
                         api_name="/compare")
    status, rest = out[0], out[1:]
    return {
        "status": status,
        "full": rest[:N], "caps": rest[N : 2 * N], "zoom": rest[2 * N : 3 * N], "zcaps": rest[3 * N : 4 * N],
        "slider": rest[4 * N], "table": rest[4 * N + 1], "info": rest[4 * N + 2],
    }


def read(path):
    """An image file returned by the API as an HxWx3 uint8 array."""
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"))
