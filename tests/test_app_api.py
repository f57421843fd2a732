"""End-to-end API tests of the dashboard: ``python app.py`` on a free local port, driven by gradio_client.

Uses the shipped checkpoints in ``checkpoints/`` when all four are there; otherwise makes untrained
ones in a temporary folder (pointed to with SR_CHECKPOINTS) so the suite still runs.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from app_helpers import MODELS, PANELS, PERCEPTUAL, UPLOAD_LR, checkpoint_dir, compare, launch, read, stop
from PIL import Image

pytestmark = pytest.mark.timeout(900)


@pytest.fixture(scope="module")
def app_server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("app")
    ckpt = checkpoint_dir(tmp)
    proc, url = launch(ckpt, tmp / "app.log")
    yield url, ckpt
    stop(proc)


@pytest.fixture(scope="module")
def models(app_server):
    from srcore.checkpoint import load_generator_file

    return {m: load_generator_file(app_server[1] / f"{m}.safetensors")[0] for m in MODELS}


def test_example_compare_panels_and_metrics(client, models):
    import zipfile

    from skimage import data

    from srcore.data import to_tensor
    from srcore.inference import upscale
    from srcore.metrics import mod_crop, psnr, shave, ssim
    from srcore.models.feature_nets import LPIPS
    from srcore.resize import downscale_x4

    r = compare(client)
    info, files = r["info"], r["files"]
    assert info["hr_size"] == [512, 512] and info["lr_size"] == [128, 128]
    assert info["panels"] == list(PANELS)
    # downloads: the LR as fed to the models, each output clean and named <image>_<model>_x4.png
    names = {k: Path(f).name for k, f in files.items()}
    assert names["lr"] == "Astronaut_lr.png" and names["hr"] == "Astronaut_hr.png"
    for p in ("bicubic", *MODELS):
        assert names[p] == f"Astronaut_{p}_x4.png"
    hr = mod_crop(data.astronaut())
    lr = downscale_x4(hr)
    np.testing.assert_array_equal(read(files["hr"]), hr)
    np.testing.assert_array_equal(read(files["lr"]), lr)
    np.testing.assert_array_equal(read(files["bicubic"]), upscale(None, lr))
    with zipfile.ZipFile(files["zip"]) as z:
        inside = set(z.namelist())
        meta = json.loads(z.read("metrics.json"))
        readme = z.read("README.txt").decode()
    assert {"metrics.json", "README.txt"} <= inside
    assert {n for k, n in names.items() if k != "zip"} <= inside
    assert "as fed to the models" in readme and meta["scores"].keys() == info["scores"].keys()
    lp = LPIPS()
    for p in ("bicubic", *MODELS):
        sr = read(files[p])
        if p in MODELS:
            ref = upscale(models[p], lr)
            assert np.abs(sr.astype(int) - ref.astype(int)).max() <= 1, p
        got = info["scores"][p]
        assert got["psnr_y"] == pytest.approx(psnr(sr, hr), rel=1e-12, abs=1e-12), p
        assert got["ssim_y"] == pytest.approx(ssim(sr, hr), rel=1e-12, abs=1e-12), p
        assert got["psnr_rgb"] == pytest.approx(psnr(sr, hr, y_channel=False), rel=1e-12, abs=1e-12), p
        a, b = (to_tensor(shave(v, 4)).unsqueeze(0) for v in (sr, hr))
        assert got["lpips"] == pytest.approx(float(lp(a, b)), abs=1e-4), p
    best = max(("bicubic", *MODELS), key=lambda p: info["scores"][p]["psnr_y"])
    assert info["best"]["psnr_y"] == best
    # the same files again through /downloads (the session's last comparison)
    again = client.predict(api_name="/downloads")
    assert sorted(Path(f).name for f in again) == sorted(names.values())


def test_models_and_upscale_endpoints(client, models, tmp_path):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    from srcore.inference import upscale

    listed = client.predict(api_name="/models")
    assert [m["key"] for m in listed["models"]] == ["bicubic", *MODELS]
    rng = np.random.default_rng(1)
    lr = rng.integers(0, 256, (40, 52, 3), dtype=np.uint8)
    path = tmp_path / "tiny.png"
    Image.fromarray(lr).save(path)
    out = client.predict(handle_file(str(path)), "srgan_pl", "benchmark", api_name="/upscale")
    assert Path(out).name == "tiny_srgan_pl_x4.png"
    sr = read(out)
    assert sr.shape == (160, 208, 3)
    assert np.abs(sr.astype(int) - upscale(models["srgan_pl"], lr).astype(int)).max() <= 1
    # the default source is "unknown": the fitted pre-filter and blend of srcore.prefilter
    treated = read(client.predict(handle_file(str(path)), "srgan_pl", api_name="/upscale"))
    want = upscale(models["srgan_pl"], lr, source="unknown", key="srgan_pl").astype(int)
    assert np.abs(treated.astype(int) - want).max() <= 1 and np.abs(treated.astype(int) - sr).max() > 8
    with pytest.raises(AppError, match="unknown source"):
        client.predict(handle_file(str(path)), "srgan_pl", "cartoon", api_name="/upscale")
    np.testing.assert_array_equal(
        read(client.predict(handle_file(str(path)), "Bicubic", api_name="/upscale")), upscale(None, lr)
    )
    with pytest.raises(AppError) as ei:
        client.predict(handle_file(str(path)), "no_such_model", api_name="/upscale")
    assert "unknown model" in str(ei.value) and "srgan_pl" in str(ei.value)


def test_blend_endpoint_ends_are_the_arms_upscale_bit_for_bit(client, tmp_path):
    """``/blend`` (issue 22): α = 0 and 1 give A's and B's ``/upscale`` PNG exactly; α = 0.5 neither."""
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    rng = np.random.default_rng(7)
    # a photo-like input large enough that the compare's strips run (several workers)
    lr = np.clip(rng.normal(120, 40, (150, 170, 3)), 0, 255).astype(np.uint8)
    path = tmp_path / "blendme.png"
    Image.fromarray(lr).save(path)
    img = handle_file(str(path))
    # /blend runs the input untreated (the real-photo treatment is fitted per arm, not for blends), so
    # its ends are /upscale's with source "benchmark" (README, The API)
    up = {m: read(client.predict(img, m, "benchmark", api_name="/upscale")) for m in ("srcnn_mse", "srgan_pl")}
    ends = {al: client.predict(img, "srcnn_mse", "srgan_pl", al, api_name="/blend") for al in (0.0, 1.0, 0.5)}
    assert Path(ends[0.5]).name == "blendme_srcnn_mse_to_srgan_pl_alpha050_x4.png"
    np.testing.assert_array_equal(read(ends[0.0]), up["srcnn_mse"])
    np.testing.assert_array_equal(read(ends[1.0]), up["srgan_pl"])
    mid = read(ends[0.5])
    assert mid.shape == (600, 680, 3)
    assert not np.array_equal(mid, up["srcnn_mse"]) and not np.array_equal(mid, up["srgan_pl"])
    for bad, needle in (
        (("srcnn_mse", "srgan_pl", 1.5), "α must be"),
        (("srcnn_mse", "bicubic", 0.5), "unknown model"),
    ):
        with pytest.raises(AppError) as ei:
            client.predict(img, *bad, api_name="/blend")
        assert needle in str(ei.value)


def test_upload_hr_is_mod_cropped(client, tmp_path):
    from gradio_client import handle_file
    from skimage import data

    img = data.chelsea()  # 300 x 451: width is not a multiple of 4
    path = tmp_path / "cat.png"
    Image.fromarray(img).save(path)
    r = compare(client, upload=handle_file(str(path)), chosen=("srcnn_mse",))
    assert r["info"]["hr_size"] == [300, 448]
    assert read(r["files"]["hr"]).shape == (300, 448, 3)
    assert set(r["info"]["scores"]) == {"bicubic", "srcnn_mse"}
    assert "srgan_pl" not in r["files"]  # not chosen, not run


def test_upload_lr_has_no_reference_metrics(client, tmp_path):
    from gradio_client import handle_file

    rng = np.random.default_rng(0)
    path = tmp_path / "small.png"
    lr = rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)
    Image.fromarray(lr).save(path)
    r = compare(client, upload=handle_file(str(path)), mode=UPLOAD_LR)
    assert r["info"]["scores"] == {} and r["info"]["hr_size"] is None
    assert "no reference metrics" in r["status"].lower()
    assert "input treated as a real photo: Gaussian pre-filter" in r["status"]  # the one line naming the treatment
    np.testing.assert_array_equal(read(r["files"]["lr"]), lr)  # the LR itself, as fed to the models
    for p in ("bicubic", *MODELS):
        assert read(r["files"][p]).shape == (160, 224, 3), p
    assert "hr" not in r["files"]


def test_upload_lr_wider_than_the_old_cap_is_upscaled_whole(client, tmp_path):
    """LR inputs up to 1024 px a side are upscaled whole (tiled), not centre-cropped."""
    from gradio_client import handle_file

    rng = np.random.default_rng(2)
    path = tmp_path / "wide.png"
    Image.fromarray(rng.integers(0, 255, (16, 700, 3), dtype=np.uint8)).save(path)
    r = compare(client, upload=handle_file(str(path)), mode=UPLOAD_LR, chosen=("srcnn_mse",))
    assert r["info"]["lr_size"] == [16, 700] and not any("crop" in n for n in r["info"]["notes"])
    assert read(r["files"]["srcnn_mse"]).shape == (64, 2800, 3)


@pytest.mark.parametrize("content,needle", [(b"this is not an image", "not an image"), (b"", "empty")])
def test_bad_file_gives_clear_error(client, tmp_path, content, needle):
    from gradio_client import handle_file
    from gradio_client.exceptions import AppError

    path = tmp_path / "broken.png"
    path.write_bytes(content)
    with pytest.raises(AppError) as ei:
        compare(client, upload=handle_file(str(path)))
    msg = str(ei.value)
    assert "Could not use that file" in msg and needle in msg
    assert "Traceback" not in msg


def test_app_starts_with_missing_checkpoint(tmp_path):
    """A missing and a corrupt checkpoint: the app still starts, runs the rest and names them."""
    from gradio_client import Client

    src = checkpoint_dir(tmp_path)
    d = tmp_path / "partial"
    d.mkdir()
    for f in PERCEPTUAL + ("srcnn_mse.safetensors", "srgan_mse.safetensors"):
        shutil.copy(src / f, d)
    (d / "srgan_pl.safetensors").write_bytes(b"garbage, not safetensors")
    proc, url = launch(d, tmp_path / "app.log")
    try:
        c = Client(url, verbose=False)
        r = compare(c, chosen=("srcnn_mse", "srgan_mse"))
        assert "SRCNN-PL" in r["status"] and "SRGAN-PL" in r["status"] and "Missing" in r["status"]
        # each names its file and what is wrong with it, without the server's folders
        assert "checkpoint not found: srcnn_pl.safetensors" in r["status"]
        assert "srgan_pl.safetensors is damaged or not a safetensors file" in r["status"]
        assert str(d) not in r["status"]
        assert set(r["info"]["scores"]) == {"bicubic", "srcnn_mse", "srgan_mse"}
        assert "srgan_pl" not in r["info"]["panels"]
    finally:
        stop(proc)
