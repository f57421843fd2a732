"""Seed spread, paired bootstrap intervals and the figures added for issue 26, on synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srcore import uncertainty
from srcore.metrics import chroma_on_grey, grey_version, top_octave
from srcore.models.generator import Generator
from srcore.zoo import GENERATOR


def test_seed_spread():
    s = uncertainty.seed_spread([1.0, 2.0, 3.0])
    assert s == {"mean": 2.0, "sd": 1.0, "n": 3}
    assert uncertainty.seed_spread([5.0])["sd"] == 0.0


def test_bootstrap_identical_is_unresolved_and_shift_is_resolved():
    rng = np.random.default_rng(1)
    b = rng.normal(30, 2, size=(3, 20))
    d, lo, hi = uncertainty.paired_bootstrap(b, b)
    assert d == 0 and lo == 0 and hi == 0
    d, lo, hi = uncertainty.paired_bootstrap(b + 0.5, b)
    assert d == pytest.approx(0.5) and lo == pytest.approx(0.5) and hi == pytest.approx(0.5)
    # a noisy difference whose mean is near 0 relative to its spread: the interval straddles 0
    noisy = b + rng.normal(0, 1, size=b.shape)
    noisy -= (noisy - b).mean()
    d, lo, hi = uncertainty.paired_bootstrap(noisy, b)
    assert lo < 0 < hi


def test_bootstrap_pairs_a_baseline_row_with_every_seed():
    base = np.arange(10.0)[None]  # bicubic: one row
    arm = np.stack([base[0] + 1, base[0] + 2, base[0] + 3])
    d, lo, hi = uncertainty.paired_bootstrap(arm, base)
    assert d == pytest.approx(2.0) and 1.0 <= lo <= hi <= 3.0
    with pytest.raises(ValueError, match="images"):
        uncertainty.paired_bootstrap(arm, np.zeros((1, 9)))
    with pytest.raises(ValueError, match="seeds"):
        uncertainty.paired_bootstrap(arm, np.zeros((2, 10)))


def test_pairwise_and_resolved_best():
    rng = np.random.default_rng(2)
    base = rng.normal(0.3, 0.05, size=(3, 24))
    per = {"bicubic": base[:1] + 0.1, "a": base, "b": base - 0.02, "c": base - 0.02 + rng.normal(0, 1e-4, base.shape)}
    pairs = uncertainty.pairwise(per, "S", "lpips")
    assert len(pairs) == 6 and all(set(p) >= {"mean_diff", "ci95", "resolved"} for p in pairs)
    ab = uncertainty.find(pairs, "S", "lpips", "b", "a")
    assert ab is not None and ab["mean_diff"] == pytest.approx(-0.02) and ab["resolved"]
    # b and c are a tie: no best is marked; without c, b is the resolved best (lower is better)
    assert uncertainty.resolved_best(pairs, "S", "lpips", list(per), higher_is_better=False) is None
    assert uncertainty.resolved_best(pairs, "S", "lpips", ["bicubic", "a", "b"], higher_is_better=False) == "b"


def test_chroma_on_grey():
    grey = grey_version(np.random.default_rng(0).integers(0, 256, size=(40, 40, 3), dtype=np.uint8))
    assert (grey[..., 0] == grey[..., 1]).all() and (grey[..., 1] == grey[..., 2]).all()
    assert chroma_on_grey(grey) == {"chroma_grey": 0.0, "chroma_grey_over8": 0.0}
    speck = grey.astype(np.int16)
    speck[10:14, 10:14, 0] += 20  # 16 of the 32x32 interior pixels get 20 (or less, clipped) of red
    speck = speck.clip(0, 255).astype(np.uint8)
    got = chroma_on_grey(speck)
    expected = (speck[4:-4, 4:-4].astype(int).max(2) - speck[4:-4, 4:-4].astype(int).min(2)).mean()
    assert got["chroma_grey"] == pytest.approx(expected) and got["chroma_grey"] > 0
    assert got["chroma_grey_over8"] <= 16 / 32**2 * 100 + 1e-9


def test_top_octave_ranks_smooth_and_noisy():
    rng = np.random.default_rng(3)
    hr = rng.integers(0, 256, size=(64, 64, 3)).astype(np.uint8)
    assert top_octave(hr, hr) == pytest.approx(1.0)
    smooth = ((hr.astype(float) + np.roll(hr, 1, 0) + np.roll(hr, 1, 1) + np.roll(hr, (1, 1), (0, 1))) / 4).astype(
        np.uint8
    )
    assert top_octave(smooth, hr) < 0.5


def test_luma_residual_keeps_grey_grey():
    torch.manual_seed(0)
    g = Generator(GENERATOR).eval()
    with torch.no_grad():
        for layer in g.up.modules():  # make the learned residual large, so any colour would show
            if isinstance(layer, torch.nn.Conv2d):
                layer.weight.mul_(10)
    lr = torch.rand(1, 1, 24, 24).expand(1, 3, 24, 24).contiguous()
    with torch.no_grad():
        for model in (g, g.for_inference()):
            sr = model(lr)
            assert (sr[:, 0] == sr[:, 1]).all() and (sr[:, 1] == sr[:, 2]).all()
            assert (sr - sr.mean()).abs().max() > 0.01  # the residual is not trivially zero
