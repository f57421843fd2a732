"""The Gradio app: Compare, Training, Benchmark and About tabs.

``build_demo()`` loads the models once (``Engine``) and wires the callbacks; ``app.py`` launches it.
The compare callbacks keep to: inference + metrics (``dashboard.core``) and cheap display work.
"""

from __future__ import annotations

import atexit
import io
import os
import shutil
import re
import tempfile
import threading
import zipfile
from pathlib import Path

import gradio as gr
import numpy as np
from PIL import Image

from srcore.imageio import ImageLoadError
from srcore import paths
from srcore.paths import MODEL_NAMES
from srcore.zoo import TITLES

from dashboard import benchmark as bench
from dashboard import core, serving, tempfiles, training
from dashboard.cache import CACHE, EXAMPLE_PREFIX, Expired, key_for, upload_path
from dashboard.about import ABOUT
from dashboard.core import (  # noqa: F401  (UPLOAD_* and MAX_FILE_SIZE are part of this module's interface)
    EXAMPLE_LOADERS, MAX_FILE_SIZE, PANEL_HELP, PANEL_TITLES, PANELS, SR_PANELS, UPLOAD_HR, UPLOAD_LR, Engine, InputError, Result)

TITLE = "Super-resolution ×4: what the loss does to an image"
TAGLINE = ("One network, four training losses (MSE, VGG perceptual, and each with a GAN): the same low-resolution "
           "input upscaled ×4 by each, side by side with bicubic and the original, with PSNR / SSIM / LPIPS.")
VIEW_IMAGES = "Images"
VIEW_ERRORS = "Error maps |SR − HR|"
PANEL_HEIGHT = 300
DEFAULT_SIZE = 96

# a region of interest per example (x, y of the top-left corner in HR pixels)
EXAMPLE_REGIONS = {"Astronaut": (176, 64), "Chelsea (cat)": (232, 96), "Coffee": (208, 112), "Rocket": (264, 160)}

CSS = """
.panel-caption { min-height: 2.6em; font-size: 0.92em; }
.panel-caption p { margin: 0 !important; }
.zoom-caption { font-size: 0.85em; min-height: 2.4em; }
.zoom-caption p { margin: 0 !important; }
#sr-title h1 { margin-bottom: 0.1em; }
.panel-img img, .zoom-img img { image-rendering: pixelated; }
.zoom-img img { object-position: center top; }
"""


# ------------------------------------------------------------------ temp files


class TempStore:
    """Per-request temporary folders under one root; old ones are removed, all of them at exit."""

    def __init__(self, max_age_s: float = tempfiles.WORK_MAX_AGE_S):
        self.root = tempfiles.work_dir()  # inside the run's marked folder: removed after a crash too
        self.max_age_s = max_age_s
        self._lock = threading.Lock()
        atexit.register(shutil.rmtree, self.root, True)

    def new(self) -> Path:
        with self._lock:
            tempfiles.sweep(self.root, self.max_age_s)
            return Path(tempfile.mkdtemp(dir=self.root))


