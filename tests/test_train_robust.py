"""Training that a new user can run: small images are skipped with a note, and any error ends the
process promptly with a non-zero status and the error, with and without data workers, also under
torchrun (issue 11, point 5)."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch.distributed as dist
from helpers import REPO, make_image_dir, run_train, subprocess_env, train_args
from PIL import Image

pytestmark = pytest.mark.timeout(900)  # hang guards: a busy 2-core CI machine is slow, a hang is for ever


def test_images_smaller_than_the_crop_are_skipped_with_a_note(tmp_path):
    data = make_image_dir(tmp_path / "imgs", n=2, size=(64, 64))
    Image.fromarray(np.full((93, 30, 3), 120, np.uint8)).save(data / "thin.png")  # like T91's t26.png
    r = run_train("srcnn_mse", data, tmp_path / "run", "--patch", "48", steps=3)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "skipping thin.png (28x92): smaller than the 48 px crop" in r.stderr
    assert (tmp_path / "run" / "srcnn_mse.safetensors").is_file()


def test_no_image_large_enough_is_a_clear_error(tmp_path):
    data = make_image_dir(tmp_path / "imgs", n=2, size=(32, 32))
    r = run_train("srcnn_mse", data, tmp_path / "run", "--patch", "48", steps=3)
    assert r.returncode == 2
    assert "error: no image of at least 48 px a side" in r.stderr and "Traceback" not in r.stderr


def test_unknown_model_without_a_loss_is_refused(tmp_path):
    data = make_image_dir(tmp_path / "imgs", n=2, size=(64, 64))
    r = run_train("my_model", data, tmp_path / "run", steps=3)
    assert r.returncode == 2 and "give its objective with --loss" in r.stderr


# A driver that runs srcore.train.main unchanged but makes the data pipeline (in the worker
# processes when there are any) or the training step fail at a given point.
FAILING = textwrap.dedent("""
    import os, sys
    import srcore.data as D
    import srcore.train as T

    where, rank = sys.argv[1], int(os.environ.get("RANK", "0"))
    if where == "data":
        _get = D.CropDataset.__getitem__
        def bad_get(self, key):
            epoch, i = key if isinstance(key, tuple) else (self.epoch, key)
            if epoch >= 1:
                raise RuntimeError("disk on fire while reading a crop")
            return _get(self, key)
        D.CropDataset.__getitem__ = bad_get
    else:
        _step = T.Trainer.train_step
        def bad_step(self, lr, hr):
            if self.step >= 3 and rank == int(os.environ.get("FAIL_RANK", "0")):
                raise RuntimeError("device fell over")
            return _step(self, lr, hr)
        T.Trainer.train_step = bad_step
    sys.exit(T.main(sys.argv[2:]))
""")


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("where", ["data", "step"])
def test_an_error_ends_training_promptly(tmp_path, workers, where):
    data = make_image_dir(tmp_path / "imgs", n=2, size=(64, 64))
    driver = tmp_path / "failing.py"
    driver.write_text(FAILING)
    cmd = train_args("srcnn_mse", data, tmp_path / "run", steps=200)
    cmd[cmd.index("--workers") + 1] = str(workers)
    # the old trainer hung here for ever with workers: the subprocess timeout is the hang detector
    r = subprocess.run(
        [sys.executable, str(driver), where, *cmd],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=400,
    )
    assert r.returncode == 1, r.stderr[-2000:]
    want = "disk on fire" if where == "data" else "device fell over"
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith("error: training failed") and want in last, last


@pytest.mark.skipif(
    not (dist.is_available() and dist.is_gloo_available()), reason="no gloo backend in this torch build"
)
def test_a_failing_rank_brings_torchrun_down(tmp_path):
    data = make_image_dir(tmp_path / "imgs", n=4, size=(64, 64))
    driver = tmp_path / "failing.py"
    driver.write_text(FAILING)
    cmd = train_args("srcnn_mse", data, tmp_path / "run", steps=500)
    env = {**subprocess_env(), "FAIL_RANK": "1"}
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            str(driver),
            "step",
            *cmd,
            "--device",
            "cpu",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert r.returncode != 0
    assert "device fell over" in r.stdout + r.stderr


# ---------------------------------------------------------------- issue 24: fail fast, one trainer per folder
STALLING = textwrap.dedent("""
    import sys, time
    import srcore.data as D
    import srcore.train as T

    _get = D.CropDataset.__getitem__
    def stalled_get(self, key):
        epoch, i = key if isinstance(key, tuple) else (self.epoch, key)
        if epoch >= 1:
            time.sleep(3600)  # a worker stuck on a dead network disk
        return _get(self, key)
    D.CropDataset.__getitem__ = stalled_get
    sys.exit(T.main(sys.argv[1:]))
