"""The loss experiment, as code: ``python -m srcore.experiment --preset cpu --out runs/exp``.

One shared MSE pre-training, then one arm per model of the table (``srcore.zoo.MODELS``), all of
equal length from that same initialisation with the same data, crops, batch, optimiser,
schedule and seed: only the objective differs (the MSE arm continues with MSE).  Then the arms
are published into ``OUT/publish`` (a complete checkpoints folder: generators, histories, the
pre-training's once and each arm's from its real starting step, progress pictures, perceptual
weights), the unknown-source pre-filter is fitted for them on the held-out training images
(``prefilter.json``), and they are evaluated there (``benchmark.json``).  The shipped ``checkpoints/`` are replaced only
when asked for by name: ``--publish checkpoints``.

Every arm's length is fixed by the preset before training starts; nothing is selected on the
benchmark sets: validation uses images held out of the training folders (chosen by name hash,
listed in every history).  Every stage is a subprocess that resumes from its own saved state, so
re-running the same command after any interruption continues where it stopped; finished stages
are skipped.  The stages run in their own process groups and end with the driver: a SIGTERM or
Ctrl-C is passed on (each trainer saves its state), and a trainer whose driver died (kill -9)
saves and ends by itself; a trainer refuses a run folder another trainer holds.

Lanes: with N GPUs (``--gpus``, default: all visible), N arms train at once, one per GPU
(``CUDA_VISIBLE_DEVICES``), and the evaluation runs on a GPU; on a CPU, the preset's
``parallel_arms`` at a time, one thread each.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType

from srcore import cli, paths
from srcore.atomic import write_text_atomic
from srcore.config import SRGAN_VGG_SCALE
from srcore.losses_table import format_loss
from srcore.zoo import MODELS, TITLES, ModelSpec


@dataclass(frozen=True)
class Preset:
    """Everything that fixes the experiment's budget; one per machine class (nanoGPT-style)."""

    name: str
    pretrain_steps: int
    pretrain_batch: int
    pretrain_patch: int
    pretrain_lr: float
    arm_steps: int
    arm_batch: int
    arm_patch: int
    arm_lr: float
    arm_lr_d: float
    arm_warmup: int
    arm_ema: float
    vgg_feature_scale: float  # SRGAN's 1/12.75 for every arm (only matters next to the adversarial term)
    holdout: int  # training images held out for validation
    val_max_side: int
    val_every: int
    picture_every: int
    workers: int
    parallel_arms: int  # arms trained at once (CPU: one thread each)
    threads: int  # torch threads per training process (0: torch's default)
    seeds: tuple[int, ...] = (0,)  # every arm once per seed (crops, order, D's init); the first is shipped
    init: str = ""  # a shared initialisation (repo-relative .safetensors) instead of the pre-training stage
    init_sha256: str = ""  # that file's SHA-256, checked before any arm starts
    # decision rules, fixed before the run: a difference between two models is "resolved" when the
    # paired bootstrap interval (images and seeds resampled together) at ci_level excludes 0
    bootstrap_resamples: int = 2000
    ci_level: float = 0.95
    note: str = ""

    def sha256(self) -> str:
        """The preset's fingerprint, recorded in the protocol and in ``benchmark.json``."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()


def scaled_lr(lr: float, batch: int, ref_batch: int) -> float:
    """The learning rate for ``batch`` from one tuned at ``ref_batch``: the square-root rule for
    Adam (lr x sqrt(batch / ref_batch); Malladi et al. 2022, "On the SDEs and scaling rules for
    adaptive gradient algorithms"), which keeps the update noise the same; the linear rule is
    SGD's and overshoots with Adam."""
    return lr * math.sqrt(batch / ref_batch)


PRESETS: dict[str, Preset] = {
    "cpu": Preset(
        name="cpu",
        pretrain_steps=14000,
        pretrain_batch=16,
        pretrain_patch=96,
        pretrain_lr=5e-4,
        arm_steps=800,
        arm_batch=8,
        arm_patch=64,
        arm_lr=1e-4,
        arm_lr_d=1e-4,
        arm_warmup=50,
        arm_ema=0.99,
        vgg_feature_scale=SRGAN_VGG_SCALE,
        holdout=8,
        val_max_side=192,
        val_every=200,
        picture_every=200,
        workers=1,
        parallel_arms=2,
        threads=0,
        seeds=(0, 1, 2),
        init="checkpoints/init/mse_init.safetensors",
        init_sha256="b1abb65f80abf24b5c84c3b2241105f32b38c836e367ff526e1428e1d585bb96",
        note="sized for a 2-core CPU: 3 seeds x 4 arms of 800 steps, two at a time, one thread each "
        "(about 1.5 h measured, see the README); the arm length is the longest that fits 2.5 h with 3 seeds, "
        "fixed before the run (validation every 200 steps shows whether the losses still separate); "
        "the shared initialisation is the previous experiment's MSE generator (14,000 + 800 MSE steps, "
        "histories pretrain.jsonl and init_mse.jsonl), given one residual for R, G and B",
    ),
    "gpu": Preset(
        name="gpu",
        pretrain_steps=60000,
        pretrain_batch=64,
        pretrain_patch=96,
        pretrain_lr=scaled_lr(5e-4, 64, 16),  # 1e-3: the CPU preset's 5e-4 at batch 16, square-root rule
        arm_steps=4000,
        arm_batch=32,
        arm_patch=96,
        arm_lr=scaled_lr(1e-4, 32, 8),  # 2e-4: the CPU preset's 1e-4 at batch 8, square-root rule
        arm_lr_d=scaled_lr(1e-4, 32, 8),
        arm_warmup=100,
        arm_ema=0.99,
        vgg_feature_scale=SRGAN_VGG_SCALE,
        holdout=8,
        val_max_side=192,
        val_every=2000,
        picture_every=1000,
        workers=4,
        parallel_arms=1,  # per GPU: the driver runs one arm on each visible GPU at once
        threads=0,
        seeds=(0, 1, 2),
        note="for H100/H200-class GPUs, one arm per GPU; NOT measured on a GPU (no GPU time exists for it): "
        "batch 64 / 32, 4x the CPU preset's, learning rates by the square-root rule (scaled_lr)",
    ),
    "smoke": Preset(
        name="smoke",
        pretrain_steps=3,
        pretrain_batch=2,
        pretrain_patch=32,
        pretrain_lr=5e-4,
        arm_steps=2,
        arm_batch=2,
        arm_patch=32,
        arm_lr=1e-4,
        arm_lr_d=1e-4,
        arm_warmup=1,
        arm_ema=0.99,
        vgg_feature_scale=SRGAN_VGG_SCALE,
        holdout=1,
        val_max_side=64,
        val_every=2,
        picture_every=2,
        workers=0,
        parallel_arms=2,
        threads=1,
        seeds=(0, 1),
        note="for tests: runs every stage of the protocol in a minute; trains nothing useful",
    ),
}
PRETRAIN = "pretrain"


def arm_dir(out: Path, key: str, seed: int) -> Path:
    """Run folder of one arm and seed: ``OUT/arms/KEY/seedN``."""
    return out / "arms" / key / f"seed{seed}"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def shared_init(preset: Preset, out: Path) -> Path:
    """The generator every arm starts from: the preset's ``init`` file (its SHA-256 checked), or
    the pre-training stage's export."""
    if not preset.init:
        return out / PRETRAIN / "generator.safetensors"
    path = paths.REPO_ROOT / preset.init
    if not path.is_file():
        raise FileNotFoundError(f"the preset's shared initialisation {path} is missing")
    if preset.init_sha256 and file_sha256(path) != preset.init_sha256:
        raise ValueError(f"{path} is not the file the preset names (SHA-256 differs from {preset.init_sha256})")
    return path


PRETRAIN_WARMUP, PRETRAIN_EMA = 200, 0.999  # the pre-training's warm-up steps and EMA decay (every preset)


def _train_cmd(
    key: str,
    loss: dict[str, float],
    run: Path,
    preset: Preset,
    train_dirs: list[str],
    *,
    steps: int,
    batch: int,
    patch: int,
    lr: float,
    warmup: int,
    ema: float,
    init_from: str | None,
    title: str,
    description: str,
    parallel: bool,
    seed: int,
    save_every: int = 200,
    gpu_lane: bool = False,
) -> list[str]:
    cmd = [
        sys.executable,
        "-m",
        "srcore.train",
        key,
        "--resume",
        "--out",
        str(run),
        "--export",
        str(run / "generator.safetensors"),
        "--loss",
        ",".join(f"{k}={w:g}" for k, w in loss.items()),
        "--title",
        title,
        "--description",
        description,
        "--steps",
        str(steps),
        "--batch",
        str(batch),
        "--patch",
        str(patch),
        "--lr",
        str(lr),
        "--lr-d",
        str(preset.arm_lr_d),
        "--warmup",
        str(warmup),
        "--ema-decay",
        str(ema),
        "--vgg-feature-scale",
        str(preset.vgg_feature_scale),
        "--schedule",
        "cosine",
        "--holdout",
        str(preset.holdout),
        "--val-max-side",
        str(preset.val_max_side),
        "--val-every",
        str(preset.val_every),
        "--picture-every",
        str(preset.picture_every),
        "--save-every",
        str(save_every),
        "--log-every",
        "10",
        "--lock-wait",
        str(LOCK_WAIT),
        "--workers",
        str(preset.workers),
        "--seed",
        str(seed),
    ]
    for d in train_dirs:
        cmd += ["--train-dir", d]
    if init_from:
        cmd += ["--init-from", init_from]
    threads = 1 if parallel and not gpu_lane else preset.threads  # CPU lanes: one thread each
    if threads:
        cmd += ["--threads", str(threads)]
    if parallel:
        cmd += ["--no-progress"]
    return cmd


LOCK_WAIT = 120  # s a stage waits for a killed predecessor's trainer to save its state and leave the folder
STOP_GRACE = 120  # s the stages get to save their state after a SIGTERM before they are killed
_CHILDREN: list[subprocess.Popen] = []  # every stage started and not yet reaped


def _run_stage(name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a stage in its own process group (a terminal's Ctrl-C reaches the driver only, which
    passes it on), told to end with this driver (``SRCORE_PARENT_PID``)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(cmd[1:])}\n  log: {log}", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "SRCORE_PARENT_PID": str(os.getpid()), **(env or {})}
    f = open(log, "a", encoding="utf-8")  # noqa: SIM115 (closed when the process is reaped)
    proc = subprocess.Popen(
        cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=paths.REPO_ROOT, start_new_session=True
    )
    proc.log_file = f  # type: ignore[attr-defined]
    _CHILDREN.append(proc)
    return proc


def _reap(p: subprocess.Popen) -> None:
    p.log_file.close()  # type: ignore[attr-defined]
    if p in _CHILDREN:
        _CHILDREN.remove(p)


def stop_stages(grace: float = STOP_GRACE, sig: int = signal.SIGTERM) -> None:
    """End every running stage: ``sig`` to each (a trainer saves its state and exits), then, after
    ``grace`` seconds, SIGKILL to what is left of their process groups (data workers included).
    A second Ctrl-C meanwhile does not cut this short (it would leave the stages running)."""
    if not _CHILDREN:
        return
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    old = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGTERM, signal.SIGINT)} if main_thread else {}
    try:
        _stop_children(grace, sig)
    finally:
        for s, h in old.items():
            signal.signal(s, h)


