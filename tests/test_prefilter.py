"""The unknown-source treatment (``srcore.prefilter``): the blur, the fitted table read at run time,
the fit command, and the shipped table's provenance (held-out training images, current checkpoints)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import photo
from PIL import Image

from srcore import paths, prefilter
from srcore.checkpoint import read_metadata, save_generator
from srcore.inference import upscale
from srcore.metrics import Reference, mod_crop
from srcore.models import Generator, GeneratorConfig
from srcore.resize import bicubic_x4, shrink_x4_cubic_no_antialias
from srcore.zoo import MODEL_NAMES

pytestmark = pytest.mark.timeout(300)
SHIPPED = paths.REPO_ROOT / "checkpoints"


@pytest.fixture()
def tiny(tmp_path):
    torch.manual_seed(0)
    g = Generator(GeneratorConfig(n1=16, n2=8, n3=8))
    return save_generator(g, tmp_path / "tiny.safetensors", name="tiny"), g


@pytest.fixture()
def table_dir(tmp_path, monkeypatch):
    """An empty checkpoints folder: srcore reads prefilter.json from there at run time."""
    d = tmp_path / "ck"
    d.mkdir()
    monkeypatch.setattr(paths, "CHECKPOINTS", d)
    return d


def write_table(d: Path, **kw) -> Path:
    table = {"sigma": {}, "alpha": {}, "shared_sigma": 0.0, "shared_alpha": 1.0, "images": ["T91/x.png"], **kw}
    p = d / prefilter.FILE_NAME
    p.write_text(json.dumps(table))
    return p


def test_blur_keeps_flat_images_and_removes_high_frequencies():
    flat = np.full((20, 30, 3), 77, np.uint8)
    assert np.array_equal(prefilter.gaussian_blur(flat, 0.7), flat)
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    assert prefilter.gaussian_blur(noise, 0) is noise
    b5, b9 = prefilter.gaussian_blur(noise, 0.5), prefilter.gaussian_blur(noise, 0.9)
    assert b5.shape == noise.shape and b5.dtype == np.uint8
    assert noise.std() > b5.std() > b9.std()
    # an impulse spreads as a symmetric kernel summing to one
    imp = np.zeros((15, 15, 3), np.uint8)
    imp[7, 7] = 200
    k = prefilter.gaussian_blur(imp, 0.8)[..., 0].astype(float)
    assert abs(k.sum() - 200) < 6 and np.allclose(k, k.T) and np.allclose(k, k[::-1, ::-1])
    assert k[7, 7] == k.max() and k[7, 7] < 200


def test_the_banded_blend_equals_the_whole_image_blend():
    lr = photo("astronaut", (150, 37))
    rng = np.random.default_rng(3)
    sr = rng.integers(0, 256, (600, 148, 3), dtype=np.uint8)
    want = prefilter.blend(sr.copy(), bicubic_x4(lr), 0.6)
    got = prefilter.blend_bicubic(sr.copy(), lr, 0.6, rows=16)
    assert np.array_equal(got, want)


def test_the_table_is_read_at_run_time(table_dir, tiny):
    _, g = tiny
    lr = photo("coffee", (24, 32))
    with pytest.raises(prefilter.PrefilterError, match="python -m srcore.prefilter fit"):
        upscale(g, lr, source="unknown", key="tiny")
    plain = upscale(g, lr)
    assert np.array_equal(upscale(g, lr, source="benchmark"), plain)  # the standard path is untouched
    write_table(table_dir)  # σ 0, α 1: the same as no treatment
    assert np.array_equal(upscale(g, lr, source="unknown", key="tiny"), plain)
    write_table(table_dir, sigma={"tiny": 0.0}, alpha={"tiny": 0.0})  # all bicubic
    assert np.array_equal(upscale(g, lr, source="unknown", key="tiny"), bicubic_x4(lr))
    p = write_table(table_dir, shared_sigma=0.6, shared_alpha=1.0)  # a model the fit did not see: the shared pair
    assert prefilter.params_for("tiny") == (0.6, 1.0)
    want = upscale(g, prefilter.gaussian_blur(lr, 0.6))
    assert np.array_equal(upscale(g, lr, source="unknown", key="tiny"), want)
    assert "σ = 0.6 LR px" in prefilter.describe("unknown", ["tiny"])
    assert "no pre-filter" in prefilter.describe("benchmark")
    assert np.array_equal(upscale(None, lr, source="unknown"), bicubic_x4(lr))  # bicubic is never treated
    p.write_text("{not json")
    with pytest.raises(prefilter.PrefilterError, match="not a valid pre-filter table"):
        prefilter.params_for("tiny")
    with pytest.raises(ValueError, match="unknown source"):
        upscale(g, lr, source="cartoon")


def test_fit_picks_the_best_pair_of_its_grid(tmp_path, table_dir, tiny, capsys):
    path, g = tiny
    imgs = []
    for i, name in enumerate(("astronaut", "coffee")):
        f = tmp_path / "train" / f"img{i}.png"
        f.parent.mkdir(exist_ok=True)
        Image.fromarray(photo(name, (64, 72))).save(f)
        imgs.append(f)
    out = tmp_path / "pf.json"
    args = ["fit", "--model", str(path), "--sigmas", "0", "0.6", "--alphas", "0.5", "1", "--no-progress"]
    rc = prefilter.main([*args, "--out", str(out), *sum((["--image", str(f)] for f in imgs), [])])
    assert rc == 0, capsys.readouterr().err
    t = json.loads(out.read_text())
    assert t["images"] == ["train/img0.png", "train/img1.png"]
    surf = np.array(t["psnr_y"]["tiny"])
    assert surf.shape == (2, 2)
    i, j = np.unravel_index(int(np.argmax(surf)), surf.shape)
    assert (t["sigma"]["tiny"], t["alpha"]["tiny"]) == ([0.0, 0.6][i], [0.5, 1.0][j])
    # the recorded figure is what upscale(source="unknown") then delivers, from the written table
    (table_dir / prefilter.FILE_NAME).write_text(out.read_text())
    got = []
    for f in imgs:
        hr = mod_crop(np.asarray(Image.open(f).convert("RGB")), 4)
        sr = upscale(g, shrink_x4_cubic_no_antialias(hr), source="unknown", key="tiny")
        got.append(Reference(hr).score(sr, keys=("psnr_y",))["psnr_y"])
    assert np.mean(got) == pytest.approx(t["summary"]["tiny"]["fitted"], abs=1e-3)
    assert t["checkpoints"]["tiny"]["sha256"] and prefilter.stale(t, [str(path)]) == []


def test_fit_errors_are_one_line(tmp_path, capsys):
    assert prefilter.main(["fit", "--image", str(tmp_path / "nope.png"), "--model", "srcnn_mse"]) == 2
    assert capsys.readouterr().err.startswith("error: ")
    with pytest.raises(SystemExit) as e:
        prefilter.main(["fit", "--model", "nosuch"])
    assert e.value.code == 2
    assert "unknown model" in capsys.readouterr().err
    assert prefilter.main(["show", "--path", str(tmp_path / "none.json")]) == 2


def test_shipped_table_is_fitted_on_held_out_training_images_of_these_checkpoints():
    p = SHIPPED / prefilter.FILE_NAME
    if not all((SHIPPED / f"{m}.safetensors").is_file() for m in MODEL_NAMES):
        pytest.skip("the shipped checkpoints are not all present")
    t = json.loads(p.read_text())
    assert set(t["sigma"]) == set(MODEL_NAMES) == set(t["alpha"])
    for m in MODEL_NAMES:
        held = read_metadata(SHIPPED / f"{m}.safetensors").get("held_out") or []
        assert set(t["images"]) <= set(held), f"{m}: the fit used images {m} was trained on"
    assert not any(Path(i).parts[0] in ("Set5", "Set14", "Kodak24") for i in t["images"])
    changed = prefilter.stale(t, list(MODEL_NAMES))
    assert not changed, f"{changed} changed since the fit: re-run `python -m srcore.prefilter fit`"


def test_evaluate_scores_the_treatment_next_to_the_untreated_column(tmp_path, table_dir, tiny):
    from srcore.evaluate import UNKNOWN_SOURCE_COLUMNS, evaluate, markdown_table

    if not (SHIPPED / "lpips_alex_lin.safetensors").is_file():
        pytest.skip("LPIPS weights missing from checkpoints/")
    path, _ = tiny
    s = tmp_path / "set"
    s.mkdir()
    for i, name in enumerate(("astronaut", "chelsea")):
        Image.fromarray(photo(name, (48, 64))).save(s / f"{i}.png")
    write_table(table_dir, sigma={"tiny": 0.6}, alpha={"tiny": 0.8})
    b = evaluate({"S": s}, ["bicubic", str(path)], progress=False)
    assert list(b["degradations"])[:2] == ["cubic_no_aa", "jpeg75"] and set(UNKNOWN_SOURCE_COLUMNS) <= set(
        b["degradations"]
    )
    bic, tin = (b["sets"]["S"]["models"][m]["degradations"] for m in ("bicubic", str(path)))
    assert bic["cubic_no_aa_unknown"] == bic["cubic_no_aa"]  # bicubic is never treated
    assert tin["cubic_no_aa_unknown"]["psnr_y"] != tin["cubic_no_aa"]["psnr_y"]
    assert tin["cubic_no_aa_jpeg75_unknown"]["psnr_y"] != tin["cubic_no_aa_jpeg75"]["psnr_y"]
    assert "PSNR (Y) cubic_no_aa_unknown" in markdown_table(b)
