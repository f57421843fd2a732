"""MATLAB-compatible ``imresize`` (bicubic, a=-0.5, antialiased when shrinking).

The SR benchmarks make LR images with MATLAB's ``imresize(hr, 1/4, 'bicubic')``; torchvision's
bicubic differs (a=-0.75, other antialias).  The weights follow MATLAB's ``contributions``
routine, including its symmetric edge padding, and are applied as two dense matrix products (rows,
then columns) or, for whole-number factors on larger images, as convolutions of the padded input
(the same weights; the sums agree to float rounding).  Exact, differentiable, on any device.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import torch
import torch.nn.functional as F
from scipy import sparse


def _cubic(x: np.ndarray) -> np.ndarray:
    ax = np.abs(x)
    ax2, ax3 = ax**2, ax**3
    return (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1) + (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))


@functools.lru_cache(maxsize=64)
def resize_matrix(in_len: int, out_len: int, scale: float) -> np.ndarray:
    """Dense (out_len, in_len) weight matrix reproducing MATLAB's bicubic imresize along one axis."""
    idx, w = _taps(out_len, scale)
    # MATLAB's symmetric padding: index k outside [0, in_len) mirrors back inside.
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    np.add.at(mat, (np.repeat(np.arange(out_len), idx.shape[1]), _mirror(idx, in_len).ravel()), w.ravel())
    return mat


def _mirror(idx: np.ndarray, in_len: int) -> np.ndarray:
    """0-based indices outside [0, in_len) folded back inside, as MATLAB's symmetric padding."""
    aux = np.concatenate([np.arange(in_len), np.arange(in_len - 1, -1, -1)])
    return aux[np.mod(idx, 2 * in_len)]


def _taps(out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray]:
    """(0-based input index, weight) of each output pixel's taps, (out_len, P) each, before the
    symmetric padding folds the indices; MATLAB's ``contributions``."""
    kernel_width = 4.0
    antialias = scale < 1
    if antialias:
        kernel_width /= scale
    x = np.arange(1, out_len + 1, dtype=np.float64)
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = np.floor(u - kernel_width / 2)
    p = int(math.ceil(kernel_width)) + 2
    idx = left[:, None] + np.arange(p)[None, :]
    dist = u[:, None] - idx
    w = scale * _cubic(dist * scale) if antialias else _cubic(dist)
    w = w / w.sum(axis=1, keepdims=True)
    return idx.astype(np.int64) - 1, w


