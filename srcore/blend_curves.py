"""Perception–distortion curves of network interpolation: each pair of arms blended at α = 0, 0.1, …, 1.

``srcore.evaluate --blend-curves`` calls ``curves`` and stores the result under ``blend_curves`` in
``benchmark.json``; the Benchmark tab draws each pair's curve in its PSNR–LPIPS plot, so a reader
sees whether a blend reaches a point that no arm reaches (below-left of the line joining them).
For every pair (A → B), set and α: the mean PSNR-Y and LPIPS over the set's images, with the
benchmark's convention (``srcore.metrics.score``: Y channel, border 4; LPIPS AlexNet on the
shaved RGB).  At α = 0 and 1 the arms themselves run, so those ends equal the arms' own rows.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from srcore.blend import blend, check_compatible
from srcore.checkpoint import load_generator_file
from srcore.imageio import list_images, load_image
from srcore.inference import prepare, upscale
from srcore.metrics import mod_crop, score
from srcore.resize import downscale_x4
from srcore.zoo import MODEL_NAMES, MSE_ARM, checkpoint_path

# the pairs the Benchmark tab draws: from the MSE arm towards each of the others
PAIRS: tuple[tuple[str, str], ...] = tuple((MSE_ARM, k) for k in MODEL_NAMES if k != MSE_ARM)
SETS: tuple[str, ...] = ("Set14", "Kodak24")
ALPHAS: tuple[float, ...] = tuple(round(i / 10, 1) for i in range(11))
CURVE_KEYS = ("psnr_y", "lpips")


def curves(
    sets: dict[str, Path],
    lpips_fn: Callable[[np.ndarray, np.ndarray], float],
    pairs: tuple[tuple[str, str], ...] = PAIRS,
    alphas: tuple[float, ...] = ALPHAS,
    device: str = "cpu",
    tile: int | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """``{"alphas", "sets", "pairs": [{"a", "b", "sets": {set: {"psnr_y": [...], "lpips": [...]}}}]}``,
    one value per α.  Pairs of unlike architectures raise ``srcore.blend.BlendError``; missing
    checkpoints ``srcore.checkpoint.CheckpointError`` (both before any image is run)."""
    loaded = {}
    for m in dict.fromkeys(k for p in pairs for k in p):
        gen, _ = load_generator_file(checkpoint_path(m), device)
        loaded[m] = prepare(gen)
    for a, b in pairs:
        check_compatible(loaded[a], loaded[b])
    data = {}
    for name, folder in sets.items():
        hrs = [mod_crop(load_image(f).array) for f in list_images(folder)]
        if not hrs:
            raise FileNotFoundError(f"no images in {folder}")
        data[name] = [(hr, downscale_x4(hr)) for hr in hrs]
    out: dict = {"alphas": list(alphas), "sets": list(sets), "pairs": []}
    for a, b in pairs:
        entry: dict = {"a": a, "b": b, "sets": {s: {k: [] for k in CURVE_KEYS} for s in sets}}
        for alpha in alphas:
            g = blend(loaded[a], loaded[b], alpha)
            for s, items in data.items():
                vals = [
                    score(upscale(g, lr, device=device, tile=tile), hr, lpips_fn=lpips_fn, keys=CURVE_KEYS)
                    for hr, lr in items
                ]
                for k in CURVE_KEYS:
                    entry["sets"][s][k].append(float(np.mean([v[k] for v in vals])))
            if progress is not None:
                progress(f"blend {a} → {b} α={alpha:g} done")
        out["pairs"].append(entry)
    return out


def chosen_sets(sets: dict[str, Path], wanted: tuple[str, ...] = SETS) -> dict[str, Path]:
    """The evaluated sets the curves are computed on (Set14 and Kodak24 when given; else all)."""
    picked = {k: v for k, v in sets.items() if k in wanted}
    return picked or dict(sets)


__all__ = ["ALPHAS", "PAIRS", "SETS", "chosen_sets", "curves"]
