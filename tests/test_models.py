"""Generator (SRCNN body + ICNR sub-pixel x4 + bicubic residual), the seed preset, the discriminator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import photo
from torch import nn

from srcore.data import to_tensor, to_uint8
from srcore.metrics import psnr
from srcore.models import Discriminator, DiscriminatorConfig, Generator, GeneratorConfig
from srcore.models.generator import icnr_
from srcore.resize import bicubic_x4, downscale_x4
from srcore.zoo import GENERATOR, SEED_GENERATOR, entry

pytestmark = pytest.mark.timeout(60)
SMALL = GeneratorConfig(n1=16, n2=8, n3=8)


@pytest.mark.parametrize(
    "cfg",
    [
        SMALL,
        GeneratorConfig(n1=16, n2=8, n3=8, residual=False),
        GeneratorConfig(n1=16, n2=8, upsampler="nearest", residual=False),
    ],
)
@pytest.mark.parametrize("hw", [(12, 12), (13, 7)])
def test_output_shape_x4(cfg, hw):
    g = Generator(cfg)
    x = torch.rand(2, 3, *hw)
    assert g(x).shape == (2, 3, 4 * hw[0], 4 * hw[1])


def test_only_x4_and_known_upsamplers():
    with pytest.raises(ValueError):
        Generator(GeneratorConfig(scale=2))
    with pytest.raises(ValueError):
        Generator(GeneratorConfig(upsampler="deconv"))


def test_untrained_generator_is_near_bicubic():
    torch.manual_seed(0)
    g = Generator(GENERATOR).eval()
    hr = photo("astronaut", (128, 128))
    lr = downscale_x4(hr)
    with torch.no_grad():
        sr = to_uint8(g(to_tensor(lr).unsqueeze(0)))
    bic = bicubic_x4(lr)
    p = psnr(sr, bic, y_channel=False, border=0)
    assert p > 32, f"untrained generator is {p:.1f} dB from bicubic"  # unscaled init: ~15 dB


def test_icnr_subpixel_phases_equal():
    torch.manual_seed(1)
    g = Generator(SMALL)
    for conv_idx, shuffle_idx in ((1, 2), (4, 5)):
        stage = nn.Sequential(g.up[conv_idx], g.up[shuffle_idx])
        x = torch.randn(1, SMALL.n3, 9, 11)
        y = stage(x)
        phases = [y[..., i::2, j::2] for i in (0, 1) for j in (0, 1)]
        for ph in phases[1:]:
            torch.testing.assert_close(ph, phases[0], atol=1e-6, rtol=0)
    # the same for a standalone ICNR-initialised conv, and a non-ICNR conv does not have it
    conv = nn.Conv2d(4, 3 * 4, 3, padding=1)
    icnr_(conv.weight)
    nn.init.zeros_(conv.bias)
    y = nn.PixelShuffle(2)(conv(torch.randn(1, 4, 6, 6)))
    torch.testing.assert_close(y[..., 0::2, 0::2], y[..., 1::2, 1::2])
    plain = nn.PixelShuffle(2)(nn.Conv2d(4, 12, 3, padding=1)(torch.randn(1, 4, 6, 6)))
    assert (plain[..., 0::2, 0::2] - plain[..., 1::2, 1::2]).abs().max() > 1e-3


def test_no_checkerboard_for_constant_input():
    torch.manual_seed(2)
    g = Generator(GeneratorConfig(n1=16, n2=8, n3=8, residual=False))
    with torch.no_grad():
        y = g(torch.full((1, 3, 24, 24), 0.5))
    interior = y[..., 40:-40, 40:-40]  # away from the zero-padded borders
    assert float(interior.std(dim=(2, 3)).max()) < 1e-5


def test_seed_preset_is_blocky_nearest():
    assert SEED_GENERATOR.upsampler == "nearest" and SEED_GENERATOR.residual is False
    e = entry("srcnn_mse", arch="seed")
    assert e.arch == SEED_GENERATOR
    g = Generator(GeneratorConfig(n1=16, n2=8, upsampler="nearest", residual=False))
    with torch.no_grad():
        y = g(torch.rand(1, 3, 10, 9))
    blocks = y.view(1, 3, 10, 4, 9, 4)
    # every 4x4 block holds a single value
    assert float((blocks - blocks[:, :, :, :1, :, :1]).abs().max()) == 0.0
    assert float(y.std()) > 0  # and it is not trivially constant


def test_receptive_radius_covers_dependence():
    torch.manual_seed(3)
    g = Generator(SMALL).eval()
    for p in g.parameters():
        p.data.add_(torch.randn_like(p) * 0.05)
    x = torch.rand(1, 3, 40, 40)
    x2 = x.clone()
    x2[..., 20, 20] += 1.0  # perturb one LR pixel
    with torch.no_grad():
        d = (g(x2) - g(x)).abs().sum(dim=(0, 1))
    ys, xs = torch.nonzero(d > 1e-7, as_tuple=True)
    reach = max(int((ys // 4 - 20).abs().max()), int((xs // 4 - 20).abs().max()))
    assert reach <= g.receptive_radius


def test_discriminator_sizes_and_one_logit():
    torch.manual_seed(4)
    d = Discriminator(DiscriminatorConfig(base=8, dense=32))
    for shape in ((2, 3, 32, 32), (3, 3, 48, 64), (1, 3, 96, 80)):
        out = d.eval()(torch.rand(*shape))
        assert out.shape == (shape[0],)
    d.train()
    out = d(torch.rand(4, 3, 40, 40))
    assert out.shape == (4,) and torch.isfinite(out).all()


def test_discriminator_architecture():
    d = Discriminator()
    convs = [m for m in d.features if isinstance(m, nn.Conv2d)]
    assert len(convs) == 8
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    # no BatchNorm right after the first conv, one after each of the other seven
    assert not isinstance(d.features[1], nn.BatchNorm2d)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.features) == 7
    mods = list(d.features)
    for c in convs[1:]:
        assert isinstance(mods[mods.index(c) + 1], nn.BatchNorm2d)
    acts = [m for m in d.modules() if isinstance(m, nn.LeakyReLU)]
    assert len(acts) == 9 and all(a.negative_slope == 0.2 for a in acts)
    linears = [m for m in d.head if isinstance(m, nn.Linear)]
    assert [lin.out_features for lin in linears] == [1024, 1]


def test_generator_config_round_trip():
    cfg = GeneratorConfig(n1=16, n2=8, n3=8, k2=1)
    assert GeneratorConfig.from_dict({**cfg.to_dict(), "unknown": 1}) == cfg
    assert np.isfinite(Generator(cfg).receptive_radius)
