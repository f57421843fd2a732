"""The experiment protocol as one command: pre-training, four equal arms that differ only in the
loss, evaluation and publishing; resumable (issue 11)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import pytest
from helpers import REPO, make_image_dir, subprocess_env

from srcore import history
from srcore.checkpoint import read_metadata
from srcore.experiment import PRESETS, describe
from srcore.paths import ALEXNET_WEIGHTS, LPIPS_LIN_WEIGHTS, VGG16_WEIGHTS
from srcore.zoo import MODELS

pytestmark = [
    pytest.mark.timeout(1500),
    pytest.mark.skipif(not VGG16_WEIGHTS.is_file(), reason="perceptual weights missing from checkpoints/"),
]


def test_presets_fix_equal_arms_before_training():
    for p in PRESETS.values():
        assert p.arm_steps > 0 and p.pretrain_steps > 0
    cpu = PRESETS["cpu"]
    assert cpu.holdout >= 4  # validation on held-out training images, never on the benchmark sets


def test_describe_states_the_run_from_its_record():
    """The checkpoints' README prints this: budget, times and data come from the run's record."""
    from dataclasses import asdict

    proto = {
        "preset": asdict(PRESETS["cpu"]),
        "arms": [m.key for m in MODELS],
        "train_seconds": {"pretrain": 4200, "srcnn_mse": 61, "srcnn_pl": 630, "srgan_mse": 1450, "srgan_pl": 2100},
        "started": "2026-12-01 01:40:14 UTC",
        "finished_training": "2026-12-01 03:30:00 UTC",
        "stage_seconds": {"evaluate": 360},
        "train_dirs": ["/data/train/BSD68", "/data/train/T91"],
        "held_out": ["BSD68/1.png", "T91/t2.png"],
    }
    text = describe(proto)
    cpu = PRESETS["cpu"]
    assert f"pre-training of {cpu.pretrain_steps:,} steps" in text and "(1 h 10 min)" in text
    assert f"each arm {cpu.arm_steps:,} steps of batch {cpu.arm_batch}" in text
    assert "SRCNN-MSE 1 min, SRCNN-PL 10 min, SRGAN-MSE 24 min, SRGAN-PL 35 min" in text
    assert "From start to the last figure: 1 h 56 min (of which the evaluation 6 min)" in text
    del proto["stage_seconds"]  # benchmark.json's copy: taken while the evaluation ran
    assert "From start to the end of training: 1 h 50 min." in describe(proto)
    assert "BSD68, T91, minus 2 images held out for validation (BSD68/1.png, T91/t2.png)" in text
    assert "VGG features x 1/12.75" in text
    # an interrupted record (no end time) still describes what it has
    del proto["finished_training"], proto["train_seconds"]["srgan_pl"]
    text = describe(proto)
    assert "From start" not in text and "SRGAN-PL" not in text and "SRGAN-MSE 24 min" in text


def test_smoke_experiment_runs_every_stage_and_resumes(tmp_path):
    train = make_image_dir(tmp_path / "train" / "photos", n=4, size=(64, 64))
    make_image_dir(tmp_path / "eval" / "Tiny", n=2, size=(64, 64))
    ck = tmp_path / "ck"
    ck.mkdir()
    for f in (VGG16_WEIGHTS, ALEXNET_WEIGHTS, LPIPS_LIN_WEIGHTS):
        shutil.copy(f, ck / f.name)
    out = tmp_path / "exp"
    cmd = [
        sys.executable,
        "-m",
        "srcore.experiment",
        "--preset",
        "smoke",
        "--out",
        str(out),
        "--train-dir",
        str(train),
        "--eval-dir",
        str(tmp_path / "eval"),
        "--checkpoints",
        str(ck),
    ]
    env = {**subprocess_env(), "SR_CHECKPOINTS": str(ck)}
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]

    pre = history.read(ck / "history" / "pretrain.jsonl")
    held = pre[0]["held_out"]
    assert len(held) == 1 and held[0].startswith("photos/")
    recipes = {}
    for m in MODELS:
        md = read_metadata(ck / m.file)
        assert md["model"]["loss"] == m.loss and md["model"]["title"] == m.title
        assert md["init"]["init_from"].endswith("pretrain/generator.safetensors") and md["init"]["init_steps"] == 3
        assert md["held_out"] == held
        rec = dict(md["recipe"])
        assert rec.pop("loss") == m.loss
        recipes[m.key] = rec
        hist = history.read(ck / "history" / f"{m.key}.jsonl")
        assert [h["step"] for h in hist if h["kind"] == "train"][-1] == PRESETS["smoke"].arm_steps
        assert (ck / "progress" / m.key).is_dir()
    # only the loss differs between the arms: data, crops, batch, optimiser, schedule, seed are equal
    first = next(iter(recipes.values()))
    assert all(rec == first for rec in recipes.values())

    bench = json.loads((ck / "benchmark.json").read_text())
    assert bench["protocol"]["preset"]["name"] == "smoke"
    tiny = bench["sets"]["Tiny"]["models"]
    assert set(tiny) == {"bicubic", *(m.key for m in MODELS)}
    for key, res in tiny.items():
        assert {"psnr_y", "lpips", "phase_range", "bias_r", "hf_energy"} <= set(res["mean"])
        assert set(res["degradations"]) == {"cubic_no_aa", "jpeg75"}
        assert "flat_phase_range" in bench["models"][key]
    assert "srgan_mse - srcnn_mse" in bench["differences"] and "srgan_pl - srcnn_pl" in bench["differences"]

    # a second run finds every stage done and changes nothing
    before = (ck / "srgan_pl.safetensors").read_bytes()
    r2 = subprocess.run(cmd + ["--no-publish"], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert r2.returncode == 0, r2.stderr[-3000:]
    assert "srcore.train" not in r2.stdout  # no stage was started again
    assert (ck / "srgan_pl.safetensors").read_bytes() == before


def test_experiment_refuses_another_preset_in_the_same_folder(tmp_path):
    out = tmp_path / "exp"
    out.mkdir()
    (out / "protocol.json").write_text(json.dumps({"preset": {"name": "cpu"}}))
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "srcore.experiment",
            "--preset",
            "smoke",
            "--out",
            str(out),
            "--train-dir",
            str(make_image_dir(tmp_path / "t", n=2, size=(64, 64))),
            "--no-publish",
        ],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 1 and "another preset" in r.stderr
