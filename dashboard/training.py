"""Training view: plotly figures from the JSONL histories, and the progress pictures.

The controlled experiment (``srcore.experiment``) writes ``<checkpoints>/history/pretrain.jsonl``
(the shared MSE pre-training) and one ``<key>.jsonl`` per arm, each fine-tuned from the
pre-training's final weights (its meta record's ``init``).  The pre-training is drawn once, as
such, and each arm from its real starting step, so the x axis is the whole budget each model had:
in optimiser steps or in training images seen.  Progress pictures live in
``<checkpoints>/progress/<key>/``.  Missing files mean "not trained yet".  No Gradio here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from srcore import history
from srcore.metrics import METRIC_BY_KEY
from srcore.zoo import ModelSpec

PRETRAIN = "pretrain"  # the shared pre-training's run key (srcore.experiment)
PRETRAIN_TITLE = "Shared MSE pre-training"
PRETRAIN_COLOUR = "#7f7f7f"
INIT = "init_mse"  # the shared initialisation's own run after the pre-training (checkpoints/README.md)
AXES = {"steps": "training step (pre-training + fine-tuning)", "images": "training images seen (crops)"}
VAL_KEYS = ("psnr_y", "ssim_y", "lpips")
# transparent backgrounds: the page's (light or dark) theme shows through; ui.CSS recolours text in dark mode
LAYOUT = dict(
    template="plotly_white",
    height=420,
    margin=dict(l=70, r=20, t=70, b=50),
    hovermode="x unified",
    legend=dict(orientation="h", yanchor="top", y=-0.22, x=0),
    title_x=0.01,
    paper_bgcolor="rgba(0,0,0,0)",
    plot_bgcolor="rgba(0,0,0,0)",
)


@dataclass(frozen=True)
class Run:
    """One training run's records and where it starts on the shared axes."""

    key: str
    title: str
    colour: str
    records: list[dict]
    offset_steps: int = 0  # the pre-training steps before this run's step 0
    offset_images: int = 0
    continued_at: int = 0  # the pre-training: the step where the shared initialisation's run continues it

    def x(self, rec: dict, axis: str) -> float:
        """A record's position on the shared axis (steps or images seen since the pre-training began)."""
        step = int(rec.get("step", 0))
        if axis == "images":
            seen = rec.get("images_seen")
            if seen is None:
                seen = step * self.images_per_step
            return self.offset_images + int(seen)
        return self.offset_steps + step

    @property
    def meta(self) -> dict:
        return next((r for r in self.records if r.get("kind") == "meta"), {})

    @property
    def images_per_step(self) -> int:
        m = self.meta
        return int(m.get("images_per_step") or (m.get("recipe") or {}).get("batch") or 1)

    @property
    def last_step(self) -> int:
        return max((int(r.get("step", 0)) for r in self.records if r.get("kind") == "train"), default=0)

    def series(self, kind: str, key: str, axis: str, scale: float = 1.0) -> tuple[list, list]:
        xs, ys = [], []
        for r in self.records:
            if r.get("kind") == kind and r.get(key) is not None:
                xs.append(self.x(r, axis))
                ys.append(r[key] * scale)
        return xs, ys


def history_dir(folder: Path) -> Path:
    return folder / "history"


def progress_dir(folder: Path, key: str) -> Path:
    return folder / "progress" / key


