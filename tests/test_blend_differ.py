"""srcore.blend (network interpolation between two arms) and srcore.differ (where two outputs differ)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from srcore.blend import BlendCache, BlendError, blend, blend_state, check_alpha
from srcore.differ import top_windows
from srcore.inference import prepare, upscale
from srcore.models.generator import Generator, GeneratorConfig

CFG = GeneratorConfig(n1=8, n2=8, n3=8, upsampler="resize_conv", lr_consistency=True)


def _pair(seed=0):
    torch.manual_seed(seed)
    return Generator(CFG).eval(), Generator(CFG).eval()


def test_ends_are_the_models_themselves_and_the_middle_is_the_line():
    a, b = _pair()
    assert blend(a, b, 0) is a and blend(a, b, 1.0) is b
    m = blend(a, b, 0.25)
    for k, t in m.state_dict().items():
        want = 0.75 * a.state_dict()[k] + 0.25 * b.state_dict()[k]
        torch.testing.assert_close(t, want, rtol=0, atol=1e-7)
    assert m is not a and a.state_dict()["body.0.weight"].data_ptr() != m.state_dict()["body.0.weight"].data_ptr()


def test_blending_inference_copies_equals_preparing_the_blend():
    a, b = _pair(1)
    lr = np.random.default_rng(0).integers(0, 256, (20, 24, 3), dtype=np.uint8)
    via_prepared = upscale(blend(prepare(a), prepare(b), 0.5), lr)
    via_raw = upscale(prepare(blend(a, b, 0.5)), lr)
    assert np.abs(via_prepared.astype(int) - via_raw.astype(int)).max() <= 1
    out_a, out_b = upscale(prepare(a), lr), upscale(prepare(b), lr)
    assert not np.array_equal(via_prepared, out_a) and not np.array_equal(via_prepared, out_b)


def test_unlike_networks_and_bad_alpha_are_refused():
    a = Generator(CFG)
    b = Generator(GeneratorConfig(n1=8, n2=8, n3=8, upsampler="resize_conv", lr_consistency=False))
    with pytest.raises(BlendError, match="lr_consistency"):
        blend(a, b, 0.5)
    with pytest.raises(BlendError, match="different weights"):
        blend(a, prepare(Generator(CFG)), 0.5)
    for bad in (-0.1, 1.5, float("nan"), "x", None):
        with pytest.raises(BlendError):
            check_alpha(bad)
    with pytest.raises(BlendError):
        blend_state(a.state_dict(), a.state_dict(), 2)


def test_cache_blends_each_alpha_once():
    a, b = _pair(2)
    c = BlendCache(size=3)
    g1 = c.get("a", a, "b", b, 0.15)
    assert c.get("a", a, "b", b, 0.1 + 0.05) is g1 and c.blends == 1
    assert c.get("a", a, "b", b, 0) is a and c.blends == 1
    for al in (0.2, 0.3, 0.4):
        c.get("a", a, "b", b, al)
    assert c.blends == 4
    assert c.get("a", a, "b", b, 0.15) is not g1 and c.blends == 5, "the oldest was let go"


def test_top_windows_finds_planted_differences_in_order_without_overlap():
    rng = np.random.default_rng(3)
    a = rng.integers(0, 256, (200, 300, 3), dtype=np.uint8)
    b = a.copy()
    b[120:152, 200:232] ^= 64  # strong
    b[10:42, 10:42] ^= 16  # weaker
    ws = top_windows(a, b, side=32, count=5)
    assert (ws[0].x, ws[0].y) == (200, 120) and (ws[1].x, ws[1].y) == (10, 10)
    assert ws[0].rms > ws[1].rms > 0
    assert len(ws) <= 5 and all(w.rms > 0 for w in ws)
    for i, p in enumerate(ws):
        for q in ws[i + 1 :]:
            assert p.x + p.side <= q.x or q.x + q.side <= p.x or p.y + p.side <= q.y or q.y + q.side <= p.y
    assert top_windows(a, a.copy()) == []
    with pytest.raises(ValueError, match="size"):
        top_windows(a, a[:10])
