"""Benchmark models on HR image folders: ``python -m srcore.evaluate --set Set5=DIR ...``.

For every set and model (zoo names, checkpoint paths, and ``bicubic``): LR by MATLAB bicubic x4
of the mod-cropped HR image, SR, then every figure of ``srcore.metrics.METRICS`` (Y-PSNR,
Y-SSIM, RGB-PSNR, LPIPS, the x4 phase range, colour bias, high-frequency energy; border 4).
Two more degradations are scored as extra columns, because users' LR images are rarely made by
MATLAB's antialiased bicubic: ``cubic_no_aa`` (cubic shrink without antialiasing, as OpenCV's
INTER_CUBIC or an editor's quick resize) and ``jpeg75`` (the standard LR saved as JPEG quality
75); ``cubic_no_aa`` is scored again with the unknown-source treatment (``srcore.prefilter``),
and saved as JPEG 75 with and without it.  Each model's flat-colour phase range and, for each
adversarial model, its difference from the same objective without the adversarial term are
reported too.

Every trained arm is evaluated once per seed (the shipped generator and the other seeds' in
``checkpoints/seeds/KEY_seedN.safetensors``), and each model also upscales the grey version of
every image (``srcore.metrics.GREY_METRICS``: colour invented on grey content).  Each set then
gets each model's mean and standard deviation over seeds, and a ``pairwise`` list of paired
bootstrap intervals over images and seeds (``srcore.uncertainty``).  Prints a markdown table and
writes a JSON with per-image and mean figures, runtime and the environment.
"""

from __future__ import annotations

import io
import json
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm import tqdm

from srcore import cli, uncertainty
from srcore.atomic import write_text_atomic
from srcore.blend import BlendError
from srcore.checkpoint import CheckpointError, git_commit, load_generator_file
from srcore.data import to_tensor
from srcore.imageio import ImageLoadError, list_images, load_image
from srcore.inference import DEFAULT_TILE, prepare, upscale
from srcore.metrics import GREY_METRICS, METRICS, chroma_on_grey, flat_phase_range, grey_version, mod_crop, score
from srcore.models.feature_nets import LPIPS
from srcore.models.generator import Generator
from srcore.prefilter import PrefilterError, model_key
from srcore.resize import downscale_x4, shrink_x4_cubic_no_antialias
from srcore.zoo import BY_KEY, MODEL_NAMES, TITLES, checkpoint_path

KEYS = tuple(m.key for m in METRICS)
GREY_KEYS = tuple(m.key for m in GREY_METRICS)
ALL_KEYS = (*KEYS, *GREY_KEYS)
# the figures compared pairwise with intervals (what the dashboard and README state orderings of)
PAIRWISE_KEYS = ("psnr_y", "ssim_y", "lpips", "hf_energy", "top_octave", "chroma_grey")
SEEDS_DIR = "seeds"  # other seeds' generators: checkpoints/seeds/KEY_seedN.safetensors
DEGRADATION_KEYS = ("psnr_y", "ssim_y", "lpips")  # figures of the extra degradations


def _jpeg75(lr: np.ndarray) -> np.ndarray:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(lr).save(buf, format="JPEG", quality=75)
    return np.array(Image.open(io.BytesIO(buf.getvalue())).convert("RGB"))


DEGRADATIONS = {
    "cubic_no_aa": ("cubic shrink x4 without antialiasing (OpenCV INTER_CUBIC-like)", shrink_x4_cubic_no_antialias),
    "jpeg75": ("the standard LR saved as JPEG quality 75", lambda hr: _jpeg75(downscale_x4(hr))),
}


# The unknown-source treatment (srcore.prefilter) scored on the no-antialias LR, and on it saved as
# JPEG 75: the columns that say what the LR mode's "a real photo or unknown" setting delivers.
UNKNOWN_SOURCE_COLUMNS = {
    "cubic_no_aa_unknown": "cubic_no_aa, treated as an unknown source (fitted pre-filter and blend, srcore.prefilter)",
    "cubic_no_aa_jpeg75": "cubic_no_aa saved as JPEG quality 75, untreated",
    "cubic_no_aa_jpeg75_unknown": "cubic_no_aa saved as JPEG quality 75, treated as an unknown source",
}


