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


class GlobalBatchNorm2d(nn.BatchNorm2d):
    """BatchNorm2d whose training statistics are those of the global batch, every rank's samples
    together, on any device and process-group backend (torch's SyncBatchNorm runs on GPUs only;
    gloo ranks on CPUs would otherwise normalise by their own share of the batch, so a GAN arm
    depended on how its batch was split: d_loss 1.427 on 2 ranks x 2 against 1.380 on 1 x 4).
    The per-rank sums go through the differentiable ``all_reduce``, so the backward is the
    global batch's too.  Outside training, or without a process group of several ranks, it is
    plain BatchNorm2d."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        import torch.distributed as dist

        if not (self.training and dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1):
            return super().forward(x)
        from torch.distributed.nn.functional import all_reduce

        c = x.shape[1]
        xf = x.float()
        local = torch.cat([xf.sum((0, 2, 3)), (xf * xf).sum((0, 2, 3)), xf.new_full((1,), x.numel() // c)])
        total = all_reduce(local)  # sum over ranks, with a backward
        n = total[-1]
        mean = total[:c] / n
        var = (total[c : 2 * c] / n - mean * mean).clamp_min(0)
        if self.track_running_stats and self.running_mean is not None and self.running_var is not None:
            with torch.no_grad():
                seen = self.num_batches_tracked
                if seen is not None:
                    seen.add_(1)
                m = self.momentum if self.momentum is not None else 1 / max(1, int(seen) if seen is not None else 1)
                self.running_mean.lerp_(mean.detach().to(self.running_mean.dtype), m)
                unbiased = var.detach() * n / (n - 1).clamp_min(1)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), m)
        y = (xf - mean[None, :, None, None]) * torch.rsqrt(var + self.eps)[None, :, None, None]
        if self.affine:
            y = y * self.weight[None, :, None, None] + self.bias[None, :, None, None]
        return y.to(x.dtype)


def global_batch_norm(module: nn.Module) -> nn.Module:
    """``module`` with every BatchNorm2d replaced, in place, by a GlobalBatchNorm2d holding the
    same parameters and statistics (for DDP ranks without a GPU)."""
    for name, child in module.named_children():
        if type(child) is nn.BatchNorm2d:
            g = GlobalBatchNorm2d(
                child.num_features, child.eps, child.momentum, child.affine, child.track_running_stats
            )
            g.load_state_dict(child.state_dict())
            setattr(module, name, g.to(next(child.parameters(), torch.empty(0)).device))
        else:
            global_batch_norm(child)
    return module
