"""Frozen ImageNet feature networks: VGG for the perceptual loss, AlexNet + linear heads for LPIPS.

Built with torchvision's constructors (``weights=None``) and filled from the safetensors files
in ``checkpoints/`` (nothing is downloaded, nothing unpickled).
"""

from __future__ import annotations

from pathlib import Path

import torch
import torchvision
from safetensors.torch import load_file
from torch import nn

from srcore import paths

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def _features(builder, stop: int | None = None) -> nn.Sequential:
    """torchvision's ``features`` trunk, built on the meta device so the (unused, ~100M-parameter)
    classifier is never allocated; the caller fills it with ``load_state_dict``."""
    with torch.device("meta"):
        trunk = builder(weights=None).features
    trunk = trunk[:stop] if stop else trunk
    return trunk.to_empty(device="cpu")


def _load_weights(path: Path, what: str) -> dict[str, torch.Tensor]:
    if not Path(path).is_file():
        raise FileNotFoundError(f"{what} weights not found at {path} (see checkpoints/README.md)")
    return load_file(str(path))


class VGGFeatures(nn.Module):
    """VGG features before the third max-pool: VGG16 relu3_3 (default) or VGG19 relu3_4.

    Input RGB in [0, 1]; ImageNet normalisation is applied inside.  Frozen, always in eval mode.
    """

    def __init__(self, variant: str = "vgg16", weights: str | Path | None = None):
        super().__init__()
        if variant == "vgg16":
            trunk = _features(torchvision.models.vgg16, 16)
            weights = weights or paths.VGG16_WEIGHTS
        elif variant == "vgg19":
            trunk = _features(torchvision.models.vgg19, 18)
            weights = weights or paths.VGG19_WEIGHTS
        else:
            raise ValueError(f"unknown VGG variant {variant!r}")
        trunk.load_state_dict(_load_weights(weights, variant.upper()), strict=True)
        self.trunk = trunk
        self.variant = variant
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "VGGFeatures":
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk((x - self.mean) / self.std)


class LPIPS(nn.Module):
    """LPIPS v0.1 with the AlexNet trunk (Zhang et al. 2018); lower is more similar.

    Inputs RGB in [0, 1] (N, 3, H, W); returns (N,) distances (spatial mean, as ``lpips``).
    """

    TAPS = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))
    CHANNELS = (64, 192, 384, 256, 256)

    def __init__(self, trunk_weights: str | Path | None = None, lin_weights: str | Path | None = None):
        super().__init__()
        trunk = _features(torchvision.models.alexnet)
        trunk.load_state_dict(_load_weights(trunk_weights or paths.ALEXNET_WEIGHTS, "AlexNet"), strict=True)
        self.slices = nn.ModuleList(trunk[a:b] for a, b in self.TAPS)
        lin = _load_weights(lin_weights or paths.LPIPS_LIN_WEIGHTS, "LPIPS linear")
        self.lins = nn.ModuleList()
        for i, c in enumerate(self.CHANNELS):
            conv = nn.Conv2d(c, 1, 1, bias=False)
            conv.weight.data.copy_(lin[f"lin{i}.model.1.weight"])
            self.lins.append(conv)
        self.register_buffer("shift", torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1))
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> "LPIPS":
        return super().train(False)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Channel-unit-normalised AlexNet activations at the five LPIPS taps (input RGB in [0, 1])."""
        f = (x * 2 - 1 - self.shift) / self.scale
        out = []
        for sl in self.slices:
            f = sl(f)
            out.append(f / (f.pow(2).sum(1, keepdim=True).sqrt() + 1e-10))
        return out

    def distance(self, fa: list[torch.Tensor], fb: list[torch.Tensor]) -> torch.Tensor:
        """LPIPS from two ``features`` outputs; a batch of 1 on either side broadcasts."""
        total = 0
        for a, b, lin in zip(fa, fb, self.lins):
            total = total + lin((a - b) ** 2).mean(dim=(2, 3))
        return total.view(-1)

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.distance(self.features(a), self.features(b))
