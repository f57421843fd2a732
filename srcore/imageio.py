"""Reading images of any mode into 8-bit RGB arrays, with a clear error for bad input.

Handles grayscale, RGBA (alpha composited on white, reported), palette, 16- and 32-bit integer,
float (NaN / infinite values replaced, HDR values tone-mapped: both reported), CMYK, EXIF
orientation (applied and reported) and animated files (first frame, reported).  Every conversion
that changes what the pixels mean is named in ``LoadedImage.notes`` so the user is never shown a
silently altered picture.  Decompression bombs are refused.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO, cast

import numpy as np
from PIL import Image, ImageFile, ImageOps, UnidentifiedImageError

try:  # ISA-L's deflate: 3-4x faster than zlib's fastest level for PNGs of the same size
    from isal import isal_zlib as _isal_zlib
except ImportError:  # pragma: no cover - the stdlib's zlib, slower, the same format
    _isal_zlib = None  # type: ignore[assignment]

FORMATS = ("PNG", "JPEG", "BMP", "WEBP", "TIFF", "GIF")
MAX_PIXELS = 40_000_000  # far below Pillow's own bomb limit; callers may set lower caps
EXIF_ORIENTATION = 0x0112
_ORIENTATION_WORDS = {
    2: "mirrored",
    3: "rotated 180°",
    4: "flipped upside down",
    5: "rotated and mirrored",
    6: "rotated 90° clockwise",
    7: "rotated and mirrored",
    8: "rotated 90° counter-clockwise",
}


class ImageLoadError(ValueError):
    """An input that cannot be used as an image; the message is meant for the user."""


@dataclass
class LoadedImage:
    array: np.ndarray  # HxWx3 uint8 RGB
    notes: list[str] = field(default_factory=list)  # what was done to the input, for the user


def _rawmode(im: Image.Image) -> str:
    """The decoder's raw mode (e.g. ``I;16B``, ``RGB;16B``, ``I;32N``): the file's true sample
    layout, which Pillow's mode hides (a uint32 TIFF and an int32 one are both mode ``I``).
    Only known before ``load()``."""
    try:
        tile = cast(ImageFile.ImageFile, im).tile  # decoders' images are ImageFiles; else AttributeError below
        args = tile[0].args if hasattr(tile[0], "args") else tile[0][3]
    except (AttributeError, IndexError, TypeError):
        return ""
    return args if isinstance(args, str) else (args[0] if args and isinstance(args[0], str) else "")


def _pct(n: int, total: int) -> str:
    p = 100.0 * n / max(total, 1)
    return f"{p:.1f} %" if p >= 0.1 else f"{n} pixel{'s' if n != 1 else ''}"


def float_to_unit(arr: np.ndarray, notes: list[str]) -> np.ndarray:
    """A float image -> values in [0, 1], saying what was done.

    Why not just clip: a NaN makes ``max()`` NaN and the whole image black, and clipping an HDR
    image (linear light, values above 1) whitens most of it.  So: NaN -> 0 and +/-inf -> the
    largest / smallest finite value (noted, with how many); an image with no finite value is
    refused; values in [0, 1] are used as they are; a float image holding whole numbers up to 255
    is read as 8-bit levels; anything else above 1 is HDR and is tone-mapped with the extended
    Reinhard curve (its brightest value maps to white, dark values stay nearly linear); negative
    values become 0.  Each case that changes the pixels adds a note.
    """
    a = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(a)
    if not finite.all():
        if not finite.any():
            raise ImageLoadError("the image holds no usable values (every pixel is NaN or infinite)")
        lo, hi = float(a[finite].min()), float(a[finite].max())
        n_nan, n_inf = int(np.isnan(a).sum()), int(np.isinf(a).sum())
        a = np.nan_to_num(a, nan=0.0, posinf=hi, neginf=lo)
        what = []
        if n_nan:
            what.append(f"{_pct(n_nan, a.size)} of the values were NaN (set to black)")
        if n_inf:
            what.append(f"{_pct(n_inf, a.size)} were infinite (set to the brightest / darkest finite value)")
        notes.append("; ".join(what))
    lo, hi = float(a.min()), float(a.max())
    if lo < 0:
        notes.append(f"negative values (down to {lo:.3g}, {_pct(int((a < 0).sum()), a.size)}) were set to 0")
        a = np.maximum(a, 0.0)
    if hi <= 1.0:
        return a
    if hi <= 255.0 and np.array_equal(a, np.round(a)):
        notes.append("float image with whole-number values up to 255 read as 8-bit levels")
        return a / 255.0
    over = int((a > 1.0).sum())
    notes.append(
        f"HDR float image (values up to {hi:.3g}; {_pct(over, a.size)} above 1.0) tone-mapped to 8 bits "
        f"(extended Reinhard, white point {hi:.3g})"
    )
    return a * (1.0 + a / (hi * hi)) / (1.0 + a)


def _gray3(g: np.ndarray) -> np.ndarray:
    return np.repeat(np.clip(np.round(g * 255.0), 0, 255).astype(np.uint8)[..., None], 3, axis=2)


def _to_uint8_rgb(im: Image.Image, notes: list[str], raw: str) -> np.ndarray:
    mode = im.mode
    if mode.startswith("I;16") or (mode == "I" and ";16" in raw):
        arr = np.asarray(im, dtype=np.float64)
        signed = raw.endswith("S")
        if signed and arr.min() < 0:
            notes.append("negative values of the signed 16-bit image were set to 0")
        notes.append(f"16-bit {'signed ' if signed else ''}grayscale image converted to 8 bits")
        return _gray3(np.clip(arr, 0, None) / (32767.0 if signed else 65535.0))
    if mode == "I":
        arr = np.asarray(im)
        unsigned = raw.startswith("I;32") and not raw.endswith("S") and raw != "I"
        if unsigned:  # Pillow holds uint32 samples in an int32 image: reread the bits as unsigned
            arr = arr.view(np.uint32) if arr.dtype == np.int32 else arr.astype(np.uint32)
        arr = arr.astype(np.float64)
        kind = "32-bit unsigned integer" if unsigned else "32-bit integer"
        if arr.min() < 0:
            notes.append(f"negative values of the {kind} image were set to 0")
            arr = np.clip(arr, 0, None)
        peak = float(arr.max())
        if peak <= 255:
            notes.append(f"{kind} grayscale image (values up to {peak:.0f}) read as 8-bit levels")
            return _gray3(arr / 255.0)
        if peak <= 65535:
            notes.append(
                f"{kind} grayscale image (values up to {peak:.0f}) read as 16-bit levels and converted to 8 bits"
            )
            return _gray3(arr / 65535.0)
        notes.append(f"{kind} grayscale image scaled to 8 bits by its largest value ({peak:.0f})")
        return _gray3(arr / peak)
    if mode == "F":
        notes.append("32-bit float grayscale image converted to 8 bits")
        return _gray3(float_to_unit(np.asarray(im, dtype=np.float64), notes))
    if ";16" in raw and mode in ("RGB", "RGBA", "CMYK"):
        notes.append(f"16 bits per channel {mode} image converted to 8 bits per channel")
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
        notes.append("grayscale image shown as RGB" if mode == "L" else "1-bit (black and white) image shown as RGB")
    if mode == "CMYK":
        notes.append("CMYK image converted to RGB")
    return np.array(im.convert("RGB"))


def _exif_transpose(im: Image.Image, notes: list[str]) -> Image.Image:
    """Apply the EXIF orientation (the picture as the camera meant it to be seen) and say so."""
    try:
        orientation = im.getexif().get(EXIF_ORIENTATION, 1)
        out = ImageOps.exif_transpose(im)
    except Exception:  # noqa: BLE001 - broken EXIF: keep the pixels as stored
        notes.append("EXIF orientation could not be read and was ignored")
        return im
    if orientation in _ORIENTATION_WORDS and out is not None:
        notes.append(f"{_ORIENTATION_WORDS[orientation]} as its EXIF orientation tag ({orientation}) says")
        return out
    return im if out is None else out


def load_image(src: str | Path | bytes | Image.Image | np.ndarray, max_pixels: int = MAX_PIXELS) -> LoadedImage:
    """Load ``src`` (path, bytes, PIL image or array) as 8-bit RGB, or raise ImageLoadError."""
    notes: list[str] = []
    if isinstance(src, np.ndarray):
        return LoadedImage(_array_to_rgb8(src, notes), notes)
    raw = ""
    if isinstance(src, Image.Image):
        im = src
        raw = _rawmode(im)
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
                raw = _rawmode(im)
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
        raise ImageLoadError(
            "the image file is damaged or truncated (a frame after the first cannot be read)"
        ) from None
    if frames > 1:
        notes.append("animated image: the first frame is used")
    im = _exif_transpose(im, notes)
    w, h = im.size
    if w * h > max_pixels:
        raise ImageLoadError(f"the image is {w}x{h}; the limit is {max_pixels / 1e6:.0f} megapixels")
    return LoadedImage(_to_uint8_rgb(im, notes, raw), notes)


def _array_to_rgb8(arr: np.ndarray, notes: list[str]) -> np.ndarray:
    a = np.asarray(arr)
    if a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in (1, 3, 4)):
        raise ImageLoadError(f"expected an HxW or HxWxC image array, got shape {a.shape}")
    if a.dtype == np.uint16:
        a = np.round(a / 257.0)
    elif a.dtype.kind == "f":
        a = np.round(float_to_unit(a, notes) * 255.0)
    elif a.dtype == bool:
        a = a.astype(np.uint8) * 255
    elif a.dtype.kind in "iu" and a.dtype.itemsize > 1 and a.size and a.max() > 255:
        raise ImageLoadError(
            f"a {a.dtype} array with values above 255 has no known bit depth; convert it to uint8 or uint16 first"
        )
    a = np.clip(a, 0, 255).astype(np.uint8)
    if a.ndim == 2:
        a = a[..., None]
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        alpha = a[..., 3:4].astype(np.float64) / 255.0
        a = np.round(a[..., :3] * alpha + 255.0 * (1 - alpha)).astype(np.uint8)
    return np.ascontiguousarray(a)


def array_to_rgb8(arr: np.ndarray) -> np.ndarray:
    """Any HxW / HxWx{1,3,4} array (uint8, uint16, or float: [0,1], NaN/inf and HDR handled as in
    ``float_to_unit``) -> HxWx3 uint8.  ``load_image(arr)`` also returns what was done."""
    return _array_to_rgb8(arr, [])


IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif")


_PNG_COLOUR_TYPE = {1: 0, 3: 2, 4: 6}  # channels -> PNG colour type (grey, RGB, RGBA)


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_compressor():
    """A zlib-format stream compressor for IDAT data: ISA-L level 1 where installed (about 1.7 ms
    for a 512x512 panel on the 2-core machine, files within a few per cent of zlib's), else zlib
    level 1 with the run-length strategy (about 6 ms)."""
    if _isal_zlib is not None:
        return _isal_zlib.compressobj(1, _isal_zlib.DEFLATED, 15, 9)
    return zlib.compressobj(1, zlib.DEFLATED, 15, 9, zlib.Z_RLE)


def save_png(arr: np.ndarray, f: BinaryIO | str | Path) -> None:
    """Write a lossless PNG of an 8-bit HxW, HxWx3 or HxWx4 image to ``f`` (a binary file object
    or a path), for speed: every row with the "Up" filter, then a fast deflate
    (``_png_compressor``).  Several times faster than Pillow's level 1 (which tries five filters
    per row) for files of about the same size; the compare view encodes six panels before its
    result shows.  Rows go through in blocks of about 1 MB, each compressed piece its own IDAT
    chunk, so a large output costs no second full-size copy."""
    if isinstance(f, (str, Path)):
        with open(f, "wb") as fh:
            return save_png(arr, fh)
    a = np.ascontiguousarray(arr)
    if a.dtype != np.uint8 or a.ndim not in (2, 3) or (a.ndim == 3 and a.shape[2] not in _PNG_COLOUR_TYPE):
        raise ValueError(f"PNG output takes 8-bit grey, RGB or RGBA arrays, not {a.dtype} {a.shape}")
    h, w = a.shape[:2]
    c = 1 if a.ndim == 2 else a.shape[2]
    rows = a.reshape(h, w * c)
    f.write(b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, _PNG_COLOUR_TYPE[c], 0, 0, 0)))
    z = _png_compressor()
    block = max(1, (1 << 20) // (w * c + 1))
    raw = np.empty((min(block, h), w * c + 1), np.uint8)
    raw[:, 0] = 2  # filter type Up: each byte minus the one above it (mod 256)
    for y0 in range(0, h, block):
        y1 = min(h, y0 + block)
        r = raw[: y1 - y0]
        if y0 == 0:
            r[0, 1:] = rows[0]
        else:
            np.subtract(rows[y0], rows[y0 - 1], out=r[0, 1:])
        np.subtract(rows[y0 + 1 : y1], rows[y0 : y1 - 1], out=r[1:, 1:])
        piece = z.compress(r.data)
        if piece:
            f.write(_png_chunk(b"IDAT", piece))
    f.write(_png_chunk(b"IDAT", z.flush()) + _png_chunk(b"IEND", b""))


def png_bytes(arr: np.ndarray) -> bytes:
    """``save_png`` into memory: the bytes of the PNG file."""
    buf = io.BytesIO()
    save_png(arr, buf)
    return buf.getvalue()


def list_images(folder: str | Path) -> list[Path]:
    """Image files in ``folder`` (recursively), sorted by path."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"image folder not found: {folder}")
    return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file())
