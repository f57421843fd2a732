"""Reading images of any mode into 8-bit RGB arrays, with a clear error for bad input.

Handles grayscale, RGBA (alpha composited on white, reported), palette, 16-bit, CMYK, EXIF
orientation and animated files (first frame, reported).  Decompression bombs are refused.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "TIFF", "GIF")
MAX_PIXELS = 40_000_000  # far below Pillow's own bomb limit; callers may set lower caps


class ImageLoadError(ValueError):
    """An input that cannot be used as an image; the message is meant for the user."""


@dataclass
class LoadedImage:
    array: np.ndarray  # HxWx3 uint8 RGB
    notes: list[str] = field(default_factory=list)  # what was done to the input, for the user


def _to_uint8_rgb(im: Image.Image, notes: list[str]) -> np.ndarray:
    mode = im.mode
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        arr = np.asarray(im, dtype=np.float64)
        peak = 65535.0 if arr.max() > 255 or mode.startswith("I;16") else 255.0
        notes.append("16-bit image converted to 8 bits")
        g = np.clip(np.round(arr / peak * 255.0), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(im, dtype=np.float64)
        g = np.clip(np.round(arr * (255.0 if arr.max() <= 1.0 else 1.0)), 0, 255).astype(np.uint8)
        return np.repeat(g[..., None], 3, axis=2)
    if mode == "P":
        im = im.convert("RGBA")
        mode = "RGBA"
    if mode in ("RGBA", "LA", "PA") or (mode == "RGB" and "transparency" in im.info):
        rgba = im.convert("RGBA")
        alpha = np.asarray(rgba)[..., 3]
        if alpha.min() < 255:
            notes.append("transparent areas were placed on a white background")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.array(Image.alpha_composite(bg, rgba).convert("RGB"))
    if mode in ("L", "1"):
        notes.append("grayscale image shown as RGB")
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB")
    return np.array(im.convert("RGB"))


def load_image(src: str | Path | bytes | Image.Image | np.ndarray, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Load ``src`` (path, bytes, PIL image or array) as 8-bit RGB, or raise ImageLoadError."""
    notes: list[str] = []
    if isinstance(src, np.ndarray):
        return LoadedImage(array_to_rgb8(src), notes)
    if isinstance(src, Image.Image):
        im = src
    else:
        try:
            data = src if isinstance(src, (bytes, bytearray)) else Path(src).read_bytes()
        except OSError as e:
            raise ImageLoadError(f"cannot read the file: {e.strerror or e}") from None
        if len(data) == 0:
            raise ImageLoadError("the file is empty (0 bytes)")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = Image.open(io.BytesIO(data), formats=FORMATS)
                w, h = im.size
                if w * h > max_pixels:
                    raise ImageLoadError(
                        f"the image is {w}x{h} = {w * h / 1e6:.1f} megapixels; the limit is {max_pixels / 1e6:.0f} megapixels"
                    )
                im.load()
        except ImageLoadError:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageLoadError("the image has too many pixels (possible decompression bomb); refused") from None
        except UnidentifiedImageError:
            raise ImageLoadError(f"not an image in a supported format ({', '.join(FORMATS)})") from None
        except (OSError, SyntaxError, ValueError) as e:
            raise ImageLoadError(f"the image file is damaged or truncated ({e})") from None
    try:  # n_frames parses every frame header: a damaged later frame fails here (IndexError, TypeError, ...)
        frames = getattr(im, "n_frames", 1)
        if frames > 1:
            im.seek(0)
    except Exception:  # noqa: BLE001 - Pillow's frame parsers raise many kinds of error on bad data
        raise ImageLoadError("the image file is damaged or truncated (a frame after the first cannot be read)") from None
    if frames > 1:
        notes.append("animated image: the first frame is used")
    try:
        im = ImageOps.exif_transpose(im)
    except Exception:  # broken EXIF: keep the pixels as stored
        notes.append("EXIF orientation could not be read and was ignored")
    w, h = im.size
    if w * h > max_pixels:
        raise ImageLoadError(f"the image is {w}x{h}; the limit is {max_pixels / 1e6:.0f} megapixels")
    return LoadedImage(_to_uint8_rgb(im, notes), notes)


def array_to_rgb8(arr: np.ndarray) -> np.ndarray:
    """Any HxW / HxWx{1,3,4} array (uint8, uint16 or float in [0,1]) -> HxWx3 uint8."""
    a = np.asarray(arr)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ImageLoadError(f"expected an HxW or HxWxC image array, got shape {a.shape}")
    if a.dtype == np.uint16:
        a = np.round(a / 257.0)
    elif a.dtype.kind == "f":
        a = np.round(np.clip(a, 0, 1) * 255.0) if a.max() <= 1.0 else a
    elif a.dtype == bool:
        a = a.astype(np.uint8) * 255
    a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float64) / 255.0
        a = np.round(a[..., :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(a)


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")


def list_images(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` (recursively), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
