"""The generator shared by all four models.

The report's SRCNN body (conv 9x9 -> conv -> conv 5x5, ReLU) works on the LR image; two learned
x2 stages do the x4 upsampling, and the network predicts a residual over the bicubic-upsampled
input; the last conv is scaled down so an untrained generator already outputs (nearly) bicubic.

``upsampler="resize_conv"`` (the default): each x2 stage is nearest x2 then a 3x3 conv
("resize-convolution", Odena et al. 2016), as in the report's notebooks.  Every output phase
(y mod 4, x mod 4) shares one set of weights, so no loss can grow a 4x4 sub-pixel pattern; with
sub-pixel convs (``"pixelshuffle"``, the earlier checkpoints) the VGG loss grew one of 11-15 grey
levels.  ``lr_consistency=True`` ends with one back-projection step, SR + up(LR - down(SR)) with
MATLAB bicubic both ways, so the output's x4 shrink matches its input: the VGG loss cannot see
slow colour shifts (its features come after two max-pools), and this pins them for every loss.

``luma_residual=True`` averages the learned residual over R, G and B before adding it, so the
network adds brightness detail only and colour comes from the bicubic input and the consistency
step (as SRCNN itself works on Y): a grey input gives an exactly grey output.  With a residual of
its own per channel, every loss invented colour on grey content (magenta/green specks on line
art: mean chroma 0.2-2.8 grey levels, up to 6.7 % of pixels above 8 on grey Set14).

``upsampler="nearest"`` with ``residual=False`` is the report's own network: three convs at LR
resolution followed by a fixed x4 nearest-neighbour enlargement (the ``seed`` preset).
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import torch
from torch import nn

from srcore.resize import imresize


@dataclass
class GeneratorConfig:
    """Architecture of a generator; stored in every checkpoint's metadata."""

    n1: int = 128  # channels of the 9x9 patch-extraction conv
    n2: int = 64  # channels of the non-linear mapping conv
    n3: int = 32  # channels of the 5x5 reconstruction conv (features fed to the upsampler)
    k2: int = 3  # kernel of the mapping conv (SRCNN 9-1-5 uses 1; the report uses 3)
    upsampler: str = "pixelshuffle"  # "resize_conv" | "pixelshuffle" (learned) or "nearest" (the report's fixed x4)
    residual: bool = True  # add the bicubic-upsampled input to the output
    scale: int = 4
    lr_consistency: bool = False  # end with SR + up(LR - down(SR)) (MATLAB bicubic both ways)
    luma_residual: bool = False  # one residual for R, G and B (their mean): grey in, grey out

    def same_weights_as(self, other: GeneratorConfig) -> bool:
        """True when a state dict of one fits the other (they may differ in ``luma_residual``,
        which has no weights of its own: a fine-tune may switch it on)."""
        a, b = self.to_dict(), other.to_dict()
        a.pop("luma_residual"), b.pop("luma_residual")
        return a == b

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> GeneratorConfig:
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})


