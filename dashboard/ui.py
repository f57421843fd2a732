"""The Gradio app: one module per tab, put together here.

``build_app(engine, initial, settings)`` loads the models once (``Engine``) and builds the Compare
(``compare_tab``), Training (``training_tab``), Benchmark (``benchmark_tab``), Results (``rating_tab``;
the raters' blind study is a page of its own, ``/study``) and About (``about_tab``) tabs; ``app.py`` launches it with ``launch_kwargs(settings)``.
Every setting comes from the one ``Settings`` object and is passed down as a value: the compare
gate's waiting limit and the result cache's budget to the Compare tab, Gradio's queue and thread
limits and the session capacity here, the rating settings to ``rating_tab.build_tabs``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import gradio as gr

from dashboard import about_tab, serving, tempfiles, viewer
from dashboard import cache as rcache
from dashboard.benchmark_tab import CSS as BENCH_CSS
from dashboard.benchmark_tab import BenchmarkTab
from dashboard.compare_tab import CompareTab
from dashboard.core import MAX_FILE_SIZE, UPLOAD_LR, Engine, Result
from dashboard.settings import Settings
from dashboard.training_tab import TrainingTab

if TYPE_CHECKING:
    from srcore.rating.service import RatingService

TITLE = "Super-resolution ×4: what the loss does to an image"
TAGLINE = (
    "One network, four training losses (MSE, VGG perceptual, and each with a GAN): the same low-resolution "
    "input upscaled ×4 by each, side by side with bicubic and the original, with PSNR / SSIM / LPIPS."
)

CSS = """
.panel-caption { min-height: 2.6em; font-size: 0.92em; }
.panel-caption p { margin: 0 !important; }
.zoom-caption { font-size: 0.85em; min-height: 2.4em; }
.zoom-caption p { margin: 0 !important; }
#sr-title h1 { margin-bottom: 0.1em; }
.panel-img img, .zoom-img img { image-rendering: pixelated; }
.zoom-img img { object-position: center top; }
/* plots have transparent backgrounds (dashboard.training.LAYOUT); in dark mode their text and grid follow the theme */
.dark .js-plotly-plot .main-svg text { fill: #e5e7eb !important; }
.dark .js-plotly-plot .gridlayer path, .dark .js-plotly-plot .zerolinelayer path { stroke: rgba(255,255,255,0.15) !important; }
.dark .js-plotly-plot .legend .bg { fill: transparent !important; }
/* table headers break between words, never inside one ("PSNR (Y)" not "PSN-R") */
#bench-table th, #bench-table th *, #metrics-table th, #metrics-table th * { word-break: normal !important;
  overflow-wrap: normal !important; hyphens: manual; }
