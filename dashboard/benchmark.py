"""Benchmark view: the table from ``benchmark.json`` plus published rows, and one plot per test set.

Columns come from ``srcore.metrics.METRICS`` (label, unit, direction arrow), plus the extra
degradations a model's entry may carry (``"degradations": {"cubic_no_aa": {...}, "jpeg75": {...}}``).
With several seeds per arm (``over_seeds`` in each model's entry) a cell shows the mean over seeds
± their standard deviation, and a best value is starred only where ``pairwise`` (paired bootstrap
intervals, ``srcore.uncertainty``) resolves it against every other model; an unresolved leader
is marked "tie".  No Gradio here.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import plotly.graph_objects as go

from dashboard import blend_plot
from dashboard.training import LAYOUT
from srcore import uncertainty
from srcore.metrics import GREY_METRICS, METRIC_BY_KEY, METRICS, Metric
from srcore.zoo import MSE_ARM, ModelSpec

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
TIE = " (tie)"  # the best mean, but its interval against some other model includes 0
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
    main = [m for m in (*METRICS, *GREY_METRICS) if m.key in keys or m.key in ("psnr_y", "ssim_y")]
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


def _cell(v, m: Metric, mark: str = "", sd: float | None = None) -> str:
    if v is None:
        return ""
    return format(float(v), m.fmt) + (f" ± {format(sd, m.fmt.lstrip('+'))}" if sd is not None else "") + mark


def _spread(d: dict, key: str) -> tuple[float | None, float | None]:
    """A model's figure: the mean over seeds and their sd where it has several seeds, else its mean."""
    o = (d.get("over_seeds") or {}).get(key)
    if o and o.get("n", 1) > 1:
        return o["mean"], o["sd"]
    return d.get("mean", {}).get(key), None


def _marks(bench: dict, set_name: str, m: Metric, values: dict[str, float | None]) -> dict[str, str]:
    """The mark of each model's cell: ★ for a best resolved against every other model, "tie" for
    a leader that is not; without intervals for this figure, ★ for the best mean (one seed)."""
    leader = _best(values, m)
    if leader is None:
        return {}
    pairs = [p for p in bench.get("pairwise") or [] if p["set"] == set_name and p["metric"] == m.key]
    if not pairs:
        return {} if bench.get("pairwise") else {leader: STAR}
    if m.higher_is_better is None:  # closeness to a target: intervals are of the raw difference
        return {}
    present = [k for k, v in values.items() if v is not None]
    best = uncertainty.resolved_best(pairs, set_name, m.key, present, m.higher_is_better)
    return {best: STAR} if best else {leader: TIE}


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
        cols = [(m, lambda d, m=m: _spread(d, m.key)) for m in main]
        cols += [
            (m, lambda d, m=m, nm=nm: (((d.get("degradations") or {}).get(nm) or {}).get(m.key), None))
            for nm, m in extra
        ]
        marks = [_marks(bench or {}, s, m, {k: get(models[k])[0] for k in keys}) for m, get in cols]
        for k in keys:
            cells = [
                _cell(*get(models[k])[:1], m, mk.get(k, ""), get(models[k])[1]) for (m, get), mk in zip(cols, marks)
            ]
            rows.append([s, names.get(k, k), *cells, str(n), _seconds(models[k].get("seconds")), OURS])
        for name, (p, ss) in PUBLISHED.get(s, {}).items():
            pub = {"psnr_y": f"{p:.2f}", "ssim_y": f"{ss:.4f}"}
            rows.append([s, name, *(pub.get(m.key, "") for m in main), *([""] * len(extra)), "", "", THEIRS])
    return pd.DataFrame(rows, columns=columns(bench))


def _seconds(v) -> str:
    return "" if v is None else f"{float(v):.1f}"


def styled(df: pd.DataFrame):
    """The table with the starred (resolved best-per-set) cells in bold, for ``gr.Dataframe``."""
    return df.style.map(lambda v: "font-weight: 700" if isinstance(v, str) and v.endswith(STAR) else "")


