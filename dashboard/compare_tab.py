"""The Compare tab: every model's ×4 of one image side by side, with metrics, zoom and a slider.

``CompareTab(engine)`` holds the examples and a small result cache; ``build()`` lays the tab out
inside the current ``gr.Tab`` and wires it.  The callbacks return dicts keyed by component (named
outputs, not positions).  Model maths lives in ``dashboard.core`` / ``srcore``; this module only
renders (crops, outlines, PNG encoding) and relays.
"""

from __future__ import annotations

import io
import json
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np
from PIL import Image

from dashboard import core
from dashboard.core import EXAMPLE_LOADERS, UPLOAD_HR, UPLOAD_LR, Engine, InputError, Result
from dashboard.tempstore import TempStore
from srcore.imageio import ImageLoadError
from srcore.metrics import METRIC_BY_KEY, PANEL_METRICS
from srcore.zoo import MODELS

VIEW_IMAGES = "Images"
VIEW_ERRORS = "Error maps |SR − HR|"
PANEL_HEIGHT = 300
DEFAULT_SIZE = 96
ROW = 4  # panels per row

# a region of interest per example (x, y of the top-left corner in HR pixels)
EXAMPLE_REGIONS = {"Astronaut": (176, 64), "Chelsea (cat)": (232, 96), "Coffee": (208, 112), "Rocket": (264, 160)}


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def write_png(arr: np.ndarray, folder: Path, name: str) -> str:
    p = folder / f"{name}.png"
    p.write_bytes(png_bytes(arr))
    return str(p)


def _fmt(key: str, v) -> str:
    """A figure as the table formats it (``Metric.fmt``); ∞ for identical images, – for none."""
    if v is None:
        return "–"
    if not np.isfinite(v):
        return "∞"
    return format(v, METRIC_BY_KEY[key].fmt)


