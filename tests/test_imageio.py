"""Reading images of any mode into 8-bit RGB, with clear errors for bad input."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from srcore.imageio import ImageLoadError, array_to_rgb8, list_images, load_image, png_bytes

pytestmark = pytest.mark.timeout(60)


def _rgb(h=20, w=30, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def _save(im: Image.Image, path, **kw):
    im.save(path, **kw)
    return path


def test_rgb_png_exact(tmp_path):
    a = _rgb()
    p = _save(Image.fromarray(a), tmp_path / "a.png")
    for src in (p, str(p), p.read_bytes(), Image.open(p), a):
        li = load_image(src)
        np.testing.assert_array_equal(li.array, a)
        assert li.array.dtype == np.uint8 and li.array.shape == (20, 30, 3)
        assert li.notes == []


def test_grayscale(tmp_path):
    g = _rgb()[..., 0]
    li = load_image(_save(Image.fromarray(g, "L"), tmp_path / "g.png"))
    assert li.array.shape == (20, 30, 3)
    for c in range(3):
        np.testing.assert_array_equal(li.array[..., c], g)
    assert any("grayscale" in n for n in li.notes)


def test_rgba_on_white(tmp_path):
    a = np.zeros((10, 12, 4), np.uint8)
    a[..., 0] = 200
    a[..., 3] = 255
    a[:, 6:, 3] = 0  # right half fully transparent
    a[:5, :6, 3] = 128
    li = load_image(_save(Image.fromarray(a, "RGBA"), tmp_path / "rgba.png"))
    assert li.array.shape == (10, 12, 3)
    assert (li.array[:, 6:] == 255).all()  # transparent -> white
    np.testing.assert_array_equal(li.array[5:, :6], np.broadcast_to([200, 0, 0], (5, 6, 3)))
    half = li.array[:5, :6]
    assert np.all(np.abs(half.astype(int) - [228, 127, 127]) <= 1)  # 50% over white
    assert any("transparent" in n for n in li.notes)


def test_palette(tmp_path):
    a = _rgb()
    pim = Image.fromarray(a).convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    li = load_image(_save(pim, tmp_path / "p.png"))
    np.testing.assert_array_equal(li.array, np.asarray(pim.convert("RGB")))
    # palette with a transparent entry
    pim.info["transparency"] = 0
    li2 = load_image(_save(pim, tmp_path / "pt.png", transparency=0))
    assert li2.array.shape == (20, 30, 3)


def test_16bit_png(tmp_path):
    v = np.linspace(0, 65535, 20 * 30).reshape(20, 30).astype(np.uint16)
    p = tmp_path / "i16.png"
    Image.fromarray(v).save(p)
    assert Image.open(p).mode.startswith("I")
    li = load_image(p)
    want = np.clip(np.round(v / 65535.0 * 255.0), 0, 255).astype(np.uint8)
    np.testing.assert_array_equal(li.array[..., 1], want)
    assert li.array[0, 0, 0] == 0 and li.array[-1, -1, 0] == 255
    assert any("16-bit" in n for n in li.notes)


def test_cmyk_jpeg(tmp_path):
    im = Image.new("CMYK", (24, 16), (0, 255, 255, 0))  # pure red in CMYK
    p = _save(im, tmp_path / "cmyk.jpg", quality=95)
    assert Image.open(p).mode == "CMYK"
    li = load_image(p)
    assert li.array.shape == (16, 24, 3)
    r, g, b = li.array.reshape(-1, 3).mean(axis=0)
    assert r > 200 and g < 60 and b < 60
    assert any("CMYK" in n for n in li.notes)


def test_exif_rotated_jpeg(tmp_path):
    a = np.zeros((20, 40, 3), np.uint8)
    a[:, :20] = (255, 0, 0)  # left half red
    a[:, 20:] = (0, 0, 255)  # right half blue
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    p = _save(Image.fromarray(a), tmp_path / "rot.jpg", exif=exif, quality=95)
    li = load_image(p)
    assert li.array.shape == (40, 20, 3)  # width and height swapped
    top, bottom = li.array[:15].reshape(-1, 3).mean(0), li.array[25:].reshape(-1, 3).mean(0)
    assert top[0] > 200 and top[2] < 60  # the left (red) side is now on top
    assert bottom[2] > 200 and bottom[0] < 60


def test_animated_gif_first_frame(tmp_path):
    frames = [Image.new("RGB", (16, 12), c) for c in ((255, 0, 0), (0, 0, 255), (0, 255, 0))]
    p = tmp_path / "anim.gif"
    frames[0].save(p, save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(p).n_frames == 3
    li = load_image(p)
    assert li.array.shape == (12, 16, 3)
    assert tuple(li.array[5, 5]) == (255, 0, 0)
    assert any("animated" in n and "first frame" in n for n in li.notes)


def test_webp_and_tiff(tmp_path):
    a = _rgb(seed=3)
    np.testing.assert_array_equal(load_image(_save(Image.fromarray(a), tmp_path / "a.webp", lossless=True)).array, a)
    np.testing.assert_array_equal(load_image(_save(Image.fromarray(a), tmp_path / "a.tif")).array, a)
    np.testing.assert_array_equal(load_image(_save(Image.fromarray(a), tmp_path / "a.bmp")).array, a)


@pytest.mark.parametrize(
    "data,match",
    [
        (b"", "empty"),
        (b"this is not an image at all, just some text\n" * 10, "not an image"),
        (b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n", "not an image"),
    ],
)
def test_bad_bytes(tmp_path, data, match):
    p = tmp_path / "bad.png"
    p.write_bytes(data)
    with pytest.raises(ImageLoadError, match=match):
        load_image(p)
    with pytest.raises(ImageLoadError):
        load_image(data)


def test_truncated_png(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(_rgb(64, 64)).save(buf, "PNG")
    p = tmp_path / "trunc.png"
    p.write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(ImageLoadError, match="damaged or truncated"):
        load_image(p)


def test_missing_file_and_pixel_cap(tmp_path):
    with pytest.raises(ImageLoadError, match="cannot read"):
        load_image(tmp_path / "nope.png")
    p = _save(Image.fromarray(_rgb(50, 50)), tmp_path / "big.png")
    with pytest.raises(ImageLoadError, match="megapixels"):
        load_image(p, max_pixels=1000)


def test_array_to_rgb8():
    g16 = np.full((4, 5), 65535, np.uint16)
    assert (array_to_rgb8(g16) == 255).all() and array_to_rgb8(g16).shape == (4, 5, 3)
    f = np.full((4, 5, 3), 0.5, np.float32)
    assert (array_to_rgb8(f) == 128).all()
    rgba = np.zeros((2, 2, 4), np.uint8)
    assert (array_to_rgb8(rgba) == 255).all()  # fully transparent -> white
    assert (array_to_rgb8(np.ones((3, 3), bool)) == 255).all()
    with pytest.raises(ImageLoadError):
        array_to_rgb8(np.zeros((3, 3, 2), np.uint8))


def test_list_images(tmp_path):
    (tmp_path / "sub").mkdir()
    for name in ("b.png", "a.JPG", "sub/c.webp", "notes.txt"):
        (tmp_path / name).write_bytes(b"x")
    assert [p.name for p in list_images(tmp_path)] == ["a.JPG", "b.png", "c.webp"]
    with pytest.raises(FileNotFoundError):
        list_images(tmp_path / "missing")


# ---------------------------------------------------------------- issue 16: no silently wrong images


def test_float_nan_and_inf_are_replaced_and_named():
    a = np.full((10, 10), 0.5, np.float32)
    a[:2] = np.nan
    a[2:3] = np.inf
    li = load_image(a)
    assert (li.array[:2] == 0).all() and (li.array[2:3] == 128).all() and (li.array[3:] == 128).all()
    assert any("20.0 % of the values were NaN" in n for n in li.notes), li.notes
    assert any("infinite" in n for n in li.notes), li.notes
    with pytest.raises(ImageLoadError, match="no usable values"):
        load_image(np.full((4, 4, 3), np.nan))


def test_hdr_float_is_tone_mapped_not_clipped():
    a = np.linspace(0, 12, 100, dtype=np.float32).reshape(10, 10)
    li = load_image(a)
    g = li.array[..., 0].ravel()
    assert g[-1] == 255 and np.all(np.diff(g.astype(int)) >= 0)
    assert (g == 255).sum() <= 2, "only the brightest values reach white"
    assert any("tone-mapped" in n and "up to 12" in n for n in li.notes), li.notes
    whole = load_image(np.arange(256, dtype=np.float64).reshape(16, 16))  # float holding 8-bit levels
    assert whole.array[-1, -1, 0] == 255 and whole.array[0, 1, 0] == 1
    assert any("8-bit levels" in n for n in whole.notes)


def test_wide_integer_arrays_need_a_known_depth():
    with pytest.raises(ImageLoadError, match="no known bit depth"):
        load_image(np.full((4, 4), 70000, np.int32))
    assert (load_image(np.full((4, 4), 200, np.int64)).array == 200).all()


def test_bit_depth_labels(tmp_path):
    i32 = np.linspace(0, 2e9, 200).reshape(10, 20).astype(np.int32)
    p = tmp_path / "i32.tif"
    Image.fromarray(i32).save(p)
    li = load_image(p)
    assert any("32-bit integer" in n for n in li.notes) and not any("16-bit" in n for n in li.notes), li.notes
    assert li.array[0, 0, 0] == 0 and li.array[-1, -1, 0] == 255


def test_exif_rotation_is_noted(tmp_path):
    exif = Image.Exif()
    exif[0x0112] = 3
    p = _save(Image.fromarray(_rgb()), tmp_path / "r.jpg", exif=exif)
    assert any("rotated 180°" in n and "EXIF" in n for n in load_image(p).notes)
    plain = _save(Image.fromarray(_rgb()), tmp_path / "plain.jpg")
    assert load_image(plain).notes == []


@pytest.mark.parametrize("shape", [(1, 1, 3), (5, 7), (33, 17, 3), (8, 9, 4), (64, 48, 3)])
def test_png_bytes_decodes_to_the_same_pixels(shape):
    a = np.random.default_rng(sum(shape)).integers(0, 256, shape, dtype=np.uint8)
    im = Image.open(io.BytesIO(png_bytes(a)))
    assert im.format == "PNG" and im.mode == ("L" if len(shape) == 2 else {3: "RGB", 4: "RGBA"}[shape[2]])
    assert np.array_equal(np.asarray(im), a)


def test_png_in_blocks_of_rows_decodes_to_the_same_pixels():
    """A wide image goes through in several blocks of rows (several IDAT chunks)."""
    a = np.random.default_rng(3).integers(0, 256, (700, 1500, 3), dtype=np.uint8)
    a[300:] = a[299]  # runs the filter turns into zeros, across a block boundary
    b = png_bytes(a)
    assert b.count(b"IDAT") > 2
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(b))), a)


def test_png_without_isal_is_the_same_image(monkeypatch):
    """Where ISA-L is not installed the writer falls back to the stdlib's zlib: same pixels."""
    import srcore.imageio as imageio

    a = np.random.default_rng(5).integers(0, 256, (40, 30, 3), dtype=np.uint8)
    fast = png_bytes(a)
    monkeypatch.setattr(imageio, "_isal_zlib", None)
    slow = png_bytes(a)
    for b in (fast, slow):
        assert np.array_equal(np.asarray(Image.open(io.BytesIO(b))), a)


def test_png_bytes_refuses_what_png_cannot_hold_in_8_bits():
    with pytest.raises(ValueError, match="8-bit"):
        png_bytes(np.zeros((4, 4, 3), np.float32))
    with pytest.raises(ValueError, match="8-bit"):
        png_bytes(np.zeros((4, 4, 2), np.uint8))


def test_png_bytes_is_no_larger_than_pillows_fast_png():
    """The fixed Up filter must not cost file size against Pillow's level 1 (adaptive filters)."""
    from skimage import data

    a = data.astronaut()
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, format="PNG", compress_level=1)
    assert len(png_bytes(a)) <= len(buf.getvalue()) * 1.05
