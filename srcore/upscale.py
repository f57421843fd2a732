"""Upscale your own images x4: ``python -m srcore.upscale photo.jpg [more ...] --model srgan_pl``.

Reads any common image (grayscale, RGBA, palette, 16-bit, CMYK, EXIF-rotated, animated: first
frame), runs one or more generators tile by tile (memory stays bounded: a 2048x2048 input needs
well under 1 GB), and writes PNGs named ``<stem>_<model>_x4.png`` into ``--out``.  Inputs whose
x4 output would exceed ``--max-output-mp`` megapixels are refused with the limit stated.  A bad
file gets a one-line reason and the others are still processed; the exit status is 1 if any
input failed, 2 for a usage error (unknown model, damaged checkpoint).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch
from PIL import Image
from tqdm import tqdm

from srcore import SCALE
from srcore.atomic import atomic_path
from srcore.checkpoint import CheckpointError
from srcore.imageio import IMAGE_SUFFIXES, ImageLoadError, list_images, load_image
from srcore.inference import DEFAULT_TILE, upscale
from srcore.zoo import MODEL_NAMES
from srcore.zoo import load_generator

DEFAULT_MAX_OUTPUT_MP = 100.0  # x4 output megapixels (about 0.3 GB as 8-bit RGB): LR up to 2500x2500
MIN_SIDE = 2


class UpscaleError(ValueError):
    """An input this tool will not process; the message is meant for the user."""


def check_size(h: int, w: int, max_output_mp: float) -> None:
    if min(h, w) < MIN_SIDE:
        raise UpscaleError(f"the image is {w}x{h}; it needs at least {MIN_SIDE} px per side")
    out_mp = h * w * SCALE * SCALE / 1e6
    if out_mp > max_output_mp:
        lr_mp = max_output_mp / (SCALE * SCALE)
        raise UpscaleError(
            f"the image is {w}x{h}; x4 would make {SCALE * w}x{SCALE * h} ({out_mp:.0f} MP), above the limit of "
            f"{max_output_mp:g} MP output (inputs up to {lr_mp:.2f} MP); crop it, or raise --max-output-mp")


def inputs(paths: list[str]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(list_images(p) if p.is_dir() else [p])
    return out


def output_name(src: Path, model: str) -> str:
    return f"{src.stem}_{model}_x{SCALE}.png"


def upscale_file(src: Path, models: dict, out_dir: Path, tile: int | None, device: str, max_output_mp: float,
                 progress: bool = True) -> tuple[list[Path], list[str]]:
    """Upscale one file with every model; returns (written files, notes about the input)."""
    li = load_image(src)
    h, w = li.array.shape[:2]
    check_size(h, w, max_output_mp)
    written = []
    for name, model in models.items():
        bar = tqdm(total=0, desc=f"{src.name} {name}", unit="tile", leave=False, disable=not progress or model is None)

        def tick(done: int, total: int, bar=bar) -> None:
            bar.total = total
            bar.update(done - bar.n)

        sr = upscale(model, li.array, device, tile, progress=tick)
        bar.close()
        dst = out_dir / output_name(src, name)
        with atomic_path(dst) as tmp:
            Image.fromarray(sr).save(tmp, format="PNG", compress_level=1)
        del sr
        written.append(dst)
    return written, li.notes


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m srcore.upscale", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("inputs", nargs="+", help="image files or folders of images")
    p.add_argument("--model", action="append", default=None,
                   help=f"{', '.join(MODEL_NAMES)}, bicubic, all, or a .safetensors checkpoint (repeatable; "
                        "default srgan_pl)")
    p.add_argument("--out", default="upscaled", help="output folder (default ./upscaled)")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help="LR tile side in px (0 = whole image at once)")
    p.add_argument("--max-output-mp", type=float, default=DEFAULT_MAX_OUTPUT_MP,
                   help="refuse inputs whose x4 output is larger (megapixels)")
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch (0 = default)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-progress", action="store_true")
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    names = a.model or ["srgan_pl"]
    if "all" in names:
        names = ["bicubic", *MODEL_NAMES]
    models: dict = {}
    for n in dict.fromkeys(names):
        if n == "bicubic":
            models[n] = None
            continue
        if n not in MODEL_NAMES and not n.endswith(".safetensors"):
            print(f"error: unknown model {n!r}; choose from {', '.join(MODEL_NAMES)}, bicubic, all, "
                  "or give a .safetensors checkpoint", file=sys.stderr)
            return 2
        try:
            models[Path(n).stem if n.endswith(".safetensors") else n] = load_generator(n, a.device)
        except CheckpointError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
    try:
        files = inputs(a.inputs)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if not files:
        print(f"error: no images found (looked for {', '.join(sorted(IMAGE_SUFFIXES))})", file=sys.stderr)
        return 2
    out_dir = Path(a.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for src in files:
        try:
            written, notes = upscale_file(src, models, out_dir, a.tile or None, a.device, a.max_output_mp,
                                          progress=not a.no_progress)
        except (ImageLoadError, UpscaleError) as e:
            failed += 1
            print(f"skipped {src}: {e}", file=sys.stderr)
            continue
        except MemoryError:
            failed += 1
            print(f"skipped {src}: not enough memory; use a smaller --tile or a smaller image", file=sys.stderr)
            continue
        note = f" ({'; '.join(notes)})" if notes else ""
        print(f"{src} -> {', '.join(str(p) for p in written)}{note}")
    if failed:
        print(f"{failed} of {len(files)} input(s) could not be upscaled", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
