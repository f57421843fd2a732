"""Training speed and input-pipeline overhead: ``python -m benchmarks.train_speed [--steps 60] [--json PATH]``.

For each model it trains with the real trainer (``srcore.train.Trainer``: data loader with
workers, loss logging, background state saves) and prints images/s and the share of the step
time spent outside compute: 1 - (time of the same number of training steps on batches already on
the device) / (time of the real run).  So the share counts data loading, host syncs, logging and
saves, whatever their cause.  Images are scikit-image's bundled photos, so nothing outside the
repository is needed.  Settings: SRCNN-MSE at batch 16 of 96 px crops with 2 workers (issue
15's bar); the arms at the experiment preset's batch and crop.  ``--device cuda`` on a GPU.

``--repeats N`` runs the models interleaved (round 1: every model, round 2: every model, ...), so
a change in the machine's load hits all models alike, and prints the median with the range of the
repeats.  The share outside compute is printed as measured: a negative share (the real run
quicker than the compute-only loop, i.e. noise larger than the overhead) is shown as it is, never
clamped to 0.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._results import machine, save
from srcore.experiment import PRESETS
from srcore.zoo import MODEL_NAMES, MSE_ARM


def photos(folder: Path) -> None:
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True)
    for n in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"):
        Image.fromarray(getattr(data, n)()).save(folder / f"{n}.png")


def _sync(device) -> None:
    import torch

    if device.type == "cuda":
        torch.cuda.synchronize(device)


def measure(
    key: str,
    batch: int,
    patch: int,
    train: Path,
    out: Path,
    steps: int,
    warmup: int,
    workers: int,
    threads: int,
    device: str,
    compile_: bool,
    channels_last: bool,
) -> dict:
    import dataclasses

    import torch

    import srcore.config as C
    from srcore.train import Trainer

    try:
        from srcore.data import batch_to_device as to_device  # uint8 crops, made float on the device
    except ImportError:  # the trainer before issue 15 (float crops)

        def to_device(t, device, memory_format):
            return t.to(device, memory_format=memory_format)

    if hasattr(C, "finetune_recipe"):
        from srcore.zoo import spec

        recipe = C.finetune_recipe(spec(key).loss)
    else:  # the trainer before issue 15 (to measure "before" with the same script)
        recipe = C.recommended_recipe(key)
    recipe = recipe.updated(steps=warmup + steps, batch=batch, patch=patch, warmup=0, crops_per_image=64)
    recipe.init_from = None  # speed only: start from the initialisation, no checkpoint needed
    fields = {f.name for f in dataclasses.fields(C.TrainConfig)}
    extra = {k: v for k, v in (("compile", compile_), ("channels_last", channels_last)) if k in fields}
    cfg = C.TrainConfig(
        name=key,
        train_dirs=[str(train)],
        out_dir=str(out),
        workers=workers,
        threads=threads,
        device=device,
        progress=False,
        log_every=10,
        save_every=50,
        val_every=10**9,
        picture_every=10**9,
        **extra,
    )
    tr = Trainer(cfg, recipe)
    memory_format = getattr(tr, "memory_format", torch.contiguous_format)
    # the real run: warm-up steps first (allocator, worker start), then the timed steps
    t_mark: dict[str, float] = {}
    step_fn = tr.train_step

    def timed_step(lr, hr):
        if tr.step == warmup:
            _sync(tr.device)
            t_mark["start"] = time.perf_counter()
        return step_fn(lr, hr)

    tr.train_step = timed_step  # type: ignore[method-assign]
    tr.run()
    _sync(tr.device)
    real = time.perf_counter() - t_mark["start"]
    # pure compute: the same number of steps on batches already on the device
    lr, hr = next(iter(torch.utils.data.DataLoader(tr.dataset, batch_size=batch)))
    lr = to_device(lr, tr.device, memory_format)
    hr = to_device(hr, tr.device, memory_format)
    for _ in range(3):
        step_fn(lr, hr)
    _sync(tr.device)
    t0 = time.perf_counter()
    for _ in range(steps):
        step_fn(lr, hr)
    _sync(tr.device)
    compute = time.perf_counter() - t0
    if hasattr(tr, "close"):  # data workers and the run folder's lock
        tr.close()
    return {
        "batch": batch,
        "patch": patch,
        "workers": workers,
        "steps": steps,
        "images_per_s": batch * steps / real,
        "compute_images_per_s": batch * steps / compute,
        "share_outside_compute": 1 - compute / real,  # < 0 when noise exceeds the overhead: shown, not clamped
    }


# batch and crop per model as the cpu preset trains it: the MSE arm's as the shared pre-training, the others' as arms
_CPU = PRESETS["cpu"]
SETTINGS = {
    k: (_CPU.pretrain_batch, _CPU.pretrain_patch) if k == MSE_ARM else (_CPU.arm_batch, _CPU.arm_patch)
    for k in MODEL_NAMES
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=60)
    p.add_argument("--warmup", type=int, default=10)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--batch", type=int, default=None, help="override every model's batch (e.g. 16 on a GPU)")
    p.add_argument("--patch", type=int, default=None, help="override every model's crop")
    p.add_argument("--compile", action="store_true")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument(
        "--repeats", type=int, default=3, help="interleaved runs per model; median and range are reported (default 3)"
    )
    p.add_argument("--models", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    if a.repeats < 1 or a.steps < 1 or a.warmup < 0:
        p.error("--repeats and --steps must be > 0, --warmup >= 0")
    print(machine(), flush=True)
    figures = {}
    runs: dict[str, list[dict]] = {key: [] for key in a.models}
    with tempfile.TemporaryDirectory() as d:
        train = Path(d) / "photos"
        photos(train)
        for i in range(a.repeats):  # interleaved: round i runs every model once
            for key in a.models:
                batch, patch = a.batch or SETTINGS[key][0], a.patch or SETTINGS[key][1]
                r = measure(
                    key,
                    batch,
                    patch,
                    train,
                    Path(d) / f"{key}{i}",
                    a.steps,
                    a.warmup,
                    a.workers,
                    a.threads,
                    a.device,
                    a.compile,
                    a.channels_last,
                )
                runs[key].append(r)
                print(f"  round {i + 1}/{a.repeats} {key}: {r['images_per_s']:.1f} images/s", flush=True)
        for key in a.models:
            rs = runs[key]
            f = {k: (statistics.median([r[k] for r in rs]) if isinstance(v, float) else v) for k, v in rs[0].items()}
            for k in ("images_per_s", "compute_images_per_s", "share_outside_compute"):
                f[f"{k}_range"] = [min(r[k] for r in rs), max(r[k] for r in rs)]
                f[f"{k}_repeats"] = [r[k] for r in rs]
            figures[key] = f
            lo, hi = f["images_per_s_range"]
            slo, shi = f["share_outside_compute_range"]
            print(
                f"{key:10s} batch {f['batch']:>2} x {f['patch']} px, {a.workers} workers: {f['images_per_s']:7.1f} images/s "
                f"(range {lo:.1f}-{hi:.1f} over {len(rs)} interleaved repeats; compute alone "
                f"{f['compute_images_per_s']:.1f}); outside compute {100 * f['share_outside_compute']:.1f} % "
                f"(range {100 * slo:.1f} to {100 * shi:.1f} %)",
                flush=True,
            )
    save(
        a.json,
        {
            "device": a.device,
            "steps": a.steps,
            "threads": a.threads,
            "workers": a.workers,
            "compile": a.compile,
            "channels_last": a.channels_last,
            "repeats": a.repeats,
            "interleaved": True,
            "models": figures,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