def unknown_source_scores(
    gen: Generator | None, key: str, hrs: list[np.ndarray], no_aa: list[np.ndarray], device: str, tile, lp_fn
) -> dict[str, dict[str, float]]:
    """Mean figures (``DEGRADATION_KEYS``) of ``UNKNOWN_SOURCE_COLUMNS`` for one model, given the
    HR images and their cubic_no_aa LR; the bicubic baseline (``gen`` None) is never treated."""
    jpeg = [_jpeg75(lr) for lr in no_aa]
    runs = {
        "cubic_no_aa_unknown": (no_aa, "unknown"),
        "cubic_no_aa_jpeg75": (jpeg, "benchmark"),
        "cubic_no_aa_jpeg75_unknown": (jpeg, "unknown"),
    }
    out = {}
    for col, (lrs, source) in runs.items():
        vals = [
            score(
                upscale(gen, lr, device=device, tile=tile, source=source, key=key),
                hr,
                lpips_fn=lp_fn,
                keys=DEGRADATION_KEYS,
            )
            for hr, lr in zip(hrs, lrs)
        ]
        out[col] = {k: float(np.mean([v[k] for v in vals])) for k in DEGRADATION_KEYS}
    return out


def adversarial_pairs(models: list[str]) -> list[tuple[str, str]]:
    """(adversarial model, the same objective without the adversarial term) pairs among ``models``,
    found from the model table: SRGAN-MSE vs SRCNN-MSE, SRGAN-PL vs SRCNN-PL."""
    out = []
    for m in models:
        spec = BY_KEY.get(m)
        if spec is None or "adv" not in spec.loss:
            continue
        base = {k: w for k, w in spec.loss.items() if k != "adv"}
        out += [(m, o) for o in models if o in BY_KEY and BY_KEY[o].loss == base]
    return out


def seed_files(model: str, shipped_seed: int = 0) -> dict[int, Path]:
    """The generator files of one zoo model by seed: the shipped one (as ``shipped_seed``) and any
    ``seeds/KEY_seedN.safetensors`` beside it.  A path or an unknown name has just itself."""
    path = checkpoint_path(model)
    out = {shipped_seed: path}
    if model in BY_KEY:
        for f in sorted((path.parent / SEEDS_DIR).glob(f"{model}_seed*.safetensors")):
            tail = f.stem[len(model) + len("_seed") :]
            if tail.isdigit() and int(tail) != shipped_seed:
                out[int(tail)] = f
    return out


def _score_image(
    gen: Generator | None, hr: np.ndarray, lr: np.ndarray, device: str, tile: int | None, lp_fn
) -> tuple[dict, float]:
    """Every figure of one model on one image (``METRICS`` against HR, ``GREY_METRICS`` on its grey
    version) and the seconds its SR of ``lr`` took."""
    t0 = time.perf_counter()
    sr = upscale(gen, lr, device=device, tile=tile)
    secs = time.perf_counter() - t0
    grey = grey_version(hr)
    figures = {
        **score(sr, hr, lpips_fn=lp_fn),
        **chroma_on_grey(upscale(gen, downscale_x4(grey), device=device, tile=tile)),
    }
    return figures, secs


def _means(per: dict[str, dict]) -> dict[str, float]:
    return {k: float(np.mean([v[k] for v in per.values()])) for k in ALL_KEYS}


def uncertainty_summary(
    out: dict, resamples: int = uncertainty.RESAMPLES, level: float = uncertainty.LEVEL
) -> list[dict[str, Any]]:
    """Each set's ``over_seeds`` (mean, sd, n per figure and model) and the ``pairwise`` list, from
    the per-image figures of every seed in ``out`` (a benchmark dict)."""
    pairs: list[dict[str, Any]] = []
    for set_name, entry in out["sets"].items():
        images = entry["images"]
        arrays: dict[str, dict[str, np.ndarray]] = {k: {} for k in PAIRWISE_KEYS}
        for m, res in entry["models"].items():
            seeds = res.get("seeds") or {}
            runs = [res["per_image"]] + [r["per_image"] for r in seeds.values() if "per_image" in r]
            means = [_means(r) for r in runs]
            res["over_seeds"] = {k: uncertainty.seed_spread([mu[k] for mu in means]) for k in ALL_KEYS}
            for k in PAIRWISE_KEYS:
                arrays[k][m] = np.array([[r[i][k] for i in images] for r in runs])
        for k in PAIRWISE_KEYS:
            pairs += uncertainty.pairwise(arrays[k], set_name, k, resamples, level)
    return pairs


