"""The discriminator of the report's section 2.3 (after SRGAN).

Eight 3x3 conv blocks, 64 -> 512 channels, strides 1, 2, 1, 2, ...; BatchNorm on all but the
first; LeakyReLU(0.2); then two dense layers (1024, 1).  The forward pass returns the logit;
the sigmoid of the report is applied inside the loss (BCE-with-logits) for numerical stability.
Adaptive average pooling before the dense layers makes it independent of the input size.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass
class DiscriminatorConfig:
    base: int = 64
    dense: int = 1024
    pool: int = 4  # spatial size after adaptive pooling

    def to_dict(self) -> dict:
        return asdict(self)


class Discriminator(nn.Module):
    """HR-sized RGB in [0, 1] -> one real/fake logit per image."""

    def __init__(self, cfg: DiscriminatorConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or DiscriminatorConfig()
        layers: list[nn.Module] = []
        in_c = 3
        for i in range(8):
            out_c = cfg.base * 2 ** (i // 2)
            stride = 1 if i % 2 == 0 else 2
            layers.append(nn.Conv2d(in_c, out_c, 3, stride=stride, padding=1, bias=(i == 0)))
            if i > 0:
                layers.append(nn.BatchNorm2d(out_c))
            layers.append(nn.LeakyReLU(0.2, inplace=True))
            in_c = out_c
        self.features = nn.Sequential(*layers)
        self.pool = nn.AdaptiveAvgPool2d(cfg.pool)
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(in_c * cfg.pool * cfg.pool, cfg.dense),
            nn.LeakyReLU(0.2, inplace=True),
            nn.Linear(cfg.dense, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # SRGAN feeds D images in [-1, 1]
        return self.head(self.pool(self.features(x * 2 - 1))).squeeze(1)
