"""The experiment protocol as one command: pre-training, four equal arms that differ only in the
loss, evaluation and publishing; resumable (issue 11)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest
from helpers import REPO, make_image_dir, subprocess_env

from srcore import history
from srcore.checkpoint import read_metadata
from srcore.evaluate import UNKNOWN_SOURCE_COLUMNS
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
    """The checkpoints' README prints this: budget, seeds, times and data come from the run's record."""
    import json
    from dataclasses import asdict, replace

    cpu = PRESETS["cpu"]
    secs = {f"{m.key}-seed{s}": t + s for m, t in zip(MODELS, (61, 630, 1450, 2100)) for s in cpu.seeds}
    proto = {
        "preset": json.loads(json.dumps(asdict(cpu))),
        "preset_sha256": cpu.sha256(),
        "preset_commit": "abc1234",
        "seeds": list(cpu.seeds),
        "arms": [m.key for m in MODELS],
        "train_seconds": secs,
        "started": "2026-12-01 01:40:14 UTC",
        "finished_training": "2026-12-01 03:30:00 UTC",
        "stage_seconds": {"evaluate": 360},
        "train_dirs": ["/data/train/BSD68", "/data/train/T91"],
        "held_out": ["BSD68/1.png", "T91/t2.png"],
    }
    text = describe(proto)
    assert f"`{cpu.init}`" in text and cpu.sha256()[:12] in text and "commit abc1234" in text
    assert f"{cpu.pretrain_steps:,}-step MSE pre-training" in text
    assert f"each arm {cpu.arm_steps:,} steps of batch {cpu.arm_batch}" in text
    assert "every arm once per seed (0, 1, 2; the first is shipped)" in text
    assert "SRCNN-MSE 1 min / 1 min / 1 min, SRCNN-PL 10 min / 11 min / 11 min" in text
    assert "From start to the last figure: 1 h 56 min (of which the evaluation 6 min)" in text
    del proto["stage_seconds"]  # benchmark.json's copy: taken while the evaluation ran
    assert "From start to the end of training: 1 h 50 min." in describe(proto)
    assert "BSD68, T91, minus 2 images held out for validation (BSD68/1.png, T91/t2.png)" in text
    assert "VGG features x 1/12.75" in text
    # an interrupted record (no end time) still describes what it has
    del proto["finished_training"]
    for s in cpu.seeds:
        del proto["train_seconds"][f"srgan_pl-seed{s}"]
    text = describe(proto)
    assert "From start" not in text and "SRGAN-PL" not in text and "SRGAN-MSE 24 min" in text
    # a preset with its own pre-training stage says so, with its time
    own = replace(cpu, init="", init_sha256="", seeds=(0,))
    rec = {**proto, "preset": json.loads(json.dumps(asdict(own))), "seeds": [0]}
    rec["train_seconds"] = {"pretrain": 4200, "srcnn_mse-seed0": 61}
    text = describe(rec)
    assert f"pre-training of {own.pretrain_steps:,} steps" in text and "(1 h 10 min)" in text
    assert "SRCNN-MSE 1 min." in text


def _tree(folder):
    """(path, size, mtime) of every file under ``folder``: to show nothing was written there."""
    return sorted(
        (str(f.relative_to(folder)), f.stat().st_size, f.stat().st_mtime_ns) for f in folder.rglob("*") if f.is_file()
    )


def test_smoke_experiment_runs_every_stage_and_resumes(tmp_path):
    """By default the experiment publishes into its run folder (OUT/publish): the shipped
    checkpoints/ are untouched (issue 24)."""
    from srcore.paths import CHECKPOINTS

    train = make_image_dir(tmp_path / "train" / "photos", n=4, size=(64, 64))
    make_image_dir(tmp_path / "eval" / "Tiny", n=2, size=(64, 64))
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
    ]
    env = subprocess_env()
    env.pop("SR_CHECKPOINTS", None)  # the defaults, as a user runs it
    shipped = _tree(CHECKPOINTS)
    r = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert _tree(CHECKPOINTS) == shipped, "the default run wrote into checkpoints/"
    ck = out / "publish"
    assert f"to {ck}" in r.stdout
    # the unknown-source pre-filter fitted for these generators, on their held-out image
    table = json.loads((ck / "prefilter.json").read_text())
    assert set(table["sigma"]) >= {m.key for m in MODELS} and len(table["images"]) == 1
    for f in (VGG16_WEIGHTS, ALEXNET_WEIGHTS, LPIPS_LIN_WEIGHTS):  # a complete checkpoints folder
        assert (ck / f.name).is_file()

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
        assert set(res["degradations"]) == {"cubic_no_aa", "jpeg75", *UNKNOWN_SOURCE_COLUMNS}
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


def test_help_states_the_defaults_and_none_is_checkpoints():
    r = subprocess.run(
        [sys.executable, "-m", "srcore.experiment", "--help"],
        cwd=REPO,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert r.returncode == 0
    text = " ".join(r.stdout.split())
    assert "(default: OUT/publish;" in text and "--publish checkpoints" in text
    assert "default: runs/exp)" in text and "(default: cpu)" in text and "(default: 200;" in text


def test_lanes_one_arm_per_gpu(monkeypatch):
    """With N GPUs (a fake count here) N arms run at once, each seeing only its own GPU."""
    from srcore.experiment import Lanes

    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    lanes = Lanes(3, cpu_lanes=2)
    got = [lanes.acquire() for _ in range(3)]
    assert [env["CUDA_VISIBLE_DEVICES"] for _, env in got] == ["0", "1", "2"]
    assert not lanes.free  # a fourth arm waits
    lanes.release(got[1][0])
    assert lanes.acquire()[1] == {"CUDA_VISIBLE_DEVICES": "1"}
    # the GPUs a user made visible are the ones handed out
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,6")
    lanes = Lanes(2, cpu_lanes=2)
    assert [lanes.acquire()[1]["CUDA_VISIBLE_DEVICES"] for _ in range(2)] == ["4", "6"]
    # no GPU: the preset's CPU lanes, no device variable
    lanes = Lanes(0, cpu_lanes=2)
    assert lanes.size == 2 and lanes.acquire()[1] == {}


# the smoke preset with a longer arm, so the driver can be stopped in the middle of it
LONG_SMOKE = textwrap.dedent("""
    import dataclasses, sys
    import srcore.experiment as E

    E.PRESETS["smoke"] = dataclasses.replace(
        E.PRESETS["smoke"], arm_steps=int(sys.argv[1]), seeds=(0,), val_every=100, picture_every=100
    )
    sys.exit(E.main(sys.argv[2:]))
