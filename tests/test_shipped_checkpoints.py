"""The four shipped generators (and the other seeds' beside them) exist, load, and are sane.

Fails (not skips) when a checkpoint is missing or untrained: the dashboard depends on them.
Nothing here compares a Set5, Set14 or Kodak24 figure to a threshold (those are reported, not
targeted): sanity is checked live on scikit-image's photos and synthetic images, and
``benchmark.json`` is checked for consistency with itself (its intervals recomputed).
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


def _all_generators() -> list[tuple[str, object]]:
    """(label, path) of every shipped generator and every other seed's in checkpoints/seeds/."""
    from srcore.evaluate import seed_files

    out = []
    for name in MODEL_NAMES:
        for seed, path in seed_files(name).items():
            out.append((f"{name} seed {seed}", path))
    return out


def test_every_arm_has_three_seeds():
    bench = _bench()
    seeds = bench.get("seeds") or {}
    for name in MODEL_NAMES:
        assert len(seeds.get(name, [])) >= 3, f"{name}: seeds {seeds.get(name)}"
    assert len(_all_generators()) == sum(len(seeds[n]) for n in MODEL_NAMES)


@pytest.mark.parametrize(("label", "path"), _all_generators())
def test_no_pattern_cast_or_invented_colour(label, path, photos):
    """Every seed of every arm, on the photos: x4 phase range <= 2 grey levels, |colour bias| <= 0.5
    per channel, flat-colour phase range <= 1; on their grey versions mean chroma <= 0.5 grey levels
    and at most 0.1 % of pixels above 8 (the speckle bar)."""
    from srcore.checkpoint import load_generator_file
    from srcore.metrics import chroma_on_grey, colour_bias, flat_phase_range, grey_version, phase_range

    model, _ = load_generator_file(path, "cpu")
    for hr, lr in photos:
        sr = upscale(model, lr)
        assert phase_range(sr, hr) <= 2.0, label
        assert max(map(abs, colour_bias(sr, hr))) <= 0.5, label
        ch = chroma_on_grey(upscale(model, downscale_x4(grey_version(hr))))
        assert ch["chroma_grey"] <= 0.5 and ch["chroma_grey_over8"] <= 0.1, (label, ch)
    assert flat_phase_range(lambda x: upscale(model, x)) <= 1.0, label


def test_benchmark_intervals_recompute():
    """Each set's spread over seeds and a sample of the pairwise intervals follow from the per-image
    figures stored beside them; "resolved" is exactly "the interval excludes 0"."""
    from srcore import uncertainty

    bench = _bench()
    pairs = bench["pairwise"]
    assert pairs, "benchmark.json has no pairwise intervals"
    u = bench["uncertainty"]
    for p in pairs:
        lo, hi = p["ci95"]
        assert lo <= p["mean_diff"] <= hi or np.isclose(lo, hi), p
        assert p["resolved"] == (lo > 0 or hi < 0), p
    for p in pairs[:: max(1, len(pairs) // 12)]:
        entry = bench["sets"][p["set"]]

        def rows(m, entry=entry, p=p):
            res = entry["models"][m]
            runs = [res["per_image"]] + [r["per_image"] for r in (res.get("seeds") or {}).values() if "per_image" in r]
            return np.array([[run[i][p["metric"]] for i in entry["images"]] for run in runs])

        d, lo, hi = uncertainty.paired_bootstrap(rows(p["a"]), rows(p["b"]), u["resamples"], u["level"])
        assert np.allclose([d, lo, hi], [p["mean_diff"], *p["ci95"]]), p
    for entry in bench["sets"].values():
        for m, res in entry["models"].items():
            means = [r["mean"]["lpips"] for r in (res.get("seeds") or {"0": res}).values()]
            spread = res["over_seeds"]["lpips"]
            assert np.isclose(spread["mean"], np.mean(means)) and spread["n"] == len(means), m
