"""Image-quality metrics with the SR benchmark convention.

PSNR and SSIM are computed on 8-bit data ([0, 255]); on the Y channel of MATLAB's
``rgb2ycbcr`` (ITU-R BT.601, RGB order) or on RGB; after mod-cropping to the scale and
shaving ``border`` pixels on every side (default: the scale, 4).  SSIM uses the reference
Gaussian window (11x11, sigma 1.5, K1 0.01, K2 0.03), computed as scikit-image's
``structural_similarity`` computes it (the tests hold the two equal), but with the reference
image's half of the work done once: ``Reference`` scores many SR images against one HR, which is
what the dashboard does on every compare.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from srcore import SCALE


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y of MATLAB's rgb2ycbcr for RGB in [0, 255]: 16 + (65.481 R + 128.553 G + 24.966 B) / 255."""
    img = np.asarray(img)
    if img.ndim == 2:
        return img.astype(np.float64)
    if img.dtype != np.uint8:  # uint8 goes straight into the float64 products (the same values)
        img = img.astype(np.float64)
    y = np.multiply(img[..., 0], 65.481, dtype=np.float64)
    y += np.multiply(img[..., 1], 128.553, dtype=np.float64)
    y += np.multiply(img[..., 2], 24.966, dtype=np.float64)
    y /= 255.0
    y += 16.0
    return y


def mod_crop(img: np.ndarray, scale: int = SCALE) -> np.ndarray:
    """Crop H and W down to multiples of ``scale`` (top-left anchored, as the benchmarks do)."""
    h, w = img.shape[:2]
    return img[: h - h % scale, : w - w % scale]


def shave(img: np.ndarray, border: int) -> np.ndarray:
    return img[border:-border, border:-border] if border > 0 else img


def _prepare(sr: np.ndarray, hr: np.ndarray, y_channel: bool, border: int) -> tuple[np.ndarray, np.ndarray]:
    sr = np.asarray(sr)
    hr = np.asarray(hr)
    if sr.shape != hr.shape:
        raise ValueError(f"SR and HR sizes differ: {sr.shape} vs {hr.shape}")
    if y_channel:
        sr, hr = rgb_to_y(sr), rgb_to_y(hr)
    else:
        sr, hr = sr.astype(np.float64), hr.astype(np.float64)
    sr, hr = shave(sr, border), shave(hr, border)
    if sr.size == 0:
        raise ValueError(f"image too small for a {border}-pixel border shave")
    return sr, hr


def _psnr_of(mse: float) -> float:
    return float("inf") if mse == 0 else float(10.0 * np.log10(255.0**2 / mse))


def psnr(sr: np.ndarray, hr: np.ndarray, y_channel: bool = True, border: int = SCALE) -> float:
    """PSNR in dB of 8-bit images; identical images give +inf."""
    sr, hr = np.asarray(sr), np.asarray(hr)
    if not y_channel and sr.dtype == hr.dtype == np.uint8 and sr.shape == hr.shape:
        # uint8 RGB: the squared error summed exactly in integers (the float64 mean's value, faster)
        d = shave(sr, border).astype(np.int32) - shave(hr, border)
        if d.size == 0:
            raise ValueError(f"image too small for a {border}-pixel border shave")
        return _psnr_of(float(np.square(d, dtype=np.int64).sum()) / d.size)
    a, b = _prepare(sr, hr, y_channel, border)
    return _psnr_of(float(np.mean((a - b) ** 2)))


_SSIM_SIGMA, _SSIM_PAD = 1.5, 5  # 11x11 window: radius int(3.5 * 1.5 + 0.5), as scikit-image truncates it
_SSIM_C1, _SSIM_C2 = (0.01 * 255.0) ** 2, (0.03 * 255.0) ** 2


_SSIM_TAPS = np.exp(-0.5 * (np.arange(-_SSIM_PAD, _SSIM_PAD + 1) / _SSIM_SIGMA) ** 2)
_SSIM_TAPS /= _SSIM_TAPS.sum()  # scipy.ndimage's (and so scikit-image's) 11-tap Gaussian