def _jsonable(d):
    if isinstance(d, dict):
        return {k: _jsonable(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [_jsonable(v) for v in d]
    if isinstance(d, (np.floating, float)):
        v = float(d)
        return v if np.isfinite(v) else None
    if isinstance(d, np.integer):
        return int(d)
    return d


@dataclass
class View:
    """What one render shows, by panel name (turned into component updates by ``CompareTab._out``)."""

    full: dict[str, str | None]
    caps: dict[str, str]
    zoom: dict[str, str | None]
    zcaps: dict[str, str]
    slider: tuple[str, str] | None
    table: list[list]
    info: dict
    region: tuple[int, int, int]
    size: tuple[int, int]


class CompareTab:
    """The Compare tab of one app: state shared by its callbacks (engine, examples, cache)."""

    def __init__(self, engine: Engine):
        self.engine = engine
        self.temp = TempStore()
        self.panels = engine.panels
        self.sr_panels = engine.sr_panels
        self.titles = engine.panel_titles
        from skimage import data as skdata

        self.examples = {k: getattr(skdata, v)() for k, v in EXAMPLE_LOADERS.items()}
        self._cache: dict = {}  # (example, models) -> Result: examples are fixed, so their results are too
        import threading

        self._lock = threading.Lock()
        self.c: dict[str, Any] = {}  # components by name, filled by build()

    # ---- computing

    def compute(self, example, upload, mode, models) -> Result:
        models = [m for m in (models or []) if m in self.engine.models]
        key = (example, tuple(models))
        if not upload and key in self._cache:
            return self._cache[key]
        res = self._compute(example, upload, mode, models)
        if not upload:
            with self._lock:
                if len(self._cache) >= 8:
                    self._cache.pop(next(iter(self._cache)))
                self._cache[key] = res
        return res

    def seed(self, res: Result) -> None:
        """Cache an already computed comparison of the first example with every model (app start-up)."""
        self._cache[(res.source, tuple(self.engine.available))] = res

    def _compute(self, example, upload, mode, models) -> Result:
        if upload:
            path = upload if isinstance(upload, str) else getattr(upload, "name", None) or upload.get("path")
            try:
                arr, notes = core.load_upload(path)
            except ImageLoadError as e:
                raise gr.Error(f"Could not use that file: {e}", print_exception=False) from None
            source = Path(path).name
        else:
            if example not in self.examples:
                raise gr.Error(f"unknown example {example!r}; choose one of {', '.join(self.examples)}", print_exception=False)
            arr, notes, source = self.examples[example], [], example
        try:
            res = core.run_compare(self.engine, arr, as_lr=bool(upload) and mode == UPLOAD_LR, models=models, source=source)
        except InputError as e:
            raise gr.Error(str(e), print_exception=False) from None
        res.notes[:0] = notes
        return res

    def default_region(self, res: Result, example, upload, size) -> tuple[int, int, int]:
        h, w = res.size
        size = int(size or DEFAULT_SIZE)
        if not upload and example in EXAMPLE_REGIONS:
            x, y = EXAMPLE_REGIONS[example]
            return core.clamp_region(x, y, size, h, w)
        return core.region_around(w / 2, h / 2, size, h, w)

    # ---- text

    def caption(self, panel: str, res: Result | None, scores: dict, best: dict, region: bool = False) -> str:
        if res is None:
            return ""
        if panel == "lr":
            h, w = res.lr.shape[:2]
            return f"input {w}×{h} px" if not region else "input (nearest)"
        if panel == "hr":
            if res.hr is None:
                return "no ground truth (upscale-only mode)"
            h, w = res.hr.shape[:2]
            return f"ground truth {w}×{h} px" if not region else "ground truth"
        if panel not in res.images:
            if panel in self.engine.problems:
                return "⚠ checkpoint missing"
            return "not run (tick it under *Models*)"
        if res.hr is None:
            return "no ground truth → no metrics"
        s = scores.get(panel, {})
        parts = []
        for m in core.CAPTION_METRICS:
            val = _fmt(m.key, s.get(m.key)) + (f" {m.unit}" if m.unit else "")
            star = " ★" if best.get(m.key) == panel else ""
            parts.append(f"{m.label} **{val}**{star}" if star else f"{m.label} {val}")
        return " · ".join(parts)

    def table_headers(self) -> list[str]:
        whole = [f"{METRIC_BY_KEY[k].label}{' (' + METRIC_BY_KEY[k].unit + ')' if METRIC_BY_KEY[k].unit else ''} "
                 f"{METRIC_BY_KEY[k].arrow}" for k in PANEL_METRICS]
        region = [f"Region {m.label} {m.arrow}" for m in core.CAPTION_METRICS]
        return ["Panel", *whole, *region, "Best in"]

    def metrics_table(self, res: Result | None, rscores: dict) -> list[list]:
        rows: list[list] = []
        if res is None or res.hr is None:
            return rows
        best = core.best_of(res.scores)
        for p in self.sr_panels:
            s = res.scores.get(p)
            if not s:
                continue
            r = rscores.get(p, {})
            marks = [m.label for m in core.CAPTION_METRICS if best.get(m.key) == p]
            rows.append([self.titles[p], *(_fmt(k, s.get(k)) for k in PANEL_METRICS),
                         *(_fmt(m.key, r.get(m.key)) for m in core.CAPTION_METRICS), ", ".join(marks)])
        return rows

    def status(self, res: Result | None) -> str:
        bits = []
        if res is not None:
            if res.hr is not None:
                h, w = res.hr.shape[:2]
                bits.append(f"**{res.source}**: ground truth {w}×{h}, input {w // 4}×{h // 4}, ×4 by each model "
                            f"({res.seconds:.2f} s).")
            else:
                h, w = res.lr.shape[:2]
                bits.append(f"**{res.source}**: your {w}×{h} image upscaled to {4 * w}×{4 * h} ({res.seconds:.2f} s). "
                            "No ground truth, so **no reference metrics** (PSNR / SSIM / LPIPS need the original).")
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

    # ---- rendering (cheap: crops, outlines, PNG encoding)

    def render(self, res: Result, view, region, left, right, slider_zoom) -> View:
        h, w = res.size
        region = core.clamp_region(*region, h, w)
        folder = self.temp.new()
        errors = view == VIEW_ERRORS
        best = core.best_of(res.scores)
        rscores = core.region_scores(self.engine, res, region)
        rbest = core.best_of(rscores)
        views = {p: core.panel_view(res, p, errors) for p in self.panels}

        def encode(job):
            kind, p = job
            v = views[p]
            if v is None:
                return None
            return write_png(core.outline(v, region) if kind == "full" else core.zoom(v, region), folder, f"{kind}_{p}")

        jobs = [("full", p) for p in self.panels] + [("zoom", p) for p in self.panels]
        pool = self.engine.pool
        files = dict(zip(jobs, pool.map(encode, jobs) if pool is not None else map(encode, jobs)))
        info = {
            "source": res.source, "hr_size": None if res.hr is None else list(res.hr.shape[:2]),
            "lr_size": list(res.lr.shape[:2]), "panels": [p for p in self.panels if p in res.images],
            "region": {"x": region[0], "y": region[1], "size": region[2]},
            "scores": res.scores, "region_scores": rscores, "best": best, "region_best": rbest,
            "compute_seconds": round(res.seconds, 3), "notes": res.notes,
            "convention": "PSNR/SSIM on MATLAB Y channel, 8-bit, border 4 (region: border 0); LPIPS AlexNet v0.1",
        }
        return View(
            full={p: files[("full", p)] for p in self.panels},
            caps={p: self.caption(p, res, res.scores, best) for p in self.panels},
            zoom={p: files[("zoom", p)] for p in self.panels},
            zcaps={p: f"**{self.titles[p]}**  \n" + (self.caption(p, res, rscores, rbest, region=True)
                                                      if views[p] is not None else "") for p in self.panels},
            slider=self.slider_pair(res, views, region, left, right, slider_zoom, folder),
            table=self.metrics_table(res, rscores), info=_jsonable(info), region=region, size=(h, w))

    def slider_pair(self, res, views, region, left, right, slider_zoom, folder=None, errors=False):
        """The before/after pair; ``views`` are the panels as displayed if already made, else the
        two chosen ones are made here (images, or error maps with ``errors``)."""
        folder = folder or self.temp.new()
        pair = []
        for key in (left, right):
            p = next((k for k, t in self.titles.items() if t == key), key)
            v = views.get(p) if views is not None else core.panel_view(res, p, errors)
            if v is None:
                return None
            pair.append(write_png(core.zoom(v, region) if slider_zoom else v, folder, f"slider_{p}_{len(pair)}"))
        return tuple(pair)

    def _out(self, v: View) -> dict:
        """A View as component updates (named outputs)."""
        c = self.c
        out: dict = {}
        for p in self.panels:
            out[c["full"][p]] = v.full[p]
            out[c["caps"][p]] = v.caps[p]
            out[c["zoom"][p]] = v.zoom[p]
            out[c["zcaps"][p]] = v.zcaps[p]
        h, w = v.size
        out.update({c["slider"]: v.slider, c["table"]: v.table, c["raw"]: v.info,
                    c["x"]: gr.Slider(value=v.region[0], maximum=max(1, w - v.region[2])),  # Gradio refuses min == max
                    c["y"]: gr.Slider(value=v.region[1], maximum=max(1, h - v.region[2]))})
        return out

    # ---- callbacks (each returns {component: value})

    def compare(self, example, upload, mode, models, view, size, left, right, slider_zoom) -> tuple[Result, View]:
        """A comparison and its first view (what the Compare button does, without Gradio)."""
        res = self.compute(example, upload, mode, models)
        region = self.default_region(res, example, upload, size)
        return res, self.render(res, view, region, left, right, slider_zoom)

    def on_compare(self, example, upload, mode, models, view, size, left, right, slider_zoom):
        res, v = self.compare(example, upload, mode, models, view, size, left, right, slider_zoom)
        return {self.c["state"]: res, self.c["status"]: self.status(res), **self._out(v)}

    def on_region(self, res, view, x, y, size, left, right, slider_zoom):
        if res is None:
            raise gr.Error("run a comparison first", print_exception=False)
        return self._out(self.render(res, view, (int(x), int(y), int(size)), left, right, slider_zoom))

    def on_select(self, res, view, size, left, right, slider_zoom, evt: gr.SelectData):
        if res is None or evt is None or evt.index is None:
            raise gr.Error("run a comparison first", print_exception=False)
        cx, cy = evt.index[:2]
        h, w = res.size
        region = core.region_around(float(cx), float(cy), int(size), h, w)
        return self._out(self.render(res, view, region, left, right, slider_zoom))

    def on_slider(self, res, view, x, y, size, left, right, slider_zoom):
        if res is None:
            return {self.c["slider"]: None}
        h, w = res.size
        region = core.clamp_region(int(x), int(y), int(size), h, w)
        return {self.c["slider"]: self.slider_pair(res, None, region, left, right, slider_zoom,
                                                   errors=view == VIEW_ERRORS)}

    def downloads(self, res) -> list[str] | None:
        """One zip of every panel's image (and the metrics), plus each PNG."""
        if res is None:
            return None
        folder = self.temp.new()
        files = []
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(str(res.source)).stem).strip("_")[:60] or "image"
        zpath = folder / f"{stem}_x4_outputs.zip"
        with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as zf:
            for p in self.panels:
                img = res.images.get(p)
                if img is None:
                    continue
                data = png_bytes(img)
                name = f"{stem}_{p}.png"
                (folder / name).write_bytes(data)
                zf.writestr(name, data)
                files.append(str(folder / name))
            if res.scores:
                zf.writestr("metrics.json", json.dumps(_jsonable(res.scores), indent=1))
        return [str(zpath)] + files

    def on_downloads(self, res):
        return {self.c["downloads"]: self.downloads(res)}

    # ---- layout

    def build(self, initial: Result | None = None) -> dict[str, Any]:
        """Lay the tab out in the current context and wire it; returns its components by name."""
        eng = self.engine
        first_example = next(iter(EXAMPLE_LOADERS))
        if initial is not None and initial.source == first_example:
            self.seed(initial)
        left0, right0 = self.titles["bicubic"], self.titles[MODELS[-1].key]
        init_res = self.compute(first_example, None, UPLOAD_HR, eng.available)
        init_region = self.default_region(init_res, first_example, None, DEFAULT_SIZE)
        init = self.render(init_res, VIEW_IMAGES, init_region, left0, right0, False)
        h, w = init_res.size
        choices = [(eng.titles[m], m) for m in eng.available]
        c = self.c
        c["state"] = gr.State(init_res)
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=300):
                c["example"] = gr.Dropdown(list(EXAMPLE_LOADERS), value=first_example, label="Example photo",
                                           info="scikit-image's bundled photos")
                c["upload"] = gr.File(label="…or upload your own image (PNG, JPEG, BMP, WebP, TIFF, GIF)",
                                      file_types=["image"], type="filepath", height=150)
                c["mode"] = gr.Radio([UPLOAD_HR, UPLOAD_LR], value=UPLOAD_HR, label="The uploaded image is")
            with gr.Column(scale=2, min_width=300):
                c["models"] = gr.CheckboxGroup(choices, value=[m for _, m in choices], label="Models to run",
                                               info="bicubic always runs")
                c["view"] = gr.Radio([VIEW_IMAGES, VIEW_ERRORS], value=VIEW_IMAGES, label="Panels show",
                                     info=f"error map: black = identical to the ground truth, yellow ≥ {core.ERR_MAX:.0f} grey levels off")
                c["run"] = gr.Button("Compare", variant="primary")
            with gr.Column(scale=3, min_width=320):
                c["status"] = gr.Markdown(self.status(init_res))
                gr.Markdown("**How to read it.** PSNR-Y and SSIM-Y (higher is better) reward pixel accuracy; "
                            "LPIPS (lower is better) tracks perceived similarity. ★ marks the best panel per "
                            "metric. **Click any panel** (or use the sliders) to zoom into that spot in all of them.")
                with gr.Row():
                    c["x"] = gr.Slider(0, max(1, w - init_region[2]), value=init_region[0], step=1, label="Region x")
                    c["y"] = gr.Slider(0, max(1, h - init_region[2]), value=init_region[1], step=1, label="Region y")
                    c["size"] = gr.Slider(core.REGION_SIZES[0], core.REGION_SIZES[1], value=DEFAULT_SIZE, step=8,
                                          label="Region size")
        c["full"], c["caps"] = {}, {}
        rows = [self.panels[i : i + ROW] for i in range(0, len(self.panels), ROW)]
        legend = "**Panels**\n\n" + "\n".join(f"- **{self.titles[q]}**: {eng.panel_help[q]}" for q in self.panels)
        for row in rows:
            with gr.Row(equal_height=False):
                for p in row:
                    with gr.Column(min_width=180):
                        c["full"][p] = gr.Image(init.full[p], label=self.titles[p], height=PANEL_HEIGHT,
                                                interactive=False, format="png", elem_id=f"panel-{p}",
                                                elem_classes=["panel-img"], buttons=["download", "fullscreen"])
                        c["caps"][p] = gr.Markdown(init.caps[p], elem_classes=["panel-caption"])
                if row is rows[-1] and len(row) < ROW:
                    with gr.Column(min_width=180):
                        gr.Markdown(legend, elem_classes=["legend"])
        if len(rows[-1]) == ROW:
            gr.Markdown(legend, elem_classes=["legend"])
        gr.Markdown("### Zoomed region (nearest-neighbour, pixel-exact) — figures for the region only")
        c["zoom"], c["zcaps"] = {}, {}
        with gr.Row(equal_height=False):
            for p in self.panels:
                with gr.Column(min_width=120):
                    c["zoom"][p] = gr.Image(init.zoom[p], label=self.titles[p], show_label=False, height=170,
                                            interactive=False, format="png", elem_id=f"zoom-{p}",
                                            elem_classes=["zoom-img"], buttons=["fullscreen"])
                    c["zcaps"][p] = gr.Markdown(init.zcaps[p], elem_classes=["zoom-caption"])
        gr.Markdown("### Before / after slider")
        slider_choices = [self.titles[p] for p in self.panels]
        with gr.Row():
            c["left"] = gr.Dropdown(slider_choices, value=left0, label="Left")
            c["right"] = gr.Dropdown(slider_choices, value=right0, label="Right")
            c["slider_zoom"] = gr.Checkbox(False, label="Only the zoomed region")
        c["slider"] = gr.ImageSlider(init.slider, format="png", label="Drag the handle to compare", max_height=640,
                                     interactive=False, elem_id="before-after")
        c["table"] = gr.Dataframe(init.table, headers=self.table_headers(),
                                  label="Metrics (whole image: border 4; region: no border)", interactive=False, wrap=True)
        with gr.Row():
            c["downloads"] = gr.File(label="Download the outputs (one zip, or each PNG)", file_count="multiple",
                                     interactive=False, value=self.downloads(init_res))
            with gr.Accordion("All figures (JSON)", open=False):
                c["raw"] = gr.JSON(init.info)
        self._wire()
        return c

    def _wire(self) -> None:
        c = self.c
        render_out = [*c["full"].values(), *c["caps"].values(), *c["zoom"].values(), *c["zcaps"].values(),
                      c["slider"], c["table"], c["raw"], c["x"], c["y"]]
        cmp_in = [c["example"], c["upload"], c["mode"], c["models"], c["view"], c["size"], c["left"], c["right"],
                  c["slider_zoom"]]
        cmp_out = [c["state"], c["status"], *render_out]
        reg_in = [c["state"], c["view"], c["x"], c["y"], c["size"], c["left"], c["right"], c["slider_zoom"]]
        state, downloads = c["state"], c["downloads"]

        # one compare at a time across every trigger (memory stays bounded on a small Space);
        # the cheap region / slider updates share a second slot
        cmp_kw: dict[str, Any] = dict(concurrency_id="compare", concurrency_limit=1)
        view_kw: dict[str, Any] = dict(concurrency_id="view", concurrency_limit=2, show_progress="minimal")
        ev = c["run"].click(self.on_compare, cmp_in, cmp_out, api_name="compare", **cmp_kw)
        ev.then(self.on_downloads, state, downloads, api_name="downloads", **view_kw)
        ex = c["example"].input(lambda: None, None, c["upload"], queue=False, api_visibility="private").then(
            self.on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        ex.then(self.on_downloads, state, downloads, api_visibility="private", **view_kw)
        up = c["upload"].upload(self.on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        up.then(self.on_downloads, state, downloads, api_visibility="private", **view_kw)
        mo = c["mode"].input(self.on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        mo.then(self.on_downloads, state, downloads, api_visibility="private", **view_kw)
        c["view"].input(self.on_region, reg_in, render_out, api_visibility="private", **view_kw)
        c["x"].release(self.on_region, reg_in, render_out, api_name="region", **view_kw)
        for s in (c["y"], c["size"]):
            s.release(self.on_region, reg_in, render_out, api_visibility="private", **view_kw)
        sel_in = [state, c["view"], c["size"], c["left"], c["right"], c["slider_zoom"]]
        for img in c["full"].values():
            img.select(self.on_select, sel_in, render_out, api_visibility="private", **view_kw)
        for k in ("left", "right", "slider_zoom"):
            c[k].input(self.on_slider, reg_in, c["slider"], api_visibility="private", **view_kw)
