"""Training view: plotly figures from the JSONL histories and the progress pictures.

Histories live in ``<checkpoints>/history/<name>.jsonl`` (``srcore.history`` format) and progress
pictures in ``<checkpoints>/progress/<name>/``.  Missing files mean "not trained yet".
The report's own curves (converted from its notebooks) are in ``checkpoints/report_histories/``.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from srcore import history, paths
from srcore.zoo import MODEL_NAMES
from srcore.zoo import COLOURS, TITLES

COLORS = {**COLOURS, "bicubic": "#7f7f7f"}
GANS = ("srgan_mse", "srgan_pl")
REPORT_FILES = {n: n.replace("_", "-") + "-history.json" for n in MODEL_NAMES}
LAYOUT = dict(template="plotly_white", height=400, margin=dict(l=60, r=20, t=70, b=40), hovermode="x unified",
              legend=dict(orientation="h", yanchor="top", y=-0.2, x=0), title_x=0.01)


def history_dir() -> Path:
    return paths.CHECKPOINTS / "history"


def progress_dir(name: str) -> Path:
    return paths.CHECKPOINTS / "progress" / name


def report_dirs() -> list[Path]:
    return [paths.CHECKPOINTS / "report_histories", paths.REPO_ROOT / "checkpoints" / "report_histories"]


def load_histories(names=MODEL_NAMES) -> dict[str, list[dict]]:
    """name -> records (only models with a non-empty history)."""
    out = {}
    for n in names:
        recs = history.read(history_dir() / f"{n}.jsonl")
        if any(r.get("kind") in ("train", "val") for r in recs):
            out[n] = recs
    return out


def status_text(hist: dict[str, list[dict]]) -> str:
    lines = []
    for n in MODEL_NAMES:
        recs = hist.get(n)
        if not recs:
            lines.append(f"- **{TITLES[n]}**: not trained yet (no `history/{n}.jsonl`)")
            continue
        steps = [r.get("step", 0) for r in recs if r.get("kind") == "train"]
        meta = next((r for r in recs if r.get("kind") == "meta"), {})
        total = (meta.get("recipe") or {}).get("steps")
        last = max(steps) if steps else 0
        lines.append(f"- **{TITLES[n]}**: {last:,} steps logged" + (f" of {total:,}" if total else ""))
    return "\n".join(lines)


def smooth(y: list, alpha: float) -> list:
    """Exponential moving average (TensorBoard-style, debiased); None values are carried over."""
    if alpha <= 0:
        return y
    out, acc, wsum = [], 0.0, 0.0
    for v in y:
        if v is None or not np.isfinite(v):
            out.append(None)
            continue
        acc = alpha * acc + (1 - alpha) * v
        wsum = alpha * wsum + (1 - alpha)
        out.append(acc / wsum)
    return out


def series(recs: list[dict], kind: str, key: str) -> tuple[list, list]:
    xs, ys = [], []
    for r in recs:
        if r.get("kind") == kind and r.get(key) is not None:
            xs.append(r.get("step", 0))
            ys.append(r[key])
    return xs, ys


def _empty(title: str, msg: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **{**LAYOUT, "height": 260})
    fig.add_annotation(text=msg, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=15))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def content_key(recs: list[dict]) -> str:
    return "vgg" if any(r.get("vgg") is not None for r in recs if r.get("kind") == "train") else "mse"


def vgg_units(recs: list[dict]) -> float:
    """Factor that puts a run's logged VGG loss in the report's unscaled units: SRGAN-PL multiplies
    the features by ``vgg_feature_scale`` (1/12.75), so its loss is logged scale² smaller."""
    meta = next((r for r in recs if r.get("kind") == "meta"), {})
    scale = (meta.get("recipe") or {}).get("vgg_feature_scale") or 1.0
    return 1.0 / float(scale) ** 2


def loss_figure(hist: dict, models, log: bool, alpha: float) -> go.Figure:
    """Generator loss terms per model: content (MSE or VGG, train and validation) and adversarial."""
    models = [m for m in models if m in hist]
    if not models:
        return _empty("Generator losses", "not trained yet: no training history found")
    fig = make_subplots(rows=1, cols=3, subplot_titles=("Content loss: MSE (train ─, val ●)",
                                                        "Content loss: VGG, unscaled (train ─, val ●)",
                                                        "Adversarial term (GANs)"))
    for m in models:
        recs, c = hist[m], COLORS[m]
        ck = content_key(recs)
        col = 1 if ck == "mse" else 2
        k = vgg_units(recs) if ck == "vgg" else 1.0
        x, y = series(recs, "train", ck)
        fig.add_trace(go.Scatter(x=x, y=smooth([v * k for v in y], alpha), name=f"{TITLES[m]} train",
                                 line=dict(color=c), legendgroup=m), 1, col)
        x, y = series(recs, "val", f"val_{ck}")
        y = [v * k for v in y]
        if x:
            fig.add_trace(go.Scatter(x=x, y=y, name=f"{TITLES[m]} val", mode="lines+markers",
                                     line=dict(color=c, dash="dot"), legendgroup=m), 1, col)
        x, y = series(recs, "train", "adv")
        if x:
            fig.add_trace(go.Scatter(x=x, y=smooth(y, alpha), name=f"{TITLES[m]} adv", line=dict(color=c),
                                     legendgroup=m, showlegend=False), 1, 3)
    fig.update_layout(title="Generator loss terms", **LAYOUT)
    fig.update_xaxes(title_text="step")
    if log:
        fig.update_yaxes(type="log")
    return fig


def disc_figure(hist: dict, models, log: bool, alpha: float) -> go.Figure:
    """Discriminator loss and mean D(real) / D(fake) for the GANs."""
    models = [m for m in models if m in hist and m in GANS]
    if not models:
        return _empty("Discriminator (GANs)", "no GAN trained yet (SRGAN-MSE, SRGAN-PL)")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Discriminator loss", "D(real) ─ and D(fake) ┄"))
    for m in models:
        recs, c = hist[m], COLORS[m]
        x, y = series(recs, "train", "d_loss")
        fig.add_trace(go.Scatter(x=x, y=smooth(y, alpha), name=f"{TITLES[m]} D loss", line=dict(color=c)), 1, 1)
        x, y = series(recs, "train", "d_real")
        fig.add_trace(go.Scatter(x=x, y=smooth(y, alpha), name=f"{TITLES[m]} D(real)", line=dict(color=c)), 1, 2)
        x, y = series(recs, "train", "d_fake")
        fig.add_trace(go.Scatter(x=x, y=smooth(y, alpha), name=f"{TITLES[m]} D(fake)",
                                 line=dict(color=c, dash="dash")), 1, 2)
    fig.update_layout(title="Discriminator (GANs)", **LAYOUT)
    fig.update_xaxes(title_text="step")
    if log:
        fig.update_yaxes(type="log", row=1, col=1)
    fig.update_yaxes(range=[0, 1], row=1, col=2)
    return fig


def val_figure(hist: dict, models) -> go.Figure:
    """Validation PSNR-Y, SSIM-Y and LPIPS over steps, all models on shared axes."""
    models = [m for m in models if m in hist]
    if not models:
        return _empty("Validation metrics", "not trained yet: no validation records")
    fig = make_subplots(rows=1, cols=3, subplot_titles=("PSNR-Y (dB) ↑", "SSIM-Y ↑", "LPIPS ↓"))
    for m in models:
        for i, key in enumerate(("psnr_y", "ssim_y", "lpips")):
            x, y = series(hist[m], "val", key)
            fig.add_trace(go.Scatter(x=x, y=y, name=TITLES[m], mode="lines+markers", line=dict(color=COLORS[m]),
                                     legendgroup=m, showlegend=i == 0), 1, i + 1)
    fig.update_layout(title="Validation metrics over training (Set5 + Set14 crops)", **LAYOUT)
    fig.update_xaxes(title_text="step")
    return fig


def load_report(name: str) -> dict | None:
    for d in report_dirs():
        p = d / REPORT_FILES[name]
        if p.is_file():
            try:
                return json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                return None
    return None


def _first(v):
    """The report's generator entries are a float (SRCNN) or [total, adversarial, content] (GANs)."""
    if isinstance(v, list):
        return v[0]
    return v


