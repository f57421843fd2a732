"""Training speed of each model's recipe on this machine: images per second (median of the logged
intervals), ``python benchmarks/train_speed.py [--steps 30] [--threads 2] [--json PATH]``.

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

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _results import ROOT, machine, save  # noqa: E402

SETTINGS = {"srcnn_mse": ("16", "96"), "srcnn_pl": ("8", "64"), "srgan_mse": ("8", "64"), "srgan_pl": ("8", "64")}


def photos(folder: Path) -> None:
    from PIL import Image
    from skimage import data

    folder.mkdir(parents=True)
    for n in ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry"):
        Image.fromarray(getattr(data, n)()).save(folder / f"{n}.png")


def speed(name: str, train: Path, out: Path, steps: int, threads: int, device: str) -> list[float]:
    batch, patch = SETTINGS[name]
    cmd = [sys.executable, "-m", "srcore.train", name, "--train-dir", str(train), "--out", str(out), "--steps", str(steps),
           "--batch", batch, "--patch", patch, "--workers", "0", "--log-every", "5", "--save-every", "100000",
           "--no-progress", "--device", device] + (["--threads", str(threads)] if threads else [])
    if name != "srcnn_mse":
        cmd += ["--init-from", "srcnn_mse"]
    r = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"{name}: training failed:\n{r.stderr[-2000:]}")
    sys.path.insert(0, str(ROOT))
    from srcore import history

    recs = [h for h in history.read(out / "history.jsonl") if h.get("kind") == "train"]
    return [h["images_per_s"] for h in recs[1:]]  # the first interval includes warm-up


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--steps", type=int, default=30)
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch's default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--models", nargs="+", default=list(SETTINGS), choices=list(SETTINGS))
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    print(machine(), flush=True)
    figures = {}
    with tempfile.TemporaryDirectory() as d:
        train = Path(d) / "photos"
        photos(train)
        for name in a.models:
            ips = speed(name, train, Path(d) / name, a.steps, a.threads, a.device)
            b, pt = SETTINGS[name]
            figures[name] = {"batch": int(b), "patch": int(pt), "median_images_per_s": statistics.median(ips),
                             "min": min(ips), "max": max(ips), "intervals": len(ips)}
            print(f"{name:10s} batch {b:>2} x {pt} px: median {statistics.median(ips):6.1f} images/s "
                  f"(min {min(ips):.1f}, max {max(ips):.1f}; {len(ips)} intervals of 5 steps)", flush=True)
    save(a.json, {"device": a.device, "steps": a.steps, "threads": a.threads, "models": figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
