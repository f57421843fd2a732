"""Training: a tiny generator learns, and the CLI logs, exports, resumes and stops cleanly."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import REPO, make_image_dir, photo, run_train, subprocess_env, train_cmd
from safetensors import safe_open
from safetensors.torch import load_file

from srcore import history
from srcore.checkpoint import load_generator_file
from srcore.data import to_tensor, to_uint8
from srcore.losses import mse_loss
from srcore.metrics import psnr
from srcore.models import Generator, GeneratorConfig
from srcore.resize import bicubic_x4, downscale_x4

DET = ("--log-every", "1", "--deterministic", "--seed", "0")
LONG = 200  # steps of the runs that get interrupted (each step takes milliseconds)


@pytest.mark.timeout(300)  # a hang guard, not a speed test (about 10 s on an idle 2-core CPU)
def test_tiny_generator_beats_bicubic_on_one_image():
    torch.manual_seed(0)
    hr = photo("astronaut", (96, 96))
    lr = downscale_x4(hr)
    g = Generator(GeneratorConfig(n1=16, n2=8, n3=8))
    opt = torch.optim.Adam(g.parameters(), lr=2e-3)
    x, y = to_tensor(lr)[None], to_tensor(hr)[None]
    for _ in range(300):
        opt.zero_grad()
        mse_loss(g(x), y).backward()
        opt.step()
    with torch.no_grad():
        sr = to_uint8(g(x))
    p_sr, p_bic = psnr(sr, hr), psnr(bicubic_x4(lr), hr)
    assert p_sr > p_bic + 0.5, f"trained {p_sr:.2f} dB vs bicubic {p_bic:.2f} dB"


@pytest.fixture(scope="module")
def train_dir(tmp_path_factory) -> Path:
    return make_image_dir(tmp_path_factory.mktemp("train") / "imgs", n=3, size=(96, 96))


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory, train_dir) -> Path:
    """An uninterrupted deterministic run of LONG steps: the losses a resumed run must reproduce."""
    out = tmp_path_factory.mktemp("ref") / "run"
    r = run_train("srcnn_mse", train_dir, out, *DET, "--save-every", "1000", steps=LONG, timeout=300)
    assert r.returncode == 0, r.stderr
    return out


def _train_losses(run: Path) -> dict[int, float]:
    recs = [h for h in history.read(run / "history.jsonl") if h["kind"] == "train"]
    steps = [h["step"] for h in recs]
    assert len(steps) == len(set(steps)), "a step was logged twice"
    return {h["step"]: h["g_loss"] for h in recs}


def _state_step(path: Path) -> int:
    with safe_open(str(path), framework="pt") as f:
        return int(json.loads(f.metadata()["json"])["extra"]["step"])


@pytest.mark.timeout(180)
def test_cli_run_logs_exports_and_pictures(tmp_path, train_dir):
    val = make_image_dir(tmp_path / "val", n=1, size=(64, 64))
    out, export = tmp_path / "run", tmp_path / "exported" / "g.safetensors"
    r = run_train(
        "srcnn_mse",
        train_dir,
        out,
        "--val-dir",
        str(val),
        "--val-every",
        "2",
        "--picture-every",
        "2",
        "--log-every",
        "1",
        "--export",
        str(export),
        steps=4,
    )
    assert r.returncode == 0, r.stderr
    assert "exported" in r.stderr and "Traceback" not in r.stderr
    recs = history.read(out / "history.jsonl")
    kinds = [h["kind"] for h in recs]
    assert kinds[0] == "meta" and recs[0]["name"] == "srcnn_mse" and recs[0]["train_images"] == 3
    train = [h for h in recs if h["kind"] == "train"]
    assert [h["step"] for h in train] == [1, 2, 3, 4]
    for h in train:
        assert {"epoch", "lr", "mse", "g_loss", "images_per_s", "wall"} <= set(h)
        assert h["g_loss"] == pytest.approx(h["mse"]) and np.isfinite(h["g_loss"]) and h["lr"] > 0
    val_recs = [h for h in recs if h["kind"] == "val"]
    assert [h["step"] for h in val_recs] == [0, 2, 4]
    for h in val_recs:
        assert 10 < h["psnr_y"] < 60 and 0 < h["ssim_y"] <= 1 and 0 <= h["lpips"] < 1 and h["val_mse"] >= 0
    pics = [h for h in recs if h["kind"] == "picture"]
    assert [h["step"] for h in pics] == [0, 2, 4]
    for h in pics:
        assert h["files"], h
        for f in h["files"]:
            p = out / "pictures" / f
            assert p.is_file() and p.stat().st_size > 0
    assert (out / "state.safetensors").is_file()
    g, meta = load_generator_file(export)
    assert meta["format"] == "srcore-generator-v1" and meta["name"] == "srcnn_mse" and meta["steps"] == 4
    assert meta["recipe"]["loss"] == {"mse": 1.0} and meta["recipe"]["batch"] == 2 and meta["recipe"]["patch"] == 32
    assert meta["arch"] == g.cfg.to_dict()
    assert set(meta["metrics"]) >= {"psnr_y", "ssim_y", "lpips"}
    assert meta["data"]["train_images"] == 3


@pytest.mark.timeout(240)
def test_resume_after_stop_gives_identical_losses(tmp_path, train_dir, reference_run):
    ref = _train_losses(reference_run)
    out = tmp_path / "run"
    r1 = run_train("srcnn_mse", train_dir, out, *DET, "--save-every", "3", steps=6)
    assert r1.returncode == 0, r1.stderr
    assert _state_step(out / "state.safetensors") == 6
    r2 = run_train("srcnn_mse", train_dir, out, *DET, "--save-every", "3", "--resume", steps=12)
    assert r2.returncode == 0, r2.stderr
    assert "resumed srcnn_mse at step 6" in r2.stderr
    got = _train_losses(out)
    assert sorted(got) == list(range(1, 13))
    for s in range(1, 13):
        assert got[s] == ref[s], f"step {s}: {got[s]} != uninterrupted {ref[s]}"


def _last_logged_step(run: Path) -> int:
    try:
        recs = history.read(run / "history.jsonl")  # tolerates a line being written right now
    except OSError:
        return -1
    return max((h["step"] for h in recs if h.get("kind") == "train"), default=-1)


@pytest.mark.timeout(600)
def test_kill9_five_times_then_resume_ends_identically(tmp_path, train_dir, reference_run):
    """kill -9 at five random moments in a row; each restart resumes from the last saved state
    (which always loads: saves are atomic), and the run ends with the uninterrupted run's weights."""
    import random

    rng = random.Random(20261125)
    out = tmp_path / "run"
    state = out / "state.safetensors"
    targets = sorted(rng.sample(range(3, LONG - 20), 5))  # kill once the run has logged this step
    saved = []
    for i, target in enumerate(targets):
        args = (*DET, "--save-every", "5") + (("--resume",) if i else ())
        proc = subprocess.Popen(
            train_cmd("srcnn_mse", train_dir, out, *args, steps=LONG),
            cwd=REPO,
            env=subprocess_env(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            deadline = time.time() + 180
            while _last_logged_step(out) < target and proc.poll() is None and time.time() < deadline:
                time.sleep(0.002)
            time.sleep(rng.uniform(0, 0.02))  # land anywhere, including inside a state save
            assert proc.poll() is None, f"kill {i + 1}: the run ended first: " + proc.stderr.read()[-2000:]
            proc.send_signal(signal.SIGKILL)
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.stderr.close()
        assert proc.returncode == -signal.SIGKILL
        k = _state_step(state) if state.exists() else 0  # the saved state always loads
        assert k % 5 == 0 and k >= (saved[-1] if saved else 0) and k <= _last_logged_step(out)
        saved.append(k)
    r = run_train("srcnn_mse", train_dir, out, *DET, "--save-every", "5", "--resume", steps=LONG, timeout=300)
    assert r.returncode == 0, r.stderr
    assert f"resumed srcnn_mse at step {saved[-1]}" in r.stderr or saved[-1] == 0
    assert len(set(saved)) >= 3, f"the kills did not land at different moments: {saved}"
    assert not list(out.glob(".*.tmp")), "temporary files of interrupted saves were left behind"
    got, ref = _train_losses(out), _train_losses(reference_run)
    assert sorted(got) == list(range(1, LONG + 1))  # records logged after a saved step were replaced
    assert got == ref  # every step's loss equals the uninterrupted run's
    a = load_file(str(out / "srcnn_mse.safetensors"))
    b = load_file(str(reference_run / "srcnn_mse.safetensors"))
    assert a.keys() == b.keys() and all(torch.equal(a[key], b[key]) for key in a)


@pytest.mark.timeout(120)
def test_sigterm_saves_state_and_exits_cleanly(tmp_path, train_dir):
    out = tmp_path / "run"
    proc = subprocess.Popen(
        train_cmd("srcnn_mse", train_dir, out, *DET, "--save-every", "100000", steps=100000),
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        hist = out / "history.jsonl"
        deadline = time.time() + 90
        while time.time() < deadline and proc.poll() is None:
            if sum(h["kind"] == "train" for h in history.read(hist)) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, proc.stdout.read()[-2000:]
        t_sig = time.time()
        proc.send_signal(signal.SIGTERM)
        err, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    assert time.time() - t_sig < 30
    assert "stopped at step" in err and "Traceback" not in err
    step = _state_step(out / "state.safetensors")
    assert 3 <= step < 100000
    assert max(_train_losses(out)) == step
    assert not (out / "srcnn_mse.safetensors").exists()  # not finished: nothing exported


@pytest.mark.timeout(60)
def test_bad_train_dir_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "does-not-exist"
    r = run_train("srcnn_mse", missing, tmp_path / "run", steps=2)
    assert r.returncode == 2, r.stderr
    assert "error:" in r.stderr and str(missing) in r.stderr
    assert "Traceback" not in r.stderr
    # a folder without images: same path in-process (the CLI's main returns the exit code)
    from srcore.train import main

    empty = make_image_dir(tmp_path / "empty", n=0)
    assert (
        main(
            [
                "srcnn_mse",
                "--train-dir",
                str(empty),
                "--out",
                str(tmp_path / "run2"),
                "--workers",
                "0",
                "--no-progress",
                "--steps",
                "2",
            ]
        )
        == 2
    )
    err = capsys.readouterr().err
    assert err.startswith("error:") and "no images found" in err and str(empty) in err


@pytest.mark.timeout(180)
def test_gan_recipe_from_mse_checkpoint(tmp_path, train_dir, reference_run):
    init = reference_run / "srcnn_mse.safetensors"
    out = tmp_path / "gan"
    r = run_train("srgan_pl", train_dir, out, "--init-from", str(init), "--log-every", "1", "--ema-decay", "0", steps=3)
    assert r.returncode == 0, r.stderr
    recs = history.read(out / "history.jsonl")
    assert (
        recs[0]["kind"] == "meta"
        and recs[0]["init"]["init_from"] == str(init)
        and recs[0]["init"]["init_steps"] == LONG
    )
    train = [h for h in recs if h["kind"] == "train"]
    assert [h["step"] for h in train] == [1, 2, 3]
    for h in train:
        assert {"d_loss", "d_real", "d_fake", "vgg", "adv", "g_loss"} <= set(h)
        assert 0 < h["d_real"] < 1 and 0 < h["d_fake"] < 1
        assert h["g_loss"] == pytest.approx(h["vgg"] + 1e-3 * h["adv"], rel=1e-5)
    _, meta = load_generator_file(out / "srgan_pl.safetensors")
    assert (
        meta["recipe"]["loss"] == {"vgg": 1.0, "adv": 1e-3}
        and meta["init"]["init_from"] == str(init)
        and meta["steps"] == 3
    )


@pytest.mark.timeout(120)
def test_init_from_applies_when_resume_finds_no_state(tmp_path, train_dir, reference_run):
    """--resume with --init-from on a fresh run folder must start from the init weights (regression)."""
    from srcore.config import TrainConfig, finetune_recipe
    from srcore.train import Trainer

    init = reference_run / "srcnn_mse.safetensors"
    recipe = finetune_recipe({"mse": 1.0, "adv": 1e-3}, str(init)).updated(batch=2, patch=32)
    cfg = TrainConfig(
        name="srgan_mse", train_dirs=[str(train_dir)], out_dir=str(tmp_path / "run"), workers=0, progress=False
    )
    tr = Trainer(cfg, recipe, resume=True)
    assert not tr.try_resume()
    ref, _ = load_generator_file(init)
    for (k, a), b in zip(tr.G.state_dict().items(), ref.state_dict().values()):
        assert torch.equal(a, b), k
    assert tr.init_note["init_from"] == str(init)