def png_bytes(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def write_png(arr: np.ndarray, folder: Path, name: str) -> str:
    p = folder / f"{name}.png"
    p.write_bytes(png_bytes(arr))
    return str(p)


# ------------------------------------------------------------------ text helpers


def _fmt(key: str, v) -> str:
    if v is None:
        return "–"
    if key.startswith("psnr"):
        return "∞" if not np.isfinite(v) else f"{v:.2f}"
    return f"{v:.4f}" if key == "ssim_y" else f"{v:.3f}"


def caption(panel: str, res: Result | None, scores: dict, best: dict, engine: Engine, region: bool = False) -> str:
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
        if panel in engine.problems:
            return "⚠ checkpoint missing"
        return "not run (tick it under *Models*)"
    if res.hr is None:
        return "no ground truth → no metrics"
    s = scores.get(panel, {})
    parts = []
    for key, label, unit, _ in core.METRICS:
        val = _fmt(key, s.get(key)) + (f" {unit}" if unit else "")
        star = " ★" if best.get(key) == panel else ""
        parts.append(f"{label} **{val}**{star}" if star else f"{label} {val}")
    return " · ".join(parts)


def metrics_table(res: Result | None, rscores: dict) -> list[list]:
    rows = []
    if res is None or res.hr is None:
        return rows
    best = core.best_of(res.scores)
    for p in SR_PANELS:
        s = res.scores.get(p)
        if not s:
            continue
        r = rscores.get(p, {})
        marks = [lbl for k, lbl, _, _ in core.METRICS if best.get(k) == p]
        rows.append([PANEL_TITLES[p], _fmt("psnr_y", s["psnr_y"]), _fmt("ssim_y", s["ssim_y"]), _fmt("lpips", s["lpips"]),
                     _fmt("psnr_y", s["psnr_rgb"]), _fmt("psnr_y", r.get("psnr_y")), _fmt("ssim_y", r.get("ssim_y")),
                     _fmt("lpips", r.get("lpips")), ", ".join(marks) or ""])
    return rows


TABLE_HEADERS = ["Panel", "PSNR-Y (dB) ↑", "SSIM-Y ↑", "LPIPS ↓", "PSNR-RGB (dB) ↑", "Region PSNR-Y ↑",
                 "Region SSIM-Y ↑", "Region LPIPS ↓", "Best in"]


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


# ------------------------------------------------------------------ the app


class App:
    def __init__(self, engine: Engine | None = None):
        self.engine = engine or Engine()
        self.temp = TempStore()
        from skimage import data as skdata

        self.examples = {k: getattr(skdata, v)() for k, v in EXAMPLE_LOADERS.items()}

    # ---- computing

    def compute(self, example, upload, mode, models) -> Result:
        """The compare, from the shared result cache (dashboard.cache) when it was made before."""
        models = [m for m in (models or []) if m in self.engine.models]
        key = key_for(example, upload_path(upload), mode, models)
        return CACHE.get_or_compute(key, lambda: self._compute(example, upload, mode, models))

    def result(self, res) -> Result:
        """A session's state (a cache key) -> its Result; an evicted example is remade, an evicted
        upload is reported."""
        if isinstance(res, Result):
            return res
        got = CACHE.get(str(res))
        if got is not None:
            return got
        if str(res).startswith(EXAMPLE_PREFIX):
            example, _, models = str(res)[len(EXAMPLE_PREFIX):].rpartition("|")
            return self.compute(example, None, UPLOAD_HR, models.split(",") if models else [])
        raise gr.Error(str(Expired("this comparison is no longer held by the server (it keeps the most recent "
                                   "ones); press Compare to run it again")), print_exception=False)

    def _compute(self, example, upload, mode, models) -> Result:
        if upload:
            path = upload_path(upload)
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

    # ---- rendering (cheap: crops, outlines, PNG encoding)

    def render(self, res: Result | None, view, region, left, right, slider_zoom):
        """Outputs: 7 full views, 7 captions, 7 zooms, 7 zoom captions, slider, table, json, x, y."""
        n = len(PANELS)
        if res is None:
            return [None] * n + [""] * n + [None] * n + [""] * n + [None, [], {}, gr.Slider(), gr.Slider()]
        h, w = res.size
        region = core.clamp_region(*region, h, w)
        folder = self.temp.new()
        errors = view == VIEW_ERRORS
        best = core.best_of(res.scores)
        rscores = core.region_scores(self.engine, res, region)
        rbest = core.best_of(rscores)
        views = {p: core.panel_view(res, p, errors) for p in PANELS}

        def encode(job):
            kind, p = job
            v = views[p]
            if v is None:
                return None
            return write_png(core.outline(v, region) if kind == "full" else core.zoom(v, region), folder, f"{kind}_{p}")

        jobs = [("full", p) for p in PANELS] + [("zoom", p) for p in PANELS]
        pool = self.engine.pool
        paths = list(pool.map(encode, jobs)) if pool is not None else [encode(j) for j in jobs]
        full, zooms = paths[:len(PANELS)], paths[len(PANELS):]
        caps = [caption(p, res, res.scores, best, self.engine) for p in PANELS]
        zcaps = [f"**{PANEL_TITLES[p]}**  \n" + (caption(p, res, rscores, rbest, self.engine, region=True)
                                                if views[p] is not None else "") for p in PANELS]
        slider = self.slider_pair(res, views, region, left, right, slider_zoom, folder)
        info = {
            "source": res.source, "hr_size": None if res.hr is None else list(res.hr.shape[:2]),
            "lr_size": list(res.lr.shape[:2]), "panels": [p for p in PANELS if p in res.images],
            "region": {"x": region[0], "y": region[1], "size": region[2]},
            "scores": res.scores, "region_scores": rscores, "best": best, "region_best": rbest,
            "compute_seconds": round(res.seconds, 3), "notes": res.notes,
            "convention": "PSNR/SSIM on MATLAB Y channel, 8-bit, border 4 (region: border 0); LPIPS AlexNet v0.1",
        }
        x = gr.Slider(value=region[0], maximum=max(1, w - region[2]))  # Gradio refuses min == max
        y = gr.Slider(value=region[1], maximum=max(1, h - region[2]))
        return full + caps + zooms + zcaps + [slider, metrics_table(res, rscores), _jsonable(info), x, y]

    def slider_pair(self, res, views, region, left, right, slider_zoom, folder=None, errors=False):
        """The before/after pair; ``views`` are the panels as displayed if already made, else the
        two chosen ones are made here (images, or error maps with ``errors``)."""
        folder = folder or self.temp.new()
        pair = []
        for key in (left, right):
            p = next((k for k, t in PANEL_TITLES.items() if t == key), key)
            v = views.get(p) if views is not None else core.panel_view(res, p, errors)
            if v is None:
                return None
            out = folder / f"slider_{p}_{len(pair)}.png"
            if not slider_zoom and v is res.images.get(p):  # the whole unchanged panel: its PNG is made once
                out.write_bytes(core.panel_png(res, p))
                pair.append(str(out))
            else:
                pair.append(write_png(core.zoom(v, region) if slider_zoom else v, folder, out.stem))
        return tuple(pair)

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
        if self.engine.problems:
            ck = str(paths.CHECKPOINTS) + os.sep  # name the file, not the server's folders
            miss = "; ".join(f"**{TITLES[n]}** ({why.replace(ck, '')})" for n, why in self.engine.problems.items())
            bits.append(f"⚠ Missing or damaged checkpoints: {miss}. The app runs with the others.")
        if self.engine.lpips is None:
            bits.append(f"⚠ LPIPS unavailable: {self.engine.lpips_problem}")
        return "  \n".join(bits)

    # ---- callbacks

    def on_compare(self, example, upload, mode, models, view, size, left, right, slider_zoom):
        res = self.compute(example, upload, mode, models)
        region = self.default_region(res, example, upload, size)
        return [res.key, self.status(res)] + self.render(res, view, region, left, right, slider_zoom)

    def on_region(self, res, view, x, y, size, left, right, slider_zoom):
        if res is None:
            raise gr.Error("run a comparison first", print_exception=False)
        res = self.result(res)
        return self.render(res, view, (int(x), int(y), int(size)), left, right, slider_zoom)

    def on_select(self, res, view, size, left, right, slider_zoom, evt: gr.SelectData):
        if res is None or evt is None or evt.index is None:
            raise gr.Error("run a comparison first", print_exception=False)
        res = self.result(res)
        cx, cy = evt.index[:2]
        h, w = res.size
        region = core.region_around(float(cx), float(cy), int(size), h, w)
        return self.render(res, view, region, left, right, slider_zoom)

    def on_slider(self, res, view, x, y, size, left, right, slider_zoom):
        if res is None:
            return None
        res = self.result(res)
        h, w = res.size
        region = core.clamp_region(int(x), int(y), int(size), h, w)
        return self.slider_pair(res, None, region, left, right, slider_zoom, errors=view == VIEW_ERRORS)

    def on_downloads(self, res):
        if res is None:
            return None
        res = self.result(res)
        folder = self.temp.new()
        files = []
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(str(res.source)).stem).strip("_")[:60] or "image"
        zpath = folder / f"{stem}_x4_outputs.zip"
        with zipfile.ZipFile(zpath, "w", compression=zipfile.ZIP_STORED) as zf:
            for p in PANELS:
                img = res.images.get(p)
                if img is None:
                    continue
                data = core.panel_png(res, p)  # encoded once per result (also used by the slider)
                name = f"{stem}_{p}.png"
                (folder / name).write_bytes(data)
                zf.writestr(name, data)
                files.append(str(folder / name))
            if res.scores:
                import json

                zf.writestr("metrics.json", json.dumps(_jsonable(res.scores), indent=1))
        return [str(zpath)] + files