def load_runs(specs: tuple[ModelSpec, ...] | list[ModelSpec], folder: Path) -> dict[str, Run]:
    """key -> Run for the pre-training and every model with a non-empty history, placed on the
    shared axes: an arm whose meta names ``init.init_steps`` starts where the pre-training ended.
    When the arms start from a shared initialisation trained on after the pre-training
    (``history/init_mse.jsonl``, whose meta names the pre-training's steps), its records continue
    the pre-training's line and the arms start after both."""
    raw: dict[str, list[dict]] = {}
    for key in (PRETRAIN, *(s.key for s in specs)):
        recs = history.read(history_dir(folder) / f"{key}.jsonl")
        if any(r.get("kind") in ("train", "val") for r in recs):
            raw[key] = recs
    runs: dict[str, Run] = {}
    init_steps = 0  # the shared initialisation's own steps (0: the arms start from the pre-training)
    if PRETRAIN in raw:
        pre = Run(PRETRAIN, PRETRAIN_TITLE, PRETRAIN_COLOUR, raw[PRETRAIN])
        init = Run(INIT, PRETRAIN_TITLE, PRETRAIN_COLOUR, history.read(history_dir(folder) / f"{INIT}.jsonl"))
        if init.last_step and int((init.meta.get("init") or {}).get("init_steps") or 0) == pre.last_step:
            base, seen = (
                pre.last_step,
                int(pre.x({"step": pre.last_step, **_nearest_train(pre, pre.last_step)}, "images")),
            )
            more = [
                {**r, "step": base + int(r.get("step", 0)), "images_seen": seen + int(r.get("images_seen") or 0)}
                for r in init.records
                if r.get("kind") in ("train", "val")
            ]
            pre = Run(PRETRAIN, PRETRAIN_TITLE, PRETRAIN_COLOUR, [*raw[PRETRAIN], *more], continued_at=base)
            init_steps = init.last_step
        runs[PRETRAIN] = pre
    pre = runs.get(PRETRAIN)
    for s in specs:
        if s.key not in raw:
            continue
        meta = next((r for r in raw[s.key] if r.get("kind") == "meta"), {})
        steps = int((meta.get("init") or {}).get("init_steps") or 0)
        if steps and init_steps and steps == init_steps and pre is not None:
            steps = pre.last_step  # from the shared initialisation: after the pre-training and it
        images = 0
        if steps and pre is not None:
            images = int(pre.x({"step": steps, **_nearest_train(pre, steps)}, "images"))
        runs[s.key] = Run(s.key, s.title, s.colour, raw[s.key], steps, images)
    return runs


def _nearest_train(run: Run, step: int) -> dict:
    """The images_seen of ``run``'s last train record at or before ``step`` scaled to ``step`` (or none)."""
    recs = [
        r
        for r in run.records
        if r.get("kind") == "train" and r.get("images_seen") is not None and int(r.get("step", 0)) <= step
    ]
    if not recs:
        return {}
    r = recs[-1]
    per = r["images_seen"] / max(1, int(r.get("step", 0)))
    return {"images_seen": round(per * step)}


def status_text(runs: dict[str, Run], specs) -> str:
    lines = []
    pre = runs.get(PRETRAIN)
    if pre is not None:
        total = (pre.meta.get("recipe") or {}).get("steps")
        if pre.continued_at:  # continued by the shared initialisation's run (load_runs)
            lines.append(
                f"- **{PRETRAIN_TITLE}**: {pre.continued_at:,} steps, then {pre.last_step - pre.continued_at:,} "
                "more MSE steps: the shared initialisation every arm starts from"
            )
        else:
            lines.append(f"- **{PRETRAIN_TITLE}**: {pre.last_step:,} steps" + (f" of {total:,}" if total else ""))
    for s in specs:
        run = runs.get(s.key)
        if run is None:
            if s.checkpoint:  # the user's own model (srcore.zoo.discover)
                lines.append(
                    f"- **{s.title}** (your model, `{Path(s.checkpoint).name}`): no training curves, because no "
                    f"`history/{s.key}.jsonl` is in the checkpoints folder; copy the `history.jsonl` of its "
                    f"`srcore.train` run there under that name to see them"
                )
            else:
                lines.append(f"- **{s.title}**: not trained yet (no `history/{s.key}.jsonl`)")
            continue
        total = (run.meta.get("recipe") or {}).get("steps")
        start = f", starting after {run.offset_steps:,} pre-training steps" if run.offset_steps else ""
        lines.append(
            f"- **{s.title}** ({s.loss_text}): {run.last_step:,} steps logged"
            + (f" of {total:,}" if total else "")
            + start
        )
    return "\n".join(lines)


def smooth(y: list, alpha: float) -> list:
    """Exponential moving average (TensorBoard-style, debiased); None values are carried over."""
    if alpha <= 0:
        return y
    out: list = []
    acc, wsum = 0.0, 0.0
    for v in y:
        if v is None or not np.isfinite(v):
            out.append(None)
            continue
        acc = alpha * acc + (1 - alpha) * v
        wsum = alpha * wsum + (1 - alpha)
        out.append(acc / wsum)
    return out


def _empty(title: str, msg: str) -> go.Figure:
    fig = go.Figure()
    fig.update_layout(title=title, **{**LAYOUT, "height": 260})
    fig.add_annotation(text=msg, showarrow=False, x=0.5, y=0.5, xref="paper", yref="paper", font=dict(size=15))
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    return fig


