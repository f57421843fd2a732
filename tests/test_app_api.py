"""End-to-end API tests of the dashboard: ``python app.py`` on a free local port, driven by gradio_client.

Uses the shipped checkpoints in ``checkpoints/`` when all four are there; otherwise makes untrained
ones in a temporary folder (pointed to with SR_CHECKPOINTS) so the suite still runs.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from app_helpers import MODELS, PANELS, PERCEPTUAL, UPLOAD_LR, N, checkpoint_dir, compare, launch, read, stop
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
    from skimage import data

    from srcore.data import to_tensor
    from srcore.inference import upscale
    from srcore.metrics import mod_crop, psnr, shave, ssim
    from srcore.models.feature_nets import LPIPS
    from srcore.resize import downscale_x4

    r = compare(client)
    info = r["info"]
    assert info["hr_size"] == [512, 512] and info["lr_size"] == [128, 128]
    assert info["panels"] == list(PANELS)
    for p, f in zip(PANELS, r["full"]):
        assert f is not None, p
        assert read(f).shape == (512, 512, 3), p
    x, y, s = info["region"]["x"], info["region"]["y"], info["region"]["size"]
    assert s == 96
    for p, f in zip(PANELS, r["zoom"]):
        assert read(f).shape == (192, 192, 3), p  # 96 px enlarged x2, nearest neighbour
    left, right = (read(f) for f in r["slider"])
    assert left.shape == right.shape == (512, 512, 3)
    assert "★" in "".join(r["caps"]), "the best value per metric is marked"

    # the raw outputs (downloads) are srcore's, and the app's figures are srcore.metrics on them
    files = client.predict(api_name="/downloads")
    pngs = {Path(f).stem.split("_", 1)[1]: f for f in files if f.endswith(".png")}
    assert set(pngs) == set(PANELS) and any(f.endswith(".zip") for f in files)
    hr = mod_crop(data.astronaut())
    lr = downscale_x4(hr)
    np.testing.assert_array_equal(read(pngs["hr"]), hr)
    np.testing.assert_array_equal(read(pngs["lr"])[::4, ::4], lr)
    np.testing.assert_array_equal(read(pngs["bicubic"]), upscale(None, lr))
    lp = LPIPS()
    for p in ("bicubic", *MODELS):
        sr = read(pngs[p])
        if p in MODELS:
            ref = upscale(models[p], lr)
            assert np.abs(sr.astype(int) - ref.astype(int)).max() <= 1, p
        got = info["scores"][p]
        assert got["psnr_y"] == pytest.approx(psnr(sr, hr), rel=1e-12, abs=1e-12), p
        assert got["ssim_y"] == pytest.approx(ssim(sr, hr), rel=1e-12, abs=1e-12), p
        assert got["psnr_rgb"] == pytest.approx(psnr(sr, hr, y_channel=False), rel=1e-12, abs=1e-12), p
        a, b = (to_tensor(shave(v, 4)).unsqueeze(0) for v in (sr, hr))
        assert got["lpips"] == pytest.approx(float(lp(a, b)), abs=1e-4), p
        # region figures: the same functions on the crops, no border
        cs, ch = sr[y : y + s, x : x + s], hr[y : y + s, x : x + s]
        assert info["region_scores"][p]["psnr_y"] == pytest.approx(psnr(cs, ch, border=0), rel=1e-12), p
        assert info["region_scores"][p]["ssim_y"] == pytest.approx(ssim(cs, ch, border=0), rel=1e-12), p
    best = max(("bicubic", *MODELS), key=lambda p: info["scores"][p]["psnr_y"])
    assert info["best"]["psnr_y"] == best


def test_region_endpoint_moves_zoom(client):
    compare(client)
    out = client.predict("Images", 8, 400, 64, "Bicubic", "HR ground truth", True, api_name="/region")
    info = out[4 * N + 2]
    assert info["region"] == {"x": 8, "y": 400, "size": 64}
    assert read(out[2 * N + PANELS.index("hr")]).shape == (256, 256, 3)  # 64 px x4
    from skimage import data

    np.testing.assert_array_equal(read(out[2 * N + PANELS.index("hr")])[::4, ::4], data.astronaut()[400:464, 8:72])


def test_error_map_view(client):
    r = compare(client)
    normal = [read(f) for f in r["full"]]
    out = client.predict("Error maps |SR − HR|", 0, 0, 32, "Bicubic", "SRGAN-PL", False, api_name="/region")
    for k, p in enumerate(PANELS):
        err = read(out[k])
        assert err.shape == (512, 512, 3), p
        if p == "hr":
            from skimage import data

            np.testing.assert_array_equal(err[40:, 40:], data.astronaut()[40:, 40:])  # away from the outline
        else:
            assert np.abs(err.astype(int) - normal[k].astype(int)).mean() > 20, f"{p} is not shown as an error map"


def test_upload_hr_is_mod_cropped(client, tmp_path):
    from gradio_client import handle_file
    from skimage import data

    img = data.chelsea()  # 300 x 451: width is not a multiple of 4
    path = tmp_path / "cat.png"
    Image.fromarray(img).save(path)
    r = compare(client, upload=handle_file(str(path)), chosen=("srcnn_mse",))
    assert r["info"]["hr_size"] == [300, 448]
    assert read(r["full"][PANELS.index("hr")]).shape == (300, 448, 3)
    assert set(r["info"]["scores"]) == {"bicubic", "srcnn_mse"}
    assert r["full"][PANELS.index("srgan_pl")] is None  # not chosen, not run


def test_upload_lr_has_no_reference_metrics(client, tmp_path):
    from gradio_client import handle_file

    rng = np.random.default_rng(0)
    path = tmp_path / "small.jpg"
    Image.fromarray(rng.integers(0, 255, (40, 56, 3), dtype=np.uint8)).save(path)
    r = compare(client, upload=handle_file(str(path)), mode=UPLOAD_LR)
    assert r["info"]["scores"] == {} and r["info"]["hr_size"] is None
    assert "no reference metrics" in r["status"].lower()
    for p in PANELS[:-1]:
        assert read(r["full"][PANELS.index(p)]).shape == (160, 224, 3), p
    assert r["full"][PANELS.index("hr")] is None


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
        assert "checkpoint missing" in r["caps"][PANELS.index("srgan_pl")]
    finally:
        stop(proc)
