"""The four shipped generators exist, load, and do what they were trained for.

Fails (not skips) when a checkpoint is missing or untrained: the dashboard depends on them.
"""

from __future__ import annotations

import numpy as np
import pytest
import skimage.data

from srcore.checkpoint import read_metadata
from srcore.data import to_tensor
from srcore.inference import upscale
from srcore.metrics import mod_crop, psnr
from srcore.models.feature_nets import LPIPS
from srcore.paths import CHECKPOINTS
from srcore.resize import bicubic_x4, downscale_x4
from srcore.zoo import MODEL_NAMES, load_generator

PHOTOS = ("astronaut", "chelsea", "coffee")


@pytest.fixture(scope="module")
def photos():
    out = []
    for name in PHOTOS:
        hr = mod_crop(getattr(skimage.data, name)())
        h, w = hr.shape[:2]
        s = min(h, w, 256)
        hr = hr[(h - s) // 2 // 4 * 4:][:s, (w - s) // 2 // 4 * 4:][:, :s]
        out.append((hr, downscale_x4(hr)))
    return out


@pytest.fixture(scope="module")
def lpips():
    return LPIPS()


def _lpips(model, a, b) -> float:
    import torch

    with torch.inference_mode():
        return float(model(to_tensor(a[4:-4, 4:-4]).unsqueeze(0), to_tensor(b[4:-4, 4:-4]).unsqueeze(0)))


@pytest.mark.parametrize("name", MODEL_NAMES)
def test_checkpoint_is_trained_and_documented(name):
    path = CHECKPOINTS / f"{name}.safetensors"
    assert path.is_file(), f"{path} is missing: train it (python -m srcore.train {name} ...)"
    md = read_metadata(path)
    assert md["name"] == name
    assert md["steps"] > 0 and md["recipe"]["loss"]
    assert md["data"]["train_images"] > 0


@pytest.mark.parametrize("name", ["srcnn_mse", "srgan_mse"])
def test_mse_models_beat_bicubic_psnr(name, photos):
    model = load_generator(name)
    gains = []
    for hr, lr in photos:
        gains.append(psnr(upscale(model, lr), hr) - psnr(bicubic_x4(lr), hr))
    assert np.mean(gains) > 0.5, f"{name}: mean Y-PSNR gain over bicubic only {np.mean(gains):.2f} dB"


@pytest.mark.parametrize("name", ["srcnn_pl", "srgan_pl"])
def test_perceptual_models_beat_bicubic_lpips(name, photos, lpips):
    model = load_generator(name)
    for hr, lr in photos:
        sr, bic = upscale(model, lr), bicubic_x4(lr)
        assert _lpips(lpips, sr, hr) < _lpips(lpips, bic, hr) - 0.02, f"{name} is not perceptually better than bicubic"
