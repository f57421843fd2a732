"""``python -m srcore.upscale``: files and folders in, PNGs out; bad inputs skipped with a reason."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from bad_inputs import CASES
from helpers import photo
from PIL import Image

from srcore.checkpoint import save_generator
from srcore.imageio import ImageLoadError, load_image
from srcore.inference import upscale
from srcore.models import Generator, GeneratorConfig
from srcore.upscale import DEFAULT_MAX_OUTPUT_MP, MIN_SIDE, main

pytestmark = pytest.mark.timeout(120)


@pytest.fixture()
def ckpt(tmp_path):
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(n1=16, n2=8, n3=8))
    return save_generator(g, tmp_path / "tiny.safetensors", name="tiny"), g


def test_files_and_folders_to_pngs(tmp_path, ckpt, capsys):
    path, g = ckpt
    src = tmp_path / "in"
    (src / "sub").mkdir(parents=True)
    a, b = photo("coffee", (30, 41)), photo("chelsea", (25, 20))
    Image.fromarray(a).save(src / "a.png")
    Image.fromarray(b).save(src / "sub" / "b.jpg", quality=95)
    out = tmp_path / "out"
    rc = main(
        [str(src), "--model", str(path), "--model", "bicubic", "--out", str(out), "--tile", "8", "--no-progress"]
        + ["--source", "benchmark"]
    )
    assert rc == 0, capsys.readouterr().err
    got = sorted(p.name for p in out.iterdir())
    assert got == ["a_bicubic_x4.png", "a_tiny_x4.png", "b_bicubic_x4.png", "b_tiny_x4.png"]
    sr = np.asarray(Image.open(out / "a_tiny_x4.png"))
    assert np.array_equal(sr, upscale(g, a, tile=None)) or np.abs(sr.astype(int) - upscale(g, a, tile=None)).max() <= 1
    assert np.array_equal(np.asarray(Image.open(out / "a_bicubic_x4.png")), upscale(None, a))
    assert np.asarray(Image.open(out / "b_tiny_x4.png")).shape == (100, 80, 3)


def test_bad_inputs_are_skipped_with_reasons(tmp_path, ckpt, capsys):
    path, _ = ckpt
    src = tmp_path / "in"
    src.mkdir()
    Image.fromarray(photo("coffee", (20, 20))).save(src / "good.png")
    (src / "empty.png").write_bytes(b"")
    (src / "text.jpg").write_text("not really a jpeg")
    Image.fromarray(photo("coffee", (1, 9))).save(src / "sliver.png")
    Image.fromarray(photo("coffee", (64, 64))).save(src / "big.png")
    out = tmp_path / "out"
    rc = main([str(src), "--model", str(path), "--out", str(out), "--max-output-mp", "0.02", "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 1
    assert "empty.png: the file is empty" in err
    assert "text.jpg: not an image" in err
    assert "sliver.png: the image is 9x1; it needs at least 2 px per side" in err
    assert "big.png: the image is 64x64; x4 would make 256x256 (0 MP), above the limit of 0.02 MP" in err
    assert "4 of 5 input(s) could not be upscaled" in err and "Traceback" not in err
    assert [p.name for p in out.iterdir()] == ["good_tiny_x4.png"]  # nothing half-written


@pytest.mark.parametrize("model,needle", [("nope", "unknown model 'nope'"), ("CORRUPT", "corrupt.safetensors")])
def test_bad_model_is_a_usage_error(tmp_path, model, needle, capsys):
    bad = tmp_path / "corrupt.safetensors"
    bad.write_bytes(b"\x00" * 100)
    Image.fromarray(photo("coffee", (20, 20))).save(tmp_path / "x.png")
    rc = main(
        [str(tmp_path / "x.png"), "--model", str(bad) if model == "CORRUPT" else model, "--out", str(tmp_path / "o")]
    )
    err = capsys.readouterr().err
    assert rc == 2 and needle in err and "Traceback" not in err


# ---------------------------------------------------------------- the bad-input table through the CLI


@pytest.mark.parametrize("case", [c for c in CASES if not c.api_only], ids=str)
def test_bad_input_table_through_the_cli(case, tmp_path, capsys):
    """Every odd file of ``tests/bad_inputs.py`` as an LR input to the CLI: a PNG of 4x the size
    with the reader's notes printed, or one line saying why it was skipped (never a traceback)."""
    path = case.make(tmp_path)
    out = tmp_path / "out"
    rc = main([str(path), "--model", "bicubic", "--out", str(out), "--no-progress"])
    cap = capsys.readouterr()
    assert "Traceback" not in cap.err + cap.out
    try:
        li = load_image(path)
    except ImageLoadError as e:
        assert rc == 1 and f"skipped {path}: {e}" in cap.err, cap.err
        return
    h, w = li.array.shape[:2]
    if min(h, w) < MIN_SIDE:
        assert rc == 1 and f"needs at least {MIN_SIDE} px per side" in cap.err, cap.err
    elif h * w * 16 / 1e6 > DEFAULT_MAX_OUTPUT_MP:
        assert rc == 1 and f"above the limit of {DEFAULT_MAX_OUTPUT_MP:g} MP output" in cap.err, cap.err
        assert "--max-output-mp" in cap.err and not list(out.glob("*.png"))
    else:
        assert rc == 0, cap.err
        sr = np.asarray(Image.open(out / f"{path.stem}_bicubic_x4.png"))
        assert sr.shape == (4 * h, 4 * w, 3)
        for note in li.notes:
            assert note in cap.out
        if case.forbid is not None:
            assert case.forbid not in cap.out, cap.out
        want = case.expected(as_lr=True)
        if want.ok and want.size:
            assert sr.shape[:2] == want.size  # the app's own answer for this file as an LR input


