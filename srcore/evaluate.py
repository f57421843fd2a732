"""Benchmark models on HR image folders: ``python -m srcore.evaluate --set Set5=DIR ...``.

For every set and model (zoo names, checkpoint paths, and ``bicubic``): LR by MATLAB bicubic x4
of the mod-cropped HR image, SR, then Y-PSNR, Y-SSIM, RGB-PSNR (border 4) and LPIPS (AlexNet).
Prints a markdown table and writes a JSON with per-image and mean figures, runtime and the
environment.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from srcore.atomic import write_text_atomic
from srcore.checkpoint import CheckpointError, git_commit, load_generator_file
from srcore.data import to_tensor
from srcore.imageio import ImageLoadError, list_images, load_image
from srcore.inference import DEFAULT_TILE, upscale
from srcore.metrics import mod_crop, score
from srcore.models.feature_nets import LPIPS
from srcore.zoo import MODEL_NAMES
from srcore.resize import downscale_x4
from srcore.zoo import TITLES, checkpoint_path

METRICS = ("psnr_y", "ssim_y", "psnr_rgb", "lpips")


def lpips_numpy(model: LPIPS, device: str):
    def fn(a: np.ndarray, b: np.ndarray) -> float:
        with torch.inference_mode():
            return float(model(to_tensor(a).unsqueeze(0).to(device), to_tensor(b).unsqueeze(0).to(device)))
    return fn


def evaluate(sets: dict[str, Path], models: list[str], device: str = "cpu", tile: int | None = DEFAULT_TILE,
             progress: bool = True) -> dict:
    """Evaluate ``models`` on ``sets`` ({name: folder}); returns the benchmark dict."""
    files_by_set = {name: list_images(folder) for name, folder in sets.items()}  # fail early on a bad folder
    lp = LPIPS().to(device)
    lp_fn = lpips_numpy(lp, device)
    gens, meta = {}, {}
    for m in models:
        if m == "bicubic":
            gens[m] = None
            meta[m] = {"title": "Bicubic", "description": "MATLAB-style bicubic x4"}
            continue
        gens[m], md = load_generator_file(checkpoint_path(m), device)  # weights and metadata in one read
        meta[m] = {"title": TITLES.get(m, m), "checkpoint": str(checkpoint_path(m).name), "steps": md.get("steps"),
                   "recipe": md.get("recipe"), "hardware": md.get("hardware"), "train_seconds": md.get("train_seconds"),
                   "git_commit": md.get("git_commit")}
    out: dict = {"scale": 4, "convention": "Y channel of MATLAB rgb2ycbcr (BT.601) and RGB; HR mod-cropped to 4; "
                 "4-pixel border shaved; LR by MATLAB-style antialiased bicubic x4; LPIPS v0.1 AlexNet on the shaved RGB",
                 "sets": {}, "models": meta}
    for set_name, folder in sets.items():
        files = files_by_set[set_name]
        if not files:
            raise FileNotFoundError(f"no images in {folder}")
        entry = {"folder": str(folder), "images": [f.stem for f in files], "models": {}}
        hrs = [mod_crop(load_image(f).array) for f in files]
        lrs = [downscale_x4(hr) for hr in hrs]
        for m in models:
            per, secs = {}, 0.0
            for f, hr, lr in tqdm(list(zip(files, hrs, lrs)), desc=f"{set_name} {m}", disable=not progress, leave=False):
                t0 = time.perf_counter()
                sr = upscale(gens[m], lr, device=device, tile=tile)
                secs += time.perf_counter() - t0
                per[f.stem] = score(sr, hr, lpips_fn=lp_fn).as_dict()
            mean = {k: float(np.mean([v[k] for v in per.values()])) for k in METRICS}
            entry["models"][m] = {"mean": mean, "per_image": per, "seconds": round(secs, 4)}
        out["sets"][set_name] = entry
    out["environment"] = {
        "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform(),
        "device": torch.cuda.get_device_name(0) if device.startswith("cuda") else f"CPU, {torch.get_num_threads()} threads",
        "git_commit": git_commit(), "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    return out


def markdown_table(bench: dict) -> str:
    """Per set and model: Y-PSNR, Y-SSIM, RGB-PSNR, LPIPS (the README's results table)."""
    lines = ["| set | model | Y-PSNR (dB) | Y-SSIM | RGB-PSNR (dB) | LPIPS |", "|---|---|---:|---:|---:|---:|"]
    for s, e in bench["sets"].items():
        for m, r in e["models"].items():
            mu = r["mean"]
            title = bench.get("models", {}).get(m, {}).get("title", m)
            lines.append(f"| {s} | {title} | {mu['psnr_y']:.2f} | {mu['ssim_y']:.4f} | {mu['psnr_rgb']:.2f} | {mu['lpips']:.4f} |")
    return "\n".join(lines)


def _parse_set(s: str) -> tuple[str, Path]:
    if "=" in s:
        name, folder = s.split("=", 1)
        return name, Path(folder)
    return Path(s).name, Path(s)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m srcore.evaluate", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--set", action="append", required=True, metavar="NAME=DIR", help="HR image folder (repeatable)")
    p.add_argument("--model", action="append", default=None,
                   help="zoo name, .safetensors path or 'bicubic' (repeatable; default: bicubic and the four models)")
    p.add_argument("--missing", action="append", default=[], metavar="NAME=REASON",
                   help="record a benchmark set that could not be evaluated, and why (repeatable)")
    p.add_argument("--json", default=None, help="write the results here (e.g. checkpoints/benchmark.json)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help="LR tile side for large images (0: never tile)")
    p.add_argument("--no-progress", action="store_true")
    a = p.parse_args(argv)
    models = a.model or ["bicubic", *MODEL_NAMES]
    sets = dict(_parse_set(s) for s in a.set)
    try:
        bench = evaluate(sets, models, a.device, a.tile or None, progress=not a.no_progress)
    except (FileNotFoundError, ImageLoadError, CheckpointError, KeyError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if a.missing:
        bench["unavailable_sets"] = dict(m.split("=", 1) if "=" in m else (m, "not available") for m in a.missing)
    print(markdown_table(bench))
    if a.json:
        write_text_atomic(a.json, json.dumps(bench, indent=1))
        print(f"\nwrote {a.json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