def lpips_numpy(model: LPIPS, device: str):
    def fn(a: np.ndarray, b: np.ndarray) -> float:
        with torch.inference_mode():
            return float(model(to_tensor(a).unsqueeze(0).to(device), to_tensor(b).unsqueeze(0).to(device)))

    return fn


def evaluate(
    sets: dict[str, Path],
    models: list[str],
    device: str = "cpu",
    tile: int | None = DEFAULT_TILE,
    progress: bool = True,
    degradations: bool = True,
    seeds: bool = True,
    shipped_seed: int = 0,
    resamples: int = uncertainty.RESAMPLES,
    level: float = uncertainty.LEVEL,
) -> dict:
    """Evaluate ``models`` on ``sets`` ({name: folder}); returns the benchmark dict.  With ``seeds``
    every seed of a zoo model found beside its checkpoint is evaluated too (``seed_files``)."""
    files_by_set = {name: list_images(folder) for name, folder in sets.items()}  # fail early on a bad folder
    lp = LPIPS().to(device)
    lp_fn = lpips_numpy(lp, device)
    gens: dict[str, Generator | None] = {}
    seed_gens: dict[str, dict[int, Generator]] = {}  # the other seeds' inference copies
    meta: dict[str, dict[str, Any]] = {}
    for m in models:
        if m == "bicubic":
            gens[m] = None
            meta[m] = {"title": "Bicubic", "description": "MATLAB-style bicubic x4"}
        else:
            gen, md = load_generator_file(checkpoint_path(m), device)  # weights and metadata in one read
            gens[m] = prepare(gen)  # the inference copy once, not once per image
            seed_paths = seed_files(m, shipped_seed) if seeds else {shipped_seed: checkpoint_path(m)}
            seed_gens[m] = {
                s: prepare(load_generator_file(f, device)[0]) for s, f in seed_paths.items() if s != shipped_seed
            }
            model_md = md.get("model")
            info = model_md if isinstance(model_md, dict) else {}
            meta[m] = {
                "title": TITLES.get(m) or info.get("title", m),
                "checkpoint": str(checkpoint_path(m).name),
                "steps": md.get("steps"),
                "recipe": md.get("recipe"),
                "init": md.get("init"),
                "hardware": md.get("hardware"),
                "train_seconds": md.get("train_seconds"),
                "git_commit": md.get("git_commit"),
                "held_out": md.get("held_out"),
                "seeds": sorted(seed_paths),
                "seed_files": {str(s): str(f.relative_to(f.parent.parent)) for s, f in sorted(seed_paths.items())},
            }
        meta[m]["flat_phase_range"] = flat_phase_range(lambda lr, g=gens[m]: upscale(g, lr, device=device, tile=tile))
    out: dict = {
        "scale": 4,
        "convention": "Y channel of MATLAB rgb2ycbcr (BT.601) and RGB; HR mod-cropped to 4; "
        "4-pixel border shaved; LR by MATLAB-style antialiased bicubic x4; LPIPS v0.1 AlexNet on the shaved RGB",
        "metrics": {
            m.key: {
                "label": m.label,
                "unit": m.unit,
                "higher_is_better": m.higher_is_better,
                "target": m.target,
                "description": m.description,
            }
            for m in METRICS
        },
        "grey_metrics": {
            m.key: {
                "label": m.label,
                "unit": m.unit,
                "higher_is_better": m.higher_is_better,
                "description": m.description,
            }
            for m in GREY_METRICS
        },
        "degradations": {**{k: d for k, (d, _) in DEGRADATIONS.items()}, **UNKNOWN_SOURCE_COLUMNS}
        if degradations
        else {},
        "sets": {},
        "models": meta,
    }
    for set_name, folder in sets.items():
        files = files_by_set[set_name]
        if not files:
            raise FileNotFoundError(f"no images in {folder}")
        entry: dict[str, Any] = {"folder": str(folder), "images": [f.stem for f in files], "models": {}}
        hrs = [mod_crop(load_image(f).array) for f in files]
        lrs = {"standard": [downscale_x4(hr) for hr in hrs]}
        if degradations:
            lrs.update({k: [fn(hr) for hr in hrs] for k, (_, fn) in DEGRADATIONS.items()})
        for m in models:
            per, secs = {}, 0.0
            for f, hr, lr in tqdm(
                list(zip(files, hrs, lrs["standard"])),
                desc=f"{set_name} {m}",
                unit="image",
                disable=not progress,
                leave=False,
            ):
                per[f.stem], t = _score_image(gens[m], hr, lr, device, tile, lp_fn)
                secs += t
            res: dict[str, Any] = {"mean": _means(per), "per_image": per, "seconds": round(secs, 4)}
            if m in seed_gens:
                res["seeds"] = {str(shipped_seed): {"mean": res["mean"]}}
                for seed, g in seed_gens[m].items():
                    sp = {
                        f.stem: _score_image(g, hr, lr, device, tile, lp_fn)[0]
                        for f, hr, lr in tqdm(
                            list(zip(files, hrs, lrs["standard"])),
                            desc=f"{set_name} {m} seed {seed}",
                            unit="image",
                            disable=not progress,
                            leave=False,
                        )
                    }
                    res["seeds"][str(seed)] = {"mean": _means(sp), "per_image": sp}
            if degradations:
                res["degradations"] = {}
                for d in DEGRADATIONS:
                    vals = [
                        score(upscale(gens[m], lr, device=device, tile=tile), hr, lpips_fn=lp_fn, keys=DEGRADATION_KEYS)
                        for hr, lr in zip(hrs, lrs[d])
                    ]
                    res["degradations"][d] = {k: float(np.mean([v[k] for v in vals])) for k in DEGRADATION_KEYS}
                res["degradations"].update(
                    unknown_source_scores(gens[m], model_key(m), hrs, lrs["cubic_no_aa"], device, tile, lp_fn)
                )
            entry["models"][m] = res
        out["sets"][set_name] = entry
    out["seeds"] = {m: meta[m]["seeds"] for m in models if "seeds" in meta[m]}
    out["shipped_seed"] = shipped_seed
    out["uncertainty"] = {
        "method": "paired bootstrap over images and seeds (resampled together, with replacement); "
        "bicubic's one row pairs with every seed",
        "resamples": resamples,
        "level": level,
        "resolved": f"the {level:.0%} interval of the difference excludes 0",
        "sd": "sample standard deviation (n - 1) over seeds of the set means",
    }
    out["pairwise"] = uncertainty_summary(out, resamples, level)
    out["differences"] = {
        f"{a} - {b}": {
            s: {k: e["models"][a]["mean"][k] - e["models"][b]["mean"][k] for k in ("psnr_y", "lpips", "hf_energy")}
            for s, e in out["sets"].items()
        }
        for a, b in adversarial_pairs(models)
    }
    out["environment"] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "platform": platform.platform(),
        "device": torch.cuda.get_device_name(0)
        if device.startswith("cuda")
        else f"CPU, {torch.get_num_threads()} threads",
        "git_commit": git_commit(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }
    return out