def _stop_children(grace: float, sig: int) -> None:
    for p in list(_CHILDREN):
        if p.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, sig)
    deadline = time.monotonic() + grace
    for p in list(_CHILDREN):
        try:
            p.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            print(f"stage pid {p.pid} did not stop within {grace:g} s: killed", file=sys.stderr, flush=True)
            # still running, so the group is its own: its data workers go too
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        _reap(p)


class Stopped(Exception):
    """The driver got SIGTERM or SIGINT; the stages have been stopped."""

    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


def _on_signal(signum: int, frame: FrameType | None) -> None:  # noqa: ARG001 - signal handler signature
    raise Stopped(signum)


def gpu_count() -> int:
    """GPUs this driver can give lanes to (torch's count, which honours CUDA_VISIBLE_DEVICES)."""
    try:
        import torch

        return torch.cuda.device_count() if torch.cuda.is_available() else 0
    except ImportError:
        return 0


class Lanes:
    """Where the arms train at once: one lane per GPU (each arm sees only its GPU through
    ``CUDA_VISIBLE_DEVICES``), or, without GPUs, ``cpu_lanes`` lanes on the CPU."""

    def __init__(self, gpus: int, cpu_lanes: int):
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        ids = [d.strip() for d in visible.split(",") if d.strip()] if visible else []
        self.gpus = gpus
        self.ids = ids[:gpus] if len(ids) >= gpus else [str(i) for i in range(gpus)]
        self.size = gpus if gpus > 0 else max(1, cpu_lanes)
        self.free: list[int] = list(range(self.size))

    def acquire(self) -> tuple[int, dict[str, str]]:
        """(lane, environment of the stage on it); ``free`` must not be empty."""
        lane = self.free.pop(0)
        return lane, ({"CUDA_VISIBLE_DEVICES": self.ids[lane]} if self.gpus > 0 else {})

    def release(self, lane: int) -> None:
        self.free.append(lane)
        self.free.sort()