""")


def test_a_stalled_data_worker_ends_the_run_within_the_timeout(tmp_path):
    import time

    data = make_image_dir(tmp_path / "imgs", n=2, size=(64, 64))
    driver = tmp_path / "stalling.py"
    driver.write_text(STALLING)
    cmd = train_args("srcnn_mse", data, tmp_path / "run", "--workers", "1", "--data-timeout", "5", steps=200)
    t0 = time.monotonic()
    # the subprocess timeout is the hang detector: before, this waited for ever
    r = subprocess.run(
        [sys.executable, str(driver), *cmd], cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=300
    )
    took = time.monotonic() - t0
    assert r.returncode == 1, r.stderr[-2000:]
    last = r.stderr.strip().splitlines()[-1]
    assert last == "error: training failed: a data worker gave no batch within 5 s (--data-timeout)", last
    print(f"stalled worker: ended after {took:.1f} s (data timeout 5 s)")


@pytest.mark.parametrize(
    ("flag", "value"),
    [
        ("--batch", "0"),
        ("--steps", "-3"),
        ("--log-every", "0"),
        ("--val-every", "0"),
        ("--save-every", "0"),
        ("--picture-every", "-1"),
        ("--patch", "0"),
        ("--lr", "0"),
        ("--lr-d", "-1e-4"),
        ("--crops-per-image", "0"),
        ("--vgg-feature-scale", "0"),
        ("--data-timeout", "0"),
        ("--dist-timeout", "-5"),
        ("--workers", "-1"),
        ("--threads", "-2"),
        ("--holdout", "-1"),
        ("--warmup", "-1"),
        ("--ema-decay", "1"),
        ("--ema-decay", "-0.5"),
        ("--lock-wait", "-1"),
        ("--seed", "-1"),
        ("--val-max-side", "-4"),
        ("--batch", "two"),
        ("--lr", "nan"),
    ],
)
def test_zero_or_negative_numbers_are_refused(flag, value, capsys):
    from srcore.train import parse_args

    with pytest.raises(SystemExit) as e:
        parse_args(["srcnn_mse", "--train-dir", "x", flag, value])
    assert e.value.code == 2
    err = capsys.readouterr().err
    assert f"argument {flag}" in err and ("must be" in err or "is not a" in err), err


def test_a_zero_interval_is_refused_through_the_cli(tmp_path):
    r = run_train("srcnn_mse", tmp_path, tmp_path / "run", "--val-every", "0", steps=3)
    assert r.returncode == 2 and "argument --val-every: must be a whole number > 0, not 0" in r.stderr
    assert "Traceback" not in r.stderr


def test_a_corrupt_image_is_named_and_skipped(tmp_path):
    data = make_image_dir(tmp_path / "imgs", n=2, size=(64, 64))
    good = (data / "img0_astronaut.png").read_bytes()
    (data / "broken.png").write_bytes(good[: len(good) // 3])  # a truncated download
    r = run_train("srcnn_mse", data, tmp_path / "run", steps=2)
    assert r.returncode == 0, r.stderr[-2000:]
    assert f"note: skipping {data / 'broken.png'}: cannot decode it" in r.stderr
    assert (tmp_path / "run" / "srcnn_mse.safetensors").is_file()


def test_a_batch_that_cannot_be_filled_is_refused_not_shrunk(tmp_path):
    data = make_image_dir(tmp_path / "imgs", n=1, size=(64, 64))
    r = run_train("srcnn_mse", data, tmp_path / "run", "--crops-per-image", "3", "--batch", "4", steps=2)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "a batch of 4 x 1 rank(s) needs 4 crops per epoch, but 1 training images x 3 crops give 3" in r.stderr


def test_a_second_trainer_on_the_same_folder_is_refused(tmp_path):
    import os
    import signal
    import time

    from helpers import train_cmd

    data = make_image_dir(tmp_path / "imgs", n=2, size=(64, 64))
    out = tmp_path / "run"
    first = subprocess.Popen(
        train_cmd("srcnn_mse", data, out, "--save-every", "5", steps=100000),
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 200
        while time.monotonic() < deadline and not (out / "state.safetensors").is_file():
            assert first.poll() is None, "the first trainer ended early"
            time.sleep(0.2)
        r = run_train("srcnn_mse", data, out, "--resume", steps=100000, timeout=200)
        assert r.returncode == 2, r.stderr[-2000:]
        assert f"error: {out} is in use by another trainer (pid {first.pid} on" in r.stderr
        assert "one trainer per run folder" in r.stderr
    finally:
        if first.poll() is None:
            os.kill(first.pid, signal.SIGTERM)  # it saves its state and ends
        first.wait(120)
    # once it has ended, the folder is free again
    r = run_train("srcnn_mse", data, out, "--resume", "--steps", "3", timeout=200)
    assert r.returncode == 0, r.stderr[-2000:]