@functools.lru_cache(maxsize=256)
def _device_matrix(in_len: int, out_len: int, scale: float, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """The weight matrix on a device, cached: a training step must not rebuild and copy it.  Made
    outside inference mode even when the first call is inside it, so that the cached tensor also
    serves autograd (training, tracing an export) afterwards."""
    with torch.inference_mode(False):
        return torch.from_numpy(resize_matrix(in_len, out_len, scale)).to(device, dtype)


def _matrix(in_len: int, out_len: int, scale: float, like: torch.Tensor) -> torch.Tensor:
    dtype = like.dtype if like.is_floating_point() else torch.float32
    return _device_matrix(in_len, out_len, float(scale), like.device, dtype)


# Whole-number factors (x4, /4, ...): every output pixel's taps are the previous period's shifted,
# so each pass is a convolution of the symmetrically padded input: a few multiplies per pixel
# where the dense product spends one per pixel of the input row.  Below BANDED_MIN_SIDE the dense
# product is quicker, and so is its backward below BANDED_MIN_SIDE_GRAD (sides of the smaller
# image of the two; ``python -m benchmarks.resize_speed`` prints both ways).
BANDED_MIN_SIDE = 96
BANDED_MIN_SIDE_GRAD = 192


@functools.lru_cache(maxsize=256)
def _band(in_len: int, out_len: int, scale: float) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(input index of each padded position, kernel (phases, K), stride) when ``scale`` is x n or
    /n with n whole and the taps repeat with period n (up) or 1 (down); else None."""
    idx, w = _taps(out_len, scale)
    r, taps = np.arange(out_len), idx.shape[1]
    n = round(scale if scale >= 1 else 1 / scale)
    if n < 2 or abs((scale if scale >= 1 else 1 / scale) - n) > 1e-9:
        return None
    if scale > 1 and out_len == n * in_len:
        start = idx[:n, 0]
        if not (np.array_equal(idx[:, 0], start[r % n] + r // n) and np.allclose(w, w[r % n], rtol=0, atol=1e-12)):
            return None
        lo, stride = int(start.min()), 1
        kernel = np.zeros((n, int(start.max()) - lo + taps))
        for phase in range(n):
            kernel[phase, start[phase] - lo : start[phase] - lo + taps] = w[phase]
    elif scale < 1 and in_len == n * out_len:
        if not (np.array_equal(idx[:, 0], idx[0, 0] + n * r) and np.allclose(w, w[:1], rtol=0, atol=1e-12)):
            return None
        lo, stride, kernel = int(idx[0, 0]), n, w[:1]
    else:
        return None
    used = np.flatnonzero(np.abs(kernel).sum(axis=0) > 0)  # MATLAB's taps include zero-weight ends
    kernel, lo = kernel[:, used[0] : used[-1] + 1], lo + int(used[0])
    positions = (in_len - 1 if stride == 1 else stride * (out_len - 1)) + kernel.shape[1]
    return _mirror(lo + np.arange(positions), in_len), kernel, stride


@functools.lru_cache(maxsize=256)
def _device_band(
    h: int, w: int, scale: float, device: torch.device, dtype: torch.dtype
) -> tuple[torch.Tensor, torch.Tensor, tuple[torch.Tensor, ...], int] | None:
    """Both axes' bands on a device: (rows' source indices, columns', kernels, stride).  An
    enlargement by n has one kernel, (n*n phases, 1, Kh, Kw), the outer product of the axes'
    (output channel a*n + b is row phase a, column phase b); a reduction has the rows' and the
    columns' 1-D kernels, applied with the stride."""
    bh = _band(h, int(math.ceil(h * scale)), scale)
    bw = _band(w, int(math.ceil(w * scale)), scale)
    if bh is None or bw is None:
        return None
    (src_h, kh, stride), (src_w, kw, _) = bh, bw
    if stride == 1:
        kernels = [(kh[:, None, :, None] * kw[None, :, None, :]).reshape(-1, 1, kh.shape[1], kw.shape[1])]
    else:
        kernels = [kh.reshape(1, 1, -1, 1), kw.reshape(1, 1, 1, -1)]
    with torch.inference_mode(False):  # cached: must also serve autograd later (see _device_matrix)
        src = [torch.from_numpy(a).to(device) for a in (src_h, src_w)]
        return src[0], src[1], tuple(torch.from_numpy(k).to(device, dtype) for k in kernels), stride


def _banded(x: torch.Tensor, scale: float) -> torch.Tensor | None:
    """``imresize(x, scale)`` as convolutions of the symmetrically padded input, or None where
    the factor is not whole.  The same weights as the dense product; sums in another order."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    band = _device_band(h, w, float(scale), x.device, x.dtype)
    if band is None:
        return None
    src_h, src_w, kernels, stride = band
    t = x.reshape(-1, 1, h, w).index_select(2, src_h)
    if stride == 1:
        t = F.pixel_shuffle(F.conv2d(t.index_select(3, src_w), kernels[0]), round(scale))
    else:
        t = F.conv2d(F.conv2d(t, kernels[0], stride=(stride, 1)).index_select(3, src_w), kernels[1], stride=(1, stride))
    return t.reshape(*x.shape[:-2], t.shape[-2], t.shape[-1])


def _output_size(
    h: int, w: int, scale: float | None, size: tuple[int, int] | None
) -> tuple[tuple[int, int], float, float]:
    """(output size, row scale, column scale) from ``scale`` (MATLAB's ceil) or ``size``."""
    if size is not None:
        return size, size[0] / h, size[1] / w
    if scale is None:
        raise ValueError("imresize needs scale or size")
    return (int(math.ceil(h * scale)), int(math.ceil(w * scale))), float(scale), float(scale)


def imresize(x: torch.Tensor, scale: float | None = None, size: tuple[int, int] | None = None) -> torch.Tensor:
    """Resize a float tensor (..., H, W) like MATLAB ``imresize(x, scale, 'bicubic')``.

    Give either ``scale`` (output size ceil(H*scale), ceil(W*scale)) or ``size`` (H, W).
    Values are not clamped or rounded: callers that want 8-bit images round themselves.
    Under ``torch.compile`` it is one opaque operator (``srcore::imresize``, with its adjoint as
    the backward), so the weights, made with numpy and cached, never break the graph.
    """
    h, w = int(x.shape[-2]), int(x.shape[-1])  # plain ints even under tracing (an ONNX export bakes the size in)
    if x.is_floating_point() and torch.compiler.is_compiling():
        (oh, ow), sh, sw = _output_size(h, w, scale, size)
        return torch.ops.srcore.imresize(x, oh, ow, sh, sw, size is None)
    return _imresize_eager(x, scale, size)


def _imresize_eager(x: torch.Tensor, scale: float | None, size: tuple[int, int] | None) -> torch.Tensor:
    """``imresize`` outside compilation: banded convolutions or dense products, by size."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    if size is not None or scale is None or not x.is_floating_point():
        return _dense(x, *_output_size(h, w, scale, size))
    small_side = min(h, w) * min(scale, 1.0)
    if small_side >= (BANDED_MIN_SIDE_GRAD if torch.is_grad_enabled() and x.requires_grad else BANDED_MIN_SIDE):
        out = _banded(x, scale)
        if out is not None:
            return out
    return _dense(x, *_output_size(h, w, scale, size))


def _dense(x: torch.Tensor, size: tuple[int, int], sh: float, sw: float) -> torch.Tensor:
    """``imresize`` as two dense products with the (out, in) weight matrices: any size."""
    h, w = int(x.shape[-2]), int(x.shape[-1])
    # MATLAB resizes the dimension with the smaller scale first; order only matters in rounding.
    mh = _matrix(h, size[0], sh, x)
    mw = _matrix(w, size[1], sw, x)
    if sh <= sw:
        return torch.matmul(torch.matmul(mh, x), mw.t())
    return torch.matmul(mh, torch.matmul(x, mw.t()))


# ------------------------------------------------------------------ the operator seen by torch.compile
@torch.library.custom_op("srcore::imresize", mutates_args=())
def _imresize_op(x: torch.Tensor, out_h: int, out_w: int, sh: float, sw: float, by_scale: bool) -> torch.Tensor:  # noqa: ARG001 - sw: the adjoint's
    """``imresize`` as one operator: its eager code (same weights, same sums) run as a whole."""
    return _imresize_eager(x, sh if by_scale else None, None if by_scale else (out_h, out_w)).contiguous()


@_imresize_op.register_fake
def _imresize_fake(x: torch.Tensor, out_h: int, out_w: int, sh: float, sw: float, by_scale: bool) -> torch.Tensor:  # noqa: ARG001
    return x.new_empty((*x.shape[:-2], out_h, out_w))


@torch.library.custom_op("srcore::imresize_adjoint", mutates_args=())
def _imresize_adjoint(g: torch.Tensor, in_h: int, in_w: int, sh: float, sw: float) -> torch.Tensor:
    """The gradient of ``imresize`` (a linear map, x -> Mh x Mw^T): g -> Mh^T g Mw."""
    mh = _matrix(in_h, int(g.shape[-2]), sh, g)
    mw = _matrix(in_w, int(g.shape[-1]), sw, g)
    return torch.matmul(torch.matmul(mh.t(), g), mw).contiguous()


@_imresize_adjoint.register_fake
def _adjoint_fake(g: torch.Tensor, in_h: int, in_w: int, sh: float, sw: float) -> torch.Tensor:  # noqa: ARG001
    return g.new_empty((*g.shape[:-2], in_h, in_w))


def _imresize_setup(ctx, inputs, output) -> None:  # noqa: ARG001 - torch.library's signature
    x, _, _, sh, sw, _ = inputs
    ctx.in_hw, ctx.scales = (int(x.shape[-2]), int(x.shape[-1])), (sh, sw)


def _imresize_backward(ctx, grad: torch.Tensor):
    gx = torch.ops.srcore.imresize_adjoint(grad.contiguous(), *ctx.in_hw, *ctx.scales)
    return gx, None, None, None, None, None


_imresize_op.register_autograd(_imresize_backward, setup_context=_imresize_setup)


@functools.lru_cache(maxsize=64)
def _sparse_matrix(in_len: int, out_len: int, scale: float) -> sparse.csr_matrix:
    """``resize_matrix`` in compressed sparse rows: a bicubic row has at most ~4/scale + 2 weights."""
    return sparse.csr_matrix(resize_matrix(in_len, out_len, scale))


def imresize_uint8(img: np.ndarray, scale: float | None = None, size: tuple[int, int] | None = None) -> np.ndarray:
    """Resize an HxW or HxWxC uint8 array the way MATLAB does for uint8 input (round and clip).

    The same two products as ``imresize``, in float64, with the weight matrices stored sparse: a
    few times faster on a CPU than the dense products (the compare view makes its LR and its
    bicubic panel this way on every request).  The values are ``imresize``'s: for x4 and /4 every
    weight is a multiple of 2^-12, so every sum is exact in float64 whatever its order (other
    sizes: the sums' order may move a rare pixel by one grey level)."""
    a = np.asarray(img)
    h, w = a.shape[:2]
    c = a.shape[2] if a.ndim == 3 else 1
    size, sh, sw = _output_size(h, w, scale, size)
    mh, mw = _sparse_matrix(h, size[0], sh), _sparse_matrix(w, size[1], sw)

    def rows(x: np.ndarray) -> np.ndarray:  # (H, W, C) -> (out H, W, C)
        return (mh @ x.reshape(x.shape[0], -1)).reshape(size[0], x.shape[1], c)

    def cols(x: np.ndarray) -> np.ndarray:  # (H, W, C) -> (H, out W, C), via the transposed layout
        t = np.ascontiguousarray(x.transpose(1, 0, 2)).reshape(x.shape[1], -1)
        return (mw @ t).reshape(size[1], x.shape[0], c).transpose(1, 0, 2)

    x = a.reshape(h, w, c).astype(np.float64)
    # MATLAB resizes the dimension with the smaller scale first (as ``imresize``)
    out = cols(rows(x)) if sh <= sw else rows(np.ascontiguousarray(cols(x)))
    out = np.clip(np.rint(out), 0, 255).astype(np.uint8, order="C")  # rint: half to even, as torch's round
    return out if a.ndim == 3 else out[..., 0]


def bicubic_x4(lr: np.ndarray) -> np.ndarray:
    """The bicubic baseline: MATLAB-style x4 upscaling of an 8-bit LR image."""
    return imresize_uint8(lr, scale=4)


def downscale_x4(hr: np.ndarray) -> np.ndarray:
    """The benchmark degradation: MATLAB-style antialiased bicubic /4 of an 8-bit HR image."""
    return imresize_uint8(hr, scale=0.25)


@functools.lru_cache(maxsize=64)
def _cubic_sample_matrix(in_len: int, out_len: int, a: float = -0.75) -> np.ndarray:
    """(out_len, in_len) weights of plain cubic interpolation at the output pixel centres, with no
    antialiasing and edge-replicate borders: what OpenCV's ``INTER_CUBIC`` and most image editors'
    quick resize do when shrinking."""
    scale = in_len / out_len
    u = (np.arange(out_len) + 0.5) * scale - 0.5
    left = np.floor(u).astype(np.int64) - 1
    mat = np.zeros((out_len, in_len), dtype=np.float64)
    for k in range(4):
        idx = left + k
        d = np.abs(u - idx)
        w = np.where(
            d <= 1,
            (a + 2) * d**3 - (a + 3) * d**2 + 1,
            np.where(d < 2, a * d**3 - 5 * a * d**2 + 8 * a * d - 4 * a, 0.0),
        )
        np.add.at(mat, (np.arange(out_len), np.clip(idx, 0, in_len - 1)), w)
    return mat


def shrink_x4_cubic_no_antialias(hr: np.ndarray) -> np.ndarray:
    """A second degradation: HR shrunk x4 by cubic interpolation without antialiasing (as
    ``cv2.resize(hr, None, fx=0.25, fy=0.25, interpolation=cv2.INTER_CUBIC)``); 8-bit in and out."""
    h, w = hr.shape[:2]
    mh = torch.from_numpy(_cubic_sample_matrix(h, h // 4))
    mw = torch.from_numpy(_cubic_sample_matrix(w, w // 4))
    t = torch.from_numpy(np.asarray(hr, dtype=np.float64))
    t = t.permute(2, 0, 1) if t.ndim == 3 else t
    out = torch.matmul(torch.matmul(mh, t), mw.t())
    out = out.permute(1, 2, 0) if out.ndim == 3 else out
    return out.round().clamp(0, 255).to(torch.uint8).numpy()