def vgg_units(recs: list[dict]) -> float:
    """Factor that puts a run's logged VGG loss in unscaled units: a run that multiplies the
    features by ``vgg_feature_scale`` logs its loss scale² smaller."""
    meta = next((r for r in recs if r.get("kind") == "meta"), {})
    scale = (meta.get("recipe") or {}).get("vgg_feature_scale") or 1.0
    return 1.0 / float(scale) ** 2


def _shown(runs: dict[str, Run], models) -> list[Run]:
    """The runs to draw: the pre-training (when any arm is chosen) and the chosen models'."""
    chosen = [runs[m] for m in models if m in runs and m != PRETRAIN]
    return ([runs[PRETRAIN]] if PRETRAIN in runs and chosen else []) + chosen


def focus_arms(fig: go.Figure, runs: list[Run], axis: str) -> go.Figure:
    """Start the x axis shortly before the arms begin, so arms much shorter than the shared
    pre-training are not squeezed into the axis's last few per cent (double-click shows it all)."""

    def xs(r: Run) -> list[float]:
        return [r.x(rec, axis) for rec in r.records if rec.get("kind") in ("train", "val")]

    every = [x for r in runs for x in xs(r)]
    starts = [min(x) for r in runs if r.key != PRETRAIN and r.offset_steps and (x := xs(r))]
    if not starts or not every:
        return fig
    lo, hi = min(starts), max(every)
    if hi <= lo or (hi - lo) >= 0.25 * (hi - min(every)):
        return fig  # the arms fill a quarter of the axis or more already
    fig.update_xaxes(range=[lo - 0.2 * (hi - lo), hi + 0.02 * (hi - lo)])
    return fig


CONTENT = (("mse", "MSE on [−1, 1] pixels"), ("vgg", "VGG feature distance (unscaled)"))


def loss_figure(runs: dict[str, Run], models, log: bool, alpha: float, axis: str = "steps") -> go.Figure:
    """Generator loss terms per run: MSE and VGG content terms (train ─, validation ●) and the adversarial term."""
    shown = _shown(runs, models)
    if not shown:
        return _empty("Generator losses", "not trained yet: no training history found")
    fig = make_subplots(
        rows=1,
        cols=3,
        subplot_titles=("MSE term (train ─, val ●)", "VGG term (train ─, val ●)", "Adversarial term −log D(G(x))"),
    )
    for run in shown:
        for col, (key, _) in enumerate(CONTENT, start=1):
            k = vgg_units(run.records) if key == "vgg" else 1.0
            x, y = run.series("train", key, axis, k)
            if x:
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=smooth(y, alpha),
                        name=f"{run.title} train",
                        line=dict(color=run.colour),
                        legendgroup=run.key,
                        showlegend=col == 1,  # one legend entry per run, not one per column
                    ),
                    1,
                    col,
                )
            x, y = run.series("val", f"val_{key}", axis, k)
            if x:
                fig.add_trace(
                    go.Scatter(
                        x=x,
                        y=y,
                        name=f"{run.title} val",
                        mode="lines+markers",
                        line=dict(color=run.colour, dash="dot"),
                        legendgroup=run.key,
                        showlegend=col == 1,
                    ),
                    1,
                    col,
                )
        x, y = run.series("train", "adv", axis)
        if x:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=smooth(y, alpha),
                    name=f"{run.title} adv",
                    line=dict(color=run.colour),
                    legendgroup=run.key,
                    showlegend=False,
                ),
                1,
                3,
            )
    fig.update_layout(title="Generator loss terms", **LAYOUT)
    focus_arms(fig, shown, axis)
    fig.update_xaxes(title_text=AXES[axis])
    for col, (_, unit) in enumerate(CONTENT, start=1):
        fig.update_yaxes(title_text=f"loss ({unit})", row=1, col=col)
    fig.update_yaxes(title_text="loss (nats per image)", row=1, col=3)
    if log:
        fig.update_yaxes(type="log")
    return fig


