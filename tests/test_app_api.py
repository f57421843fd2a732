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


# ---------------------------------------------------------------- training and benchmark views (no server)


def _history(path: Path, gan: bool) -> None:
    recs = [{"kind": "meta", "step": 0, "name": path.stem, "recipe": {"steps": 100}}]
    for st in range(0, 100, 10):
        r = {"kind": "train", "step": st, "vgg" if gan else "mse": 1.0 / (st + 1), "g_loss": 1.0}
        if gan:
            r.update(adv=0.7, d_loss=1.2, d_real=0.6, d_fake=0.4)
        recs.append(r)
    recs.append({"kind": "val", "step": 50, "psnr_y": 27.0, "ssim_y": 0.8, "lpips": 0.2, "val_mse": 0.01})
    recs.append({"kind": "picture", "step": 50, "files": ["baby_step000050.png"]})
    path.write_text("\n".join(json.dumps(r) for r in recs) + "\n{\"kind\": \"train\", \"st")  # torn last line


def test_training_views_from_histories(tmp_path, monkeypatch):
    from dashboard import training
    from srcore import paths

    monkeypatch.setattr(paths, "CHECKPOINTS", tmp_path)
    hist = training.load_histories()
    assert hist == {}
    assert "not trained yet" in training.status_text(hist)
    assert training.loss_figure(hist, MODELS, True, 0.5).layout.annotations  # an explanatory empty figure
    (tmp_path / "history").mkdir()
    _history(tmp_path / "history" / "srcnn_mse.jsonl", gan=False)
    _history(tmp_path / "history" / "srgan_pl.jsonl", gan=True)
    (tmp_path / "progress" / "srgan_pl").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(tmp_path / "progress" / "srgan_pl" / "baby_step000050.png")
    hist = training.load_histories()
    assert set(hist) == {"srcnn_mse", "srgan_pl"}
    loss = training.loss_figure(hist, MODELS, True, 0.6)
    names = {t.name for t in loss.data}
    assert {"SRCNN-MSE train", "SRCNN-MSE val", "SRGAN-PL train", "SRGAN-PL adv"} <= names
    assert loss.layout.yaxis.type == "log"
    disc = training.disc_figure(hist, MODELS, False, 0.0)
    assert {t.name for t in disc.data} == {"SRGAN-PL D loss", "SRGAN-PL D(real)", "SRGAN-PL D(fake)"}
    assert list(disc.data[0].y) == [1.2] * 10  # no smoothing at 0
    assert len(training.val_figure(hist, MODELS).data) == 6
    pics = training.picture_steps(hist)
    assert list(pics) == ["srgan_pl"]  # srcnn_mse's picture file does not exist
    at = training.pictures_at(pics, 60, "baby")
    assert at["srgan_pl"][1] == 50 and at["srcnn_mse"] == (None, None)
    assert training.pictures_at(pics, 40, "baby")["srgan_pl"] == (None, None)
    assert training.smooth([1.0, None, 3.0], 0.5)[1] is None


def test_vgg_curves_in_one_unit():
    """SRGAN-PL logs its VGG loss with features x 1/12.75; the plot puts it back in the report's units
    so SRCNN-PL and SRGAN-PL share the VGG axes."""
    from dashboard import training

    def run(scale):
        return [{"kind": "meta", "step": 0, "recipe": {"vgg_feature_scale": scale}},
                {"kind": "train", "step": 1, "vgg": 6.0 * scale**2, "g_loss": 1.0},
                {"kind": "val", "step": 1, "val_vgg": 5.0 * scale**2}]

    hist = {"srcnn_pl": run(1.0), "srgan_pl": run(1 / 12.75)}
    fig = training.loss_figure(hist, ["srcnn_pl", "srgan_pl"], False, 0.0)
    ys = {t.name: list(t.y) for t in fig.data}
    assert ys["SRCNN-PL train"] == pytest.approx([6.0]) and ys["SRGAN-PL train"] == pytest.approx([6.0])
    assert ys["SRCNN-PL val"] == pytest.approx([5.0]) and ys["SRGAN-PL val"] == pytest.approx([5.0])
    assert training.vgg_units([{"kind": "meta", "recipe": {}}]) == 1.0  # older histories: unscaled


def test_benchmark_view(tmp_path, monkeypatch):
    from dashboard import benchmark
    from srcore import paths

    monkeypatch.setattr(paths, "CHECKPOINTS", tmp_path)
    data, msg = benchmark.load()
    assert data is None and "No benchmark yet" in msg
    df = benchmark.table(None)
    assert set(df["Source"]) == {"published (Dong et al.)"} and "SRCNN (published)" in set(df["Model"])
    mean = {"psnr_y": 30.1, "ssim_y": 0.85, "psnr_rgb": 28.6, "lpips": 0.25}
    (tmp_path / "benchmark.json").write_text(json.dumps({"sets": {"Set5": {"images": ["a", "b"], "models": {
        m: {"mean": mean, "per_image": {}, "seconds": 1.0} for m in ("bicubic", *MODELS)}}}, "environment": {"cpu": "x"}}))
    data, msg = benchmark.load()
    df = benchmark.table(data)
    ours = df[df["Source"] == "this project"]
    assert list(ours["Model"]) == ["Bicubic", "SRCNN-MSE", "SRCNN-PL", "SRGAN-MSE", "SRGAN-PL"]
    assert list(ours["PSNR-Y (dB)"])[0] == "30.10"
    set5_pub = df[(df["Set"] == "Set5") & (df["Source"] != "this project")]
    assert dict(zip(set5_pub["Model"], set5_pub["PSNR-Y (dB)"]))["FSRCNN (published)"] == "30.72"
    assert len(benchmark.scatter(data).data) == 5
    (tmp_path / "benchmark.json").write_text("{broken")
    assert benchmark.load()[0] is None
