"""Shared helpers for the srcore test-suite (small generated images, CLI runs, tiny models)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"
EVAL_DIR = SHARED_DATA / "eval"
LPIPS_DATA = Path(__file__).resolve().parent / "data_lpips"


def photo(name: str = "astronaut", size: tuple[int, int] = (96, 96), offset: int = 0) -> np.ndarray:
    """A small natural RGB photo (uint8 HxWx3) from scikit-image's bundled data."""
    from skimage import data

    img = getattr(data, name)()
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, axis=2)
    img = img[..., :3]
    # centre-ish crop, then shrink with PIL so it stays a real photo at a small size
    h, w = img.shape[:2]
    s = min(h, w) - offset
    crop = img[offset : offset + s, offset : offset + s]
    return np.array(Image.fromarray(crop).resize((size[1], size[0]), Image.BICUBIC))


def make_image_dir(folder: Path, n: int = 3, size: tuple[int, int] = (96, 96)) -> Path:
    """Write ``n`` small PNG photos into ``folder`` and return it."""
    folder.mkdir(parents=True, exist_ok=True)
    names = ["astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"]
    for i in range(n):
        Image.fromarray(photo(names[i % len(names)], size)).save(folder / f"img{i}_{names[i % len(names)]}.png")
    return folder


def subprocess_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    env["MKL_NUM_THREADS"] = "1"
    env.pop("WORLD_SIZE", None)
    return env


def train_args(name: str, train_dir: Path, out: Path, *extra: str, steps: int = 4, batch: int = 2) -> list[str]:
    """``srcore.train``'s arguments for a tiny CPU run (``extra`` last, so it overrides)."""
    return [
        name,
        "--train-dir",
        str(train_dir),
        "--out",
        str(out),
        "--steps",
        str(steps),
        "--batch",
        str(batch),
        "--patch",
        "32",
        "--workers",
        "0",
        "--threads",
        "1",
        "--no-progress",
        *extra,
    ]


def train_cmd(name: str, train_dir: Path, out: Path, *extra: str, steps: int = 4) -> list[str]:
    return [sys.executable, "-m", "srcore.train", *train_args(name, train_dir, out, *extra, steps=steps)]


def run_train(
    name: str, train_dir: Path, out: Path, *extra: str, steps: int = 4, timeout: float = 120
) -> subprocess.CompletedProcess:
    return subprocess.run(
        train_cmd(name, train_dir, out, *extra, steps=steps),
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def counting_generators() -> dict:
    """Stand-ins for the four generators (nearest x4) that count their calls: for tests of when a
    compare stops."""
    import torch

    class Counting(torch.nn.Module):
        receptive_radius = 1

        def __init__(self):
            super().__init__()
            self.calls = 0

        def for_inference(self):  # as Generator's, for srcore.inference.prepare; itself, to keep the count
            return self

        def forward(self, x):
            self.calls += 1
            return torch.nn.functional.interpolate(x, scale_factor=4, mode="nearest")

    return {k: Counting() for k in ("srcnn_mse", "srcnn_pl", "srgan_mse", "srgan_pl")}
