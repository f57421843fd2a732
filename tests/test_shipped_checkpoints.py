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
        hr = hr[(h - s) // 2 // 4 * 4 :][:s, (w - s) // 2 // 4 * 4 :][:, :s]
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


# SRCNN-MSE minimises MSE alone; SRGAN-MSE trades some PSNR for texture (the adversarial term)
@pytest.mark.parametrize(("name", "min_gain"), [("srcnn_mse", 0.5), ("srgan_mse", 0.2)])
def test_mse_models_beat_bicubic_psnr(name, min_gain, photos):
    model = load_generator(name)
    gains = []
    for hr, lr in photos:
        gains.append(psnr(upscale(model, lr), hr) - psnr(bicubic_x4(lr), hr))
    assert np.mean(gains) > min_gain, f"{name}: mean Y-PSNR gain over bicubic only {np.mean(gains):.2f} dB"


@pytest.mark.parametrize("name", ["srcnn_pl", "srgan_pl"])
def test_perceptual_models_beat_bicubic_lpips(name, photos, lpips):
    model = load_generator(name)
    for hr, lr in photos:
        sr, bic = upscale(model, lr), bicubic_x4(lr)
        assert _lpips(lpips, sr, hr) < _lpips(lpips, bic, hr) - 0.02, f"{name} is not perceptually better than bicubic"


BENCHMARK = CHECKPOINTS / "benchmark.json"


def _bench() -> dict:
    import json

    assert BENCHMARK.is_file(), f"{BENCHMARK} is missing: run python -m srcore.experiment (or srcore.evaluate)"
    return json.loads(BENCHMARK.read_text())


def test_perceptual_ordering_on_photos(photos, lpips):
    """The losses' signature, measured live on the shipped checkpoints: both PL models below both MSE
    models in LPIPS, SRGAN-PL the lowest (scikit-image photos, no data outside the repository)."""
    scores = {}
    for name in MODEL_NAMES:
        model = load_generator(name)
        scores[name] = float(np.mean([_lpips(lpips, upscale(model, lr), hr) for hr, lr in photos]))
    assert max(scores["srcnn_pl"], scores["srgan_pl"]) < min(scores["srcnn_mse"], scores["srgan_mse"]), scores
    assert scores["srgan_pl"] == min(scores.values()), scores


def _set(set_name: str) -> tuple[dict, dict]:
    bench = _bench()
    if set_name not in bench["sets"]:
        pytest.skip(
            f"{set_name} was not evaluated: {bench.get('unavailable_sets', {}).get(set_name, 'not in benchmark.json')}"
        )
    return bench, bench["sets"][set_name]["models"]


@pytest.mark.parametrize("set_name", ["Set14", "Kodak24"])
def test_benchmark_shows_no_subpixel_pattern_or_colour_cast(set_name):
    """benchmark.json (computed by srcore.evaluate from these checkpoints): phase range <= 2 grey
    levels, flat-colour phase range <= 1, |colour bias| <= 0.5 per channel, in every arm."""
    bench, res = _set(set_name)
    for name in MODEL_NAMES:
        mean = res[name]["mean"]
        assert mean["phase_range"] <= 2.0, f"{name}: phase range {mean['phase_range']:.2f} on {set_name}"
        for c in ("bias_r", "bias_g", "bias_b"):
            assert abs(mean[c]) <= 0.5, f"{name}: {c} {mean[c]:+.2f} on {set_name}"
        assert bench["models"][name]["flat_phase_range"] <= 1.0, name


@pytest.mark.parametrize(("set_name", "floor"), [("Set5", 30.8), ("Set14", 27.75), ("Kodak24", 28.5)])
def test_benchmark_srcnn_mse_psnr_bars(set_name, floor):
    """Issue 11's distortion bars for the MSE arm (PSNR-Y, border 4), as benchmark.json has them."""
    _, res = _set(set_name)
    got = res["srcnn_mse"]["mean"]["psnr_y"]
    assert got >= floor, f"SRCNN-MSE PSNR-Y {got:.3f} dB on {set_name}, bar {floor}"


@pytest.mark.parametrize("set_name", ["Set14", "Kodak24"])
def test_benchmark_lpips_each_loss_family(set_name):
    """The VGG loss lowers LPIPS against the same objective with MSE, and SRGAN-PL is the lowest."""
    _, res = _set(set_name)
    lp = {n: res[n]["mean"]["lpips"] for n in MODEL_NAMES}
    assert lp["srcnn_pl"] < lp["srcnn_mse"] and lp["srgan_pl"] < lp["srgan_mse"], lp
    assert lp["srgan_pl"] == min(lp.values()), lp


@pytest.mark.parametrize(
    "set_name",
    [
        "Set14",
        pytest.param(
            "Kodak24",
            marks=pytest.mark.xfail(
                strict=True,
                reason="not met by the shipped cpu-preset run: on Kodak24 SRGAN-MSE's LPIPS is below "
                "SRCNN-PL's (see README.md); strict, so meeting it fails here",
            ),
        ),
    ],
)
def test_benchmark_both_pl_models_below_both_mse_models(set_name):
    _, res = _set(set_name)
    lp = {n: res[n]["mean"]["lpips"] for n in MODEL_NAMES}
    assert max(lp["srcnn_pl"], lp["srgan_pl"]) < min(lp["srcnn_mse"], lp["srgan_mse"]), lp
