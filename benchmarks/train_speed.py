"""Training speed of each model's recipe on this machine: images per second (median of the logged
intervals), ``python -m benchmarks.train_speed [--steps 30] [--threads 2] [--json PATH]``.

Runs ``python -m srcore.train`` for a few steps per model on scikit-image's bundled photos (so it
needs nothing outside the repository), with the batch and crop sizes the shipped checkpoints were
trained with: SRCNN-MSE batch 16 of 96 px crops; the three fine-tunes batch 8 of 64 px crops (the
PL models add a VGG16 forward/backward, the GANs a discriminator step).  No validation.
On a GPU machine pass ``--device cuda``.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks._results import ROOT, machine, save
from srcore.zoo import MODEL_NAMES, MODELS, spec


def settings(name: str) -> tuple[str, str]:
    """(batch, patch) as measured: the pixel-loss model at 16x96, the VGG / GAN ones at 8x64 (memory)."""
    return ("16", "96") if set(spec(name).loss) == {"mse"} else ("8", "64")


def photos(folder: Path) -> None:
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True)
    for n in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"):
        Image.fromarray(getattr(data, n)()).save(folder / f"{n}.png")


def speed(name: str, train: Path, out: Path, steps: int, threads: int, device: str) -> list[float]:
    batch, patch = settings(name)
    cmd = [sys.executable, "-m", "srcore.train", name, "--train-dir", str(train), "--out", str(out), "--steps", str(steps),
           "--batch", batch, "--patch", patch, "--workers", "0", "--log-every", "5", "--save-every", "100000",
           "--no-progress", "--device", device] + (["--threads", str(threads)] if threads else [])
    if name != MODELS[0].key:  # the others fine-tune from the first (pixel-loss) model
        cmd += ["--init-from", MODELS[0].key]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{name}: training failed:\n{r.stderr[-2000:]}")
    from srcore import history

    recs = [h for h in history.read(out / "history.jsonl") if h.get("kind") == "train"]
    return [h["images_per_s"] for h in recs[1:]]  # the first interval includes warm-up


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--models", nargs="+", default=list(MODEL_NAMES), choices=list(MODEL_NAMES))
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    print(machine(), flush=True)
    figures = {}
    with tempfile.TemporaryDirectory() as d:
        train = Path(d) / "photos"
        photos(train)
        for name in a.models:
            ips = speed(name, train, Path(d) / name, a.steps, a.threads, a.device)
            b, pt = settings(name)
            figures[name] = {"batch": int(b), "patch": int(pt), "median_images_per_s": statistics.median(ips),
                             "min": min(ips), "max": max(ips), "intervals": len(ips)}
            print(f"{name:10s} batch {b:>2} x {pt} px: median {statistics.median(ips):6.1f} images/s "
                  f"(min {min(ips):.1f}, max {max(ips):.1f}; {len(ips)} intervals of 5 steps)", flush=True)
    save(a.json, {"device": a.device, "steps": a.steps, "threads": a.threads, "models": figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
