"""The input treatment for LR images of unknown origin: a Gaussian pre-filter fitted on training images.

The four generators only ever saw LR images made by MATLAB's antialiased bicubic shrink.  A real
photo, or an image shrunk by a quick resize without antialiasing (OpenCV ``INTER_CUBIC``), carries
more energy near the LR Nyquist frequency and aliasing; the models sharpen that into halos and fall
below plain bicubic.  Blurring such an LR image with a small Gaussian (σ in LR pixels) before the
model brings its spectrum back towards the training input's; what aliasing remains, the model
still sharpens a little, so its output is then blended with the bicubic upscale of the untreated
input (weight α on the model).  At α = 1 no blend is made.

The strength is *fitted*, never hand-set: ``python -m srcore.prefilter fit`` takes the training
images every shipped checkpoint held out of its training (named in the checkpoints' metadata),
shrinks them by cubic interpolation without antialiasing (``cubic_no_aa``, the evaluation's second
degradation), and for each model picks the (σ, α) of a grid that maximises the mean Y-PSNR of its
x4 output.  It writes ``checkpoints/prefilter.json`` ((σ, α) per model, a shared pair for other
models, the images used, every figure of the grid, and the SHA-256 of each checkpoint it was
fitted on), which
``srcore.inference.upscale(..., source="unknown")`` reads at run time.  Re-run it after retraining
the checkpoints.  The benchmark sets (Set5, Set14, Kodak24) are never used here.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from srcore import cli, paths
from srcore.atomic import write_text_atomic
from srcore.checkpoint import CheckpointError
from srcore.imageio import ImageLoadError

SOURCES = ("benchmark", "unknown")  # where an LR image came from, as the CLIs and the API name it
SOURCE_HELP = {
    "benchmark": "made by MATLAB-style antialiased bicubic shrink (the models' training input): no treatment",
    "unknown": "a real photo or of unknown origin: Gaussian pre-filter fitted on training images",
}
FILE_NAME = "prefilter.json"
DEFAULT_GRID = tuple(round(0.05 * i, 2) for i in range(25))  # σ 0 ... 1.2 LR px
DEFAULT_ALPHAS = tuple(round(0.05 * i, 2) for i in range(8, 21))  # α 0.4 ... 1 (weight of the model's output)
DEFAULT_HOLDOUT = 8  # the experiment's validation images, used when the checkpoints name none


class PrefilterError(RuntimeError):
    """No usable fitted pre-filter; the message says how to make one."""


def default_path() -> Path:
    return paths.CHECKPOINTS / FILE_NAME


def gaussian_blur(lr: np.ndarray, sigma: float) -> np.ndarray:
    """HxWx3 uint8 blurred by a separable Gaussian of ``sigma`` pixels (mirrored edges), uint8 out.

    ``sigma`` 0 returns the input unchanged.  The kernel spans ±ceil(3σ) pixels."""
    if sigma <= 0:
        return lr
    r = max(1, math.ceil(3 * sigma))
    x = torch.arange(-r, r + 1, dtype=torch.float32)
    k = torch.exp(-(x**2) / (2 * sigma * sigma))
    k = k / k.sum()
    h, w = lr.shape[:2]
    t = torch.from_numpy(np.ascontiguousarray(lr)).permute(2, 0, 1).unsqueeze(0).float()
    mode = "reflect" if min(h, w) > r else "replicate"
    t = F.pad(t, (r, r, r, r), mode=mode)
    c = t.shape[1]
    t = F.conv2d(t, k.view(1, 1, 1, -1).repeat(c, 1, 1, 1), groups=c)
    t = F.conv2d(t, k.view(1, 1, -1, 1).repeat(c, 1, 1, 1), groups=c)
    return t[0].permute(1, 2, 0).round().clamp(0, 255).to(torch.uint8).numpy()


_CACHE: dict[Path, tuple[float, dict]] = {}


def load(path: str | Path | None = None) -> dict:
    """The fitted table (read again when the file changes); a PrefilterError saying how to make it
    when it is missing or malformed."""
    p = Path(path) if path is not None else default_path()
    try:
        mtime = p.stat().st_mtime
    except FileNotFoundError:
        raise PrefilterError(
            f"no fitted pre-filter for unknown-source inputs: {p} is missing; "
            f"make it with `python -m srcore.prefilter fit --out {p}`"
        ) from None
    hit = _CACHE.get(p)
    if hit and hit[0] == mtime:
        return hit[1]
    try:
        table = json.loads(p.read_text())
        float(table["shared_sigma"]), float(table.get("shared_alpha", 1.0))
        for k in ("sigma", "alpha"):
            if not isinstance(table.get(k, {}), dict):
                raise TypeError(f"{k!r} is not an object")
    except (ValueError, KeyError, TypeError) as e:
        raise PrefilterError(
            f"{p} is not a valid pre-filter table ({e}); re-run `python -m srcore.prefilter fit --out {p}`"
        ) from None
    _CACHE[p] = (mtime, table)
    return table


def params_for(key: str | None, path: str | Path | None = None) -> tuple[float, float]:
    """The fitted (σ in LR pixels, α) for a model key; the shared pair for a model the fit did not see."""
    table = load(path)
    sig, alpha = table.get("sigma", {}), table.get("alpha", {})
    if key in sig:
        return float(sig[key]), float(alpha.get(key, 1.0))
    return float(table["shared_sigma"]), float(table.get("shared_alpha", 1.0))


def blend(sr: np.ndarray, base: np.ndarray, alpha: float, rows: int = 512) -> np.ndarray:
    """``alpha * sr + (1 - alpha) * base`` in uint8, in place into ``sr``, a band of rows at a time
    (an 8192 px output stays within a few MB of float)."""
    if alpha >= 1:
        return sr
    for y in range(0, sr.shape[0], rows):
        a = sr[y : y + rows].astype(np.float32)
        a *= alpha
        a += (1 - alpha) * base[y : y + rows].astype(np.float32)
        sr[y : y + rows] = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return sr


def check_source(source: str) -> str:
    if source not in SOURCES:
        raise ValueError(f"unknown source {source!r}; choose from {', '.join(SOURCES)}")
    return source


def blend_bicubic(sr: np.ndarray, lr: np.ndarray, alpha: float, rows: int = 64, context: int = 4) -> np.ndarray:
    """``blend(sr, bicubic_x4(lr), alpha)`` without the whole bicubic image in memory: the bicubic
    upscale is made band by band of ``rows`` LR rows with ``context`` rows either side (more than
    the kernel's reach of 2 LR px, so every band equals the whole image's rows)."""
    from srcore.resize import bicubic_x4

    if alpha >= 1:
        return sr
    h = lr.shape[0]
    for y0 in range(0, h, rows):
        y1 = min(y0 + rows, h)
        ya, yb = max(0, y0 - context), min(h, y1 + context)
        base = bicubic_x4(np.ascontiguousarray(lr[ya:yb]))[4 * (y0 - ya) : 4 * (y1 - ya)]
        blend(sr[4 * y0 : 4 * y1], base, alpha)
    return sr


def treat(lr: np.ndarray, key: str | None, source: str, path: str | Path | None = None) -> tuple[np.ndarray, float]:
    """(the LR image as the model ``key`` should get it for an input of ``source``, the weight α
    of the model's output in the blend with bicubic)."""
    if check_source(source) == "benchmark":
        return lr, 1.0
    sigma, alpha = params_for(key, path)
    return gaussian_blur(lr, sigma), alpha


def describe(source: str, keys: Sequence[str] = (), path: str | Path | None = None) -> str:
    """One line saying which treatment runs for ``source`` (the LR mode's status, the CLI's output)."""
    if check_source(source) == "benchmark":
        return "input treated as MATLAB-style bicubic shrink (benchmark): no pre-filter"
    table = load(path)
    pairs = [params_for(k, path) for k in keys] or [params_for(None, path)]

    def span(vals: list[float], fmt: str) -> str:
        lo, hi = min(vals), max(vals)
        return format(lo, fmt) if lo == hi else f"{lo:{fmt}}–{hi:{fmt}}"

    n = len(table.get("images", []))
    alphas = [a for _, a in pairs]
    mix = "" if min(alphas) >= 1 else f", output {span([100 * a for a in alphas], '.0f')} % model + bicubic"
    return (
        f"input treated as a real photo: Gaussian pre-filter σ = {span([s for s, _ in pairs], 'g')} LR px{mix} "
        f"(fitted on {n} held-out training images; the bicubic panel untreated)"
    )


# ---------------------------------------------------------------- the fit


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def model_key(model: str) -> str:
    """The key a fitted model is stored under: its zoo name, or a checkpoint file's stem."""
    return Path(model).stem if model.endswith(".safetensors") else model


def held_out_images(train_root: Path, models: Sequence[str], holdout: int = DEFAULT_HOLDOUT) -> list[Path]:
    """The training images no model in ``models`` trained on: the ``held_out`` lists of the
    checkpoints' metadata (``Folder/name.png``, found under ``train_root``), or, for checkpoints
    without one, the experiment's own split (``srcore.data.split_holdout``) of ``train_root``'s
    sub-folders."""
    from srcore.checkpoint import read_metadata
    from srcore.data import image_files, split_holdout
    from srcore.zoo import checkpoint_path

    lists = []
    for m in models:
        held = read_metadata(checkpoint_path(m)).get("held_out")
        if isinstance(held, list) and held:
            lists.append(set(map(str, held)))
    if lists:
        names = sorted(set.intersection(*lists))
        if not names:
            raise ValueError("the checkpoints' held-out lists have no image in common; give --image")
        files = [train_root / n for n in names]
        missing = [str(f) for f in files if not f.is_file()]
        if missing:
            raise FileNotFoundError(f"held-out training images not found: {', '.join(missing)}")
        return files
    dirs = sorted(d for d in train_root.iterdir() if d.is_dir()) if train_root.is_dir() else []
    if not dirs:
        raise FileNotFoundError(f"no training folders in {train_root}; give --train-root or --image")
    return split_holdout(image_files(dirs), holdout)[1]


def fit(
    images: Sequence[Path],
    models: Sequence[str],
    grid: Sequence[float] = DEFAULT_GRID,
    alphas: Sequence[float] = DEFAULT_ALPHAS,
    device: str = "cpu",
    progress: bool = True,
) -> dict[str, Any]:
    """(σ, α) per model maximising mean Y-PSNR on ``cubic_no_aa`` LR of ``images``, a shared pair
    maximising the models' average, and every figure of the grid (bicubic's for reference)."""
    from tqdm import tqdm

    from srcore.imageio import load_image
    from srcore.inference import prepare, upscale
    from srcore.metrics import Reference, mod_crop
    from srcore.resize import shrink_x4_cubic_no_antialias
    from srcore.zoo import checkpoint_path, load_generator

    if not images:
        raise ValueError("no images to fit on")
    grid = sorted({round(float(s), 4) for s in grid})
    alphas = sorted({round(float(a), 4) for a in alphas})
    if not grid or any(s < 0 for s in grid):
        raise ValueError("σ values must be ≥ 0")
    if not alphas or any(not 0 <= a <= 1 for a in alphas):
        raise ValueError("α values must lie in [0, 1]")
    refs, lrs = [], []
    for f in images:
        hr = mod_crop(load_image(f).array, 4)
        refs.append(Reference(hr))
        lrs.append(shrink_x4_cubic_no_antialias(hr))
    t0 = time.perf_counter()
    bics = [upscale(None, lr) for lr in lrs]
    bicubic = float(np.mean([r.score(b, keys=("psnr_y",))["psnr_y"] for r, b in zip(refs, bics)]))
    surfaces: dict[str, np.ndarray] = {}  # model key -> mean Y-PSNR over (σ, α)
    bar = tqdm(total=len(models) * len(grid) * len(images), desc="fitting σ and α", unit="image", disable=not progress)
    for m in models:
        gen = prepare(load_generator(m, device))
        surf = np.zeros((len(grid), len(alphas)))
        for i, s in enumerate(grid):
            for r, lr, b in zip(refs, lrs, bics):
                sr = upscale(gen, gaussian_blur(lr, s), device=device)
                surf[i] += [r.score(blend(sr.copy(), b, a), keys=("psnr_y",))["psnr_y"] for a in alphas]
                bar.update(1)
        surfaces[model_key(m)] = surf / len(images)
    bar.close()

    def best_of(surf: np.ndarray) -> tuple[float, float, float]:
        i, j = np.unravel_index(int(np.argmax(surf)), surf.shape)
        return grid[int(i)], alphas[int(j)], float(surf[i, j])

    best = {m: best_of(surf) for m, surf in surfaces.items()}
    mean_surf = np.mean(list(surfaces.values()), axis=0)
    shared = best_of(mean_surf)
    untreated = (grid.index(0.0), alphas.index(1.0)) if 0.0 in grid and 1.0 in alphas else None
    return {
        "method": "Gaussian blur of the LR image (σ in LR pixels) before the model, then the output blended with the "
        "bicubic upscale of the untreated LR (weight α on the model); the bicubic panel untreated",
        "degradation": "cubic_no_aa: cubic shrink x4 without antialiasing (srcore.resize.shrink_x4_cubic_no_antialias)",
        "objective": "mean Y-PSNR (BT.601, border 4) of the x4 output against the HR image",
        "sigma": {m: b[0] for m, b in best.items()},
        "alpha": {m: b[1] for m, b in best.items()},
        "shared_sigma": shared[0],
        "shared_alpha": shared[1],
        "images": [f"{Path(f).parent.name}/{Path(f).name}" for f in images],
        "grid": {"sigma": grid, "alpha": alphas},
        "psnr_y": {m: np.round(surf, 4).tolist() for m, surf in surfaces.items()},
        "psnr_y_mean_of_models": np.round(mean_surf, 4).tolist(),
        "bicubic_psnr_y": round(bicubic, 4),
        "summary": {
            m: {
                "untreated": round(float(surfaces[m][untreated]), 4) if untreated else None,
                "blur_only": round(float(surfaces[m][:, alphas.index(1.0)].max()), 4) if 1.0 in alphas else None,
                "fitted": round(best[m][2], 4),
                "bicubic": round(bicubic, 4),
            }
            for m in surfaces
        },
        "checkpoints": {
            model_key(m): {"file": checkpoint_path(m).name, "sha256": _sha256(checkpoint_path(m))} for m in models
        },
        "fit_seconds": round(time.perf_counter() - t0, 1),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def stale(table: dict, models: Sequence[str]) -> list[str]:
    """Models whose checkpoint changed since the fit (or that the fit never saw)."""
    from srcore.zoo import checkpoint_path

    fitted = table.get("checkpoints", {})
    return [m for m in models if fitted.get(model_key(m), {}).get("sha256") != _sha256(checkpoint_path(m))]


def main(argv: list[str] | None = None) -> int:
    from srcore.zoo import MODEL_NAMES

    shared = paths.REPO_ROOT.parent / "shared" / "data" / "train"
    local = paths.REPO_ROOT / "data" / "train"
    p = cli.parser("srcore.prefilter", __doc__)
    sub = p.add_subparsers(dest="cmd", required=True)
    pf = sub.add_parser(
        "fit",
        help="fit σ per model and write the table",
        formatter_class=cli.HelpFormatter,
        description="Fit σ per model on cubic-no-antialias LR of held-out training images; write the table.",
    )
    pf.add_argument(
        "--train-root",
        default=str(local if local.is_dir() else shared),
        help="folder whose sub-folders hold the training images (the checkpoints' held-out names are relative to it)",
    )
    pf.add_argument(
        "--image", action="append", default=None, help="fit on these images instead of the held-out ones (repeatable)"
    )
    pf.add_argument(
        "--model",
        action="append",
        default=None,
        help="zoo name or .safetensors file, keyed by its stem (repeatable; default: the four models)",
    )
    pf.add_argument("--sigmas", type=float, nargs="+", default=list(DEFAULT_GRID), help="σ grid in LR pixels")
    pf.add_argument(
        "--alphas", type=float, nargs="+", default=list(DEFAULT_ALPHAS), help="grid of the model's weight in the blend"
    )
    pf.add_argument(
        "--out",
        default=str(Path("runs") / FILE_NAME),
        help=f"where to write the table (the app reads {default_path()}: give that path to replace the shipped one)",
    )
    pf.add_argument("--device", default="cpu", help="torch device")
    pf.add_argument("--no-progress", action="store_true", help="no progress bar")
    ps = sub.add_parser(
        "show",
        help="print the table and whether the checkpoints changed since the fit",
        formatter_class=cli.HelpFormatter,
    )
    ps.add_argument("--path", default=str(default_path()), help="the table to show")
    a = p.parse_args(argv)
    if a.cmd == "show":
        try:
            table = load(a.path)
        except PrefilterError as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        keys = ("sigma", "alpha", "shared_sigma", "shared_alpha", "images", "summary")
        print(json.dumps({k: table.get(k) for k in keys}, indent=1, ensure_ascii=False))
        changed = stale(table, [m for m in table.get("sigma", {}) if m in MODEL_NAMES])
        if changed:
            print(
                f"stale: {', '.join(changed)} changed since the fit; "
                f"re-run `python -m srcore.prefilter fit --out {a.path}`"
            )
            return 1
        return 0
    models = a.model or list(MODEL_NAMES)
    unknown = [m for m in models if m not in MODEL_NAMES and not m.endswith(".safetensors")]
    if unknown:
        p.error(f"unknown model {unknown[0]!r}; choose from {', '.join(MODEL_NAMES)} or give a .safetensors file")
    try:
        images = [Path(i) for i in a.image] if a.image else held_out_images(Path(a.train_root), models)
        table = fit(images, models, a.sigmas, a.alphas, a.device, progress=not a.no_progress)
    except (FileNotFoundError, ValueError, CheckpointError, ImageLoadError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    write_text_atomic(a.out, json.dumps(table, indent=1, ensure_ascii=False) + "\n")
    for m, s in table["summary"].items():
        print(
            f"{m}: σ = {table['sigma'][m]:g} LR px, α = {table['alpha'][m]:g}; Y-PSNR untreated {s['untreated']:.2f}, "
            f"blur only {s['blur_only']:.2f}, fitted {s['fitted']:.2f} dB (bicubic {s['bicubic']:.2f}) on "
            f"{len(images)} held-out training images"
        )
    print(f"shared σ = {table['shared_sigma']:g}, α = {table['shared_alpha']:g}; wrote {a.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
