"""MATLAB-compatible bicubic imresize: kernel, matrices, shapes, hand-known values."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from srcore.resize import bicubic_x4, downscale_x4, imresize, imresize_uint8, resize_matrix

pytestmark = pytest.mark.timeout(60)


# ------------------------------------------------------------ an independent per-pixel reference


def _cubic_scalar(x: float) -> float:
    """Keys' cubic with a = -0.5, as in MATLAB's imresize."""
    a = abs(x)
    if a <= 1:
        return 1.5 * a**3 - 2.5 * a**2 + 1
    if a <= 2:
        return -0.5 * a**3 + 2.5 * a**2 - 4 * a + 2
    return 0.0


def _mirror(k: int, n: int) -> int:
    """MATLAB's symmetric padding of 1-based index k into [1, n] (edge sample repeated)."""
    period = 2 * n
    k = (k - 1) % period
    return k + 1 if k < n else period - k


def reference_resize_1d(v: np.ndarray, out_len: int, scale: float) -> np.ndarray:
    """Per-pixel implementation of MATLAB's formula: out(i) = sum_j h(u_i - j) v(mirror(j)) / sum_j h."""
    n = len(v)
    out = np.zeros(out_len)
    kw = 4.0 / scale if scale < 1 else 4.0
    for i in range(1, out_len + 1):
        u = i / scale + 0.5 * (1 - 1 / scale)
        lo, hi = math.floor(u - kw / 2), math.ceil(u + kw / 2)
        acc = wsum = 0.0
        for j in range(lo, hi + 1):
            d = u - j
            h = scale * _cubic_scalar(scale * d) if scale < 1 else _cubic_scalar(d)
            acc += h * v[_mirror(j, n) - 1]
            wsum += h
        out[i - 1] = acc / wsum
    return out


def reference_resize_2d(img: np.ndarray, scale: float) -> np.ndarray:
    h, w = img.shape
    oh, ow = math.ceil(h * scale), math.ceil(w * scale)
    rows = np.stack([reference_resize_1d(img[:, c], oh, scale) for c in range(w)], axis=1)
    return np.stack([reference_resize_1d(rows[r], ow, scale) for r in range(oh)], axis=0)


# ------------------------------------------------------------ tests


def test_cubic_kernel_values():
    from srcore.resize import _cubic

    x = np.array([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5])
    # Keys a=-0.5: h(0)=1, h(0.5)=0.5625, h(1)=0, h(1.5)=-0.0625, h(2)=0, beyond 0; symmetric
    np.testing.assert_allclose(_cubic(x), [1, 0.5625, 0, -0.0625, 0, 0, 0.5625, -0.0625], atol=1e-12)


@pytest.mark.parametrize(
    "in_len,out_len,scale", [(16, 4, 0.25), (17, 5, 0.25), (5, 20, 4.0), (7, 28, 4.0), (10, 5, 0.5), (9, 18, 2.0)]
)
def test_matrix_rows_sum_to_one(in_len, out_len, scale):
    m = resize_matrix(in_len, out_len, scale)
    assert m.shape == (out_len, in_len)
    np.testing.assert_allclose(m.sum(axis=1), 1.0, atol=1e-12)


@pytest.mark.parametrize("in_len,scale", [(16, 0.25), (19, 0.25), (6, 4.0), (11, 4.0), (13, 0.5), (8, 2.0)])
def test_matrix_matches_per_pixel_formula(in_len, scale):
    out_len = math.ceil(in_len * scale)
    m = resize_matrix(in_len, out_len, scale)
    rng = np.random.default_rng(in_len)
    v = rng.random(in_len)
    np.testing.assert_allclose(m @ v, reference_resize_1d(v, out_len, scale), atol=1e-10)


@pytest.mark.parametrize("shape,scale", [((20, 13), 0.25), ((7, 5), 4.0), ((12, 9), 0.5)])
def test_imresize_matches_direct_2d_reference(shape, scale):
    rng = np.random.default_rng(0)
    img = rng.random(shape) * 255
    got = imresize(torch.from_numpy(img), scale=scale).numpy()
    np.testing.assert_allclose(got, reference_resize_2d(img, scale), atol=1e-9)


