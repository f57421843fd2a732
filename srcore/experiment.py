"""The loss experiment, as code: ``python -m srcore.experiment --preset cpu --out runs/exp``.

One shared MSE pre-training, then one arm per model of the table (``srcore.zoo.MODELS``), all of
equal length from that same initialisation with the same data, crops, batch, optimiser,
schedule and seed: only the objective differs (the MSE arm continues with MSE).  Then the arms
are evaluated (``srcore.evaluate``) and published into the checkpoints folder: generators,
histories (the pre-training's once, each arm's from its real starting step), progress pictures,
``benchmark.json`` and the model cards.

Every arm's length is fixed by the preset before training starts; nothing is selected on the
benchmark sets: validation uses images held out of the training folders (chosen by name hash,
listed in every history).  Every stage is a subprocess that resumes from its own saved state, so
re-running the same command after any interruption continues where it stopped; finished stages
are skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from srcore import paths
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
    seed: int = 0
    note: str = ""


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
        val_every=1000,
        picture_every=200,
        workers=1,
        parallel_arms=2,
        threads=0,
        note="sized for a 2-core CPU: 0.5-2 hours in all (29.5 min to 1 h 11 min measured); the pre-training uses both cores, the arms one each, two at a time",
    ),
    "gpu": Preset(
        name="gpu",
        pretrain_steps=60000,
        pretrain_batch=16,
        pretrain_patch=96,
        pretrain_lr=5e-4,
        arm_steps=4000,
        arm_batch=16,
        arm_patch=96,
        arm_lr=1e-4,
        arm_lr_d=1e-4,
        arm_warmup=100,
        arm_ema=0.99,
        vgg_feature_scale=SRGAN_VGG_SCALE,
        holdout=8,
        val_max_side=192,
        val_every=2000,
        picture_every=1000,
        workers=4,
        parallel_arms=1,
        threads=0,
        note="sized for one H100/H200 from measured per-step times (benchmarks/train_speed.py); see the README",
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
        note="for tests: runs every stage of the protocol in a minute; trains nothing useful",
    ),
}
PRETRAIN = "pretrain"
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
        "200",
        "--log-every",
        "10",
        "--workers",
        str(preset.workers),
        "--seed",
        str(preset.seed),
    ]
    for d in train_dirs:
        cmd += ["--train-dir", d]
    if init_from:
        cmd += ["--init-from", init_from]
    threads = 1 if parallel else preset.threads
    if threads:
        cmd += ["--threads", str(threads)]
    if parallel:
        cmd += ["--no-progress"]
    return cmd


def _run_stage(name: str, cmd: list[str], log: Path, env: dict[str, str] | None = None) -> subprocess.Popen:
    log.parent.mkdir(parents=True, exist_ok=True)
    print(f"[{time.strftime('%H:%M:%S')}] {name}: {' '.join(cmd[1:])}\n  log: {log}", flush=True)
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})}
    f = open(log, "a", encoding="utf-8")  # noqa: SIM115 (closed when the process is reaped)
    proc = subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=paths.REPO_ROOT)
    proc.log_file = f  # type: ignore[attr-defined]
    return proc


def _wait(procs: dict[str, subprocess.Popen]) -> None:
    """Wait for all; if one fails, stop the others (they resume later) and say which failed."""
    failed = None
    while procs:
        for name, p in list(procs.items()):
            rc = p.poll()
            if rc is None:
                continue
            p.log_file.close()  # type: ignore[attr-defined]
            del procs[name]
            if rc != 0 and failed is None:
                failed = (name, rc)
                for q in procs.values():
                    q.terminate()
            elif rc == 0:
                print(f"[{time.strftime('%H:%M:%S')}] {name}: done", flush=True)
        time.sleep(2)
    if failed:
        raise RuntimeError(
            f"stage {failed[0]} failed (exit {failed[1]}); see its log; re-run the same command to resume"
        )


def run_experiment(
    preset: Preset,
    out: Path,
    train_dirs: list[str],
    eval_sets: dict[str, str],
    checkpoints: Path,
    arms: tuple[ModelSpec, ...] = MODELS,
    publish: bool = True,
) -> dict:
    """Run (or resume) every stage; returns the protocol record written to ``out/protocol.json``."""
    out.mkdir(parents=True, exist_ok=True)
    proto_path = out / "protocol.json"
    proto = json.loads(proto_path.read_text()) if proto_path.is_file() else {}
    if proto.get("preset") and proto["preset"] != asdict(preset):
        raise ValueError(f"{out} holds an experiment with another preset; use a new --out folder")
    proto.update(
        preset=asdict(preset),
        train_dirs=train_dirs,
        arms=[m.key for m in arms],
        started=proto.get("started", time.strftime("%Y-%m-%d %H:%M:%S %Z")),
    )
    write_text_atomic(proto_path, json.dumps(proto, indent=1))

    pre_run = out / PRETRAIN
    pre_export = pre_run / "generator.safetensors"
    if not pre_export.is_file():
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
        )
        _wait({PRETRAIN: _run_stage(PRETRAIN, cmd, out / "logs" / f"{PRETRAIN}.log")})

    todo = [m for m in arms if not (out / "arms" / m.key / "generator.safetensors").is_file()]

    running: dict[str, subprocess.Popen] = {}
    lanes = max(1, preset.parallel_arms)
    # the slowest arms first so the lanes finish together
    todo.sort(key=lambda m: (-("adv" in m.loss), -("vgg" in m.loss)))
    while todo or running:
        while todo and len(running) < lanes:
            m = todo.pop(0)
            run = out / "arms" / m.key
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
                parallel=lanes > 1,
            )
            running[m.key] = _run_stage(m.key, cmd, out / "logs" / f"{m.key}.log")
        finished = {k: p for k, p in running.items() if p.poll() is not None}
        for k in finished:
            running.pop(k)
        if finished:
            try:
                _wait(finished)
            except RuntimeError:
                for q in running.values():  # they resume later from their saved state
                    q.terminate()
                raise
        else:
            time.sleep(2)

    proto["train_seconds"] = train_seconds(out, arms)
    proto["held_out"] = held_out(out)
    proto["finished_training"] = proto.get("finished_training") or time.strftime("%Y-%m-%d %H:%M:%S %Z")
    write_text_atomic(proto_path, json.dumps(proto, indent=1))
    if publish:
        publish_results(out, checkpoints, arms)
        t2 = time.time()
        cmd = [
            sys.executable,
            "-m",
            "srcore.evaluate",
            "--json",
            str(checkpoints / "benchmark.json"),
            "--protocol",
            str(proto_path),
            "--no-progress",
        ]
        for name, folder in eval_sets.items():
            cmd += ["--set", f"{name}={folder}"]
        p = _run_stage("evaluate", cmd, out / "logs" / "evaluate.log", env={"SR_CHECKPOINTS": str(checkpoints)})
        p.wait()
        p.log_file.close()  # type: ignore[attr-defined]
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
    arms = [a for a in proto.get("arms", []) if a in secs]
    lanes = p.get("parallel_arms", 1)
    text = (
        f"The `{p['name']}` preset as run: a shared pre-training of {p['pretrain_steps']:,} steps of batch "
        f"{p['pretrain_batch']}, {p['pretrain_patch']} px HR crops, Adam {p['pretrain_lr']:g} with "
        f"{PRETRAIN_WARMUP} warm-up steps and a cosine schedule, EMA {PRETRAIN_EMA:g}"
        + (f" ({_minutes(secs[PRETRAIN])})" if PRETRAIN in secs else "")
        + f"; then each arm {p['arm_steps']:,} steps of batch {p['arm_batch']}, {p['arm_patch']} px HR crops, "
        f"Adam {p['arm_lr']:g} (discriminator {p['arm_lr_d']:g}) with {p['arm_warmup']} warm-up steps and a "
        f"cosine schedule, EMA {p['arm_ema']:g}, VGG features x 1/{1 / p['vgg_feature_scale']:.4g} as in SRGAN (it "
        "only matters next to the adversarial term; Adam makes the scale irrelevant for SRCNN-PL)"
        + (f", {lanes} arms at a time, one thread each" if lanes > 1 else "")
        + "."
    )
    if arms:
        text += " Arm training times: " + ", ".join(f"{TITLES.get(a, a)} {_minutes(secs[a])}" for a in arms) + "."
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


def train_seconds(out: Path, arms: tuple[ModelSpec, ...] = MODELS) -> dict[str, float]:
    """Training wall time of each stage, from its history (survives interruptions and restarts of
    this driver; arms trained side by side overlap in time)."""
    from srcore import history

    secs: dict[str, float] = {}
    for key, run in ((PRETRAIN, out / PRETRAIN), *((m.key, out / "arms" / m.key) for m in arms)):
        walls = [r["wall"] for r in history.read(run / "history.jsonl") if r.get("kind") == "train" and "wall" in r]
        if walls:
            secs[key] = round(max(walls))
    return secs


def held_out(out: Path) -> list[str]:
    """The validation images held out of the training folders (from the pre-training's history)."""
    from srcore import history

    meta = next((r for r in history.read(out / PRETRAIN / "history.jsonl") if r.get("kind") == "meta"), {})
    return list(meta.get("held_out") or [])


def publish_results(out: Path, checkpoints: Path, arms: tuple[ModelSpec, ...] = MODELS) -> None:
    """Copy the arms' generators, the histories and the progress pictures into the checkpoints folder."""
    hist_dir, prog_dir = checkpoints / "history", checkpoints / "progress"
    hist_dir.mkdir(parents=True, exist_ok=True)
    runs = {PRETRAIN: out / PRETRAIN, **{m.key: out / "arms" / m.key for m in arms}}
    # every run validates on the same held-out crops: their LR and HR go beside each run's pictures
    crops = {f.name: f for run in runs.values() for f in (run / "pictures").glob("*_[lh]r.png")}
    shutil.copyfile(out / PRETRAIN / "history.jsonl", hist_dir / f"{PRETRAIN}.jsonl")
    for m in arms:
        run = runs[m.key]
        tmp = checkpoints / f".{m.file}.publish"
        shutil.copyfile(run / "generator.safetensors", tmp)
        os.replace(tmp, checkpoints / m.file)
        shutil.copyfile(run / "history.jsonl", hist_dir / f"{m.key}.jsonl")
    for key, run in runs.items():
        _copy_pictures(run / "pictures", prog_dir / key)
        for name, f in crops.items():
            shutil.copyfile(f, prog_dir / key / name)
    print(f"published {len(arms)} generators, histories and pictures to {checkpoints}", flush=True)


def _copy_pictures(src: Path, dst: Path) -> None:
    if dst.exists():
        shutil.rmtree(dst)
    dst.mkdir(parents=True)
    for f in sorted(src.glob("*.png")):
        shutil.copyfile(f, dst / f.name)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m srcore.experiment", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument(
        "--preset",
        choices=sorted(PRESETS),
        default="cpu",
        help="the run's lengths and batch, see --show (default: cpu)",
    )
    p.add_argument(
        "--out", default="runs/exp", help="run folder (every stage's state, history, logs; default: runs/exp)"
    )
    shared = paths.REPO_ROOT.parent / "shared" / "data"
    p.add_argument(
        "--train-dir",
        action="append",
        default=None,
        help=f"HR training folder (repeatable; default: {shared / 'train'}/*)",
    )
    p.add_argument(
        "--eval-dir",
        default=str(shared / "eval"),
        help=f"folder of benchmark sets (Set5, Set14, Kodak24; default: {shared / 'eval'})",
    )
    p.add_argument(
        "--checkpoints",
        default=str(paths.CHECKPOINTS),
        help=f"where to publish the results (default: {paths.CHECKPOINTS})",
    )
    p.add_argument("--no-publish", action="store_true", help="train only; publish nothing")
    p.add_argument("--show", action="store_true", help="print the preset and the arms, run nothing")
    a = p.parse_args(argv)
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
    try:
        proto = run_experiment(
            preset, Path(a.out), train_dirs, eval_sets, Path(a.checkpoints), publish=not a.no_publish
        )
    except (RuntimeError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps({"train_seconds": proto.get("train_seconds"), **proto.get("stage_seconds", {})}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
