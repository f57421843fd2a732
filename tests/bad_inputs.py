"""A table of bad and odd uploads and what the dashboard must make of each (issue #7, "Hardening").

Not a test file: ``tests/test_bad_inputs_lib.py`` (srcore.imageio + dashboard.core, no server) and
``tests/test_bad_inputs_api.py`` (the running app through gradio_client) both run over ``CASES``.

Each ``Case`` writes its file into a folder (generated with Pillow / numpy, nothing downloaded) and says
what the app gives for it used as ground truth (``as_hr``) and as a low-resolution input (``as_lr``):
either a result (``Outcome.size``: the output's (height, width), i.e. the HR panel or the ×4 SR of an LR
input, plus a substring of a note the app shows) or an error (a substring of the message).
``lib`` overrides both for the library-level test where Gradio itself answers before srcore sees the
file; ``api_only`` cases (a file over the upload cap) mean nothing without the server.
"""

from __future__ import annotations

import struct
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from dashboard.core import MAX_FILE_SIZE, MAX_HR_SIDE, MAX_LR_SIDE, MIN_LR_SIDE
from srcore import SCALE
from srcore.imageio import MAX_PIXELS

MAX_FILE_BYTES = int(MAX_FILE_SIZE[:-2]) * 1024 * 1024  # Gradio's "mb" is MiB
MIN_HR_SIDE = MIN_LR_SIDE * SCALE
H, W = 64, 80  # most cases: 64x80 HR (a 16x20 input), or a 64x80 LR input upscaled to 256x320


@dataclass(frozen=True)
class Outcome:
    size: tuple[int, int] | None = None  # (h, w) of the output: the HR panel, or the x4 SR of an LR input
    note: str | None = None  # a substring of one of the notes shown with the result
    error: str | None = None  # a substring of the error message (then there is no result)

    @property
    def ok(self) -> bool:
        return self.error is None


def ok(size: tuple[int, int], note: str | None = None) -> Outcome:
    return Outcome(size=size, note=note)


def error(message: str) -> Outcome:
    return Outcome(error=message)


@dataclass(frozen=True)
class Case:
    name: str
    write: Callable[[Path], None]  # writes the file at the given path
    suffix: str
    as_hr: Outcome
    as_lr: Outcome
    lib: Outcome | None = None  # library-level outcome (both modes) where it differs from the app's
    api_only: bool = False
    check: Callable[[np.ndarray], None] | None = None  # asserts on the HR image (HxWx3 uint8) used as ground truth
    forbid: str | None = None  # a substring no note may hold (a label that would be untrue, e.g. "16-bit")

    @property
    def filename(self) -> str:
        return f"{self.name}{self.suffix}"

    def make(self, folder: str | Path) -> Path:
        """Write the case's file into ``folder``; return its path."""
        path = Path(folder) / self.filename
        self.write(path)
        return path

    def expected(self, as_lr: bool, library: bool = False) -> Outcome:
        if library and self.lib is not None:
            return self.lib
        return self.as_lr if as_lr else self.as_hr

    def __str__(self) -> str:  # pytest ids
        return self.name


# ------------------------------------------------------------------ picture makers


