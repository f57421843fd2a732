"""Benchmark view: the table from ``checkpoints/benchmark.json`` plus published reference rows."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from srcore import paths
from srcore.zoo import MODEL_NAMES
from srcore.zoo import TITLES

from dashboard.training import COLORS, LAYOUT

MODEL_ORDER = ("bicubic", *MODEL_NAMES)
NAMES = {"bicubic": "Bicubic", **TITLES}
# x4 Y-channel PSNR / SSIM as published (Dong et al. 2014/2016; bicubic from the same tables).
PUBLISHED = {
    "Set5": {"Bicubic (published)": (28.42, 0.8104), "SRCNN (published)": (30.48, 0.8628), "FSRCNN (published)": (30.72, 0.8660)},
    "Set14": {"Bicubic (published)": (26.00, 0.7027), "SRCNN (published)": (27.49, 0.7503), "FSRCNN (published)": (27.61, 0.7550)},
}
PUBLISHED_SOURCE = ("Published rows: x4 PSNR-Y / SSIM-Y from Dong et al., *Image Super-Resolution Using Deep "
                    "Convolutional Networks* (SRCNN, TPAMI 2016; ECCV 2014) and *Accelerating the Super-Resolution "
                    "Convolutional Neural Network* (FSRCNN, ECCV 2016). No LPIPS was published for them.")
COLUMNS = ["Set", "Model", "PSNR-Y (dB)", "SSIM-Y", "PSNR-RGB (dB)", "LPIPS", "Images", "Seconds", "Source"]


def benchmark_path() -> Path:
    return paths.CHECKPOINTS / "benchmark.json"


def load() -> tuple[dict | None, str]:
    p = benchmark_path()
    if not p.is_file():
        return None, f"No benchmark yet: `{p.name}` was not found in the checkpoints folder (run the evaluation first)."
    try:
        return json.loads(p.read_text()), ""
    except (OSError, json.JSONDecodeError) as e:
        return None, f"`{p.name}` could not be read ({e})."


def _r(v, nd):
    return "" if v is None else f"{float(v):.{nd}f}"


def _set_key(name: str):
    order = ("Set5", "Set14", "BSD100", "B100", "Urban100", "Manga109")
    return (order.index(name) if name in order else len(order), name)


def table(bench: dict | None) -> pd.DataFrame:
    rows = []
    sets = (bench or {}).get("sets", {})
    for s in sorted(set(sets) | set(PUBLISHED), key=_set_key):
        body = sets.get(s, {})
        n = len(body.get("images", []))
        models = body.get("models", {})
        for m in [*MODEL_ORDER, *[k for k in models if k not in MODEL_ORDER]]:
            if m not in models:
                continue
            mean = models[m].get("mean", {})
            rows.append([s, NAMES.get(m, m), _r(mean.get("psnr_y"), 2), _r(mean.get("ssim_y"), 4),
                         _r(mean.get("psnr_rgb"), 2), _r(mean.get("lpips"), 4), str(n), _r(models[m].get("seconds"), 1),
                         "this project"])
        for name, (p, ss) in PUBLISHED.get(s, {}).items():
            rows.append([s, name, f"{p:.2f}", f"{ss:.4f}", "", "", "", "", "published (Dong et al.)"])
    return pd.DataFrame(rows, columns=COLUMNS)


def scatter(bench: dict | None) -> go.Figure:
    """Perception-distortion plane: PSNR-Y (x) against LPIPS (y), one point per model per set."""
    fig = go.Figure()
    symbols = ["circle", "square", "diamond", "triangle-up", "x", "star"]
    sets = (bench or {}).get("sets", {})
    for i, (s, body) in enumerate(sorted(sets.items(), key=lambda kv: _set_key(kv[0]))):
        for m, d in body.get("models", {}).items():
            mean = d.get("mean", {})
            if mean.get("psnr_y") is None or mean.get("lpips") is None:
                continue
            fig.add_trace(go.Scatter(
                x=[mean["psnr_y"]], y=[mean["lpips"]], mode="markers+text", text=[NAMES.get(m, m)],
                textposition="top center", name=f"{NAMES.get(m, m)} · {s}",
                marker=dict(size=13, color=COLORS.get(m, "#444"), symbol=symbols[i % len(symbols)]),
                hovertemplate=f"{NAMES.get(m, m)} on {s}<br>PSNR-Y %{{x:.2f}} dB<br>LPIPS %{{y:.4f}}<extra></extra>"))
    fig.update_layout(**{**LAYOUT, "height": 440, "hovermode": "closest"},
                      title="Perception–distortion: right = less distortion (PSNR), down = more perceptual similarity (LPIPS)")
    fig.update_xaxes(title_text="PSNR-Y (dB) →  better")
    fig.update_yaxes(title_text="LPIPS (lower is better)", autorange="reversed")
    if not fig.data:
        fig.update_xaxes(visible=False)
        fig.update_yaxes(visible=False)
        fig.add_annotation(text="no benchmark results yet", showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper",
                           font=dict(size=15))
    return fig


def environment_text(bench: dict | None) -> str:
    if not bench:
        return ""
    env = bench.get("environment") or {}
    bits = [f"{k}: {v}" for k, v in env.items() if isinstance(v, (str, int, float))]
    return ("Measured on " + "; ".join(bits)) if bits else ""
