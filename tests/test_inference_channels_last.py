"""The channels-last inference switch (SR_CHANNELS_LAST, issue 16) gives the eager NCHW output."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import srcore.inference as inf
from srcore.models import Generator, GeneratorConfig

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("tile", [None, 16])
def test_channels_last_matches_eager(monkeypatch, tile):
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(n1=8, n2=8, n3=8))
    lr = np.random.default_rng(0).integers(0, 256, (24, 40, 3), dtype=np.uint8)
    monkeypatch.setattr(inf, "CHANNELS_LAST", False)
    ref = inf.upscale(g, lr, tile=tile)
    monkeypatch.setattr(inf, "CHANNELS_LAST", True)
    out = inf.upscale(g, lr, tile=tile)
    assert out.shape == (96, 160, 3)
    assert np.abs(out.astype(int) - ref.astype(int)).max() <= 1