def test_hand_known_values_linear_ramp():
    # a = -0.5 bicubic reproduces polynomials up to degree 2 away from the borders, so the resize of
    # a ramp v(j) = j (1-based) is exactly the source coordinate u(i) = i/s + (1 - 1/s)/2.
    n = 32
    v = torch.arange(1, n + 1, dtype=torch.float64).view(1, n)
    up = imresize(v, size=(1, 2 * n))[0].numpy()
    i = np.arange(1, 2 * n + 1)
    u = i / 2 + 0.5 * (1 - 1 / 2)
    np.testing.assert_allclose(up[4:-4], u[4:-4], atol=1e-12)
    # worked by hand at the left edge (symmetric padding: v(0)=1, v(-1)=2):
    # out(1): u=0.75, weights h(1.75)=-0.0234375, h(0.75)=0.2265625, h(-0.25)=0.8671875, h(-1.25)=-0.0703125
    # on v = 2, 1, 1, 2 -> 0.90625; out(3): u=1.75 on v = 1, 1, 2, 3 -> 1.7265625; out(4) is interior: 2.25
    np.testing.assert_allclose(up[[0, 2, 3]], [0.90625, 1.7265625, 2.25], atol=1e-12)
    down = imresize(v, size=(1, n // 4))[0].numpy()
    i = np.arange(1, n // 4 + 1)
    u = i * 4 + 0.5 * (1 - 4)
    np.testing.assert_allclose(down[2:-2], u[2:-2], atol=1e-12)
    # the x1/4 sample centres are 2.5, 6.5, 10.5, ...
    np.testing.assert_allclose(down[2:4], [10.5, 14.5], atol=1e-12)


def test_constant_image_stays_constant():
    x = torch.full((3, 37, 29), 0.37, dtype=torch.float64)
    for scale in (0.25, 0.5, 2, 4):
        y = imresize(x, scale=scale)
        assert torch.allclose(y, torch.full_like(y, 0.37), atol=1e-12), scale
    u8 = np.full((40, 28, 3), 123, np.uint8)
    assert (downscale_x4(u8) == 123).all()
    assert (bicubic_x4(downscale_x4(u8)) == 123).all()


@pytest.mark.parametrize("h,w", [(64, 48), (65, 50), (63, 17), (4, 4)])
def test_shapes_down_and_up(h, w):
    x = torch.rand(2, 3, h, w)
    d = imresize(x, scale=0.25)
    assert d.shape == (2, 3, math.ceil(h / 4), math.ceil(w / 4))
    u = imresize(d, scale=4)
    assert u.shape == (2, 3, 4 * math.ceil(h / 4), 4 * math.ceil(w / 4))
    s = imresize(x, size=(30, 21))
    assert s.shape == (2, 3, 30, 21)
    img = (np.random.default_rng(1).random((h, w, 3)) * 255).astype(np.uint8)
    lr = downscale_x4(img)
    assert lr.shape == (math.ceil(h / 4), math.ceil(w / 4), 3) and lr.dtype == np.uint8
    assert bicubic_x4(lr).shape == (4 * lr.shape[0], 4 * lr.shape[1], 3)
    gray = imresize_uint8(img[..., 0], scale=0.25)
    assert gray.shape == lr.shape[:2]


def test_uint8_rounds_and_clips():
    # overshoot of the cubic kernel at a step edge must be clipped, values rounded
    img = np.zeros((8, 8), np.uint8)
    img[:, 4:] = 255
    up = imresize_uint8(img, scale=4)
    raw = imresize(torch.from_numpy(img.astype(np.float64)), scale=4).numpy()
    assert raw.max() > 255 and raw.min() < 0  # a=-0.5 rings
    np.testing.assert_array_equal(up, np.clip(np.round(raw), 0, 255).astype(np.uint8))


def test_float32_and_gradients():
    x = torch.rand(1, 3, 12, 12, requires_grad=True)
    y = imresize(x, scale=4)
    assert y.dtype == torch.float32
    y.sum().backward()
    # every output row of the resize sums to one, so d(sum y)/dx sums to the number of outputs
    assert x.grad is not None and abs(float(x.grad.sum()) - y.numel()) < 1e-2


def test_needs_scale_or_size():
    with pytest.raises(ValueError):
        imresize(torch.rand(3, 8, 8))


@pytest.mark.parametrize("shape,scale", [((96, 128, 3), 0.25), ((30, 41, 3), 4), ((64, 52), 0.25), ((17, 9), 4)])
def test_uint8_sparse_path_equals_the_dense_products_exactly(shape, scale):
    """``imresize_uint8`` (sparse weights, for speed) must give ``imresize``'s pixels: for x4 and /4
    every weight is a multiple of 2^-12, so the float64 sums are exact in any order."""
    img = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    t = torch.from_numpy(img.astype(np.float64))
    dense = imresize(t.permute(2, 0, 1) if t.ndim == 3 else t, scale=scale)
    dense = dense.permute(1, 2, 0) if t.ndim == 3 else dense
    want = np.clip(np.round(dense.numpy()), 0, 255).astype(np.uint8)
    got = imresize_uint8(img, scale=scale)
    np.testing.assert_array_equal(got, want)
    assert got.flags["C_CONTIGUOUS"]  # metrics and the PNG writer read it row by row


def test_matrices_cached_in_inference_mode_still_serve_autograd():
    """The app resizes under inference mode; a later autograd use of the same size (training, an
    ONNX export's trace) must not meet a cached inference tensor."""
    from srcore.resize import _device_matrix

    _device_matrix.cache_clear()
    with torch.inference_mode():
        imresize(torch.rand(1, 3, 20, 20), scale=4)
    x = torch.rand(1, 3, 20, 20, requires_grad=True)
    imresize(x, scale=4).sum().backward()
    assert x.grad is not None


@pytest.mark.parametrize(
    "shape,scale",
    [
        ((1, 3, 96, 130), 4),
        ((2, 3, 97, 101), 4),
        ((100, 99), 3),
        ((1, 3, 384, 400), 0.25),
        ((3, 388, 392), 0.25),
        ((96, 100), 2),
    ],
)
def test_banded_convolutions_equal_the_dense_products(shape, scale):
    """Whole-number factors on large images run as convolutions of the padded input: the same
    weights, and (the order of the sums aside) the same values, at the borders too."""
    from srcore.resize import _banded, _dense, _output_size

    x = torch.rand(*shape, dtype=torch.float64)
    want = _dense(x, *_output_size(shape[-2], shape[-1], scale, None))
    got = _banded(x, scale)
    assert got is not None and got.shape == want.shape
    torch.testing.assert_close(got, want, rtol=0, atol=1e-12)
    with torch.inference_mode():
        torch.testing.assert_close(imresize(x.float(), scale=scale), want.float(), rtol=0, atol=2e-6)


def test_banded_only_for_whole_factors_and_large_images(monkeypatch):
    from srcore import resize

    assert resize._band(100, 150, 1.5) is None and resize._band(100, 30, 0.3) is None
    calls = []
    real = resize._banded
    monkeypatch.setattr(resize, "_banded", lambda x, s: calls.append(tuple(x.shape)) or real(x, s))
    with torch.inference_mode():
        imresize(torch.rand(1, 3, 64, 64), scale=4)  # below BANDED_MIN_SIDE: dense
        imresize(torch.rand(1, 3, 128, 128), scale=4)
        imresize(torch.rand(1, 3, 512, 512), scale=0.25)  # the LR side (128) counts
        imresize(torch.rand(1, 3, 256, 256), scale=0.25)  # LR side 64: dense
    x = torch.rand(1, 3, 128, 128, requires_grad=True)
    imresize(x, scale=4)  # autograd below BANDED_MIN_SIDE_GRAD: dense, its backward is quicker
    assert calls == [(1, 3, 128, 128), (1, 3, 512, 512)]


def test_banded_gradients_equal_the_dense_ones():
    """Also after the app made the same bands under inference mode (they are cached)."""
    from srcore.resize import _banded, _dense, _device_band, _output_size

    _device_band.cache_clear()
    with torch.inference_mode():
        _banded(torch.rand(1, 2, 40, 36, dtype=torch.float64), 4)
        _banded(torch.rand(1, 2, 160, 144, dtype=torch.float64), 0.25)
    for shape, scale in (((1, 2, 40, 36), 4), ((1, 2, 160, 144), 0.25)):
        a = torch.rand(*shape, dtype=torch.float64, requires_grad=True)
        b = a.detach().clone().requires_grad_(True)
        g = torch.rand(*_dense(a, *_output_size(shape[-2], shape[-1], scale, None)).shape, dtype=torch.float64)
        (_dense(a, *_output_size(shape[-2], shape[-1], scale, None)) * g).sum().backward()
        band = _banded(b, scale)
        assert band is not None
        (band * g).sum().backward()
        torch.testing.assert_close(b.grad, a.grad, rtol=0, atol=1e-12)