""")


def _trainers(pid: int) -> list:
    import psutil

    return [p for p in psutil.Process(pid).children(recursive=True) if "srcore.train" in " ".join(p.cmdline())]


def _start_and_wait(cmd, hist, min_step):
    """Start the driver in its own session; return it and its trainers once ``hist`` has a
    training line at ``min_step`` or later."""
    import time

    driver = subprocess.Popen(
        cmd,
        cwd=REPO,
        env=subprocess_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline:
        assert driver.poll() is None, "the driver ended early"
        steps = [h["step"] for h in history.read(hist) if h.get("kind") == "train"] if hist.is_file() else []
        if steps and steps[-1] >= min_step:
            trainers = _trainers(driver.pid)
            if trainers:
                return driver, trainers
        time.sleep(0.5)
    raise AssertionError("the arm did not get going")


def test_driver_stops_its_trainers_and_a_rerun_continues(tmp_path):
    """SIGTERM to the driver: its trainer saves and ends, the driver exits 143.  kill -9 of the
    driver: the trainer notices, saves and ends (no orphan).  Re-running continues: the history's
    steps strictly increase to the arm's end (issue 24: it was 50, 10, 60, 20, ...)."""
    import os
    import signal

    import psutil

    train = make_image_dir(tmp_path / "train" / "photos", n=4, size=(64, 64))
    script = tmp_path / "long_smoke.py"
    script.write_text(LONG_SMOKE)
    out = tmp_path / "exp"
    steps = 300
    cmd = [sys.executable, str(script), str(steps), "--preset", "smoke", "--out", str(out), "--train-dir", str(train)]
    cmd += ["--no-publish", "--arms", "srcnn_mse", "--save-every", "10", "--gpus", "0"]
    hist = out / "arms" / "srcnn_mse" / "seed0" / "history.jsonl"
    log = out / "logs" / "srcnn_mse-seed0.log"
    started: list = []  # what this test started, ended in any case (by pid, never by name)
    try:
        driver, trainers = _start_and_wait(cmd, hist, 20)
        started += [psutil.Process(driver.pid), *trainers]
        os.kill(driver.pid, signal.SIGTERM)
        assert driver.wait(300) == 128 + signal.SIGTERM
        assert not psutil.wait_procs(trainers, timeout=5)[1], "a trainer outlived its driver's SIGTERM"
        assert "stopped at step" in log.read_text()

        # the re-run's own progress: past where the SIGTERM left the history (on a loaded machine the
        # first run can pass step 60 before the signal lands; waiting for 60 then returned at once)
        done = max(h["step"] for h in history.read(hist) if h.get("kind") == "train")
        driver, trainers = _start_and_wait(cmd, hist, done + 20)
        started += trainers
        os.kill(driver.pid, signal.SIGKILL)
        driver.wait(60)
        gone, alive = psutil.wait_procs(trainers, timeout=120)
        assert not alive, f"trainers still running after their driver was killed: {[p.pid for p in alive]}"
        assert log.read_text().count("stopped at step") == 2  # it saved its state on the way out
    finally:
        for p in started:
            if p.is_running():
                p.kill()
    r = subprocess.run(cmd, cwd=REPO, env=subprocess_env(), capture_output=True, text=True, timeout=1200)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    got = [h["step"] for h in history.read(hist) if h.get("kind") == "train"]
    assert got == sorted(set(got)) and got[-1] == steps, got
    assert "resumed srcnn_mse at step" in log.read_text()
