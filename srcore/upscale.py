"""Upscale your own images x4: ``python -m srcore.upscale photo.jpg [more ...] --model srgan_pl``.

Reads any common image (grayscale, RGBA, palette, 16-bit, CMYK, EXIF-rotated, animated: first
frame), runs one or more generators tile by tile (memory stays bounded: a 2048x2048 input needs
well under 1 GB), and writes PNGs named ``<stem>_<model>_x4.png`` into ``--out``.  Inputs whose
x4 output would exceed ``--max-output-mp`` megapixels are refused with the limit stated.  A bad
file gets a one-line reason and the others are still processed.

Nothing is ever overwritten: an output name already taken (by a file in ``--out``, or by another
input with the same stem, e.g. ``a/photo.webp`` and ``b/photo.jpg``) gets a numbered stem
(``photo-2_srgan_pl_x4.png``), said on stderr; with ``--no-rename`` the run stops before writing
anything instead.  Exit status: 0 all written under their usual names, 1 an input failed,
2 a usage error (unknown model, damaged checkpoint, a name clash under ``--no-rename``),
3 all written but some under a numbered name.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

import torch
from tqdm import tqdm

from srcore import SCALE, cli
from srcore.checkpoint import CheckpointError
from srcore.imageio import IMAGE_SUFFIXES, ImageLoadError, list_images, load_image, save_png
from srcore.inference import DEFAULT_TILE, prepare, upscale
from srcore.prefilter import SOURCES, PrefilterError, describe
from srcore.zoo import GAN_PL_ARM, MODEL_NAMES, load_generator

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
            f"{max_output_mp:g} MP output (inputs up to {lr_mp:.2f} MP); crop it, or raise --max-output-mp"
        )


def inputs(paths: list[str]) -> list[Path]:
    """Files as given, folders expanded to their images (sorted)."""
    out: list[Path] = []
    for p in map(Path, paths):
        out.extend(list_images(p) if p.is_dir() else [p])
    return out


EXIT_RENAMED = 3


def output_name(src: Path | str, model: str) -> str:
    """``<stem>_<model>_x4.png``; ``src`` may be a path or a bare stem."""
    stem = src.stem if isinstance(src, Path) else src
    return f"{stem}_{model}_x{SCALE}.png"


def plan_outputs(files: list[Path], models: list[str], out_dir: Path) -> tuple[dict[Path, str], dict[Path, str]]:
    """A stem per input whose outputs collide with nothing: not with a file already in ``out_dir``
    (case-insensitively, for file systems that fold case) nor with another input's outputs.

    Why planned up front: two inputs ``a/photo.webp`` and ``b/photo.jpg`` would otherwise both write
    ``photo_<model>_x4.png`` and the second would silently replace the first.  Returns
    ({input: stem}, {input: why it got a numbered stem})."""
    taken = {p.name.lower() for p in out_dir.iterdir()} if out_dir.is_dir() else set()
    stems: dict[Path, str] = {}
    clashes: dict[Path, str] = {}
    for src in files:
        k, stem = 1, src.stem
        while any(output_name(stem, m).lower() in taken for m in models):
            k += 1
            stem = f"{src.stem}-{k}"
        if k > 1:
            first = next(output_name(src.stem, m) for m in models if output_name(src.stem, m).lower() in taken)
            clashes[src] = f"{out_dir / first} is already taken (an existing file or another input's output)"
        taken.update(output_name(stem, m).lower() for m in models)
        stems[src] = stem
    return stems, clashes


def _write_new(dst: Path, save) -> None:
    """Write a file through ``save(tmp_path)`` and publish it at ``dst`` only if ``dst`` does not
    exist: ``os.link`` fails rather than replace (an atomic rename would overwrite a file that
    appeared meanwhile).  A crash leaves at most a hidden ``.tmp`` file, never half an output."""
    fd, tmp = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".tmp", dir=dst.parent)
    os.close(fd)
    try:
        save(tmp)
        os.chmod(tmp, 0o644)
        try:
            os.link(tmp, dst)
        except FileExistsError:
            raise UpscaleError(f"{dst} appeared while this run was writing; it was left as it is") from None
        except OSError:  # a file system without hard links: exclusive create, then copy the bytes in
            with open(dst, "xb") as out, open(tmp, "rb") as f:
                out.write(f.read())
    finally:
        Path(tmp).unlink(missing_ok=True)


def upscale_file(
    src: Path,
    models: dict,
    out_dir: Path,
    tile: int | None,
    device: str,
    max_output_mp: float,
    progress: bool = True,
    stem: str | None = None,
    source: str = "benchmark",
) -> tuple[list[Path], list[str]]:
    """Upscale one file with every model; returns (written files, notes about the input).

    Outputs are named from ``stem`` (default: the input's) and never replace an existing file."""
    li = load_image(src)
    h, w = li.array.shape[:2]
    check_size(h, w, max_output_mp)
    written = []
    for name, model in models.items():
        t = tile or max(h, w)
        n_tiles = -(-h // t) * -(-w // t)  # the bar's total from the start, not "0tile [?tile/s]"
        bar = tqdm(
            total=n_tiles, desc=f"{src.name} {name}", unit="tile", leave=False, disable=not progress or model is None
        )

        def tick(done: int, total: int, bar=bar) -> None:
            bar.total = total
            bar.update(done - bar.n)

        sr = upscale(model, li.array, device, tile, progress=tick, source=source, key=name)
        bar.close()
        dst = out_dir / output_name(stem or src.stem, name)
        _write_new(dst, lambda tmp, sr=sr: save_png(sr, tmp))
        del sr
        written.append(dst)
    return written, li.notes


def parse_args(argv=None) -> argparse.Namespace:
    p = cli.parser("srcore.upscale", __doc__)
    p.add_argument("inputs", nargs="+", help="image files or folders of images")
    p.add_argument(
        "--model",
        action="append",
        default=None,
        help=f"{', '.join(MODEL_NAMES)}, bicubic, all, or a .safetensors checkpoint (repeatable; default: {GAN_PL_ARM})",
    )
    p.add_argument(
        "--source",
        choices=SOURCES,
        default="unknown",
        help="where the inputs come from: 'unknown' (a real photo, or any resize other than MATLAB's): the "
        "models get the pre-filter fitted on training images (checkpoints/prefilter.json); 'benchmark' "
        "(made by MATLAB-style antialiased bicubic shrink, as the models' training input): no treatment",
    )
    p.add_argument("--out", default="upscaled", help="output folder")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help="LR tile side in px (0 = whole image at once)")
    p.add_argument(
        "--max-output-mp",
        type=float,
        default=DEFAULT_MAX_OUTPUT_MP,
        help="refuse inputs whose x4 output is larger (megapixels)",
    )
    p.add_argument("--threads", type=int, default=0, help="CPU threads for torch; 0: as many as torch chooses")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--no-rename",
        action="store_true",
        help="when an output name is taken, stop before writing anything (default: add -2, -3, ... to the stem)",
    )
    return p.parse_args(argv)