def _gauss(x: np.ndarray) -> np.ndarray:
    """The Gaussian-weighted local mean where the whole 11x11 window lies inside the image (the
    only part SSIM's mean uses; the border handling never matters), as two 11-tap passes over
    sliding-window views: scikit-image's values to within float64 rounding, in less time than
    ``scipy.ndimage.gaussian_filter`` over the whole image.  Both passes window the first axis
    (the second on the transpose), the layout a BLAS matrix-vector product takes as it is; the
    result is in column-major order (elementwise maths does not care)."""
    k = 2 * _SSIM_PAD + 1
    h = sliding_window_view(x, k, axis=0) @ _SSIM_TAPS
    return (sliding_window_view(h.T, k, axis=0) @ _SSIM_TAPS).T


class _SSIMRef:
    """One 2-D float64 reference plane with its local mean and variance, so that each image scored
    against it costs three Gaussian filters instead of five, and the SSIM map is formed in place
    on the interior only (scikit-image's values to within float64 rounding, about 1e-16)."""

    def __init__(self, b: np.ndarray):
        if min(b.shape) < 2 * _SSIM_PAD + 1:
            raise ValueError(f"image too small for SSIM's 11x11 window: {b.shape[1]}x{b.shape[0]}")
        self.b = b
        self.ub = _gauss(b)
        ub2 = self.ub * self.ub
        self.vb_c2 = _gauss(b * b) - ub2 + _SSIM_C2  # variance + C2
        self.ub2_c1 = ub2 + _SSIM_C1

    def __call__(self, a: np.ndarray) -> float:
        ua = _gauss(a)
        va = _gauss(a * a)  # becomes the variance of a below
        vab = _gauss(a * self.b)  # becomes the covariance
        ua2 = ua * ua
        va -= ua2
        ua *= self.ub  # now ua * ub
        vab -= ua
        # numerator (2 ua ub + C1)(2 vab + C2); denominator (ua^2 + ub^2 + C1)(va + vb + C2)
        ua *= 2.0
        ua += _SSIM_C1
        vab *= 2.0
        vab += _SSIM_C2
        ua *= vab
        ua2 += self.ub2_c1
        va += self.vb_c2
        ua2 *= va
        ua /= ua2
        return float(ua.mean(dtype=np.float64))


def ssim(sr: np.ndarray, hr: np.ndarray, y_channel: bool = True, border: int = SCALE) -> float:
    """SSIM (Wang et al. 2004, Gaussian window) of 8-bit images; RGB is the mean over channels."""
    a, b = _prepare(sr, hr, y_channel, border)
    if a.ndim == 2:
        return _SSIMRef(b)(a)
    return float(np.mean([_SSIMRef(b[..., c])(a[..., c]) for c in range(a.shape[2])]))


