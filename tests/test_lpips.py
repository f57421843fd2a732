"""LPIPS (AlexNet, v0.1) reproduces the reference package's documented example distances."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers import LPIPS_DATA
from PIL import Image

from srcore import paths

pytestmark = [
    pytest.mark.timeout(120),
    pytest.mark.skipif(
        not paths.ALEXNET_WEIGHTS.is_file() or not paths.LPIPS_LIN_WEIGHTS.is_file(),
        reason="LPIPS weights missing from checkpoints/",
    ),
]


def _load(name: str) -> torch.Tensor:
    a = np.asarray(Image.open(LPIPS_DATA / name).convert("RGB"), dtype=np.float32) / 255.0
    return torch.from_numpy(a).permute(2, 0, 1).unsqueeze(0)


@pytest.fixture(scope="module")
def lpips_net():
    from srcore.models.feature_nets import LPIPS

    return LPIPS()


def test_reference_distances(lpips_net):
    ref, p0, p1 = _load("ex_ref.png"), _load("ex_p0.png"), _load("ex_p1.png")
    with torch.no_grad():
        d = lpips_net(torch.cat([ref, ref]), torch.cat([p0, p1]))
    assert d.shape == (2,)
    assert float(d[0]) == pytest.approx(0.7219, abs=5e-4)
    assert float(d[1]) == pytest.approx(0.1376, abs=5e-4)


def test_identity_zero_symmetric_and_frozen(lpips_net):
    ref, p1 = _load("ex_ref.png"), _load("ex_p1.png")
    with torch.no_grad():
        assert float(lpips_net(ref, ref)) == pytest.approx(0.0, abs=1e-7)
        assert float(lpips_net(ref, p1)) == pytest.approx(float(lpips_net(p1, ref)), abs=1e-6)
    lpips_net.train()
    assert not lpips_net.training
    assert not any(p.requires_grad for p in lpips_net.parameters())


def test_batch_lpips_with_kept_reference_features_is_the_fresh_distance(lpips_net):
    """``BatchLPIPS.to_reference``: the reference's features handed out by ``keep`` and passed back
    as ``ref_feats`` give the distances of a fresh call (the loss slider's blend panel uses this)."""
    from concurrent.futures import ThreadPoolExecutor

    from srcore.compare import BatchLPIPS

    rng = np.random.default_rng(3)
    ref = rng.integers(0, 256, (72, 80, 3), dtype=np.uint8)
    ims = [np.clip(ref.astype(int) + rng.integers(-40, 41, ref.shape), 0, 255).astype(np.uint8) for _ in range(3)]
    bl = BatchLPIPS(lpips_net)
    kept: list = []
    with ThreadPoolExecutor(2) as pool:
        both = bl.to_reference(ref, ims[:2], parts=2, map_fn=pool.map, keep=kept.append)
    assert len(kept) == 1 and all(t.shape[0] == 1 for t in kept[0])
    again = bl.to_reference(ref, ims, ref_feats=kept[0])
    fresh = [bl(im, ref) for im in ims]
    np.testing.assert_allclose(both, fresh[:2], atol=1e-6)
    np.testing.assert_allclose(again, fresh, atol=1e-6)
    assert len(set(np.round(fresh, 6))) == 3
