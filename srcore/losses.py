"""The report's losses, equation letters as in the report.

Images are RGB in [0, 1].  Following SRGAN, the pixel MSE is computed on the [-1, 1] scale
(4x the [0, 1] MSE), so that the 1e-3 adversarial weight balances as in the paper.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from srcore.config import Recipe
from srcore.models.feature_nets import VGGFeatures


def mse_loss(sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """(c) pixel-wise MSE, on the [-1, 1] intensity scale."""
    return F.mse_loss(sr * 2 - 1, hr * 2 - 1)


class VGGLoss(nn.Module):
    """(d) squared distance of VGG feature maps before the 3rd max-pool (mean over the map)."""

    def __init__(self, variant: str = "vgg16", feature_scale: float = 1.0):
        super().__init__()
        self.features = VGGFeatures(variant)
        self.feature_scale = feature_scale

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            target = self.features(hr)
        return F.mse_loss(self.features(sr), target) * self.feature_scale**2


def adversarial_loss(fake_logits: torch.Tensor) -> torch.Tensor:
    """(e) -log D(G(x)), averaged over the batch (the report sums; the mean keeps 1e-3 batch-independent)."""
    return F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))


def discriminator_loss(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """(b) the discriminator maximises log D(HR) + log(1 - D(G(LR))); we minimise the negative."""
    return F.binary_cross_entropy_with_logits(
        real_logits, torch.ones_like(real_logits)
    ) + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits))


class GeneratorLoss(nn.Module):
    """The generator objective of a recipe: the weighted sum of its named terms
    (``srcore.losses_table``): (c) MSE, (f) VGG, (m) MSE + w*adv, (g) VGG + w*adv.

    ``forward`` returns the total and each unweighted term as a detached tensor (no host sync;
    the trainer reads them every few steps) for the history.
    """

    def __init__(self, recipe: Recipe):
        super().__init__()
        self.recipe = recipe
        self.weights = dict(recipe.loss)
        self.vgg = VGGLoss(recipe.vgg_variant, recipe.vgg_feature_scale) if recipe.uses_vgg else None

    def forward(self, sr: torch.Tensor, hr: torch.Tensor, fake_logits: torch.Tensor | None = None):
        terms: dict[str, torch.Tensor] = {}
        for key in self.weights:
            if key == "mse":
                terms[key] = mse_loss(sr, hr)
            elif key == "vgg":
                assert self.vgg is not None
                terms[key] = self.vgg(sr, hr)
            elif key == "adv":
                if fake_logits is None:
                    raise ValueError("an adversarial objective needs the discriminator's logits")
                terms[key] = adversarial_loss(fake_logits)
            else:  # the table and this method must agree
                raise ValueError(f"loss term {key!r} has no implementation")
        total = sum(self.weights[k] * v for k, v in terms.items())
        return total, {k: v.detach() for k, v in terms.items()}