# ------------------------------------------------------------------ training / benchmark callbacks


def training_latest(models, log, alpha, overlay, step, crop):
    """Like ``training_outputs`` but jumps the picture slider to the latest step."""
    return training_outputs(models, log, alpha, overlay, -1, crop)


def training_outputs(models, log, alpha, overlay, step, crop):
    hist = training.load_histories()
    pics = training.picture_steps(hist)
    steps = training.all_steps(pics)
    crops = training.crop_names(pics)
    crop = crop if crop in crops else (crops[0] if crops else None)
    maxstep = steps[-1] if steps else 0
    step = maxstep if step is None or step > maxstep or step < 0 else step
    figs = [training.loss_figure(hist, models, log, alpha), training.disc_figure(hist, models, log, alpha),
            training.val_figure(hist, models),
            gr.Plot(training.report_figure(models, log, alpha) if overlay else None, visible=bool(overlay))]
    imgs = pictures(pics, step, crop)
    return [training.status_text(hist), *figs,
            gr.Slider(minimum=0, maximum=max(maxstep, 1), value=step, interactive=bool(steps)),
            gr.Dropdown(choices=crops, value=crop), *imgs]


def pictures(pics, step, crop):
    out = []
    if crop is None:
        return [gr.Image(value=None, label=f"{TITLES[m]} · no pictures yet") for m in MODEL_NAMES]
    at = training.pictures_at(pics, int(step or 0), crop)
    for m in MODEL_NAMES:
        path, s = at[m]
        label = f"{TITLES[m]} · step {s:,}" if path else f"{TITLES[m]} · not trained yet"
        out.append(gr.Image(value=path, label=label))
    return out