def icnr_(weight: torch.Tensor, upscale: int = 2, init=nn.init.kaiming_normal_) -> None:
    """ICNR: make a PixelShuffle conv start as conv + nearest upsampling (no checkerboard)."""
    out_c, in_c, kh, kw = weight.shape
    sub = torch.empty(out_c // upscale**2, in_c, kh, kw)
    init(sub)
    weight.data.copy_(sub.repeat_interleave(upscale**2, dim=0))


def subpixel_conv(conv: nn.Conv2d) -> nn.Conv2d:
    """Nearest x2 then ``conv`` (3x3, zero padding 1) as one conv on the small grid, to be followed
    by ``PixelShuffle(2)``: the same sums (the outputs agree to float rounding) without making and
    convolving the 4x larger upsampled input.  Output phase a of a row takes the small-grid rows
    i-1 and i (a = 0) or i and i+1 (a = 1), with the 3x3 taps that fall on each added together;
    the zero padding of both grids lines up, so the borders agree too."""
    if conv.kernel_size != (3, 3) or conv.padding != (1, 1) or conv.stride != (1, 1) or conv.groups != 1:
        raise ValueError(f"subpixel_conv needs a plain 3x3 conv with padding 1, not {conv}")
    w = conv.weight.detach()
    o, i = w.shape[:2]
    fold = torch.zeros(2, 3, 3, dtype=w.dtype, device=w.device)  # [phase, small-grid offset + 1, tap]
    fold[0, 0, 0] = fold[0, 1, 1] = fold[0, 1, 2] = 1
    fold[1, 1, 0] = fold[1, 1, 1] = fold[1, 2, 2] = 1
    kernel = torch.einsum("ayk,bxl,oikl->oabiyx", fold, fold, w).reshape(4 * o, i, 3, 3)
    out = nn.Conv2d(i, 4 * o, 3, padding=1, bias=conv.bias is not None).to(w.device, w.dtype)
    with torch.no_grad():
        out.weight.copy_(kernel)
        if conv.bias is not None:
            _bias(out).copy_(conv.bias.detach().repeat_interleave(4))
    return out


def _conv(m: nn.Module) -> nn.Conv2d:
    assert isinstance(m, nn.Conv2d), m
    return m


def _bias(conv: nn.Conv2d) -> torch.Tensor:
    assert conv.bias is not None
    return conv.bias


class Generator(nn.Module):
    """LR RGB in [0, 1] (N, 3, h, w) -> SR RGB in [0, 1] (N, 3, 4h, 4w), unclamped."""

    def __init__(self, cfg: GeneratorConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or GeneratorConfig()
        if cfg.scale != 4:
            raise ValueError("only x4 is supported")
        if cfg.luma_residual and not cfg.residual:
            raise ValueError("luma_residual needs residual=True (the colour comes from the bicubic input)")
        self.body = nn.Sequential(
            nn.Conv2d(3, cfg.n1, 9, padding=4),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.n1, cfg.n2, cfg.k2, padding=cfg.k2 // 2),
            nn.ReLU(inplace=True),
            nn.Conv2d(cfg.n2, 3 if cfg.upsampler == "nearest" else cfg.n3, 5, padding=2),
        )
        if cfg.upsampler == "resize_conv":
            up = nn.Sequential(
                nn.ReLU(inplace=True),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(cfg.n3, cfg.n3, 3, padding=1),
                nn.ReLU(inplace=True),
                nn.Upsample(scale_factor=2, mode="nearest"),
                nn.Conv2d(cfg.n3, 3, 3, padding=1),
            )
            self.up: nn.Module = up
            conv_a, conv_b = _conv(up[2]), _conv(up[5])
            nn.init.zeros_(_bias(conv_a))
            nn.init.zeros_(_bias(conv_b))
            if cfg.residual:
                conv_b.weight.data.mul_(0.1)
        elif cfg.upsampler == "pixelshuffle":
            up = nn.Sequential(
                nn.ReLU(inplace=True),
                nn.Conv2d(cfg.n3, cfg.n3 * 4, 3, padding=1),
                nn.PixelShuffle(2),
                nn.ReLU(inplace=True),
                nn.Conv2d(cfg.n3, 3 * 4, 3, padding=1),
                nn.PixelShuffle(2),
            )
            self.up = up
            conv_a, conv_b = _conv(up[1]), _conv(up[4])
            icnr_(conv_a.weight)
            icnr_(conv_b.weight)
            nn.init.zeros_(_bias(conv_a))
            nn.init.zeros_(_bias(conv_b))
            if cfg.residual:
                conv_b.weight.data.mul_(0.1)
        elif cfg.upsampler == "nearest":
            self.up = nn.Upsample(scale_factor=4, mode="nearest")
        else:
            raise ValueError(f"unknown upsampler {cfg.upsampler!r}")

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        dev = lr.device.type
        if not torch.is_autocast_enabled(dev):
            return self._image(lr, self.up(self.body(lr)))
        # Under autocast only the body's hidden layers run in reduced precision; the image never
        # does.  The first conv reads the image (bf16 would round an 8-bit value by up to half a
        # grey level), and the upsampler writes the residual at HR (in grey levels); both stay
        # fp32, with the image itself (bicubic residual, resizes, LR-consistency).  Set5, CPU bf16
        # autocast, worst image (butterfly), SRGAN-MSE: 0.26 grey levels RMS from fp32 with every
        # layer but the last in bf16, 0.18 with the upsampler in fp32 too, 0.07 this way; the
        # first conv and the upsampler are ~40 % of the default network's multiplies.
        head, hidden, tail = self._precision_split()
        with torch.autocast(dev, enabled=False):
            x = lr.float()
            for m in head:
                x = m(x)
        for m in hidden:
            x = m(x)
        with torch.autocast(dev, enabled=False):
            x = x.float()
            for m in tail:
                x = m(x)
            return self._image(lr.float(), x)

    def _precision_split(self) -> tuple[list[nn.Module], list[nn.Module], list[nn.Module]]:
        """The layers as (first conv: fp32, hidden layers: autocast, the rest: fp32).  The hidden
        part is the body after its first conv, less its last conv where that writes the image
        itself (the report's network, ``upsampler="nearest"``)."""
        body = list(self.body)
        up = list(self.up) if isinstance(self.up, nn.Sequential) else [self.up]
        cut = len(body) - 1 if self.cfg.upsampler == "nearest" else len(body)
        return body[:1], body[1:cut], [*body[cut:], *up]

    def _image(self, lr: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """The network's residual ``out`` made into the SR image (in the inputs' precision)."""
        if self.cfg.luma_residual:
            out = out.mean(dim=1, keepdim=True)  # broadcast over R, G, B by the residual sum
        if self.cfg.residual:
            out = out + imresize(lr, scale=4)
        if self.cfg.lr_consistency:
            out = out + imresize(lr - imresize(out, scale=0.25), scale=4)
        return out

    def for_inference(self) -> Generator:
        """A frozen copy that computes the same output faster: each resize-conv stage (nearest x2,
        3x3 conv) runs as a sub-pixel conv (``subpixel_conv`` + PixelShuffle), which skips the
        upsampled copies (a fifth of a 384 px image's time on a 2-core CPU).  Weights are derived,
        so the copy is for inference only; ``self`` is left as it is, for training and saving."""
        g = copy.deepcopy(self).eval().requires_grad_(False)
        if self.cfg.upsampler == "resize_conv":
            up = self.up
            assert isinstance(up, nn.Sequential)
            g.up = nn.Sequential(
                nn.ReLU(inplace=True),
                subpixel_conv(_conv(up[2])),
                nn.PixelShuffle(2),
                nn.ReLU(inplace=True),
                subpixel_conv(_conv(up[5])),
                nn.PixelShuffle(2),
            ).requires_grad_(False)
        return g

    @property
    def receptive_radius(self) -> int:
        """LR pixels of context each output pixel depends on (for seam-free tiling)."""
        r = 4 + self.cfg.k2 // 2 + 2
        if self.cfg.upsampler in ("pixelshuffle", "resize_conv"):
            r += 2
        r += 3 if self.cfg.residual else 0
        return r + (5 if self.cfg.lr_consistency else 0)