/* the upload's floating label sits above the drop zone's icon and text, not on them */
#compare-upload .upload-container { padding-top: 2.4rem; box-sizing: border-box; }
#compare-upload .upload-container > .wrap { height: auto; min-height: 0; padding: 0 12px; }
/* the downloads are the app's files, not the visitor's: no "×" that would remove them from the list */
#downloads .label-clear-button { display: none !important; }
"""


@dataclass
class App:
    """What ``build_app`` made: the Gradio app and what ``app.py`` still needs once it serves."""

    demo: gr.Blocks
    settings: Settings
    engine: Engine
    rating: RatingService | None = None  # the rating tabs' service (None: tabs off or unavailable)


def build_app(engine: Engine | None = None, initial: Result | None = None, settings: Settings | None = None) -> App:
    """The app; ``initial`` is an already computed comparison of the first example (all models).
    ``settings`` default to the engine's (or the environment's, read once here)."""
    settings = settings or (engine.settings if engine is not None else Settings.from_env())
    engine = engine or Engine(settings)
    tabs: dict[str, Any] = {}
    rating = None
    with gr.Blocks(title="SR x4 comparison", delete_cache=tempfiles.DELETE_CACHE) as demo:
        gr.Markdown(f"# {TITLE}\n{TAGLINE}", elem_id="sr-title")
        with gr.Tabs(overflow_behavior="wrap"):  # on a phone every tab stays in sight (no "•••" menu)
            with gr.Tab("Compare", id="compare"):
                gate = serving.ComputeGate(max_waiting=settings.max_waiting)
                if initial is not None:  # the opening view's compare times this machine for the busy message
                    cost = serving.estimate_cost((initial.images["lr"], UPLOAD_LR))  # its output pixels
                    gate.calibrate(initial.seconds + initial.lpips_seconds, cost)
                compare = CompareTab(
                    engine,
                    gate=gate,
                    results=rcache.ResultCache(budget_mb=settings.result_cache_mb),
                )
                tabs["compare"] = compare.build(initial)
            with gr.Tab("Training", id="training") as t:
                tabs["training"] = TrainingTab(engine.specs, settings.checkpoints).build(t)
            with gr.Tab("Benchmark", id="benchmark") as t:
                tabs["benchmark"] = BenchmarkTab(engine.specs, settings.checkpoints).build(t)
            if settings.rating_tabs:
                rating = _rating_tabs(engine, settings)
            with gr.Tab("About", id="about"):
                tabs["about"] = about_tab.build(engine.specs, settings.checkpoints)
        compare.wire_load(demo)
    if settings.rating_tabs:
        _study_page(demo, rating)
    demo.queue(default_concurrency_limit=1, max_size=serving.gradio_max_size(settings.max_waiting))
    return App(demo, settings, engine, rating)


def build_demo(
    engine: Engine | None = None, initial: Result | None = None, settings: Settings | None = None
) -> gr.Blocks:
    """``build_app(...).demo``: the Gradio app alone."""
    return build_app(engine, initial, settings).demo


def _rating_tabs(engine: Engine, settings: Settings) -> RatingService | None:
    """The blind-rating "Results" tab (``dashboard.rating_tab``; the raters' study is the page
    ``/study``), when present; its service, or None.  Any failure to import or build them leaves the rest of the app up."""
    try:
        from dashboard.rating_tab import build_tabs
    except Exception as e:  # noqa: BLE001 - an optional part must not take the app down
        print(f"rating tabs not available: {e}", flush=True)
        return None
    return build_tabs(settings, models=engine.models, missing=engine.problems)


def _study_page(demo: gr.Blocks, rating: RatingService | None) -> None:
    """The raters' page, ``/study``: the blind study alone (no Compare tab, no labelled images)."""
    try:
        from dashboard.rating_tab import build_study_page
    except Exception as e:  # noqa: BLE001 - an optional part must not take the app down
        print(f"rating study page not available: {e}", flush=True)
        return
    build_study_page(demo, rating)


def theme() -> gr.themes.Base:
    """Gradio's Soft theme with every text colour at 4.5:1 contrast or more (light and dark)."""
    return gr.themes.Soft().set(
        block_title_text_color="*primary_800",
        block_label_text_color="*primary_800",
        body_text_color_subdued="*neutral_600",
        body_text_color_subdued_dark="*neutral_300",
        color_accent="*primary_700",
        link_text_color="*secondary_800",
        link_text_color_dark="*secondary_300",
        button_primary_background_fill="*primary_600",
        button_primary_background_fill_hover="*primary_700",
        checkbox_label_background_fill_selected="*primary_600",
        checkbox_background_color_selected="*primary_600",
        slider_color="*primary_600",
    )


def plotly_chunk() -> str | None:
    """The file name of Gradio's Plotly chunk (``PlotlyPlot-<hash>.js``, 4.6 MB), or None."""
    found = sorted((Path(gr.__file__).parent / "templates" / "frontend" / "assets").glob("PlotlyPlot-*.js"))
    return found[0].name if found else None


def page_js() -> str:
    """``launch(js=...)``: the accessibility fixes, and Plotly loaded at idle time a few seconds
    after the page: Gradio imports its 4.6 MB chunk when the first plot is drawn, and compiling it
    froze the page for 1.4 s as the Training tab opened (issue 22).  The same URL as Gradio's own
    import, so the module is compiled once."""
    chunk = plotly_chunk()
    warm = (
        "setTimeout(() => (window.requestIdleCallback || setTimeout)(() => { const c = window.gradio_config;"
        " const base = c && c.root ? c.root.replace(/\\/?$/, '/') : document.baseURI;"
        f" import(new URL('assets/{chunk}', base).href).catch(() => {{}}); }}), 4000);"
        if chunk
        else ""
    )
    return f"() => {{ ({viewer.A11Y_JS.strip()})(); {warm} }}"


def launch_kwargs(settings: Settings) -> dict:
    """``demo.launch(**...)``: the app's look and Gradio's limits, sized from ``settings``."""
    return dict(
        max_file_size=MAX_FILE_SIZE,
        css=CSS + BENCH_CSS + viewer.CSS,
        theme=theme(),
        js=page_js(),
        show_error=True,
        ssr_mode=False,
        footer_links=["api", "settings"],
        max_threads=serving.gradio_max_threads(settings.max_waiting),
        state_session_capacity=settings.session_capacity,
        app_kwargs=serving.app_kwargs(),
    )
