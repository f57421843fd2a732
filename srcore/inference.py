"""Upscaling images with any generator: CPU or GPU, whole or in overlapping tiles.

Tiles are cut from the LR image with ``pad`` pixels of context on each side; only each tile's
centre is kept, so when ``pad`` covers the network's receptive field the tiled output equals
the untiled one (no seams) while memory stays bounded by the tile size.
"""

from __future__ import annotations

import os

import numpy as np
import torch
from PIL import Image

from srcore.data import to_tensor, to_uint8
from srcore.imageio import load_image
from srcore.models.generator import Generator
from srcore.prefilter import blend_bicubic, check_source, treat
from srcore.resize import bicubic_x4

# LR pixels per tile side: a 384 px upload (the largest the compare takes whole) runs as one tile,
# 20 % faster than as four overlapping ones; a tile's activations peak near 0.3 GB
DEFAULT_TILE = 384
# channels-last (NHWC) convolutions: benchmarks/inference_backends.py measured them against eager
# NCHW on the 2-core CPU, quiet: the four generators 42 % faster on a 128 px LR image, 35 % on a
# 384 px one, same output to 1.4e-6; so on unless SR_CHANNELS_LAST=0
CHANNELS_LAST = os.environ.get("SR_CHANNELS_LAST", "1") != "0"


def prepare(model: Generator) -> Generator:
    """The copy of ``model`` that inference runs (``Generator.for_inference``: upsampling as
    sub-pixel convs), in the memory format chosen above; a model already prepared is returned as
    it is.  ``model`` itself is not changed."""
    if getattr(model, "_prepared", False):
        return model
    g = model.for_inference()
    if CHANNELS_LAST:
        g.to(memory_format=torch.channels_last)
    g.__dict__["_prepared"] = True  # a plain flag, not a submodule or buffer
    return g


def _as_rgb8(img) -> np.ndarray:
    if isinstance(img, np.ndarray) and img.dtype == np.uint8 and img.ndim == 3 and img.shape[2] == 3:
        return img
    return load_image(img).array


def tiles(h: int, w: int, tile: int, pad: int):
    """(y0, y1, x0, x1) of each output tile and (ya, yb, xa, xb) of its padded LR window."""
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            yield (y0, y1, x0, x1), (max(y0 - pad, 0), min(y1 + pad, h), max(x0 - pad, 0), min(x1 + pad, w))


def _tiled_sr(model: Generator, h: int, w: int, window, tile: int, pad: int | None):
    """Run ``model`` on each padded LR window (``window(ya, yb, xa, xb)`` -> 1x3xhxw tensor); yield
    (number of tiles, SR-space slices of the tile, the SR of the tile's centre)."""
    pad = model.receptive_radius + 4 if pad is None else pad
    jobs = list(tiles(h, w, tile, pad))
    for (y0, y1, x0, x1), (ya, yb, xa, xb) in jobs:
        sr = model(window(ya, yb, xa, xb))
        oy, ox = 4 * (y0 - ya), 4 * (x0 - xa)
        yield (
            len(jobs),
            (slice(4 * y0, 4 * y1), slice(4 * x0, 4 * x1)),
            sr[:, :, oy : oy + 4 * (y1 - y0), ox : ox + 4 * (x1 - x0)],
        )


def sr_tensor(
    model: Generator, lr: torch.Tensor, tile: int | None = DEFAULT_TILE, pad: int | None = None
) -> torch.Tensor:
    """(1, 3, h, w) LR in [0, 1] -> (1, 3, 4h, 4w) SR, tiled when h or w exceeds ``tile``."""
    _, _, h, w = lr.shape
    if not tile or (h <= tile and w <= tile):
        return model(lr)
    out = torch.empty(1, 3, 4 * h, 4 * w, dtype=lr.dtype, device=lr.device)
    for _, (ys, xs), sr in _tiled_sr(model, h, w, lambda ya, yb, xa, xb: lr[:, :, ya:yb, xa:xb], tile, pad):
        out[:, :, ys, xs] = sr
    return out


def sr_uint8(
    model: Generator,
    lr: np.ndarray,
    device: str | torch.device = "cpu",
    tile: int | None = DEFAULT_TILE,
    pad: int | None = None,
    progress=None,
) -> np.ndarray:
    """HxWx3 uint8 LR -> 4Hx4Wx3 uint8 SR, tile by tile straight into the 8-bit output.

    Peak memory is the output (48 bytes per LR pixel) plus one tile's activations, so a 2048x2048
    LR image needs about 0.2 GB of output and no full-size float buffer.  ``progress`` (optional)
    is called with (done, total) after each tile.
    """
    h, w = lr.shape[:2]
    out = np.empty((4 * h, 4 * w, 3), dtype=np.uint8)

    def window(ya, yb, xa, xb):
        t = to_tensor(lr[ya:yb, xa:xb]).unsqueeze(0).to(device)
        return t.contiguous(memory_format=torch.channels_last) if CHANNELS_LAST else t

    for i, (n, (ys, xs), sr) in enumerate(_tiled_sr(model, h, w, window, tile or max(h, w), pad), start=1):
        out[ys, xs] = to_uint8(sr)
        if progress is not None:
            progress(i, n)
    return out


def upscale(
    model: Generator | None,
    img,
    device: str | torch.device = "cpu",
    tile: int | None = DEFAULT_TILE,
    progress=None,
    source: str = "benchmark",
    key: str | None = None,
) -> np.ndarray:
    """x4 SR of an image (PIL, path, bytes or array of any mode) as HxWx3 uint8.

    ``model=None`` gives the MATLAB-style bicubic baseline; ``progress`` as in ``sr_uint8``.
    ``source="unknown"`` (a real photo, or LR not made by MATLAB's antialiased shrink) blurs the LR
    image by the pre-filter fitted for model ``key`` and blends the output with bicubic by the
    fitted weight (``srcore.prefilter``; the shared pair for a model the fit did not see); the
    bicubic baseline is never treated.
    """
    check_source(source)
    lr = _as_rgb8(img)
    if model is None:
        return bicubic_x4(lr)
    fed, alpha = treat(lr, key, source)
    model = prepare(model).to(device)
    with torch.inference_mode():
        sr = sr_uint8(model, fed, device, tile, progress=progress)
    return blend_bicubic(sr, lr, alpha)


def upscale_pil(model: Generator | None, img: Image.Image, **kw) -> Image.Image:
    return Image.fromarray(upscale(model, img, **kw))
