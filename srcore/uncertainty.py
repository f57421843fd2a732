"""How sure a benchmark figure is: spread over seeds and paired bootstrap intervals.

Every arm is trained with several seeds (``srcore.experiment``'s preset fixes them), so a model's
figure on a set is a mean over seeds of a mean over images.  Two models are compared *paired*:
on the same images and, for two trained arms, the same seed index (seed s of two arms saw the same
crops in the same order).  The interval of a difference comes from resampling images and seeds
together with replacement (``paired_bootstrap``); a difference is *resolved* when that interval
excludes 0 — the decision rule the preset fixes before the run (``bootstrap_resamples``,
``ci_level``).  Bicubic has no seed: its one row is paired with every seed of the other model.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

from srcore.zoo import GAN_MSE_ARM, GAN_PL_ARM, MODEL_NAMES, MSE_ARM, PL_ARM, TITLES

RESAMPLES, LEVEL, RNG_SEED = 2000, 0.95, 0  # defaults of the cpu preset; the RNG seed makes intervals repeatable


def seed_spread(values: Sequence[float]) -> dict[str, float | int]:
    """Mean and sample standard deviation (n - 1) of one figure over seeds; sd 0 for one seed."""
    v = np.asarray(values, np.float64)
    return {"mean": float(v.mean()), "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0, "n": int(v.size)}


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
    rng_seed: int = RNG_SEED,
) -> tuple[float, float, float]:
    """Mean of a - b and its ``level`` percentile interval.  ``a`` and ``b`` are (seeds, images)
    arrays of per-image figures; a one-row array (a deterministic baseline) pairs with every seed
    of the other; two multi-row arrays must have as many seeds (paired by index)."""
    a, b = np.atleast_2d(np.asarray(a, np.float64)), np.atleast_2d(np.asarray(b, np.float64))
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"not paired: {a.shape[1]} images against {b.shape[1]}")
    if a.shape[0] != b.shape[0] and 1 not in (a.shape[0], b.shape[0]):
        raise ValueError(f"not paired: {a.shape[0]} seeds against {b.shape[0]}")
    d = a - b  # broadcasts a single baseline row over the seeds
    n_s, n_i = d.shape
    rng = np.random.default_rng(rng_seed)
    s_idx = rng.integers(0, n_s, size=(resamples, n_s))
    i_idx = rng.integers(0, n_i, size=(resamples, n_i))
    rows = d[s_idx]  # (R, S, I): the resampled seeds
    means = np.take_along_axis(rows, np.broadcast_to(i_idx[:, None, :], rows.shape), axis=2).mean(axis=(1, 2))
    tail = (1 - level) / 2 * 100
    lo, hi = np.percentile(means, [tail, 100 - tail])
    return float(d.mean()), float(lo), float(hi)


def pairwise(
    per_image: dict[str, np.ndarray],
    set_name: str,
    metric: str,
    resamples: int = RESAMPLES,
    level: float = LEVEL,
) -> list[dict[str, Any]]:
    """Every pair of models (in the given order) on one set and metric: ``{set, metric, a, b,
    mean_diff, ci95, resolved}``, with ``per_image[model]`` a (seeds, images) array."""
    out = []
    for a, b in itertools.combinations(per_image, 2):
        diff, lo, hi = paired_bootstrap(per_image[a], per_image[b], resamples, level)
        out.append(
            {
                "set": set_name,
                "metric": metric,
                "a": a,
                "b": b,
                "mean_diff": diff,
                "ci95": [lo, hi],
                "resolved": bool(lo > 0 or hi < 0),
            }
        )
    return out


def find(pairs: list[dict[str, Any]], set_name: str, metric: str, a: str, b: str) -> dict[str, Any] | None:
    """The entry comparing ``a`` with ``b`` (either order; the difference turned to a - b)."""
    for p in pairs:
        if p["set"] != set_name or p["metric"] != metric:
            continue
        if (p["a"], p["b"]) == (a, b):
            return p
        if (p["a"], p["b"]) == (b, a):
            lo, hi = p["ci95"]
            return {**p, "a": a, "b": b, "mean_diff": -p["mean_diff"], "ci95": [-hi, -lo]}
    return None


def resolved_best(
    pairs: list[dict[str, Any]], set_name: str, metric: str, models: Sequence[str], higher_is_better: bool
) -> str | None:
    """The model resolved better than every other on this set and metric, or None (a tie)."""
    for m in models:
        ok = True
        for o in models:
            if o == m:
                continue
            p = find(pairs, set_name, metric, m, o)
            if p is None or not p["resolved"] or (p["mean_diff"] > 0) != higher_is_better:
                ok = False
                break
        if ok:
            return m
    return None


# The orderings the README and the About tab state about the losses, each checked against the
# intervals: (claim, metric, lower_is_better, [(better, worse), ...]); it holds on a set only when
# every listed pair is resolved in that direction.
_MSE, _PL, _GMSE, _GPL = MSE_ARM, PL_ARM, GAN_MSE_ARM, GAN_PL_ARM
_T = TITLES
ORDERINGS: tuple[tuple[str, str, bool, tuple[tuple[str, str], ...]], ...] = (
    (f"the VGG loss lowers LPIPS against MSE ({_T[_PL]} below {_T[_MSE]})", "lpips", True, ((_PL, _MSE),)),
    (f"the adversarial term lowers LPIPS ({_T[_GMSE]} below {_T[_MSE]})", "lpips", True, ((_GMSE, _MSE),)),
    (
        f"the adversarial term lowers LPIPS on top of the VGG loss ({_T[_GPL]} below {_T[_PL]})",
        "lpips",
        True,
        ((_GPL, _PL),),
    ),
    (
        "both PL models below both MSE models in LPIPS",
        "lpips",
        True,
        ((_PL, _MSE), (_PL, _GMSE), (_GPL, _MSE), (_GPL, _GMSE)),
    ),
    (
        f"{_T[_GPL]} has the lowest LPIPS",
        "lpips",
        True,
        tuple((_GPL, k) for k in (*MODEL_NAMES, "bicubic") if k != _GPL),
    ),
    (
        f"{_T[_MSE]} has the highest PSNR-Y",
        "psnr_y",
        False,
        tuple((_MSE, k) for k in (*MODEL_NAMES, "bicubic") if k != _MSE),
    ),
    (
        f"the adversarial term adds fine texture (top octave: {_T[_GMSE]} above {_T[_MSE]}, "
        f"{_T[_GPL]} above {_T[_PL]})",
        "top_octave",
        False,
        ((_GMSE, _MSE), (_GPL, _PL)),
    ),
    ("every model above bicubic in PSNR-Y", "psnr_y", False, tuple((k, "bicubic") for k in MODEL_NAMES)),
)


def orderings(bench: dict[str, Any]) -> list[dict[str, Any]]:
    """Each ordering of ``ORDERINGS`` on each set: ``{claim, set, verdict, pairs}``, the verdict
    "resolved" (every pair's interval on the stated side of 0), "reversed" (some pair resolved the
    other way) or "not resolved"; pairs as (better, worse, mean_diff, [lo, hi])."""
    pairs = bench.get("pairwise") or []
    out = []
    for claim, metric, lower, needed in ORDERINGS:
        for set_name, entry in (bench.get("sets") or {}).items():
            models = entry.get("models") or {}
            if not all(a in models and b in models for a, b in needed):
                continue
            found = [find(pairs, set_name, metric, a, b) for a, b in needed]
            if any(p is None for p in found):
                continue
            sides = [
                (p["ci95"][1] < 0 if lower else p["ci95"][0] > 0, p["ci95"][0] > 0 if lower else p["ci95"][1] < 0)
                for p in found
                if p is not None
            ]
            verdict = (
                "resolved"
                if all(ok for ok, _ in sides)
                else "reversed"
                if any(bad for _, bad in sides)
                else "not resolved"
            )
            out.append(
                {
                    "claim": claim,
                    "set": set_name,
                    "metric": metric,
                    "lower_is_better": lower,
                    "verdict": verdict,
                    "pairs": [(p["a"], p["b"], p["mean_diff"], p["ci95"]) for p in found if p is not None],
                }
            )
    return out


def orderings_markdown(bench: dict[str, Any], titles: dict[str, str]) -> str:
    """The orderings as a markdown table (claim, and its verdict per set), for the README and About."""
    rows = orderings(bench)
    if not rows:
        return "No intervals in `benchmark.json` (one seed per model): no ordering is established."
    sets = list(dict.fromkeys(r["set"] for r in rows))
    claims = list(dict.fromkeys(r["claim"] for r in rows))
    by = {(r["claim"], r["set"]): r for r in rows}
    lines = ["| ordering | " + " | ".join(sets) + " |", "|---|" + "---|" * len(sets)]
    for c in claims:
        cells = []
        for s in sets:
            r = by.get((c, s))
            if r is None:
                cells.append("–")
                continue
            fmt = ".4f" if r["metric"] in ("lpips", "ssim_y") else ".2f"
            if len(r["pairs"]) == 1:
                a, b, d, (lo, hi) = r["pairs"][0]
                detail = f" ({titles.get(a, a)} − {titles.get(b, b)} {d:+{fmt}} [{lo:+{fmt}}, {hi:+{fmt}}])"
            else:
                lower = r["lower_is_better"]
                held = sum((hi < 0) if lower else (lo > 0) for _, _, _, (lo, hi) in r["pairs"])
                detail = f" ({held} of {len(r['pairs'])} pairs resolved)"
            cells.append(f"**{r['verdict']}**{detail}")
        lines.append(f"| {c} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


SIGNATURE_KEYS = (("psnr_y", ".2f"), ("lpips", ".4f"), ("hf_energy", ".2f"), ("top_octave", ".2f"))


def signatures_markdown(bench: dict[str, Any], titles: dict[str, str], reference: str = MSE_ARM) -> str:
    """Each arm minus ``reference`` per set: PSNR-Y, LPIPS, HF energy and top-octave texture, each
    as mean difference [interval]; unresolved differences are marked "n.s." (not resolved)."""
    pairs = bench.get("pairwise") or []
    sets = list(bench.get("sets") or {})
    arms = [m for m in (bench.get("seeds") or {}) if m != reference]
    if not pairs or not arms:
        return "No intervals in `benchmark.json`: no signature is established."
    head = ["set", "arm − " + titles.get(reference, reference), *(k for k, _ in SIGNATURE_KEYS)]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---|" * len(SIGNATURE_KEYS)]
    for s in sets:
        for a in arms:
            cells = []
            for key, fmt in SIGNATURE_KEYS:
                p = find(pairs, s, key, a, reference)
                if p is None:
                    cells.append("–")
                    continue
                lo, hi = p["ci95"]
                cells.append(f"{p['mean_diff']:+{fmt}} [{lo:+{fmt}}, {hi:+{fmt}}]" + ("" if p["resolved"] else " n.s."))
            lines.append(f"| {s} | {titles.get(a, a)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