TABLE_KEYS = (
    "psnr_y",
    "ssim_y",
    "psnr_rgb",
    "lpips",
    "phase_range",
    "hf_energy",
    "top_octave",
    "chroma_grey",
    "chroma_grey_over8",
)


def markdown_table(bench: dict) -> str:
    """Per set and model: the main figures of the metric table (mean ± sd over seeds where a model
    has several), the largest colour bias and the extra degradations' Y-PSNR (the shipped seed's)
    (the README's results table)."""
    cols = [m for m in (*METRICS, *GREY_METRICS) if m.key in TABLE_KEYS]
    degs = list(bench.get("degradations", {}))
    head = [
        "set",
        "model",
        *(f"{m.label}{' (' + m.unit + ')' if m.unit else ''} {m.arrow}" for m in cols),
        "max abs colour bias",
        *(f"PSNR (Y) {d} ↑" for d in degs),
    ]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    for s, e in bench["sets"].items():
        for m, r in e["models"].items():
            mu = r["mean"]
            title = bench.get("models", {}).get(m, {}).get("title", m)
            spread = r.get("over_seeds") or {}
            cells = [
                (format(spread[c.key]["mean"], c.fmt) + " ± " + format(spread[c.key]["sd"], c.fmt.lstrip("+")))
                if spread.get(c.key, {}).get("n", 1) > 1
                else format(mu[c.key], c.fmt)
                if mu.get(c.key) is not None
                else "–"
                for c in cols
            ]
            bias = [mu.get(k) for k in ("bias_r", "bias_g", "bias_b") if mu.get(k) is not None]
            cells.append(f"{max(map(abs, bias)):.2f}" if bias else "–")
            cells += [f"{r.get('degradations', {}).get(d, {}).get('psnr_y', float('nan')):.2f}" for d in degs]
            lines.append(f"| {s} | {title} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _parse_set(s: str) -> tuple[str, Path]:
    if "=" in s:
        name, folder = s.split("=", 1)
        return name, Path(folder)
    return Path(s).name, Path(s)


def _blend_curves(sets: dict[str, Path], device: str, tile: int | None, progress: bool) -> dict:
    """``srcore.blend_curves.curves`` on Set14 and Kodak24 (those of ``sets``), with this run's LPIPS."""
    from srcore import blend_curves

    lp = LPIPS().to(device)
    say = (lambda m: print(m, file=sys.stderr)) if progress else None
    return blend_curves.curves(
        blend_curves.chosen_sets(sets), lpips_numpy(lp, device), device=device, tile=tile, progress=say
    )


def main(argv=None) -> int:
    p = cli.parser("srcore.evaluate", __doc__)
    p.add_argument(
        "--set",
        action="append",
        required=True,
        metavar="NAME=DIR",
        help="HR image folder, named NAME in the results, or DIR alone (named after the folder); repeatable",
    )
    p.add_argument(
        "--model",
        action="append",
        default=None,
        help="zoo name, .safetensors path or 'bicubic' (repeatable; default: bicubic and the four models)",
    )
    p.add_argument(
        "--missing",
        action="append",
        default=[],
        metavar="NAME=REASON",
        help="record a benchmark set that could not be evaluated, and why (repeatable)",
    )
    p.add_argument("--json", default=None, help="write the results here (e.g. checkpoints/benchmark.json)")
    p.add_argument("--device", default="cpu", help="torch device: cpu, cuda, cuda:1, mps")
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help="LR tile side for large images (0: never tile)")
    p.add_argument("--no-degradations", action="store_true", help="skip the extra degradations' columns")
    p.add_argument("--protocol", default=None, help="protocol.json of the experiment that made the models (recorded)")
    p.add_argument(
        "--no-seeds", action="store_true", help="evaluate the shipped generators only, not the other seeds' (seeds/)"
    )
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument(
        "--blend-curves",
        action="store_true",
        help="also score the blends of three arm pairs at alpha 0, 0.1, ..., 1 on Set14 and Kodak24 "
        "(srcore.blend_curves; stored as blend_curves)",
    )
    a = p.parse_args(argv)
    models = a.model or ["bicubic", *MODEL_NAMES]
    sets = dict(_parse_set(s) for s in a.set)
    try:
        proto = json.loads(Path(a.protocol).read_text()) if a.protocol else {}
        preset = proto.get("preset") or {}  # the decision rules the experiment fixed before its run
        bench = evaluate(
            sets,
            models,
            a.device,
            a.tile or None,
            progress=not a.no_progress,
            degradations=not a.no_degradations,
            seeds=not a.no_seeds,
            shipped_seed=int((preset.get("seeds") or [0])[0]),
            resamples=int(preset.get("bootstrap_resamples", uncertainty.RESAMPLES)),
            level=float(preset.get("ci_level", uncertainty.LEVEL)),
        )
        if proto:
            bench["protocol"] = proto
        if a.blend_curves:
            bench["blend_curves"] = _blend_curves(sets, a.device, a.tile or None, not a.no_progress)
    except (
        FileNotFoundError,
        ImageLoadError,
        CheckpointError,
        BlendError,
        PrefilterError,
        KeyError,
        json.JSONDecodeError,
    ) as e:
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
