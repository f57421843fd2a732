"""Frozen ImageNet feature networks: VGG for the perceptual loss, AlexNet + linear heads for LPIPS.

The trunks are written out layer by layer with torchvision's module indices, so the ImageNet
weights in ``checkpoints/`` (safetensors; nothing downloaded, nothing unpickled) load with
``strict=True``.  Importing torchvision would pull in ``torch._dynamo`` and cost the app several
seconds of start-up; ``tests/test_feature_nets.py`` checks the layers match torchvision's.
"""

from __future__ import annotations

from pathlib import Path
from typing import cast

import torch
from safetensors.torch import load_file
from torch import nn

from srcore import paths

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


# (kind, args): "C" conv (in, out, kernel, stride, padding) + ReLU, "M" max-pool (kernel, stride).
VGG16_TO_RELU3_3 = [
    ("C", (3, 64, 3, 1, 1)),
    ("C", (64, 64, 3, 1, 1)),
    ("M", (2, 2)),
    ("C", (64, 128, 3, 1, 1)),
    ("C", (128, 128, 3, 1, 1)),
    ("M", (2, 2)),
    ("C", (128, 256, 3, 1, 1)),
    ("C", (256, 256, 3, 1, 1)),
    ("C", (256, 256, 3, 1, 1)),
]
VGG19_TO_RELU3_4 = VGG16_TO_RELU3_3 + [("C", (256, 256, 3, 1, 1))]
ALEXNET_FEATURES = [
    ("C", (3, 64, 11, 4, 2)),
    ("M", (3, 2)),
    ("C", (64, 192, 5, 1, 2)),
    ("M", (3, 2)),
    ("C", (192, 384, 3, 1, 1)),
    ("C", (384, 256, 3, 1, 1)),
    ("C", (256, 256, 3, 1, 1)),
    ("M", (3, 2)),
]


def build_trunk(spec: list[tuple[str, tuple]], drop_last_pool: bool = False) -> nn.Sequential:
    """An ``nn.Sequential`` with torchvision's ``features`` layout (conv, ReLU(inplace), pool)."""
    layers: list[nn.Module] = []
    for kind, args in spec:
        if kind == "C":
            cin, cout, k, stride, pad = args
            layers += [nn.Conv2d(cin, cout, k, stride, pad), nn.ReLU(inplace=True)]
        else:
            layers.append(nn.MaxPool2d(args[0], args[1]))
    if drop_last_pool and isinstance(layers[-1], nn.MaxPool2d):
        layers.pop()
    return nn.Sequential(*layers)


def _load_weights(path: str | Path, what: str) -> dict[str, torch.Tensor]:
    if not Path(path).is_file():
        hint = "see checkpoints/README.md" if Path(path).parent.is_dir() else paths.missing_hint()
        raise FileNotFoundError(f"{what} weights not found at {path} ({hint})")
    return load_file(str(path))


class VGGFeatures(nn.Module):
    """VGG features before the third max-pool: VGG16 relu3_3 (default) or VGG19 relu3_4.

    Input RGB in [0, 1]; ImageNet normalisation is applied inside.  Frozen, always in eval mode.
    """

    mean: torch.Tensor  # buffers, registered in __init__
    std: torch.Tensor

    def __init__(self, variant: str = "vgg16", weights: str | Path | None = None):
        super().__init__()
        if variant == "vgg16":
            trunk = build_trunk(VGG16_TO_RELU3_3)
            weights = weights or paths.VGG16_WEIGHTS
        elif variant == "vgg19":
            trunk = build_trunk(VGG19_TO_RELU3_4)
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

    def train(self, mode: bool = True) -> VGGFeatures:  # noqa: ARG002 - Module.train's signature; always frozen in eval
        return super().train(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trunk((x - self.mean) / self.std)


class LPIPS(nn.Module):
    """LPIPS v0.1 with the AlexNet trunk (Zhang et al. 2018); lower is more similar.

    Inputs RGB in [0, 1] (N, 3, H, W); returns (N,) distances (spatial mean, as ``lpips``).
    """

    TAPS = ((0, 2), (2, 5), (5, 8), (8, 10), (10, 12))
    CHANNELS = (64, 192, 384, 256, 256)
    shift: torch.Tensor  # buffers, registered in __init__
    scale: torch.Tensor

    def __init__(self, trunk_weights: str | Path | None = None, lin_weights: str | Path | None = None):
        super().__init__()
        trunk = build_trunk(ALEXNET_FEATURES)
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

    def train(self, mode: bool = True) -> LPIPS:  # noqa: ARG002 - Module.train's signature; always frozen in eval
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
        return cast(torch.Tensor, total).view(-1)  # a tensor once a tap is added

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return self.distance(self.features(a), self.features(b))