def disc_figure(runs: dict[str, Run], models, log: bool, alpha: float, axis: str = "steps") -> go.Figure:
    """Discriminator loss and mean D(real) / D(fake) for the runs with an adversarial term."""
    shown = [r for r in _shown(runs, models) if any(x.get("d_loss") is not None for x in r.records)]
    if not shown:
        return _empty("Discriminator (adversarial models)", "no model with an adversarial term trained yet")
    fig = make_subplots(rows=1, cols=2, subplot_titles=("Discriminator loss", "D(real) ─ and D(fake) ┄"))
    for run in shown:
        c = run.colour
        x, y = run.series("train", "d_loss", axis)
        fig.add_trace(go.Scatter(x=x, y=smooth(y, alpha), name=f"{run.title} D loss", line=dict(color=c)), 1, 1)
        x, y = run.series("train", "d_real", axis)
        fig.add_trace(go.Scatter(x=x, y=smooth(y, alpha), name=f"{run.title} D(real)", line=dict(color=c)), 1, 2)
        x, y = run.series("train", "d_fake", axis)
        fig.add_trace(
            go.Scatter(x=x, y=smooth(y, alpha), name=f"{run.title} D(fake)", line=dict(color=c, dash="dash")), 1, 2
        )
    fig.update_layout(title="Discriminator (adversarial models)", **LAYOUT)
    focus_arms(fig, shown, axis)
    fig.update_xaxes(title_text=AXES[axis])
    fig.update_yaxes(title_text="binary cross-entropy (nats)", row=1, col=1)
    fig.update_yaxes(title_text="mean probability of 'real' (0–1)", range=[0, 1], row=1, col=2)
    if log:
        fig.update_yaxes(type="log", row=1, col=1)
    return fig


def val_figure(runs: dict[str, Run], models, axis: str = "steps") -> go.Figure:
    """Validation figures over training (``srcore.metrics.METRICS``' labels, units and directions)."""
    shown = _shown(runs, models)
    if not shown:
        return _empty("Validation metrics", "not trained yet: no validation records")
    metrics = [METRIC_BY_KEY[k] for k in VAL_KEYS]
    fig = make_subplots(rows=1, cols=len(metrics), subplot_titles=[f"{m.label} {m.arrow}" for m in metrics])
    for run in shown:
        for i, m in enumerate(metrics):
            x, y = run.series("val", m.key, axis)
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    name=run.title,
                    mode="lines+markers",
                    line=dict(color=run.colour),
                    legendgroup=run.key,
                    showlegend=i == 0,
                ),
                1,
                i + 1,
            )
    held = next((r.meta.get("held_out") for r in shown if r.meta.get("held_out")), None)
    where = f" ({len(held)} images held out of the training folder)" if isinstance(held, list) else ""
    fig.update_layout(title=f"Validation metrics over training{where}", **LAYOUT)
    focus_arms(fig, shown, axis)
    fig.update_xaxes(title_text=AXES[axis])
    for i, m in enumerate(metrics):
        better = "higher" if m.higher_is_better else "lower"
        fig.update_yaxes(
            title_text=f"{m.label}{' (' + m.unit + ')' if m.unit else ''}, {better} is better", row=1, col=i + 1
        )
    return fig


# ------------------------------------------------------------------ the report's own curves


def report_dirs(folder: Path) -> list[Path]:
    from srcore import paths

    return [folder / "report_histories", paths.REPO_ROOT / "checkpoints" / "report_histories"]


def load_report(folder: Path, key: str) -> dict | None:
    name = key.replace("_", "-") + "-history.json"
    for d in report_dirs(folder):
        p = d / name
        if p.is_file():
            try:
                return json.loads(p.read_text())
            except (OSError, json.JSONDecodeError):
                return None
    return None


def _first(v):
    """The report's generator entries are a float (SRCNN) or [total, adversarial, content] (GANs)."""
    return v[0] if isinstance(v, list) else v


def report_figure(specs, folder: Path, models, log: bool, alpha: float) -> go.Figure:
    """The report's own generator-loss curves (201 iterations of batch 10), for reference."""
    fig = make_subplots(
        rows=1, cols=2, subplot_titles=("Report: generator loss, train", "Report: generator loss, test")
    )
    found = False
    for s in specs:
        d = load_report(folder, s.key) if s.key in models else None
        if not d:
            continue
        found = True
        for col, part in ((1, "train"), (2, "test")):
            y = [_first(v) for v in (d.get(part) or {}).get("generator") or []]
            fig.add_trace(
                go.Scatter(
                    x=list(range(len(y))),
                    y=smooth(y, alpha),
                    name=f"{s.title} (report)",
                    line=dict(color=s.colour, dash="dash"),
                    legendgroup=s.key,
                    showlegend=col == 1,
                ),
                1,
                col,
            )
    if not found:
        return _empty("Report curves", "report histories not found in checkpoints/report_histories/")
    fig.update_layout(title="The report's own runs (its units: [-1, 1] pixels, unnormalised VGG features)", **LAYOUT)
    fig.update_xaxes(title_text="iteration (batch of 10 images)")
    fig.update_yaxes(title_text="generator loss (the report's units)")
    if log:
        fig.update_yaxes(type="log")
    return fig
