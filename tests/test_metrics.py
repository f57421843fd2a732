"""PSNR / SSIM with the SR benchmark convention (Y of MATLAB rgb2ycbcr, mod-crop, border shave)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from skimage.metrics import structural_similarity

from srcore.metrics import (
    METRICS,
    PANEL_METRICS,
    colour_bias,
    flat_phase_range,
    hf_energy,
    mod_crop,
    phase_range,
    psnr,
    rgb_to_y,
    score,
    shave,
    ssim,
)

pytestmark = pytest.mark.timeout(60)


def _rand(shape, seed=0, lo=0, hi=256):
    return np.random.default_rng(seed).integers(lo, hi, size=shape).astype(np.uint8)


@pytest.mark.parametrize("d", [1, 2, 5, 10])
def test_psnr_uniform_offset_rgb(d):
    hr = _rand((40, 36, 3), lo=20, hi=200)
    sr = hr + np.uint8(d)
    assert psnr(sr, hr, y_channel=False) == pytest.approx(20 * math.log10(255 / d), abs=1e-9)
    # a uniform RGB offset d moves Y by d * (65.481 + 128.553 + 24.966) / 255 = d * 219 / 255
    assert psnr(sr, hr, y_channel=True) == pytest.approx(20 * math.log10(255 / (d * 219 / 255)), abs=1e-9)


def test_psnr_known_mse():
    hr = np.zeros((20, 20), np.uint8)
    sr = hr.copy()
    sr[4:16, 4:16][::2, ::2] = 12  # 36 of the 144 shaved pixels off by 12 -> MSE 36
    assert psnr(sr, hr, border=4) == pytest.approx(10 * math.log10(255**2 / 36.0), abs=1e-9)


def test_identical_is_inf():
    hr = _rand((24, 24, 3))
    assert psnr(hr, hr.copy()) == math.inf
    assert psnr(hr, hr.copy(), y_channel=False) == math.inf
    assert ssim(hr, hr.copy()) == pytest.approx(1.0, abs=1e-12)


def test_y_coefficients():
    rgb = np.array([[[0, 0, 0], [255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [10, 20, 30]]], np.uint8)
    y = rgb_to_y(rgb)[0]
    np.testing.assert_allclose(
        y,
        [16, 235, 16 + 65.481, 16 + 128.553, 16 + 24.966, 16 + (65.481 * 10 + 128.553 * 20 + 24.966 * 30) / 255],
        atol=1e-9,
    )
    gray = _rand((5, 5))
    np.testing.assert_array_equal(rgb_to_y(gray), gray.astype(np.float64))  # already one channel


def test_rgb_order_not_bgr():
    red = np.zeros((12, 12, 3), np.uint8)
    red[..., 0] = 255
    assert rgb_to_y(red).mean() == pytest.approx(16 + 65.481)  # BGR order would give 16 + 24.966


def test_border_shave():
    hr = _rand((32, 32, 3), seed=3)
    sr = hr.copy()
    sr[:4] = 0
    sr[:, -4:] = 255 - sr[:, -4:]
    assert psnr(sr, hr, border=4) == math.inf
    assert psnr(sr, hr, border=3) < 30
    assert psnr(sr, hr, border=0) < 30
    assert shave(hr, 4).shape == (24, 24, 3)
    assert shave(hr, 0).shape == hr.shape


def test_mod_crop():
    img = _rand((51, 62, 3))
    c = mod_crop(img, 4)
    assert c.shape == (48, 60, 3)
    np.testing.assert_array_equal(c, img[:48, :60])  # top-left anchored
    assert mod_crop(img[:48, :60]).shape == (48, 60, 3)


def _y_ref(img):
    img = img.astype(np.float64)
    return 16.0 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255.0


@pytest.mark.parametrize("seed", [0, 1])
def test_ssim_matches_scikit_image(seed):
    hr = _rand((48, 40, 3), seed=seed)
    noise = np.random.default_rng(seed + 10).normal(0, 12, hr.shape)
    sr = np.clip(hr + noise, 0, 255).astype(np.uint8)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
    ref_y = structural_similarity(_y_ref(sr)[4:-4, 4:-4], _y_ref(hr)[4:-4, 4:-4], **kw)
    assert ssim(sr, hr) == pytest.approx(ref_y, abs=1e-10)
    ref_rgb = np.mean(
        [
            structural_similarity(sr[4:-4, 4:-4, c].astype(float), hr[4:-4, 4:-4, c].astype(float), **kw)
            for c in range(3)
        ]
    )
    assert ssim(sr, hr, y_channel=False) == pytest.approx(ref_rgb, abs=1e-10)
    assert 0 < ssim(sr, hr) < 1


def test_ssim_uses_gaussian_window_not_uniform():
    hr = _rand((48, 48, 3), seed=5)
    sr = np.clip(hr.astype(int) + np.random.default_rng(6).normal(0, 20, hr.shape), 0, 255).astype(np.uint8)
    uniform = structural_similarity(_y_ref(sr)[4:-4, 4:-4], _y_ref(hr)[4:-4, 4:-4], data_range=255)
    assert abs(ssim(sr, hr) - uniform) > 1e-4


def test_mismatched_sizes_raise():
    with pytest.raises(ValueError, match="differ"):
        psnr(_rand((32, 32, 3)), _rand((32, 28, 3)))
    with pytest.raises(ValueError):
        ssim(_rand((32, 32, 3)), _rand((28, 32, 3)))
    with pytest.raises(ValueError):
        psnr(_rand((8, 8, 3)), _rand((8, 8, 3)), border=4)  # nothing left after the shave


def test_score_follows_the_metric_table():
    hr = _rand((40, 40, 3), seed=7)
    sr = np.clip(hr.astype(int) + 3, 0, 255).astype(np.uint8)
    s = score(sr, hr, lpips_fn=lambda _sr, _hr: 0.25)
    assert list(s) == [m.key for m in METRICS]
    assert s["psnr_y"] == pytest.approx(psnr(sr, hr))
    assert s["ssim_y"] == pytest.approx(ssim(sr, hr))
    assert s["psnr_rgb"] == pytest.approx(psnr(sr, hr, y_channel=False))
    assert s["psnr_rgb"] != s["psnr_y"] and s["lpips"] == 0.25
    assert score(sr, hr, keys=PANEL_METRICS)["lpips"] is None
    with pytest.raises(KeyError):
        score(sr, hr, keys=("nope",))
    by = {m.key: m for m in METRICS}
    assert by["psnr_y"].better(30, 29) and by["lpips"].better(0.1, 0.2) and by["bias_r"].better(-0.1, 0.3)


def test_phase_range_catches_a_synthetic_checkerboard():
    """A 4x4-periodic pattern of +-3 grey levels on a textured image: invisible to the colour bias,
    a phase range of 6; the same image without it has a phase range of 0."""
    hr = _rand((64, 64, 3), seed=3).astype(np.float64)
    pattern = np.zeros((64, 64, 3))
    pattern[0::4, 0::4] = 3
    pattern[2::4, 2::4] = -3
    sr = hr + pattern
    assert phase_range(sr, hr) == pytest.approx(6.0)
    assert phase_range(hr, hr) == 0.0
    assert colour_bias(sr, hr) == pytest.approx((0.0, 0.0, 0.0), abs=1e-9)
    assert colour_bias(hr + [2, 0, -1], hr) == pytest.approx((2.0, 0.0, -1.0))


def test_flat_phase_range_of_a_patterned_upscaler():
    from srcore.resize import bicubic_x4

    assert flat_phase_range(bicubic_x4) == pytest.approx(0.0, abs=1e-9)

    def gridded(lr):
        out = bicubic_x4(lr).astype(int)
        out[1::4, 1::4] += 5
        return np.clip(out, 0, 255).astype(np.uint8)

    assert flat_phase_range(gridded) == pytest.approx(5.0, abs=1e-9)


def test_hf_energy_is_one_for_the_original_and_low_for_a_blur():
    from srcore.resize import bicubic_x4, downscale_x4

    hr = mod_crop(_rand((64, 64, 3), seed=5))
    assert hf_energy(hr, hr) == pytest.approx(1.0)
    assert hf_energy(bicubic_x4(downscale_x4(hr)), hr) < 0.2