def set_figure(bench: dict | None, name: str, specs) -> go.Figure:
    """One set's perception–distortion plane: PSNR-Y (x, right = better) against LPIPS (y, reversed so up = better)."""
    psnr, lpips = METRIC_BY_KEY["psnr_y"], METRIC_BY_KEY["lpips"]
    names = _names(specs)
    colours = {BICUBIC[0]: BICUBIC[2], **{s.key: s.colour for s in specs}}
    fig = go.Figure()
    models = ((bench or {}).get("sets", {}).get(name) or {}).get("models", {})
    for k, d in models.items():
        (x, sx), (y, sy) = _spread(d, "psnr_y"), _spread(d, "lpips")
        if x is None or y is None:
            continue
        n = ((d.get("over_seeds") or {}).get("psnr_y") or {}).get("n", 1)
        fig.add_trace(
            go.Scatter(
                x=[x],
                y=[y],
                error_x=dict(type="data", array=[sx], visible=sx is not None, thickness=1.5),
                error_y=dict(type="data", array=[sy], visible=sy is not None, thickness=1.5),
                mode="markers+text",
                text=[names.get(k, k)],
                textposition="top center",
                name=names.get(k, k),
                cliponaxis=False,
                marker=dict(size=13, color=colours.get(k, "#444")),
                hovertemplate=f"{names.get(k, k)} on {name}<br>PSNR-Y %{{x:.2f}}"
                + (f" ± {sx:.2f}" if sx is not None else "")
                + " dB<br>LPIPS %{y:.4f}"
                + (f" ± {sy:.4f}<br>mean ± sd over {n} seeds" if sy is not None else "")
                + "<extra></extra>",
            )
        )
    blend_plot.add_curves(fig, bench, name, names, colours)  # the loss slider's curves (issue 22)
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


PAIR_COLUMNS = ["Set", "Comparison", "Figure", "Mean difference", "95% interval", "Resolved?"]


def pairwise_table(bench: dict | None, specs, reference: str = MSE_ARM) -> pd.DataFrame:
    """Each arm against ``reference`` (the loss signatures) and against bicubic, per set and figure:
    the mean paired difference, its bootstrap interval and whether it excludes 0."""
    names = _names(specs)
    rows = []
    pairs = (bench or {}).get("pairwise") or []
    level = ((bench or {}).get("uncertainty") or {}).get("level", 0.95)
    for s in sets(bench):
        models = list(((bench or {}).get("sets", {}).get(s) or {}).get("models", {}))
        for a in models:
            for b in (reference, "bicubic"):
                if a in (reference, "bicubic") and b != "bicubic" or a == b or b not in models:
                    continue
                for key in dict.fromkeys(p["metric"] for p in pairs):
                    p = uncertainty.find(pairs, s, key, a, b)
                    if p is None:
                        continue
                    m = METRIC_BY_KEY.get(key)
                    fmt = (m.fmt if m else ".4f").lstrip("+")
                    lo, hi = p["ci95"]
                    rows.append(
                        [
                            s,
                            f"{names.get(a, a)} − {names.get(b, b)}",
                            m.label if m else key,
                            format(p["mean_diff"], "+" + fmt),
                            f"[{format(lo, '+' + fmt)}, {format(hi, '+' + fmt)}]",
                            "yes" if p["resolved"] else f"no (the {level:.0%} interval includes 0)",
                        ]
                    )
    return pd.DataFrame(rows, columns=PAIR_COLUMNS)


def uncertainty_text(bench: dict | None) -> str:
    """One line on how the ± and the marks were computed (from ``benchmark.json``'s own record)."""
    u = (bench or {}).get("uncertainty")
    seeds = (bench or {}).get("seeds") or {}
    if not u or not seeds:
        return "One seed per model: no spread or interval is available, so no difference here is established."
    n = sorted({len(v) for v in seeds.values()})
    return (
        f"Figures are means over {'/'.join(map(str, n))} seeds ± their standard deviation (the app runs seed "
        f"{(bench or {}).get('shipped_seed', 0)}). ★ marks a best value whose {u['level']:.0%} interval against every "
        f"other model excludes 0 ({u['method']}, {u['resamples']} resamples); “tie” marks a leader that is not "
        "resolved. Target figures (→1, →0) are not starred."
    )
