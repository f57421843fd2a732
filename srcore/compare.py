"""Helpers for comparing several SR outputs against one reference (used by the dashboard).

``BatchLPIPS`` computes the LPIPS distance of N uint8 images to one reference in a single
batched AlexNet pass (the reference's features are computed once), giving the same numbers as
``srcore.models.feature_nets.LPIPS`` called pair by pair.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

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
        return self.net.features(_batch(images))

    @torch.inference_mode()
    def distance(self, ref_feats: list[torch.Tensor], feats: list[torch.Tensor]) -> list[float]:
        """LPIPS from ``features`` outputs: the first item of ``ref_feats`` against every item of ``feats``."""
        return [float(v) for v in self.net.distance([r[:1] for r in ref_feats], feats)]

    @torch.inference_mode()
    def to_reference(
        self,
        ref: np.ndarray,
        images: Sequence[np.ndarray],
        parts: int = 1,
        map_fn: Callable[..., Iterable] = map,
        ref_feats: list[torch.Tensor] | None = None,
        keep: Callable[[list[torch.Tensor]], object] | None = None,
    ) -> list[float]:
        """Distances of each image in ``images`` to ``ref`` (all the same size), in one pass, or in
        ``parts`` batches mapped by ``map_fn`` (a thread pool's ``map``: one batch per worker).
        ``ref_feats``: ``ref``'s features from an earlier call (handed to its ``keep``), so only
        ``images`` pass through AlexNet; ``keep(ref_feats)`` receives them (copies, for later calls)."""
        if not images:
            return []
        for im in images:
            if im.shape != ref.shape:
                raise ValueError(f"LPIPS needs equal sizes: {im.shape} vs {ref.shape}")
        batch = [*images] if ref_feats is not None else [ref, *images]
        n = max(1, min(parts, len(batch)))
        chunks = [batch[i * len(batch) // n : (i + 1) * len(batch) // n] for i in range(n)]
        f = [torch.cat(t) for t in zip(*map_fn(self.features, chunks))] if n > 1 else self.features(batch)
        if ref_feats is None:
            ref_feats = [t[:1].clone() for t in f]
            f = [t[1:] for t in f]
        if keep is not None:
            keep(ref_feats)
        return self.distance(ref_feats, f)
