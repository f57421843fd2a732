"""Helpers for comparing several SR outputs against one reference (used by the dashboard).

``BatchLPIPS`` computes the LPIPS distance of N uint8 images to one reference in a single
batched AlexNet pass (the reference's features are computed once), giving the same numbers as
``srcore.models.feature_nets.LPIPS`` called pair by pair.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from srcore.data import to_tensor
from srcore.models.feature_nets import LPIPS


def _batch(images: Sequence[np.ndarray]) -> torch.Tensor:
    return torch.stack([to_tensor(np.ascontiguousarray(im)) for im in images])


class BatchLPIPS:
    """LPIPS (AlexNet, v0.1) of many uint8 HxWx3 images against one reference."""

    def __init__(self, net: LPIPS | None = None):
        self.net = net if net is not None else LPIPS()
        self.net.eval()

    @torch.inference_mode()
    def __call__(self, a: np.ndarray, b: np.ndarray) -> float:
        """LPIPS of two uint8 images (the ``lpips_fn`` signature ``srcore.metrics.score`` expects)."""
        return self.to_reference(b, [a])[0]

    @torch.inference_mode()
    def features(self, images: Sequence[np.ndarray]) -> list[torch.Tensor]:
        """Unit-normalised AlexNet features (one tensor per LPIPS tap) of a batch of uint8 images."""
        net = self.net
        f = (_batch(images) * 2 - 1 - net.shift) / net.scale
        out = []
        for sl in net.slices:
            f = sl(f)
            out.append(f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    @torch.inference_mode()
    def distance(self, ref_feats: list[torch.Tensor], feats: list[torch.Tensor]) -> list[float]:
        """LPIPS from ``features`` outputs: the first item of ``ref_feats`` against every item of ``feats``."""
        total = 0
        for r, f, lin in zip(ref_feats, feats, self.net.lins):
            total = total + lin((f - r[:1]) ** 2).mean(dim=(2, 3))
        return [float(v) for v in total.view(-1)]

    @torch.inference_mode()
    def to_reference(self, ref: np.ndarray, images: Sequence[np.ndarray]) -> list[float]:
        """Distances of each image in ``images`` to ``ref`` (all the same size), in one pass."""
        if not images:
            return []
        for im in images:
            if im.shape != ref.shape:
                raise ValueError(f"LPIPS needs equal sizes: {im.shape} vs {ref.shape}")
        net = self.net
        x = _batch([ref, *images])
        f = (x * 2 - 1 - net.shift) / net.scale
        total = torch.zeros(len(images), 1)
        for sl, lin in zip(net.slices, net.lins):
            f = sl(f)
            n = f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10)
            d = (n[1:] - n[:1]) ** 2
            total = total + lin(d).mean(dim=(2, 3))
        return [float(v) for v in total.view(-1)]
