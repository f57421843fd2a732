"""The inference copy of a generator (resize-conv stages as sub-pixel convs, ``Generator.for_inference``)
and ``srcore.inference.prepare``: the same output as the trained module, which is left unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import srcore.inference as inf
from srcore.data import to_tensor, to_uint8
from srcore.models import Generator, GeneratorConfig
from srcore.models.generator import subpixel_conv

pytestmark = pytest.mark.timeout(60)
RESIZE_CONV = GeneratorConfig(n1=16, n2=8, n3=8, upsampler="resize_conv", lr_consistency=True)


def _trained_like(cfg: GeneratorConfig, seed: int = 0) -> Generator:
    """A generator with random (not init-shaped) weights and biases, so every tap and phase counts."""
    torch.manual_seed(seed)
    g = Generator(cfg).eval()
    with torch.no_grad():
        for p in g.parameters():
            p.normal_(0, 0.2)
    return g


@pytest.mark.parametrize("hw", [(1, 1), (5, 9), (24, 17)])
def test_subpixel_conv_equals_nearest_then_conv(hw):
    torch.manual_seed(0)
    conv = nn.Conv2d(5, 3, 3, padding=1)
    x = torch.randn(2, 5, *hw)
    want = conv(nn.functional.interpolate(x, scale_factor=2, mode="nearest"))
    got = nn.functional.pixel_shuffle(subpixel_conv(conv)(x), 2)
    torch.testing.assert_close(got, want, rtol=0, atol=1e-5)


def test_subpixel_conv_refuses_other_convs():
    for conv in (nn.Conv2d(4, 4, 5, padding=2), nn.Conv2d(4, 4, 3, padding=0), nn.Conv2d(4, 4, 3, padding=1, stride=2)):
        with pytest.raises(ValueError, match="3x3 conv with padding 1"):
            subpixel_conv(conv)


@pytest.mark.parametrize(
    "cfg",
    [RESIZE_CONV, GeneratorConfig(n1=16, n2=8, n3=8), GeneratorConfig(n1=8, n2=8, upsampler="nearest", residual=False)],
)
def test_for_inference_same_output_and_original_untouched(cfg):
    g = _trained_like(cfg)
    before = {k: v.clone() for k, v in g.state_dict().items()}
    x = torch.rand(1, 3, 13, 22)
    with torch.no_grad():
        want = g(x)
    f = g.for_inference()
    assert f is not g and not f.training
    assert not any(p.requires_grad for p in f.parameters())
    with torch.inference_mode():
        got = f(x)
    torch.testing.assert_close(got, want, rtol=0, atol=2e-5)
    # the trained module keeps its own layers and weights (it is the one saved and trained on)
    assert g.state_dict().keys() == before.keys()
    assert all(torch.equal(g.state_dict()[k], v) for k, v in before.items())
    assert all(p.requires_grad for p in g.parameters())
    if cfg.upsampler == "resize_conv":
        assert not any(isinstance(m, nn.Upsample) for m in f.up.modules())


def test_prepare_returns_a_prepared_copy_once():
    g = _trained_like(RESIZE_CONV)
    p = inf.prepare(g)
    assert p is not g and inf.prepare(p) is p
    assert not getattr(g, "_prepared", False)  # the caller's model is not changed
    assert any(isinstance(m, nn.Upsample) for m in g.up.modules())


@pytest.mark.parametrize("tile", [None, 16])
def test_upscale_with_the_prepared_copy_equals_the_trained_module(tile):
    g = _trained_like(RESIZE_CONV, seed=3)
    lr = np.random.default_rng(0).integers(0, 256, (40, 28, 3), dtype=np.uint8)
    with torch.no_grad():
        want8 = to_uint8(g(to_tensor(lr).unsqueeze(0)))
    out = inf.upscale(g, lr, tile=tile)
    assert out.shape == want8.shape
    assert np.abs(out.astype(int) - want8.astype(int)).max() <= 1  # float rounding at .5 only
    assert (out != want8).mean() < 1e-3