def report_figure(models, log: bool, alpha: float) -> go.Figure:
    """The report's own generator-loss curves (201 iterations of batch 10), for reference."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Report: generator loss, train", "Report: generator loss, test"))
    found = False
    for m in models:
        d = load_report(m)
        if not d:
            continue
        found = True
        for col, part in ((1, "train"), (2, "test")):
            g = (d.get(part) or {}).get("generator") or []
            y = [_first(v) for v in g]
            fig.add_trace(go.Scatter(x=list(range(len(y))), y=smooth(y, alpha), name=f"{TITLES[m]} (report)",
                                     line=dict(color=COLORS[m], dash="dash"), legendgroup=m, showlegend=col == 1),
                          1, col)
    if not found:
        return _empty("Report curves", "report histories not found in checkpoints/report_histories/")
    fig.update_layout(title="The report's own runs (its units: [-1, 1] pixels, unnormalised VGG features)", **LAYOUT)
    fig.update_xaxes(title_text="iteration (batch of 10)")
    if log:
        fig.update_yaxes(type="log")
    return fig


# ------------------------------------------------------------------ progress pictures


def picture_steps(hist: dict) -> dict[str, list[tuple[int, list[str]]]]:
    """name -> [(step, [file names])] of the progress pictures that exist on disk."""
    out = {}
    for m, recs in hist.items():
        d = progress_dir(m)
        rows = []
        for r in recs:
            if r.get("kind") == "picture":
                files = [f for f in r.get("files", []) if (d / f).is_file()]
                if files:
                    rows.append((int(r.get("step", 0)), files))
        if rows:
            out[m] = sorted(rows)
    return out


def crop_names(pics: dict) -> list[str]:
    names = []
    for rows in pics.values():
        for _, files in rows:
            for f in files:
                stem = f.rsplit("_step", 1)[0]
                if stem not in names:
                    names.append(stem)
    return names


def all_steps(pics: dict) -> list[int]:
    return sorted({s for rows in pics.values() for s, _ in rows})


def pictures_at(pics: dict, step: int, crop: str) -> dict[str, tuple[str | None, int | None]]:
    """name -> (picture path, its step): the latest picture of ``crop`` at or before ``step``."""
    out = {}
    for m in MODEL_NAMES:
        best = (None, None)
        for s, files in pics.get(m, []):
            if s > step:
                break
            f = next((f for f in files if f.rsplit("_step", 1)[0] == crop), None)
            if f:
                best = (str(progress_dir(m) / f), s)
        out[m] = best
    return out