def photo(h: int = H, w: int = W, seed: int = 0) -> np.ndarray:
    """A deterministic photo-like RGB image: smooth colour waves plus a little noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64) / max(h, w, 1)
    r = 128 + 90 * np.sin(2 * np.pi * (1.5 * x + 0.5 * y))
    g = 128 + 90 * np.cos(2 * np.pi * (0.7 * x - 1.2 * y))
    b = 128 + 90 * np.sin(2 * np.pi * 2.0 * x * y + 1.0)
    a = np.stack([r, g, b], axis=2) + rng.normal(0, 6, (h, w, 3))
    return np.clip(np.round(a), 0, 255).astype(np.uint8)


def _save(arr_or_im, path: Path, fmt: str | None = None, **kw) -> None:
    im = arr_or_im if isinstance(arr_or_im, Image.Image) else Image.fromarray(arr_or_im)
    im.save(path, format=fmt, **kw)


def _bytes(data: bytes) -> Callable[[Path], None]:
    return lambda p: p.write_bytes(data)


def _image(make: Callable[[], Image.Image | np.ndarray], fmt: str | None = None, **kw) -> Callable[[Path], None]:
    return lambda p: _save(make(), p, fmt, **kw)


def _truncated(fmt: str, keep: float, **kw) -> Callable[[Path], None]:
    def write(p: Path) -> None:
        _save(photo(128, 160, seed=1), p, fmt, **kw)
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * keep)])

    return write


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def _png(w: int, h: int, bit_depth: int, colour_type: int, raw: bytes) -> bytes:
    """A PNG from its filtered scanlines (``raw``: a filter byte, then the row, for every row)."""
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0))
        + _png_chunk(b"IDAT", zlib.compress(raw, 9))
        + _png_chunk(b"IEND", b"")
    )


def _bomb_header(p: Path) -> None:
    """50000x50000 RGB claimed in the header (2.5 gigapixels), with hardly any data behind it."""
    p.write_bytes(_png(50_000, 50_000, 8, 2, bytes(1 + 3 * 16)))


def _bomb_zeros(p: Path) -> None:
    """A complete, valid all-black 8000x8000 1-bit PNG (64 megapixels in about 8 kB)."""
    side = 8000
    assert side * side > MAX_PIXELS
    p.write_bytes(_png(side, side, 1, 0, bytes((1 + side // 8) * side)))


def _rgb16(p: Path) -> None:
    """A 48-bit (16 bits per channel) RGB PNG (Pillow cannot write one itself)."""
    v = (photo(H, W, seed=2).astype(np.uint16) * 257).astype(">u2")
    rows = b"".join(b"\x00" + v[i].tobytes() for i in range(H))
    p.write_bytes(_png(W, H, 16, 2, rows))


def _large_photo(p: Path) -> None:
    """A 6000x4000 JPEG (24 megapixels, about 1.5 MB): a small photo enlarged, quick to write."""
    Image.fromarray(photo(40, 60, seed=3)).resize((6000, 4000), Image.Resampling.BILINEAR).save(p, "JPEG", quality=85)
    assert p.stat().st_size < MAX_FILE_BYTES


def _over_cap(p: Path) -> None:
    """A valid PNG just over the upload cap: uncompressed noise (stored deflate blocks)."""
    side = int(np.ceil(np.sqrt((MAX_FILE_BYTES + 512 * 1024) / 3)))
    noise = np.random.default_rng(4).integers(0, 256, (side, side, 3), dtype=np.uint8)
    Image.fromarray(noise).save(p, "PNG", compress_level=0)
    assert p.stat().st_size > MAX_FILE_BYTES


def _rgba(p: Path) -> None:
    a = np.dstack([photo(seed=5), np.full((H, W), 255, np.uint8)])
    a[:, W // 2 :, 3] = 0  # right half fully transparent
    Image.fromarray(a, "RGBA").save(p)


def _check_rgba(hr: np.ndarray) -> None:
    assert (hr[:, W // 2 :] == 255).all(), "transparent pixels are white"


def _palette(transparent: bool) -> Callable[[Path], None]:
    def write(p: Path) -> None:
        im = Image.fromarray(photo(seed=6)).convert("P", palette=Image.Palette.ADAPTIVE, colors=32)
        im.save(p, transparency=0) if transparent else im.save(p)

    return write


def _gray16(p: Path) -> None:
    v = np.linspace(0, 65535, H * W).reshape(H, W).astype(np.uint16)
    Image.fromarray(v).save(p)


def _check_gray16(hr: np.ndarray) -> None:
    assert hr[0, 0, 0] == 0 and hr[-1, -1, 0] == 255, "the full 16-bit range maps to 0..255"


def _cmyk(p: Path) -> None:
    Image.new("CMYK", (W, H), (0, 255, 255, 0)).save(p, "JPEG", quality=95)  # pure red in CMYK


def _check_red(hr: np.ndarray) -> None:
    r, g, b = hr.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60, (r, g, b)


def _exif_rotated(p: Path) -> None:
    """Stored 80 wide x 48 high, left half red and right half blue, with EXIF orientation 6
    (rotate 90 degrees clockwise to display): shown 48 wide x 80 high, red on top."""
    a = np.zeros((48, 80, 3), np.uint8)
    a[:, :40] = (255, 0, 0)
    a[:, 40:] = (0, 0, 255)
    exif = Image.Exif()
    exif[0x0112] = 6
    Image.fromarray(a).save(p, "JPEG", exif=exif, quality=95)


def _check_rotated(hr: np.ndarray) -> None:
    top, bottom = hr[:30].reshape(-1, 3).mean(0), hr[-30:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60 and bottom[2] > 200 and bottom[0] < 60, (top, bottom)


def _frames() -> list[Image.Image]:
    return [Image.new("RGB", (W, H), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]


def _animated_gif(p: Path) -> None:
    f = _frames()
    f[0].save(p, "GIF", save_all=True, append_images=f[1:], duration=100, loop=0)


def _truncated_animated_gif(p: Path) -> None:
    """An animated GIF of noise cut in its third frame: the first frame is whole, a later one is not."""
    rng = np.random.default_rng(7)
    f = [Image.fromarray(rng.integers(0, 256, (H, W, 3), dtype=np.uint8)).convert("P") for _ in range(3)]
    f[0].save(p, "GIF", save_all=True, append_images=f[1:], duration=100, loop=0)
    data = p.read_bytes()
    p.write_bytes(data[: int(len(data) * 0.7)])


def _png_named_jpg(p: Path) -> None:
    Image.fromarray(photo(seed=8)).save(p, "PNG")


def _float_tiff(make: Callable[[], np.ndarray]) -> Callable[[Path], None]:
    """A 32-bit float grayscale TIFF (Pillow mode F) of ``make()``."""
    return lambda p: Image.fromarray(make().astype(np.float32), "F").save(p, "TIFF")


def _ramp() -> np.ndarray:
    """A left-to-right ramp 0..1 (float), H x W."""
    return np.broadcast_to(np.linspace(0.0, 1.0, W), (H, W)).copy()


def _nan_block() -> np.ndarray:
    a = _ramp() * 0.6 + 0.2  # mid-grey ramp 0.2..0.8
    a[8:24, 8:24] = np.nan  # a 16x16 block of NaN (the "float TIFF with a NaN block")
    return a


def _inf_block() -> np.ndarray:
    a = _ramp() * 0.6 + 0.2
    a[8:16, 8:40] = np.inf
    a[40:48, 8:40] = -np.inf
    return a


def _check_nan(hr: np.ndarray) -> None:
    """Not black: the finite pixels keep their grey levels (the NaN block alone is black)."""
    g = hr[..., 0].astype(float)
    assert g[8:24, 8:24].max() <= 8, "NaN -> black"
    assert g[32:, :].mean() > 100, f"the rest keeps its levels (mean {g[32:, :].mean():.0f})"


def _hdr() -> np.ndarray:
    """Linear HDR: a ramp 0..8 (seven eighths of the pixels above 1.0)."""
    return _ramp() * 8.0


def _check_hdr(hr: np.ndarray) -> None:
    g = hr[..., 0]
    assert (g == 255).mean() < 0.1, f"tone-mapped, not clipped: {(g == 255).mean():.0%} white"
    assert np.all(np.diff(g[H // 2].astype(int)) >= 0) and g[H // 2, 0] < 10, "order of brightness kept"


def _uint32_tiff(p: Path) -> None:
    """A uint32 grayscale TIFF (SampleFormat 1, 32 bits), values 0 .. 3e9 (above int32's range), hand
    written: Pillow can only write signed 32-bit TIFFs."""
    v = np.broadcast_to(np.linspace(0, 3e9, W), (H, W)).astype("<u4")
    data = v.tobytes()
    tags = [
        (256, 4, W),
        (257, 4, H),
        (258, 3, 32),
        (259, 3, 1),
        (262, 3, 1),
        (273, 4, 0),
        (277, 3, 1),
        (278, 4, H),
        (279, 4, len(data)),
        (339, 3, 1),
    ]
    ifd_at = 8
    data_at = ifd_at + 2 + 12 * len(tags) + 4
    ifd = (
        struct.pack("<H", len(tags))
        + b"".join(
            struct.pack("<HHI", t, kind, 1)
            + (struct.pack("<I", data_at if t == 273 else val) if kind == 4 else struct.pack("<HH", val, 0))
            for t, kind, val in tags
        )
        + b"\0" * 4
    )
    p.write_bytes(b"II*\0" + struct.pack("<I", ifd_at) + ifd + data)


def _check_ramp(hr: np.ndarray) -> None:
    g = hr[H // 2, :, 0].astype(int)
    assert g[0] == 0 and g[-1] == 255 and np.all(np.diff(g) >= 0), g


TEXT = b"this is not an image, just some text\n" * 20

# ------------------------------------------------------------------ the table

_hr_small = f"at least {MIN_HR_SIDE} px per side"
_lr_small = f"at least {MIN_LR_SIDE} px per side"
_damaged = "damaged or truncated"
_sr = (H * SCALE, W * SCALE)

CASES: list[Case] = [
    Case("text_named_png", _bytes(TEXT), ".png", error("not an image"), error("not an image")),
    Case("empty", _bytes(b""), ".png", error("empty (0 bytes)"), error("empty (0 bytes)")),
    # Gradio's file type check (gr.File(file_types=["image"])) answers first; srcore says "not an image"
    Case(
        "text_file",
        _bytes(TEXT),
        ".txt",
        error("not an image in a supported format"),
        error("not an image in a supported format"),
        lib=error("not an image"),
    ),
    Case("truncated_png", _truncated("PNG", 0.5), ".png", error(_damaged), error(_damaged)),
    Case("truncated_jpeg", _truncated("JPEG", 0.6, quality=90), ".jpg", error(_damaged), error(_damaged)),
    Case("truncated_animated_gif", _truncated_animated_gif, ".gif", error(_damaged), error(_damaged)),
    Case(
        "unsupported_ico",
        _image(lambda: photo(48, 48), "ICO"),
        ".ico",
        error("not an image in a supported format"),
        error("not an image in a supported format"),
    ),
    Case("bomb_header_png", _bomb_header, ".png", error("decompression bomb"), error("decompression bomb")),
    Case(
        "bomb_zeros_png",
        _bomb_zeros,
        ".png",
        error(f"limit is {MAX_PIXELS / 1e6:.0f} megapixels"),
        error(f"limit is {MAX_PIXELS / 1e6:.0f} megapixels"),
    ),
    Case(
        "large_photo_6000x4000",
        _large_photo,
        ".jpg",
        ok((MAX_HR_SIDE, MAX_HR_SIDE), f"centre-cropped to {MAX_HR_SIDE}×{MAX_HR_SIDE} (limit {MAX_HR_SIDE} px"),
        ok((MAX_LR_SIDE * SCALE, MAX_LR_SIDE * SCALE), f"centre-cropped to {MAX_LR_SIDE}×{MAX_LR_SIDE} (limit"),
    ),
    Case("tiny_1x1", _image(lambda: photo(1, 1)), ".png", error(_hr_small), error(_lr_small)),
    Case("tiny_7x7", _image(lambda: photo(7, 7)), ".png", error(_hr_small), error(_lr_small)),
    Case(
        "below_hr_minimum",
        _image(lambda: photo(MIN_HR_SIDE - 1, 60)),
        ".png",
        error(_hr_small),
        ok(((MIN_HR_SIDE - 1) * SCALE, 60 * SCALE)),
    ),
    Case(
        "at_minimum",
        _image(lambda: photo(MIN_HR_SIDE, MIN_HR_SIDE)),
        ".png",
        ok((MIN_HR_SIDE, MIN_HR_SIDE)),
        ok((MIN_HR_SIDE * SCALE, MIN_HR_SIDE * SCALE)),
    ),
    Case(
        "lr_at_minimum",
        _image(lambda: photo(MIN_LR_SIDE, 20)),
        ".png",
        error(_hr_small),
        ok((MIN_LR_SIDE * SCALE, 20 * SCALE)),
    ),
    Case("below_lr_minimum", _image(lambda: photo(MIN_LR_SIDE - 1, 40)), ".png", error(_hr_small), error(_lr_small)),
    Case("thin_strip_2000x10", _image(lambda: photo(10, 2000)), ".png", error(_hr_small), error(_lr_small)),
    Case("grayscale", _image(lambda: photo(seed=9)[..., 1]), ".png", ok((H, W), "grayscale"), ok(_sr, "grayscale")),
    Case("rgba_transparent", _rgba, ".png", ok((H, W), "transparent"), ok(_sr, "transparent"), check=_check_rgba),
    Case("palette", _palette(False), ".png", ok((H, W)), ok(_sr)),
    Case("palette_transparent", _palette(True), ".png", ok((H, W), "transparent"), ok(_sr, "transparent")),
    Case("gray_16bit", _gray16, ".png", ok((H, W), "16-bit"), ok(_sr, "16-bit"), check=_check_gray16),
    # Pillow reduces a 48-bit RGB PNG to 8-bit RGB itself; the reader still says so (issue 16)
    Case("rgb_16bit", _rgb16, ".png", ok((H, W), "16 bits per channel"), ok(_sr, "16 bits per channel")),
    Case("cmyk_jpeg", _cmyk, ".jpg", ok((H, W), "CMYK"), ok(_sr, "CMYK"), check=_check_red),
    Case(
        "exif_rotated_jpeg",
        _exif_rotated,
        ".jpg",
        ok((80, 48), "EXIF orientation"),
        ok((80 * SCALE, 48 * SCALE), "EXIF orientation"),
        check=_check_rotated,
    ),
    # float, HDR and 32-bit inputs (issue 16): replaced / tone-mapped values are named, bit depths truly labelled
    Case(
        "float_nan_block_tiff",
        _float_tiff(_nan_block),
        ".tif",
        ok((H, W), "NaN (set to black)"),
        ok(_sr, "NaN (set to black)"),
        check=_check_nan,
    ),
    Case("float_inf_tiff", _float_tiff(_inf_block), ".tif", ok((H, W), "infinite"), ok(_sr, "infinite")),
    Case(
        "float_all_nan_tiff",
        _float_tiff(lambda: np.full((H, W), np.nan)),
        ".tif",
        error("no usable values"),
        error("no usable values"),
    ),
    Case(
        "hdr_float_tiff", _float_tiff(_hdr), ".tif", ok((H, W), "tone-mapped"), ok(_sr, "tone-mapped"), check=_check_hdr
    ),
    Case(
        "uint32_tiff",
        _uint32_tiff,
        ".tif",
        ok((H, W), "32-bit unsigned integer"),
        ok(_sr, "32-bit unsigned integer"),
        check=_check_ramp,
        forbid="16-bit",
    ),
    Case(
        "int32_tiff",
        _image(lambda: (np.broadcast_to(np.linspace(0, 2e9, W), (H, W))).astype(np.int32), "TIFF"),
        ".tif",
        ok((H, W), "32-bit integer"),
        ok(_sr, "32-bit integer"),
        check=_check_ramp,
        forbid="16-bit",
    ),
    Case("animated_gif", _animated_gif, ".gif", ok((H, W), "first frame"), ok(_sr, "first frame"), check=_check_red),
    Case("webp", _image(lambda: photo(seed=10), "WEBP", quality=90), ".webp", ok((H, W)), ok(_sr)),
    Case("tiff", _image(lambda: photo(seed=11), "TIFF"), ".tif", ok((H, W)), ok(_sr)),
    Case("bmp", _image(lambda: photo(seed=12), "BMP"), ".bmp", ok((H, W)), ok(_sr)),
    Case("png_named_jpg", _png_named_jpg, ".jpg", ok((H, W)), ok(_sr)),
    Case(
        "hr_not_multiple_of_4",
        _image(lambda: photo(H + 3, W + 2, seed=13)),
        ".png",
        ok((H, W), f"centre-cropped to {W}×{H} (sides must be multiples of {SCALE})"),
        ok(((H + 3) * SCALE, (W + 2) * SCALE)),
    ),
    Case(
        "over_upload_cap",
        _over_cap,
        ".png",
        error("exceeds the maximum file size"),
        error("exceeds the maximum file size"),
        api_only=True,
    ),
]

assert len({c.name for c in CASES}) == len(CASES)