def main(argv=None) -> int:
    a = parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    names = a.model or [GAN_PL_ARM]
    if "all" in names:
        names = ["bicubic", *MODEL_NAMES]
    models: dict = {}
    for n in dict.fromkeys(names):
        if n == "bicubic":
            models[n] = None
            continue
        if n not in MODEL_NAMES and not n.endswith(".safetensors"):
            print(
                f"error: unknown model {n!r}; choose from {', '.join(MODEL_NAMES)}, bicubic, all, "
                "or give a .safetensors checkpoint",
                file=sys.stderr,
            )
            return 2
        try:
            models[Path(n).stem if n.endswith(".safetensors") else n] = prepare(load_generator(n, a.device))
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
    if out_dir.exists() and not out_dir.is_dir():
        print(f"error: --out {out_dir} is a file, not a folder", file=sys.stderr)
        return 2
    stems, clashes = plan_outputs(files, list(models), out_dir)
    if clashes and a.no_rename:
        for src, why in clashes.items():
            print(f"error: {src}: {why}", file=sys.stderr)
        print(f"stopped before writing anything: {len(clashes)} output name(s) taken (--no-rename)", file=sys.stderr)
        return 2
    for src, why in clashes.items():
        print(
            f"renamed: {src}: {why}; writing {out_dir / output_name(stems[src], next(iter(models)))}"
            f"{' (and the other models likewise)' if len(models) > 1 else ''}",
            file=sys.stderr,
        )
    learned = [k for k, m in models.items() if m is not None]
    if learned:
        try:
            print(describe(a.source, learned), file=sys.stderr)
        except PrefilterError as e:
            print(f"error: {e} (or pass --source benchmark)", file=sys.stderr)
            return 2
    out_dir.mkdir(parents=True, exist_ok=True)
    failed = 0
    for src in files:
        try:
            written, notes = upscale_file(
                src,
                models,
                out_dir,
                a.tile or None,
                a.device,
                a.max_output_mp,
                progress=not a.no_progress,
                stem=stems[src],
                source=a.source,
            )
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
        return 1
    if clashes:
        print(
            f"{len(clashes)} input(s) written under a numbered name (their usual name was taken; nothing was "
            f"overwritten)",
            file=sys.stderr,
        )
        return EXIT_RENAMED
    return 0


if __name__ == "__main__":
    sys.exit(main())