def _wait(procs: dict[str, subprocess.Popen]) -> None:
    """Wait for all; if one fails, stop the others (they resume later) and say which failed."""
    failed = None
    while procs:
        for name, p in list(procs.items()):
            rc = p.poll()
            if rc is None:
                continue
            _reap(p)
            del procs[name]
            if rc != 0 and failed is None:
                failed = (name, rc)
                for q in procs.values():
                    q.terminate()
            elif rc == 0:
                print(f"[{time.strftime('%H:%M:%S')}] {name}: done", flush=True)
        if procs:
            time.sleep(0.5)
    if failed:
        raise RuntimeError(
            f"stage {failed[0]} failed (exit {failed[1]}); see its log; re-run the same command to resume"
        )


def run_experiment(
    preset: Preset,
    out: Path,
    train_dirs: list[str],
    eval_sets: dict[str, str],
    checkpoints: Path | None = None,
    arms: tuple[ModelSpec, ...] = MODELS,
    publish: bool = True,
    save_every: int = 200,
    gpus: int = 0,
) -> dict:
    """Run (or resume) every stage; returns the protocol record written to ``out/protocol.json``.
    Publishes into ``checkpoints`` (default ``OUT/publish``); any exit (error, signal) stops the
    stages first, so none outlives the driver."""
    try:
        return _run_experiment(
            preset, out, train_dirs, eval_sets, checkpoints or out / "publish", arms, publish, save_every, gpus
        )
    finally:
        stop_stages()


