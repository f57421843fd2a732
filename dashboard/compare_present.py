"""The Compare tab's presentation of a result: panel captions, the metrics table, the status line,
the region line and the viewer's config.  No Gradio and no computation: figures come from
``dashboard.core`` / ``dashboard.compare_compute``, files from ``dashboard.compare_files``.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dashboard import core
from dashboard.compare_compute import Extra
from dashboard.compare_files import CONVENTION, ResultFiles, jsonable
from dashboard.core import Engine, Result
from srcore.metrics import METRIC_BY_KEY, PANEL_METRICS

VIEW_IMAGES = "Images"
VIEW_ABS = "Error |SR − HR|"
VIEW_SIGNED = "Signed error SR − HR"
VIEW_DIFF = "Difference A − B"
PENDING = "…"  # a figure still being computed (LPIPS follows the panels and PSNR / SSIM)
SPOT_CAPTION = (
    "Look for texture one invents and the other smooths away (hair, grass, fabric), halos or "
    "ringing beside edges, and noise or a grid pattern in flat areas."
)
HOWTO_GT = (
    "**How to read it.** PSNR-Y and SSIM-Y (higher is better) reward pixel accuracy; LPIPS (lower is "
    "better) tracks perceived similarity; ★ marks the best panel per metric (in the table, for the "
    "whole image and for the visible region). **Wheel or pinch to zoom, drag to pan** (all panels "
    "move together); keys: arrows pan, + / − zoom, 0 fits, n / p step through the places where two "
    "panels differ most. 100 % shows each output pixel on one screen pixel."
)
HOWTO_LR = (
    "**How to read it.** Your image is the low-resolution input: each model's ×4 is shown next to "
    "bicubic, with no original to score against, so there are no figures; judge by eye. **Wheel or "
    "pinch to zoom, drag to pan** (all panels move together); keys: arrows pan, + / − zoom, 0 fits, "
    "n / p step through the places where two panels differ most."
)


def fmt(key: str, v) -> str:
    """A figure as the table formats it (``Metric.fmt``); ∞ for identical images, – for none."""
    if v is None:
        return "–"
    if not np.isfinite(v):
        return "∞"
    return format(v, METRIC_BY_KEY[key].fmt)


@dataclass
class Shown:
    """What the viewer shows for one result and view: its config and the files behind it."""

    config: str
    files: dict[str, str]  # panel key -> PNG path (clean, no overlay)


class Presenter:
    """Texts, tables and viewer configs of results, for one engine's panels."""

    def __init__(self, engine: Engine, files: ResultFiles):
        self.engine = engine
        self.files = files
        self.panels = engine.panels
        self.sr_panels = engine.sr_panels
        self.titles = engine.panel_titles

    def key_of(self, title_or_key) -> str:
        return next((k for k, t in self.titles.items() if t == title_or_key), title_or_key)

    # ---- captions and tables

    def caption(self, panel: str, res: Result, best: dict, scores: dict | None = None) -> str:
        if panel == "lr":
            h, w = res.lr.shape[:2]
            return f"input {w}×{h} px, each pixel shown as 4×4"
        if panel == "hr":
            h, w = res.hr.shape[:2]
            return f"ground truth {w}×{h} px"
        s = scores if scores is not None else res.scores.get(panel)
        if res.hr is None or not s:
            h, w = res.images[panel].shape[:2] if panel in res.images else (0, 0)
            return f"{w}×{h} px" if w else ""
        parts = []
        for m in core.CAPTION_METRICS:
            if m.key not in s:  # LPIPS, still being computed
                parts.append(f"{m.label} {PENDING}")
                continue
            val = fmt(m.key, s.get(m.key)) + (f" {m.unit}" if m.unit else "")
            parts.append(f"{m.label} {val}{' ★' if best.get(m.key) == panel else ''}")
        return " · ".join(parts)

    def table_headers(self) -> list[str]:
        whole = [
            f"{METRIC_BY_KEY[k].label}{' (' + METRIC_BY_KEY[k].unit + ')' if METRIC_BY_KEY[k].unit else ''} "
            f"{METRIC_BY_KEY[k].arrow}"
            for k in PANEL_METRICS
        ]
        region = [f"Region {m.label} {m.arrow}" for m in core.CAPTION_METRICS]
        return ["Panel", *whole, *region, "Best in"]

    def metrics_table(self, res: Result | None, rscores: dict, extras: Sequence[Extra] = ()) -> list[list]:
        """One row per scored panel (the extras last): whole-image figures, the visible region's, and
        the metrics it is best in, for the whole image and (once zoomed in) for the region; ★ marks
        each column's best value."""
        rows: list[list] = []
        if res is None or res.hr is None:
            return rows
        best = core.best_of(res.scores)
        rbest = core.best_of({p: s for p, s in rscores.items() if p in res.scores})
        scored = [(p, self.titles[p], res.scores.get(p)) for p in self.sr_panels]
        scored += [(e.key, e.title, e.scores) for e in extras]
        for p, title, s in scored:
            if not s:
                continue
            r = rscores.get(p, {})
            whole = [m.label for m in core.CAPTION_METRICS if best.get(m.key) == p]
            region = [m.label for m in core.CAPTION_METRICS if rbest.get(m.key) == p]
            marks = "; ".join(
                x
                for x in (
                    ("whole: " + ", ".join(whole)) if whole else "",
                    ("region: " + ", ".join(region)) if region else "",
                )
                if x
            )
            rows.append(
                [
                    title,
                    *(
                        fmt(k, s.get(k)) + (" ★" if best.get(k) == p else "") if k in s else PENDING
                        for k in PANEL_METRICS
                    ),
                    *(fmt(m.key, r.get(m.key)) + (" ★" if rbest.get(m.key) == p else "") for m in core.CAPTION_METRICS),
                    marks,
                ]
            )
        return rows

    def status(self, res: Result | None) -> str:
        bits = []
        if res is not None:
            if res.hr is not None:
                h, w = res.hr.shape[:2]
                lp = (
                    "; LPIPS follows…"
                    if core.lpips_pending(self.engine, res)
                    else (f", LPIPS {res.lpips_seconds:.2f} s" if res.lpips_seconds else "")
                )
                bits.append(
                    f"**{res.source}**: ground truth {w}×{h}, input {w // 4}×{h // 4}, ×4 by each model "
                    f"({res.seconds:.2f} s{lp})."
                )
            else:
                h, w = res.lr.shape[:2]
                bits.append(
                    f"**{res.source}**: your {w}×{h} image upscaled to {4 * w}×{4 * h} ({res.seconds:.2f} s). "
                    "No ground truth, so **no reference metrics** (PSNR / SSIM / LPIPS need the original)."
                )
            bits += [f"Note: {n}." for n in res.notes if "no ground truth" not in n]
        eng = self.engine
        if eng.problems:
            ck = str(eng.settings.checkpoints) + os.sep  # name the file, not the server's folders
            miss = "; ".join(f"**{self.titles.get(n, n)}** ({why.replace(ck, '')})" for n, why in eng.problems.items())
            bits.append(f"⚠ Missing or damaged checkpoints: {miss}. The app runs with the others.")
        if eng.refused:
            bits.append("⚠ Not shown: " + "; ".join(eng.refused.values()) + ".")
        if eng.lpips is None:
            bits.append(f"⚠ LPIPS unavailable: {eng.lpips_problem}")
        return "  \n".join(bits)

    def region_text(self, res: Result, rect) -> str:
        if res.hr is None:
            return "No ground truth, so no region figures."
        x, y, w, h = rect
        H, W = res.size
        if (w, h) == (W, H):
            return (
                "**Visible region:** the whole image, so the region columns are empty (the whole-image "
                "columns hold its figures) — zoom or pan the viewer and they give the part you see "
                "(no border shave)."
            )
        return (
            f"**Visible region:** x {x}–{x + w}, y {y}–{y + h} ({w}×{h} output px)"
            " — zoom or pan the viewer and the region columns follow (no border shave); ★ marks the "
            "region's best."
        )

    def info(self, res: Result) -> dict:
        return jsonable(
            {
                "source": res.source,
                "hr_size": None if res.hr is None else list(res.hr.shape[:2]),
                "lr_size": list(res.lr.shape[:2]),
                "panels": [p for p in self.panels if p in res.images],
                "scores": res.scores,
                "best": core.best_of(res.scores),
                "compute_seconds": round(res.seconds, 3),
                "lpips_seconds": round(res.lpips_seconds, 3),
                "notes": res.notes,
                "convention": CONVENTION,
            }
        )