# ---------------------------------------------------------------- issue 16: the CLI never overwrites


def test_same_stem_from_two_folders_gets_a_suffix(tmp_path, capsys):
    """``a/photo.webp b/photo.jpg --out out``: both outputs kept, the clash said, exit status 3."""
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    pa, pb = photo("coffee", (20, 24)), photo("chelsea", (16, 12))
    Image.fromarray(pa).save(tmp_path / "a" / "photo.webp", lossless=True)
    Image.fromarray(pb).save(tmp_path / "b" / "photo.png")
    out = tmp_path / "out"
    rc = main(
        [
            str(tmp_path / "a" / "photo.webp"),
            str(tmp_path / "b" / "photo.png"),
            "--model",
            "bicubic",
            "--out",
            str(out),
            "--no-progress",
        ]
    )
    err = capsys.readouterr().err
    assert rc == 3, err
    assert sorted(p.name for p in out.iterdir()) == ["photo-2_bicubic_x4.png", "photo_bicubic_x4.png"]
    assert np.asarray(Image.open(out / "photo_bicubic_x4.png")).shape == (80, 96, 3)
    assert np.asarray(Image.open(out / "photo-2_bicubic_x4.png")).shape == (64, 48, 3)
    assert "photo_bicubic_x4.png is already taken" in err and "written under a numbered name" in err


def test_existing_output_is_never_replaced(tmp_path, capsys):
    src = tmp_path / "x.png"
    Image.fromarray(photo("coffee", (20, 20))).save(src)
    out = tmp_path / "out"
    out.mkdir()
    (out / "x_bicubic_x4.png").write_bytes(b"precious")
    rc = main([str(src), "--model", "bicubic", "--out", str(out), "--no-progress"])
    assert rc == 3, capsys.readouterr().err
    assert (out / "x_bicubic_x4.png").read_bytes() == b"precious"
    assert np.asarray(Image.open(out / "x-2_bicubic_x4.png")).shape == (80, 80, 3)
    # --no-rename: stops before writing anything, says why, usage-error status
    rc = main([str(src), "--model", "bicubic", "--out", str(out), "--no-progress", "--no-rename"])
    err = capsys.readouterr().err
    assert rc == 2 and "stopped before writing anything" in err and "x_bicubic_x4.png is already taken" in err
    assert sorted(p.name for p in out.iterdir()) == ["x-2_bicubic_x4.png", "x_bicubic_x4.png"]


def test_a_file_appearing_mid_run_is_not_replaced(tmp_path):
    from srcore.upscale import UpscaleError, _write_new

    dst = tmp_path / "o.png"
    dst.write_bytes(b"first")
    with pytest.raises(UpscaleError, match="left as it is"):
        _write_new(dst, lambda tmp: Path(tmp).write_bytes(b"second"))
    assert dst.read_bytes() == b"first" and [p.name for p in tmp_path.iterdir()] == ["o.png"]


def test_source_unknown_runs_the_fitted_treatment(tmp_path, ckpt, capsys, monkeypatch):
    """--source unknown (the default) applies checkpoints/prefilter.json, read when the run starts;
    without that file the run stops with a one-line error naming the fit command."""
    import json

    from srcore import paths, prefilter

    path, g = ckpt
    ck = tmp_path / "ck"
    ck.mkdir()
    monkeypatch.setattr(paths, "CHECKPOINTS", ck)
    a = photo("coffee", (30, 41))
    Image.fromarray(a).save(tmp_path / "a.png")
    rc = main([str(tmp_path / "a.png"), "--model", str(path), "--out", str(tmp_path / "o1"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 2 and "error:" in err and "python -m srcore.prefilter fit" in err and "Traceback" not in err
    table = {"sigma": {"tiny": 0.5}, "alpha": {"tiny": 0.7}, "shared_sigma": 0.9, "shared_alpha": 1.0, "images": []}
    (ck / prefilter.FILE_NAME).write_text(json.dumps(table))
    rc = main([str(tmp_path / "a.png"), "--model", str(path), "--out", str(tmp_path / "o2"), "--no-progress"])
    err = capsys.readouterr().err
    assert rc == 0, err
    assert "Gaussian pre-filter σ = 0.5 LR px, output 70 % model + bicubic" in err
    sr = np.asarray(Image.open(tmp_path / "o2" / "a_tiny_x4.png"))
    want = prefilter.blend(upscale(g, prefilter.gaussian_blur(a, 0.5)), upscale(None, a), 0.7)
    assert np.abs(sr.astype(int) - want.astype(int)).max() <= 1
    assert np.abs(sr.astype(int) - upscale(g, a).astype(int)).max() > 4  # not the untreated output