def phase_means(sr: np.ndarray, hr: np.ndarray, border: int = SCALE, scale: int = SCALE) -> np.ndarray:
    """Mean SR - HR (grey levels) per output phase (y mod scale, x mod scale) and channel: (C, scale, scale).

    A learned x4 upsampler can give each of the 16 phases its own bias: a fixed 4x4 pattern
    that PSNR barely sees but the eye does on flat areas.  The shave keeps phases aligned
    because it is a multiple of the scale."""
    if border % scale:
        raise ValueError("the border must be a multiple of the scale to keep output phases aligned")
    d = shave(np.asarray(sr, np.float64), border) - shave(np.asarray(hr, np.float64), border)
    d = d.reshape(*d.shape[:2], -1)
    h, w = d.shape[0] // scale * scale, d.shape[1] // scale * scale
    d = d[:h, :w].reshape(h // scale, scale, w // scale, scale, -1)
    return d.mean(axis=(0, 2)).transpose(2, 0, 1)


def phase_range(sr: np.ndarray, hr: np.ndarray, border: int = SCALE) -> float:
    """Range over the 16 output phases of the mean SR - HR, max over channels (grey levels; 0 = no pattern)."""
    m = phase_means(sr, hr, border)
    return float((m.max(axis=(1, 2)) - m.min(axis=(1, 2))).max())


def colour_bias(sr: np.ndarray, hr: np.ndarray, border: int = SCALE) -> tuple[float, ...]:
    """Mean SR - HR per channel (grey levels): a colour cast shows as a non-zero channel."""
    d = shave(np.asarray(sr, np.float64), border) - shave(np.asarray(hr, np.float64), border)
    return tuple(float(x) for x in d.reshape(-1, d.shape[-1] if d.ndim == 3 else 1).mean(axis=0))


def _high_pass_energy(y: np.ndarray) -> float:
    """Energy of what a x4 bicubic shrink-and-enlarge removes: the detail only SR can supply."""
    import torch

    from srcore.resize import imresize

    t = torch.from_numpy(np.ascontiguousarray(y))
    smooth = imresize(imresize(t, scale=0.25), size=(t.shape[0], t.shape[1]))
    return float(((t - smooth) ** 2).mean())


def hf_energy(sr: np.ndarray, hr: np.ndarray, border: int = SCALE) -> float:
    """High-frequency energy of SR relative to HR, on Y (1 = as much fine detail as the original;
    below 1 smoother, above 1 more texture or noise than the original)."""
    a, b = _prepare(sr, hr, True, border)
    a, b = a[: a.shape[0] // 4 * 4, : a.shape[1] // 4 * 4], b[: b.shape[0] // 4 * 4, : b.shape[1] // 4 * 4]
    eb = _high_pass_energy(b)
    return float(_high_pass_energy(a) / eb) if eb > 0 else float("nan")


TOP_OCTAVE = 0.25  # cycles per pixel: the top octave of an image's spectrum is [0.25, 0.5]


def _top_octave_power(y: np.ndarray) -> float:
    """Mean spectral power of ``y`` (mean removed, Hann-windowed so the image's edges add no false
    high frequencies) at radial frequencies in the top octave, [0.25, 0.5] cycles per pixel."""
    h, w = y.shape
    win = np.outer(np.hanning(h), np.hanning(w))
    spec = np.abs(np.fft.rfft2((y - y.mean()) * win)) ** 2
    fy, fx = np.fft.fftfreq(h)[:, None], np.fft.rfftfreq(w)[None, :]
    band = np.hypot(fy, fx) >= TOP_OCTAVE
    return float(spec[band].mean())


def top_octave(sr: np.ndarray, hr: np.ndarray, border: int = SCALE) -> float:
    """Texture: the Y spectrum's power in its top octave (0.25-0.5 cycles/px, the finest detail a
    x4 model must invent) relative to HR's.  1 = as much fine texture as the original; bicubic is
    far below 1; above 1 is texture or noise the original does not have."""
    a, b = _prepare(sr, hr, True, border)
    pb = _top_octave_power(b)
    return _top_octave_power(a) / pb if pb > 0 else float("nan")


def grey_version(img: np.ndarray) -> np.ndarray:
    """The image as grey RGB (R = G = B = rounded BT.601 luma): the input of the chroma-on-grey test."""
    img = np.asarray(img, np.float64)
    luma = np.rint(img[..., 0] * 0.299 + img[..., 1] * 0.587 + img[..., 2] * 0.114).clip(0, 255)
    return np.repeat(luma.astype(np.uint8)[..., None], 3, axis=2)


CHROMA_SPECK = 8  # grey levels of max - min over R, G, B above which a pixel shows as a coloured speck


def chroma_on_grey(sr_of_grey: np.ndarray, border: int = SCALE) -> dict[str, float]:
    """Colour a model invents on grey content: per pixel max - min over R, G, B of the SR of a grey
    image (0 for a grey output), as its mean (grey levels) and the share of pixels (%) above
    ``CHROMA_SPECK`` (line art showed magenta/green specks there)."""
    c = shave(np.asarray(sr_of_grey, np.int16), border)
    chroma = c.max(axis=2) - c.min(axis=2)
    return {"chroma_grey": float(chroma.mean()), "chroma_grey_over8": float((chroma > CHROMA_SPECK).mean() * 100)}


FLAT_COLOURS = (
    (128, 128, 128),
    (200, 60, 50),
    (40, 90, 170),
    (225, 190, 160),
    (30, 30, 30),
    (235, 235, 225),
    (90, 140, 60),
    (250, 210, 40),
)


def flat_phase_range(upscale_fn, lr_side: int = 24) -> float:
    """Largest phase range (grey levels) of the model's output for uniformly coloured LR inputs.

    ``upscale_fn`` maps an HxWx3 uint8 LR image to its x4 uint8 SR.  On flat colour every phase
    should come out alike; the centre half is measured (away from the image border)."""
    worst = 0.0
    for c in FLAT_COLOURS:
        lr = np.empty((lr_side, lr_side, 3), np.uint8)
        lr[:] = c
        sr = np.asarray(upscale_fn(lr), np.float64)
        q = sr.shape[0] // 4 // 4 * 4
        centre = sr[q : sr.shape[0] - q, q : sr.shape[1] - q]
        worst = max(worst, phase_range(centre, np.broadcast_to(np.asarray(c, np.float64), centre.shape), border=0))
    return worst


@dataclass(frozen=True)
class Metric:
    """One figure the project reports: every table, plot and readout iterates ``METRICS``."""

    key: str
    label: str
    unit: str
    higher_is_better: bool | None  # None: closer to ``target`` is better
    fmt: str
    description: str
    target: float | None = None

    @property
    def arrow(self) -> str:
        return {True: "↑", False: "↓", None: "→" + (f"{self.target:g}" if self.target is not None else "")}[
            self.higher_is_better
        ]

    def better(self, a: float, b: float) -> bool:
        """Whether ``a`` is better than ``b``."""
        if self.higher_is_better is None:
            t = self.target or 0.0
            return abs(a - t) < abs(b - t)
        return a > b if self.higher_is_better else a < b


METRICS: tuple[Metric, ...] = (
    Metric("psnr_y", "PSNR (Y)", "dB", True, ".2f", "PSNR on the Y channel, 4-px border shaved (benchmark convention)"),
    Metric("ssim_y", "SSIM (Y)", "", True, ".4f", "SSIM on the Y channel, Gaussian window, 4-px border shaved"),
    Metric("psnr_rgb", "PSNR (RGB)", "dB", True, ".2f", "PSNR over R, G and B, 4-px border shaved"),
    Metric("lpips", "LPIPS", "", False, ".4f", "learned perceptual distance (AlexNet v0.1); lower looks closer"),
    Metric(
        "phase_range",
        "Phase range",
        "grey levels",
        False,
        ".2f",
        "range over the 16 x4 output phases of the mean SR - HR (max over channels): a 4x4 pattern",
    ),
    Metric("bias_r", "Bias R", "grey levels", None, "+.2f", "mean SR - HR, red channel (colour cast)", 0.0),
    Metric("bias_g", "Bias G", "grey levels", None, "+.2f", "mean SR - HR, green channel (colour cast)", 0.0),
    Metric("bias_b", "Bias B", "grey levels", None, "+.2f", "mean SR - HR, blue channel (colour cast)", 0.0),
    Metric(
        "hf_energy",
        "HF energy",
        "x HR",
        None,
        ".2f",
        "high-frequency energy relative to the original (Y): below 1 smoother, above 1 more texture",
        1.0,
    ),
    Metric(
        "top_octave",
        "Top octave",
        "x HR",
        None,
        ".2f",
        "texture: power in the top octave of the Y spectrum (0.25-0.5 cycles/px) relative to the original",
        1.0,
    ),
)
# figures of a model's output for the grey version of each image (``grey_version``), not scored
# against an HR: ``srcore.evaluate`` adds them to each set's means beside ``METRICS``
GREY_METRICS: tuple[Metric, ...] = (
    Metric(
        "chroma_grey",
        "Chroma on grey",
        "grey levels",
        False,
        ".2f",
        "mean max - min over R, G, B of the SR of the grey image: colour invented on grey content",
    ),
    Metric(
        "chroma_grey_over8",
        "Specks on grey",
        "%",
        False,
        ".2f",
        f"share of pixels of the SR of the grey image with chroma above {CHROMA_SPECK} grey levels",
    ),
)
METRIC_BY_KEY: dict[str, Metric] = {m.key: m for m in (*METRICS, *GREY_METRICS)}
PANEL_METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "lpips")  # the per-image readouts of the compare view


class Reference:
    """An HR image prepared once for scoring many SR images against it (the compare view scores
    five panels against one ground truth): its Y plane and SSIM statistics are computed once.
    ``score`` below is ``Reference(hr, border).score(sr)``, so both give the same figures.
    Thread-safe: a pool may score several panels against one reference at once."""

    def __init__(self, hr: np.ndarray, border: int = SCALE):
        self.hr, self.border = np.asarray(hr), border
        self.y = rgb_to_y(shave(self.hr, border))  # the shaved Y plane (float64)
        self._lock = threading.Lock()
        self._ssim: _SSIMRef | None = None

    def ssim_ref(self) -> _SSIMRef:
        """The Y plane's SSIM statistics, computed on first use (not every caller needs them)."""
        with self._lock:
            if self._ssim is None:
                self._ssim = _SSIMRef(self.y)
            return self._ssim

    def score(self, sr: np.ndarray, lpips_fn=None, keys=None) -> dict[str, float | None]:
        """Figures of ``METRICS`` (or ``keys``) for a uint8 SR image of the reference's size.
        LPIPS needs ``lpips_fn`` (else None)."""
        keys = tuple(keys or (m.key for m in METRICS))
        sr, hr, border = np.asarray(sr), self.hr, self.border
        if sr.shape != hr.shape:
            raise ValueError(f"SR and HR sizes differ: {sr.shape} vs {hr.shape}")
        if self.y.size == 0:
            raise ValueError(f"image too small for a {border}-pixel border shave")
        rgb = sr.ndim == 3
        out: dict[str, float | None] = {}
        sy = None
        for k in keys:
            if k in ("psnr_y", "ssim_y") or (k == "psnr_rgb" and not rgb):
                if sy is None:
                    sy = rgb_to_y(shave(sr, border))  # Y of the interior only
                if k == "ssim_y":
                    out[k] = self.ssim_ref()(sy)
                else:
                    out[k] = _psnr_of(float(np.mean((sy - self.y) ** 2)))
            elif k == "psnr_rgb":
                out[k] = psnr(sr, hr, False, border)
            elif k == "lpips":
                out[k] = float(lpips_fn(shave(sr, border), shave(hr, border))) if lpips_fn is not None else None
            elif k == "phase_range":
                out[k] = phase_range(sr, hr, border)
            elif k in ("bias_r", "bias_g", "bias_b"):
                if "bias_r" not in out:
                    bias = colour_bias(sr, hr, border) if rgb else (0.0, 0.0, 0.0)
                    out.update(bias_r=bias[0], bias_g=bias[1], bias_b=bias[2])
            elif k == "hf_energy":
                out[k] = hf_energy(sr, hr, border)
            elif k == "top_octave":
                out[k] = top_octave(sr, hr, border)
            else:
                raise KeyError(f"metric {k!r} is not in the table")
        return {k: out[k] for k in keys}


def score(sr: np.ndarray, hr: np.ndarray, border: int = SCALE, lpips_fn=None, keys=None) -> dict[str, float | None]:
    """The one scoring path: figures of ``METRICS`` (or ``keys``) for a uint8 RGB SR image against
    its HR (same size).  LPIPS needs ``lpips_fn`` (else None)."""
    return Reference(hr, border).score(sr, lpips_fn, keys)
