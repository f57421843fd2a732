"""Benchmark view: the table from ``benchmark.json`` plus published rows, and one plot per test set.

Columns come from ``srcore.metrics.METRICS`` (label, unit, direction arrow), plus the extra
degradations a model's entry may carry (``"degradations": {"cubic_no_aa": {...}, "jpeg75": {...}}``).
The best value of each column within a set is starred (and bold in the app).  No Gradio here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from dashboard.training import LAYOUT
from srcore.metrics import METRIC_BY_KEY, METRICS, Metric
from srcore.zoo import ModelSpec

BICUBIC = ("bicubic", "Bicubic", "#7f7f7f")
# x4 Y-channel PSNR / SSIM as published (Dong et al. 2014/2016; bicubic from the same tables).
PUBLISHED = {
    "Set5": {
        "Bicubic (published)": (28.42, 0.8104),
        "SRCNN (published)": (30.48, 0.8628),
        "FSRCNN (published)": (30.72, 0.8660),
    },
    "Set14": {
        "Bicubic (published)": (26.00, 0.7027),
        "SRCNN (published)": (27.49, 0.7503),
        "FSRCNN (published)": (27.61, 0.7550),
    },
}
PUBLISHED_SOURCE = (
    "Published rows: x4 PSNR-Y / SSIM-Y from Dong et al., *Image Super-Resolution Using Deep "
    "Convolutional Networks* (SRCNN, TPAMI 2016; ECCV 2014) and *Accelerating the Super-Resolution "
    "Convolutional Neural Network* (FSRCNN, ECCV 2016). No LPIPS was published for them."
)
DEGRADATIONS = {
    "cubic_no_aa": "cubic shrink without antialiasing",
    "jpeg75": "JPEG quality 75",
    # the unknown-source treatment (srcore.prefilter) on the no-antialias LR, and JPEG 75 on top
    "cubic_no_aa_unknown": "cubic shrink without antialiasing, treated as a real photo",
    "cubic_no_aa_jpeg75": "cubic shrink without antialiasing + JPEG 75",
    "cubic_no_aa_jpeg75_unknown": "cubic shrink without antialiasing + JPEG 75, treated as a real photo",
}
OURS, THEIRS = "this project", "published (Dong et al.)"
STAR = " ★"
MAX_SETS = 6  # plots the tab holds (one per set)


def header(m: Metric, prefix: str = "") -> str:
    """A column title: label, unit and the direction that is better (↑, ↓ or → target)."""
    unit = f" ({m.unit})" if m.unit else ""
    return f"{prefix}{m.label}{unit} {m.arrow}"


def load(folder: Path) -> tuple[dict | None, str]:
    p = folder / "benchmark.json"
    if not p.is_file():
        return None, f"No benchmark yet: `{p.name}` was not found in the checkpoints folder (run the evaluation first)."
    try:
        return json.loads(p.read_text()), ""
    except (OSError, json.JSONDecodeError) as e:
        return None, f"`{p.name}` could not be read ({e})."


def _set_key(name: str):
    order = ("Set5", "Set14", "Kodak24", "BSD100", "B100", "Urban100", "Manga109")
    return (order.index(name) if name in order else len(order), name)


def sets(bench: dict | None) -> list[str]:
    return sorted((bench or {}).get("sets", {}), key=_set_key)


def _names(specs) -> dict[str, str]:
    return {BICUBIC[0]: BICUBIC[1], **{s.key: s.title for s in specs}}


def _columns(bench: dict | None) -> tuple[list[Metric], list[tuple[str, Metric]]]:
    """The metrics present in any model's mean, and the (degradation, metric) pairs present."""
    keys: set[str] = set()
    deg: dict[str, set[str]] = {}
    for body in (bench or {}).get("sets", {}).values():
        for d in body.get("models", {}).values():
            keys |= set(d.get("mean", {}))
            for name, figs in (d.get("degradations") or {}).items():
                deg.setdefault(name, set()).update(figs)
    main = [m for m in METRICS if m.key in keys or m.key in ("psnr_y", "ssim_y")]
    extra = [(name, m) for name in sorted(deg) for m in METRICS if m.key in deg[name]]
    return main, extra


def columns(bench: dict | None) -> list[str]:
    main, extra = _columns(bench)
    return [
        "Set",
        "Model",
        *(header(m) for m in main),
        *(header(m, f"{DEGRADATIONS.get(n, n)}: ") for n, m in extra),
        "Images",
        "Seconds",
        "Source",
    ]


