"""Image-quality metrics with the SR benchmark convention.

PSNR and SSIM are computed on 8-bit data ([0, 255]); on the Y channel of MATLAB's
``rgb2ycbcr`` (ITU-R BT.601, RGB order) or on RGB; after mod-cropping to the scale and
shaving ``border`` pixels on every side (default: the scale, 4).  SSIM uses the reference
Gaussian window (11x11, sigma 1.5, K1 0.01, K2 0.03) through scikit-image configured to match.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from skimage.metrics import structural_similarity

from srcore import SCALE


def rgb_to_y(img: np.ndarray) -> np.ndarray:
    """Y of MATLAB's rgb2ycbcr for RGB in [0, 255]: 16 + (65.481 R + 128.553 G + 24.966 B) / 255."""
    img = np.asarray(img, dtype=np.float64)
    if img.ndim == 2:
        return img
    return 16.0 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255.0


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


def psnr(sr: np.ndarray, hr: np.ndarray, y_channel: bool = True, border: int = SCALE) -> float:
    """PSNR in dB of 8-bit images; identical images give +inf."""
    a, b = _prepare(sr, hr, y_channel, border)
    mse = float(np.mean((a - b) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def ssim(sr: np.ndarray, hr: np.ndarray, y_channel: bool = True, border: int = SCALE) -> float:
    """SSIM (Wang et al. 2004, Gaussian window) of 8-bit images; RGB is the mean over channels."""
    a, b = _prepare(sr, hr, y_channel, border)
    kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255.0, K1=0.01, K2=0.03)
    if a.ndim == 2:
        return float(structural_similarity(a, b, **kw))
    return float(structural_similarity(a, b, channel_axis=2, **kw))


@dataclass
class Scores:
    """The figures the dashboard and the benchmark report for one SR image."""

    psnr_y: float
    ssim_y: float
    psnr_rgb: float
    lpips: float | None = None

    def as_dict(self) -> dict:
        return {"psnr_y": self.psnr_y, "ssim_y": self.ssim_y, "psnr_rgb": self.psnr_rgb, "lpips": self.lpips}


def score(sr: np.ndarray, hr: np.ndarray, border: int = SCALE, lpips_fn=None) -> Scores:
    """All benchmark figures for one uint8 RGB SR image against its HR (same size)."""
    lp = None
    if lpips_fn is not None:
        lp = float(lpips_fn(shave(np.asarray(sr), border), shave(np.asarray(hr), border)))
    rgb = sr.ndim == 3
    return Scores(
        psnr_y=psnr(sr, hr, True, border),
        ssim_y=ssim(sr, hr, True, border),
        psnr_rgb=psnr(sr, hr, False, border) if rgb else psnr(sr, hr, True, border),
        lpips=lp,
    )