def picture_outputs(step, crop):
    hist = training.load_histories()
    return pictures(training.picture_steps(hist), step, crop)


def benchmark_outputs():
    data, msg = bench.load()
    note = msg or bench.environment_text(data)
    return [note, bench.table(data), bench.scatter(data)]


# ------------------------------------------------------------------ layout


def build_demo(engine: Engine | None = None, initial: Result | None = None) -> gr.Blocks:
    """The app; ``initial`` is an already computed comparison of the first example (all models)."""
    app = App(engine)
    eng = app.engine
    choices = [(TITLES[m], m) for m in MODEL_NAMES if m in eng.models]
    first_example = next(iter(EXAMPLE_LOADERS))
    slider_choices = [PANEL_TITLES[p] for p in PANELS]

    # the first view is a finished comparison, computed once at build time
    if initial is not None and initial.source == first_example:
        CACHE.put(key_for(first_example, None, UPLOAD_HR, eng.available), initial)
    init_res = app.compute(first_example, None, UPLOAD_HR, eng.available)
    init_region = app.default_region(init_res, first_example, None, DEFAULT_SIZE)
    init = app.render(init_res, VIEW_IMAGES, init_region, PANEL_TITLES["bicubic"], PANEL_TITLES["srgan_pl"], False)
    n = len(PANELS)
    i_full, i_caps, i_zoom, i_zcaps = init[:n], init[n : 2 * n], init[2 * n : 3 * n], init[3 * n : 4 * n]
    i_slider, i_table, i_json = init[4 * n], init[4 * n + 1], init[4 * n + 2]
    h, w = init_res.size

    with gr.Blocks(title="SR x4 comparison", delete_cache=tempfiles.DELETE_CACHE) as demo:
        state = gr.State(init_res.key)  # a cache key (dashboard.cache), not the result; idle sessions expire (serving)
        gr.Markdown(f"# {TITLE}\n{TAGLINE}", elem_id="sr-title")
        with gr.Tabs():
            with gr.Tab("Compare", id="compare"):
                with gr.Row(equal_height=False):
                    with gr.Column(scale=2, min_width=300):
                        example = gr.Dropdown(list(EXAMPLE_LOADERS), value=first_example, label="Example photo",
                                              info="scikit-image's bundled photos")
                        upload = gr.File(label="…or upload your own image (PNG, JPEG, BMP, WebP, TIFF, GIF)",
                                         file_types=["image"], type="filepath", height=150)
                        mode = gr.Radio([UPLOAD_HR, UPLOAD_LR], value=UPLOAD_HR, label="The uploaded image is")
                    with gr.Column(scale=2, min_width=300):
                        models = gr.CheckboxGroup(choices, value=[m for _, m in choices], label="Models to run",
                                                  info="bicubic always runs")
                        view = gr.Radio([VIEW_IMAGES, VIEW_ERRORS], value=VIEW_IMAGES, label="Panels show",
                                        info=f"error map: black = identical to the ground truth, yellow ≥ {core.ERR_MAX:.0f} grey levels off")
                        run = gr.Button("Compare", variant="primary")
                    with gr.Column(scale=3, min_width=320):
                        status = gr.Markdown(app.status(init_res))
                        gr.Markdown("**How to read it.** PSNR-Y and SSIM-Y (higher is better) reward pixel accuracy; "
                                    "LPIPS (lower is better) tracks perceived similarity. ★ marks the best panel per "
                                    "metric. **Click any panel** (or use the sliders) to zoom into that spot in all of them.")
                        with gr.Row():
                            xs = gr.Slider(0, max(1, w - init_region[2]), value=init_region[0], step=1, label="Region x")
                            ys = gr.Slider(0, max(1, h - init_region[2]), value=init_region[1], step=1, label="Region y")
                            size = gr.Slider(core.REGION_SIZES[0], core.REGION_SIZES[1], value=DEFAULT_SIZE, step=8,
                                             label="Region size")
                full, caps = [], []
                for row in (PANELS[:4], PANELS[4:]):
                    with gr.Row(equal_height=False):
                        for p in row:
                            with gr.Column(min_width=180):
                                k = PANELS.index(p)
                                full.append(gr.Image(i_full[k], label=PANEL_TITLES[p], height=PANEL_HEIGHT,
                                                     interactive=False, format="png", elem_id=f"panel-{p}",
                                                     elem_classes=["panel-img"], buttons=["download", "fullscreen"]))
                                caps.append(gr.Markdown(i_caps[k], elem_classes=["panel-caption"]))
                        if len(row) == 3:
                            with gr.Column(min_width=180):
                                gr.Markdown("**Panels**\n\n" + "\n".join(
                                    f"- **{PANEL_TITLES[q]}**: {PANEL_HELP[q]}" for q in PANELS), elem_classes=["legend"])
                gr.Markdown("### Zoomed region (nearest-neighbour, pixel-exact) — figures for the region only")
                zooms, zcaps = [], []
                with gr.Row(equal_height=False):
                    for k, p in enumerate(PANELS):
                        with gr.Column(min_width=120):
                            zooms.append(gr.Image(i_zoom[k], label=PANEL_TITLES[p], show_label=False, height=170,
                                                  interactive=False,
                                                  format="png", elem_id=f"zoom-{p}", elem_classes=["zoom-img"],
                                                  buttons=["fullscreen"]))
                            zcaps.append(gr.Markdown(i_zcaps[k], elem_classes=["zoom-caption"]))
                gr.Markdown("### Before / after slider")
                with gr.Row():
                    left = gr.Dropdown(slider_choices, value=PANEL_TITLES["bicubic"], label="Left")
                    right = gr.Dropdown(slider_choices, value=PANEL_TITLES["srgan_pl"], label="Right")
                    slider_zoom = gr.Checkbox(False, label="Only the zoomed region")
                slider = gr.ImageSlider(i_slider, format="png", label="Drag the handle to compare", max_height=640,
                                        interactive=False, elem_id="before-after")
                table = gr.Dataframe(i_table, headers=TABLE_HEADERS, label="Metrics (whole image: border 4; region: no border)",
                                     interactive=False, wrap=True)
                with gr.Row():
                    downloads = gr.File(label="Download the outputs (one zip, or each PNG)", file_count="multiple",
                                        interactive=False, value=app.on_downloads(init_res))
                    with gr.Accordion("All figures (JSON)", open=False):
                        raw = gr.JSON(i_json)

            with gr.Tab("Training", id="training") as training_tab:
                gr.Markdown("Loss curves and validation metrics logged while training (hover for values). "
                            "Dashed curves in the optional panel are the report's own runs.")
                with gr.Row():
                    t_models = gr.CheckboxGroup([(TITLES[m], m) for m in MODEL_NAMES], value=list(MODEL_NAMES),
                                                label="Models")
                    t_log = gr.Checkbox(True, label="Log-scale losses")
                    t_alpha = gr.Slider(0, 0.99, value=0.6, step=0.01, label="Smoothing (moving average)")
                    t_overlay = gr.Checkbox(False, label="Show the report's own curves")
                    t_reload = gr.Button("Reload histories", size="sm")
                t_status = gr.Markdown()
                p_loss = gr.Plot(show_label=False, elem_id="plot-loss")
                p_disc = gr.Plot(show_label=False, elem_id="plot-disc")
                p_val = gr.Plot(show_label=False, elem_id="plot-val")
                p_report = gr.Plot(show_label=False, visible=False, elem_id="plot-report")
                gr.Markdown("### Progress pictures: the same validation crop through training")
                with gr.Row():
                    t_step = gr.Slider(0, 1, value=0, step=1, label="Training step (shows the latest picture at or before it)")
                    t_crop = gr.Dropdown([], label="Validation crop")
                with gr.Row(equal_height=False):
                    t_imgs = [gr.Image(label=TITLES[m], height=260, interactive=False, format="png",
                                       elem_classes=["panel-img"]) for m in MODEL_NAMES]

            with gr.Tab("Benchmark", id="benchmark") as bench_tab:
                b_note = gr.Markdown()
                b_table = gr.Dataframe(headers=bench.COLUMNS, interactive=False, label="Mean scores per test set (x4)")
                gr.Markdown(bench.PUBLISHED_SOURCE)
                b_plot = gr.Plot(show_label=False, elem_id="plot-pd")

            _rating_tabs(eng)

            with gr.Tab("About", id="about"):
                gr.Markdown(ABOUT, latex_delimiters=[{"left": "$$", "right": "$$", "display": True},
                                                     {"left": "$", "right": "$", "display": False}])

        # ---- wiring
        render_out = [*full, *caps, *zooms, *zcaps, slider, table, raw, xs, ys]
        cmp_in = [example, upload, mode, models, view, size, left, right, slider_zoom]
        cmp_out = [state, status, *render_out]
        reg_in = [state, view, xs, ys, size, left, right, slider_zoom]

        # one compare at a time across every trigger (memory stays bounded on a small Space): the
        # compares wait in dashboard.serving's gate, which answers "busy, N waiting, try again in
        # about T s" past its limit and drops a compare whose visitor left; the cheap region /
        # slider updates share a second slot
        cmp_kw = dict(concurrency_id="compare", concurrency_limit=None)
        on_compare = serving.gated(app.on_compare)
        view_kw = dict(concurrency_id="view", concurrency_limit=2, show_progress="minimal")
        ev = run.click(on_compare, cmp_in, cmp_out, api_name="compare", **cmp_kw)
        ev.then(app.on_downloads, state, downloads, api_name="downloads", **view_kw)
        ex = example.input(lambda: None, None, upload, queue=False, api_visibility="private").then(
            on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        ex.then(app.on_downloads, state, downloads, api_visibility="private", **view_kw)
        up = upload.upload(on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        up.then(app.on_downloads, state, downloads, api_visibility="private", **view_kw)
        mo = mode.input(on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        mo.then(app.on_downloads, state, downloads, api_visibility="private", **view_kw)
        view.input(app.on_region, reg_in, render_out, api_visibility="private", **view_kw)
        for s in (xs, ys, size):
            if s is xs:
                s.release(app.on_region, reg_in, render_out, api_name="region", **view_kw)
            else:
                s.release(app.on_region, reg_in, render_out, api_visibility="private", **view_kw)
        for img in full:
            img.select(app.on_select, [state, view, size, left, right, slider_zoom], render_out,
                       api_visibility="private", **view_kw)
        for c in (left, right, slider_zoom):
            c.input(app.on_slider, reg_in, slider, api_visibility="private", **view_kw)

        t_in = [t_models, t_log, t_alpha, t_overlay, t_step, t_crop]
        t_out = [t_status, p_loss, p_disc, p_val, p_report, t_step, t_crop, *t_imgs]
        # the Training and Benchmark tabs are filled when opened, not on every page load
        for trig in (training_tab.select, t_reload.click):
            trig(training_latest, t_in, t_out, api_visibility="private", queue=False)
        for c in (t_models, t_log, t_alpha, t_overlay):
            c.input(training_outputs, t_in, t_out, api_visibility="private", queue=False)
        t_step.release(picture_outputs, [t_step, t_crop], t_imgs, api_visibility="private", queue=False)
        t_crop.input(picture_outputs, [t_step, t_crop], t_imgs, api_visibility="private", queue=False)
        bench_tab.select(benchmark_outputs, None, [b_note, b_table, b_plot], api_visibility="private", queue=False)

    demo.queue(default_concurrency_limit=1, max_size=serving.GRADIO_MAX_SIZE)
    return demo


def _rating_tabs(engine: Engine) -> None:
    """The blind-rating "Rate" and "Results" tabs (issue 6, ``dashboard.rating_tab``), when present.

    On unless SR_RATING_TABS=0.  Any failure to import or build them leaves the rest of the app up.
    """
    import os

    if os.environ.get("SR_RATING_TABS", "1") == "0":
        return
    try:
        from dashboard.rating_tab import build_rating_tab, build_results_tab
    except Exception as e:  # noqa: BLE001 - an optional part must not take the app down
        print(f"rating tabs not available: {e}", flush=True)
        return
    with gr.Tab("Rate", id="rate"):
        build_rating_tab(models=engine.models, missing=engine.problems)
    with gr.Tab("Results", id="results"):
        build_results_tab()


def launch_kwargs() -> dict:
    return dict(max_file_size=MAX_FILE_SIZE, css=CSS, theme=gr.themes.Soft(), show_error=True, ssr_mode=False,
                footer_links=["api", "settings"], max_threads=serving.GRADIO_MAX_THREADS,
                state_session_capacity=serving.SESSION_CAPACITY, app_kwargs=serving.app_kwargs())