def _best(values: dict[str, float], m: Metric) -> str | None:
    best = None
    for k, v in values.items():
        if v is not None and (best is None or m.better(v, values[best])):
            best = k
    return best


def _cell(v, m: Metric, best: bool) -> str:
    return "" if v is None else format(float(v), m.fmt) + (STAR if best else "")


def table(bench: dict | None, specs: tuple[ModelSpec, ...] | list[ModelSpec]) -> pd.DataFrame:
    """Every row (ours, then the published ones) of every set; the best of ours per set and column starred."""
    names = _names(specs)
    order = list(names)
    main, extra = _columns(bench)
    rows = []
    body_sets = (bench or {}).get("sets", {})
    for s in sorted(set(body_sets) | set(PUBLISHED), key=_set_key):
        body = body_sets.get(s, {})
        n = len(body.get("images", []))
        models = body.get("models", {})
        keys = [*[k for k in order if k in models], *[k for k in models if k not in order]]
        cols = [(m, lambda d, m=m: d.get("mean", {}).get(m.key)) for m in main]
        cols += [(m, lambda d, m=m, nm=nm: ((d.get("degradations") or {}).get(nm) or {}).get(m.key)) for nm, m in extra]
        bests = [_best({k: get(models[k]) for k in keys}, m) for m, get in cols]
        for k in keys:
            cells = [_cell(get(models[k]), m, b == k) for (m, get), b in zip(cols, bests)]
            rows.append([s, names.get(k, k), *cells, str(n), _seconds(models[k].get("seconds")), OURS])
        for name, (p, ss) in PUBLISHED.get(s, {}).items():
            pub = {"psnr_y": f"{p:.2f}", "ssim_y": f"{ss:.4f}"}
            rows.append([s, name, *(pub.get(m.key, "") for m in main), *([""] * len(extra)), "", "", THEIRS])
    return pd.DataFrame(rows, columns=columns(bench))


def _seconds(v) -> str:
    return "" if v is None else f"{float(v):.1f}"


def styled(df: pd.DataFrame):
    """The table with the starred (best-per-set) cells in bold, for ``gr.Dataframe``."""
    return df.style.map(lambda v: "font-weight: 700" if isinstance(v, str) and v.endswith(STAR) else "")


def set_figure(bench: dict | None, name: str, specs) -> go.Figure:
    """One set's perception–distortion plane: PSNR-Y (x, right = better) against LPIPS (y, reversed so up = better)."""
    psnr, lpips = METRIC_BY_KEY["psnr_y"], METRIC_BY_KEY["lpips"]
    names = _names(specs)
    colours = {BICUBIC[0]: BICUBIC[2], **{s.key: s.colour for s in specs}}
    fig = go.Figure()
    models = ((bench or {}).get("sets", {}).get(name) or {}).get("models", {})
    for k, d in models.items():
        mean = d.get("mean", {})
        if mean.get("psnr_y") is None or mean.get("lpips") is None:
            continue
        fig.add_trace(
            go.Scatter(
                x=[mean["psnr_y"]],
                y=[mean["lpips"]],
                mode="markers+text",
                text=[names.get(k, k)],
                textposition="top center",
                name=names.get(k, k),
                cliponaxis=False,
                marker=dict(size=13, color=colours.get(k, "#444")),
                hovertemplate=f"{names.get(k, k)} on {name}<br>PSNR-Y %{{x:.2f}} dB<br>LPIPS %{{y:.4f}}<extra></extra>",
            )
        )
    fig.update_layout(
        **{**LAYOUT, "height": 420, "hovermode": "closest"}, title=f"{name}: better is up and to the right"
    )
    fig.update_xaxes(title_text=f"{psnr.label} ({psnr.unit}), higher is better →")
    fig.update_yaxes(title_text=f"{lpips.label}, lower is better ↑ (axis reversed)", autorange="reversed")
    if not fig.data:
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        fig.add_annotation(
            text="no benchmark results yet",
            showarrow=False,
            x=0.5,
            y=0.5,
            xref="paper",
            yref="paper",
            font=dict(size=15),
        )
    return fig


def environment_text(bench: dict | None) -> str:
    if not bench:
        return ""
    env = bench.get("environment") or {}
    bits = [f"{k}: {v}" for k, v in env.items() if isinstance(v, (str, int, float))]
    return ("Measured on " + "; ".join(bits)) if bits else ""
