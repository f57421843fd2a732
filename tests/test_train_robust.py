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