def _run_experiment(
    preset: Preset,
    out: Path,
    train_dirs: list[str],
    eval_sets: dict[str, str],
    checkpoints: Path,
    arms: tuple[ModelSpec, ...],
    publish: bool,
    save_every: int,
    gpus: int,
) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    lanes = Lanes(gpus, preset.parallel_arms)
    proto_path = out / "protocol.json"
    proto = json.loads(proto_path.read_text()) if proto_path.is_file() else {}
    if proto.get("preset") and proto["preset"] != json.loads(json.dumps(asdict(preset))):
        raise ValueError(f"{out} holds an experiment with another preset; use a new --out folder")
    from srcore.checkpoint import git_commit

    proto.update(
        preset=asdict(preset),
        preset_sha256=preset.sha256(),
        preset_commit=proto.get("preset_commit") or git_commit(),
        train_dirs=train_dirs,
        arms=[m.key for m in arms],
        seeds=list(preset.seeds),
        started=proto.get("started", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
    )
    write_text_atomic(proto_path, json.dumps(proto, indent=1))

    pre_run = out / PRETRAIN
    pre_export = shared_init(preset, out)
    if preset.init:
        proto["init"] = {"file": preset.init, "sha256": preset.init_sha256}
    elif not pre_export.is_file():
        cmd = _train_cmd(
            PRETRAIN,
            {"mse": 1.0},
            pre_run,
            preset,
            train_dirs,
            steps=preset.pretrain_steps,
            batch=preset.pretrain_batch,
            patch=preset.pretrain_patch,
            lr=preset.pretrain_lr,
            warmup=PRETRAIN_WARMUP,
            ema=PRETRAIN_EMA,
            init_from=None,
            title="MSE pre-training",
            description="shared MSE pre-training of every arm",
            parallel=False,
            seed=preset.seeds[0],
            save_every=save_every,
            gpu_lane=gpus > 0,
        )
        _, env = lanes.acquire()
        _wait({PRETRAIN: _run_stage(PRETRAIN, cmd, out / "logs" / f"{PRETRAIN}.log", env=env)})
        lanes.release(0)

    todo = [
        (m, seed)
        for seed in preset.seeds
        for m in arms
        if not (arm_dir(out, m.key, seed) / "generator.safetensors").is_file()
    ]

    running: dict[str, subprocess.Popen] = {}
    lane_of: dict[str, int] = {}
    # the slowest arms first so the lanes finish together
    todo.sort(key=lambda ms: (-("adv" in ms[0].loss), -("vgg" in ms[0].loss)))
    while todo or running:
        while todo and lanes.free:
            m, seed = todo.pop(0)
            run = arm_dir(out, m.key, seed)
            name = f"{m.key}-seed{seed}"
            cmd = _train_cmd(
                m.key,
                m.loss,
                run,
                preset,
                train_dirs,
                steps=preset.arm_steps,
                batch=preset.arm_batch,
                patch=preset.arm_patch,
                lr=preset.arm_lr,
                warmup=preset.arm_warmup,
                ema=preset.arm_ema,
                init_from=str(pre_export),
                title=m.title,
                description=m.description,
                parallel=lanes.size > 1,
                seed=seed,
                save_every=save_every,
                gpu_lane=gpus > 0,
            )
            lane, env = lanes.acquire()
            lane_of[name] = lane
            running[name] = _run_stage(name, cmd, out / "logs" / f"{name}.log", env=env)
        finished = {k: p for k, p in running.items() if p.poll() is not None}
        for k in finished:
            running.pop(k)
            lanes.release(lane_of.pop(k))
        if finished:
            try:
                _wait(finished)
            except RuntimeError:
                for q in running.values():  # they resume later from their saved state
                    q.terminate()
                raise
        else:
            time.sleep(1)

    proto["train_seconds"] = train_seconds(out, arms, preset.seeds)
    proto["held_out"] = held_out(out, arms, preset.seeds)
    proto["finished_training"] = proto.get("finished_training") or time.strftime("%Y-%m-%d %H:%M:%S %Z")
    write_text_atomic(proto_path, json.dumps(proto, indent=1))
    if publish:
        publish_results(out, checkpoints, arms, preset.seeds)
        t2 = time.time()
        # the unknown-source pre-filter fitted for these generators (the evaluation scores it, and
        # the app reads it beside them) on their held-out training images, never the benchmark sets
        cmd = [sys.executable, "-m", "srcore.prefilter", "fit", "--out", str(checkpoints / "prefilter.json")]
        cmd += ["--no-progress", "--device", "cuda" if gpus > 0 else "cpu"]
        for m in arms:
            cmd += ["--model", m.key]
        for f in held_out_files(out, train_dirs, arms, preset.seeds):
            cmd += ["--image", str(f)]
        lane, lane_env = lanes.acquire()
        p = _run_stage(
            "prefilter", cmd, out / "logs" / "prefilter.log", env={"SR_CHECKPOINTS": str(checkpoints), **lane_env}
        )
        p.wait()
        _reap(p)
        lanes.release(lane)
        if p.returncode:
            raise RuntimeError(f"the pre-filter fit failed (exit {p.returncode}); see {out / 'logs' / 'prefilter.log'}")
        cmd = [
            sys.executable,
            "-m",
            "srcore.evaluate",
            "--json",
            str(checkpoints / "benchmark.json"),
            "--protocol",
            str(proto_path),
            "--no-progress",
            "--blend-curves",  # the loss slider's curves between the arms (they share one initialisation)
            "--device",
            "cuda" if gpus > 0 else "cpu",
        ]
        for name, folder in eval_sets.items():
            cmd += ["--set", f"{name}={folder}"]
        env = {"SR_CHECKPOINTS": str(checkpoints), **lanes.acquire()[1]}
        p = _run_stage("evaluate", cmd, out / "logs" / "evaluate.log", env=env)
        p.wait()
        _reap(p)
        if p.returncode:
            raise RuntimeError(f"evaluation failed (exit {p.returncode}); see {out / 'logs' / 'evaluate.log'}")
        proto.setdefault("stage_seconds", {})["evaluate"] = round(time.time() - t2)
        write_text_atomic(proto_path, json.dumps(proto, indent=1))
    return proto


def _minutes(seconds: float) -> str:
    m = round(seconds / 60)
    return f"{m // 60} h {m % 60} min" if m >= 60 else f"{m} min"


def describe(proto: dict) -> str:
    """The protocol as run, in words, from its record (``protocol.json``, kept in ``benchmark.json``):
    the checkpoints' README prints it, so the budget and times stated there are the run's own."""
    p = proto["preset"]
    secs = proto.get("train_seconds") or {}
    seeds = proto.get("seeds") or [p.get("seeds", [0])[0] if isinstance(p.get("seeds"), list) else 0]
    arm_secs = {
        a: [secs[f"{a}-seed{s}"] for s in seeds if f"{a}-seed{s}" in secs] or ([secs[a]] if a in secs else [])
        for a in proto.get("arms", [])
    }
    arms = [a for a, v in arm_secs.items() if v]
    lanes = p.get("parallel_arms", 1)
    if p.get("init"):
        start = (
            f"The `{p['name']}` preset as run (preset SHA-256 {str(proto.get('preset_sha256', '?'))[:12]}…, fixed at "
            f"commit {proto.get('preset_commit', '?')} before the run): every arm starts from one shared "
            f"initialisation, `{p['init']}` (SHA-256 {str(p.get('init_sha256', '?'))[:12]}…; the previous "
            f"experiment's MSE generator: a {p['pretrain_steps']:,}-step MSE pre-training of batch "
            f"{p['pretrain_batch']}, {p['pretrain_patch']} px crops, then {p['arm_steps']:,} MSE steps), "
            "with one residual for R, G and B"
        )
    else:
        start = (
            f"The `{p['name']}` preset as run: a shared pre-training of {p['pretrain_steps']:,} steps of batch "
            f"{p['pretrain_batch']}, {p['pretrain_patch']} px HR crops, Adam {p['pretrain_lr']:g} with "
            f"{PRETRAIN_WARMUP} warm-up steps and a cosine schedule, EMA {PRETRAIN_EMA:g}"
            + (f" ({_minutes(secs[PRETRAIN])})" if PRETRAIN in secs else "")
        )
    text = (
        start + f"; then each arm {p['arm_steps']:,} steps of batch {p['arm_batch']}, {p['arm_patch']} px HR crops, "
        f"Adam {p['arm_lr']:g} (discriminator {p['arm_lr_d']:g}) with {p['arm_warmup']} warm-up steps and a "
        f"cosine schedule, EMA {p['arm_ema']:g}, VGG features x 1/{1 / p['vgg_feature_scale']:.4g} as in SRGAN (it "
        "only matters next to the adversarial term; Adam makes the scale irrelevant for SRCNN-PL)"
        + (f", {lanes} arms at a time, one thread each" if lanes > 1 else "")
        + (f"; every arm once per seed ({', '.join(map(str, seeds))}; the first is shipped)" if len(seeds) > 1 else "")
        + "."
    )
    if arms:
        text += (
            f" Arm training times (seeds {', '.join(map(str, seeds))}): "
            + ", ".join(f"{TITLES.get(a, a)} {' / '.join(_minutes(t) for t in arm_secs[a])}" for a in arms)
            + "."
        )
    try:
        t0 = time.strptime(proto["started"], "%Y-%m-%d %H:%M:%S %Z")
        t1 = time.strptime(proto["finished_training"], "%Y-%m-%d %H:%M:%S %Z")
        total = time.mktime(t1) - time.mktime(t0)
        ev = (proto.get("stage_seconds") or {}).get("evaluate")
        if ev:  # the record written after the evaluation (protocol.json)
            text += f" From start to the last figure: {_minutes(total + ev)} (of which the evaluation {_minutes(ev)})."
        else:  # the copy in benchmark.json, taken while the evaluation ran
            text += f" From start to the end of training: {_minutes(total)}."
    except (KeyError, ValueError, OverflowError):  # an interrupted record: the times it has
        pass
    dirs = [Path(d).name for d in proto.get("train_dirs", [])]
    held = proto.get("held_out") or []
    if dirs:
        text += f" Training data: {', '.join(dirs)}" + (
            f", minus {len(held)} images held out for validation ({', '.join(held)})." if held else "."
        )
    return text


def train_seconds(out: Path, arms: tuple[ModelSpec, ...] = MODELS, seeds: tuple[int, ...] = (0,)) -> dict[str, float]:
    """Training wall time of each stage, from its history (survives interruptions and restarts of
    this driver; arms trained side by side overlap in time): ``pretrain`` and ``KEY-seedN``."""
    from srcore import history

    runs = [(PRETRAIN, out / PRETRAIN)]
    runs += [(f"{m.key}-seed{s}", arm_dir(out, m.key, s)) for s in seeds for m in arms]
    secs: dict[str, float] = {}
    for key, run in runs:
        walls = [r["wall"] for r in history.read(run / "history.jsonl") if r.get("kind") == "train" and "wall" in r]
        if walls:
            secs[key] = round(max(walls))
    return secs


def held_out(out: Path, arms: tuple[ModelSpec, ...] = MODELS, seeds: tuple[int, ...] = (0,)) -> list[str]:
    """The validation images held out of the training folders (from the first history that has them)."""
    from srcore import history

    for run in (out / PRETRAIN, *(arm_dir(out, m.key, s) for s in seeds for m in arms)):
        meta = next((r for r in history.read(run / "history.jsonl") if r.get("kind") == "meta"), {})
        if meta.get("held_out"):
            return list(meta["held_out"])
    return []


def held_out_files(
    out: Path, train_dirs: list[str], arms: tuple[ModelSpec, ...] = MODELS, seeds: tuple[int, ...] = (0,)
) -> list[Path]:
    """The held-out validation images as files (``Folder/name.png`` found in the training folder
    of that name)."""
    by_name = {Path(d).name: Path(d) for d in train_dirs}
    files = []
    for name in held_out(out, arms, seeds):
        folder, _, file = name.partition("/")
        if folder in by_name and (by_name[folder] / file).is_file():
            files.append(by_name[folder] / file)
    if not files:
        raise FileNotFoundError(f"no held-out training image found in {', '.join(train_dirs)}")
    return files


SEEDS_DIR = "seeds"  # other seeds' generators and histories, beside the shipped ones


def publish_results(
    out: Path, checkpoints: Path, arms: tuple[ModelSpec, ...] = MODELS, seeds: tuple[int, ...] = (0,)
) -> None:
    """Copy the arms' generators, the histories and the progress pictures into ``checkpoints``: the
    first seed's as the shipped models (``KEY.safetensors``, ``history/KEY.jsonl``, pictures), every
    other seed's into ``seeds/KEY_seedN.safetensors`` and ``history/seeds/KEY_seedN.jsonl``."""
    hist_dir, prog_dir = checkpoints / "history", checkpoints / "progress"
    (hist_dir / SEEDS_DIR).mkdir(parents=True, exist_ok=True)
    (checkpoints / SEEDS_DIR).mkdir(parents=True, exist_ok=True)
    # the perceptual networks' weights too, so the folder is complete (evaluation, SR_CHECKPOINTS=it)
    for f in (paths.VGG16_WEIGHTS, paths.ALEXNET_WEIGHTS, paths.LPIPS_LIN_WEIGHTS):
        if f.is_file() and not (checkpoints / f.name).exists():
            shutil.copyfile(f, checkpoints / f.name)
    shipped = seeds[0]
    runs = {m.key: arm_dir(out, m.key, shipped) for m in arms}
    if (out / PRETRAIN / "history.jsonl").is_file():
        runs = {PRETRAIN: out / PRETRAIN, **runs}
        shutil.copyfile(out / PRETRAIN / "history.jsonl", hist_dir / f"{PRETRAIN}.jsonl")
    # every run validates on the same held-out crops: their LR and HR go beside each run's pictures
    crops = {f.name: f for run in runs.values() for f in (run / "pictures").glob("*_[lh]r.png")}
    for seed in seeds:
        for m in arms:
            run = arm_dir(out, m.key, seed)
            if seed == shipped:
                gen, hist = checkpoints / m.file, hist_dir / f"{m.key}.jsonl"
            else:
                gen = checkpoints / SEEDS_DIR / f"{m.key}_seed{seed}.safetensors"
                hist = hist_dir / SEEDS_DIR / f"{m.key}_seed{seed}.jsonl"
            tmp = gen.with_name(f".{gen.name}.publish")
            shutil.copyfile(run / "generator.safetensors", tmp)
            os.replace(tmp, gen)
            shutil.copyfile(run / "history.jsonl", hist)
    for key, run in runs.items():
        _copy_pictures(run / "pictures", prog_dir / key)
        for name, f in crops.items():
            shutil.copyfile(f, prog_dir / key / name)
    print(f"published {len(arms)} generators x {len(seeds)} seeds, histories and pictures to {checkpoints}", flush=True)


def _copy_pictures(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for f in sorted(src.glob("*.png")):
        shutil.copyfile(f, dst / f.name)


def _positive_int(text: str) -> int:
    if not text.strip().lstrip("-").isdigit() or int(text) <= 0:
        raise argparse.ArgumentTypeError(f"must be a whole number > 0, not {text}")
    return int(text)


def _nonneg_int(text: str) -> int:
    if not text.strip().lstrip("-").isdigit() or int(text) < 0:
        raise argparse.ArgumentTypeError(f"must be a whole number >= 0, not {text}")
    return int(text)


def main(argv: list[str] | None = None) -> int:
    p = cli.parser("srcore.experiment", __doc__)
    p.add_argument("--preset", choices=sorted(PRESETS), default="cpu", help="the budget (default: %(default)s)")
    p.add_argument(
        "--out", default="runs/exp", help="run folder (every stage's state, history, logs; default: %(default)s)"
    )
    shared = paths.REPO_ROOT.parent / "shared" / "data"
    p.add_argument(
        "--train-dir",
        action="append",
        default=None,
        help=f"HR training folder (repeatable; default: {shared / 'train'}/*)",
    )
    p.add_argument("--eval-dir", default=str(shared / "eval"), help="folder of benchmark sets (Set5, Set14, Kodak24)")
    p.add_argument(
        "--publish",
        "--checkpoints",
        dest="publish",
        default=None,
        metavar="DIR",
        help="where to publish the generators, histories, pictures and benchmark.json (default: OUT/publish; "
        "the shipped folder is replaced only when named: --publish checkpoints)",
    )
    p.add_argument("--no-publish", action="store_true", help="train only; publish nothing")
    p.add_argument(
        "--arms",
        default=None,
        metavar="KEY,...",
        help=f"train only these arms (default: all: {','.join(m.key for m in MODELS)})",
    )
    p.add_argument(
        "--save-every",
        type=_positive_int,
        default=200,
        help="steps between the stages' saved states (default: %(default)s; a GAN state is ~160 MB)",
    )
    p.add_argument(
        "--gpus",
        type=_nonneg_int,
        default=None,
        help="GPUs to run arms on, one arm per GPU at once (default: every visible GPU; 0: the CPU)",
    )
    p.add_argument("--show", action="store_true", help="print the preset and the arms, run nothing")
    a = p.parse_args(argv)
    arms = MODELS
    if a.arms:
        keys = [k.strip() for k in a.arms.split(",") if k.strip()]
        unknown = [k for k in keys if k not in {m.key for m in MODELS}]
        if unknown or not keys:
            p.error(
                f"--arms: unknown arm(s) {', '.join(unknown) or '(none given)'}; choose from {', '.join(m.key for m in MODELS)}"
            )
        arms = tuple(m for m in MODELS if m.key in keys)
    preset = PRESETS[a.preset]
    train_dirs = a.train_dir or []
    if not train_dirs and (shared / "train").is_dir():
        train_dirs = sorted(str(d) for d in (shared / "train").iterdir() if d.is_dir())
    if a.show:
        print(json.dumps(asdict(preset), indent=1))
        for m in MODELS:
            print(f"arm {m.key}: {format_loss(m.loss)}")
        return 0
    if not train_dirs:
        print(f"error: no training folders (looked in {shared / 'train'}); give --train-dir", file=sys.stderr)
        return 2
    eval_root = Path(a.eval_dir)
    eval_sets = {d.name: str(d) for d in sorted(eval_root.iterdir()) if d.is_dir()} if eval_root.is_dir() else {}
    if not eval_sets and not a.no_publish:
        print(f"error: no benchmark sets in {eval_root}; give --eval-dir or --no-publish", file=sys.stderr)
        return 2
    out = Path(a.out)
    gpus = gpu_count() if a.gpus is None else a.gpus
    old = {s: signal.signal(s, _on_signal) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        proto = run_experiment(
            preset,
            out,
            train_dirs,
            eval_sets,
            Path(a.publish) if a.publish else out / "publish",
            arms=arms,
            publish=not a.no_publish,
            save_every=a.save_every,
            gpus=gpus,
        )
    except Stopped as e:
        print(f"stopped by {e}: every stage saved its state; re-run the same command to resume", file=sys.stderr)
        return 128 + e.signum
    except (RuntimeError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)
    print(json.dumps({"train_seconds": proto.get("train_seconds"), **proto.get("stage_seconds", {})}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
