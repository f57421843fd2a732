"""The Compare tab's components, laid out in the current Gradio context (``layout``); the wiring
(``dashboard.compare_tab``) connects them.  Returns the components by name."""

from __future__ import annotations

from typing import Any

import gradio as gr

from dashboard import core, viewer
from dashboard.compare_present import HOWTO_GT, VIEW_ABS, VIEW_DIFF, VIEW_IMAGES, VIEW_SIGNED, Presenter
from dashboard.core import EXAMPLE_LOADERS, UPLOAD_HR, UPLOAD_LR, Engine
from srcore.blend import ALPHA_STEP
from srcore.zoo import GAN_PL_ARM, MSE_ARM

BLEND_A, BLEND_B = MSE_ARM, GAN_PL_ARM  # the loss slider's default pair


def _default(keys: list[str], want: str, fallback: int) -> str | None:
    return want if want in keys else (keys[fallback] if keys else None)


def layout(engine: Engine, present: Presenter, status: str) -> dict[str, Any]:
    """Every component of the tab (call inside its ``gr.Tab``)."""
    eng, titles = engine, present.titles
    c: dict[str, Any] = {}
    choices = [(eng.titles[m], m) for m in eng.available]
    arms = [m for _, m in choices]
    panel_choices = [(titles[p], p) for p in present.sr_panels if p == "bicubic" or p in eng.models]
    spot_choices = [*panel_choices, ("Blend (loss slider)", "blend"), (titles["hr"], "hr")]
    with gr.Row(equal_height=False):
        with gr.Column(scale=2, min_width=280):
            c["example"] = gr.Dropdown(
                list(EXAMPLE_LOADERS),
                value=next(iter(EXAMPLE_LOADERS)),
                label="Example photo",
                info="scikit-image's bundled photos (empty while an upload is shown)",
            )
            c["upload"] = gr.File(
                label="…or upload your own image",
                file_types=["image"],
                type="filepath",
                height=140,
                elem_id="compare-upload",
            )
            c["mode"] = gr.Radio(
                [UPLOAD_HR, UPLOAD_LR, core.UPLOAD_LR_BENCHMARK],
                value=UPLOAD_HR,
                label="The uploaded image is",
                info=f"PNG, JPEG, BMP, WebP, TIFF or GIF. A low-res input is upscaled whole up to {core.MAX_LR_SIDE} "
                "px a side. The models were trained on LR made by MATLAB-style antialiased bicubic /4; a real "
                "photo gets a pre-filter fitted on training images (the Benchmark tab's cubic_no_aa columns), "
                "a benchmark-made input none",
            )
        with gr.Column(scale=2, min_width=280):
            c["models"] = gr.CheckboxGroup(
                choices, value=arms, label="Models to run", info="bicubic always runs", elem_id="models-run"
            )
            c["view"] = gr.Radio(
                [VIEW_IMAGES, VIEW_ABS, VIEW_SIGNED, VIEW_DIFF],
                value=VIEW_IMAGES,
                label="Panels show",
                info="error views come with a colour bar",
            )
            with gr.Row(visible=False) as c["ab"]:
                c["a"] = gr.Dropdown(panel_choices, value="bicubic", label="A")
                c["b"] = gr.Dropdown(panel_choices, value=panel_choices[-1][1], label="B")
            c["run"] = gr.Button("Compare", variant="primary")
        with gr.Column(scale=3, min_width=280):
            c["status"] = gr.Markdown(status, elem_id="compare-status")
            c["howto"] = gr.Markdown(HOWTO_GT, elem_id="compare-howto")
    with gr.Row(equal_height=False, elem_id="teach-row"):
        with gr.Column(scale=3, min_width=280):
            c["blend_on"] = gr.Checkbox(
                False,
                label="Loss slider: add a panel blending two arms' weights",
                info="θ(α) = (1 − α)·θ_A + α·θ_B — the arms share one initialisation, so every point "
                "between them is a working network (network interpolation)",
                elem_id="blend-on",
            )
            with gr.Row():
                c["blend_a"] = gr.Dropdown(choices, value=_default(arms, BLEND_A, 0), label="Arm A (α = 0)")
                c["blend_b"] = gr.Dropdown(choices, value=_default(arms, BLEND_B, -1), label="Arm B (α = 1)")
            c["alpha"] = gr.Slider(0, 1, value=0.5, step=ALPHA_STEP, label="α", elem_id="blend-alpha")
        with gr.Column(scale=3, min_width=280):
            gr.Markdown(
                "**Where do they differ?** Pick two panels: the viewer steps through the places where "
                "they differ most (largest first), at 400 %; n / p (or the viewer's ◀ ▶ buttons) move on."
            )
            with gr.Row():
                c["spot_a"] = gr.Dropdown(spot_choices, value=_default(arms, BLEND_A, 0), label="Panel 1")
                c["spot_b"] = gr.Dropdown(spot_choices, value=_default(arms, BLEND_B, -1), label="Panel 2")
            c["spot_btn"] = gr.Button("Where do they differ?", elem_id="spot-btn")
    c["viewer"] = viewer.component(None)
    c["region"] = gr.Markdown(elem_id="region-line")
    c["table"] = gr.Dataframe(
        headers=present.table_headers(),
        label="Metrics (whole image: border 4; region: the part the viewer shows, no border; ★ the best)",
        interactive=False,
        wrap=True,
        elem_id="metrics-table",
    )
    with gr.Row():
        c["downloads"] = gr.File(
            label="Downloads: a zip (images, metrics.json, README) and each PNG",
            file_count="multiple",
            interactive=False,
            elem_id="downloads",
        )
        with gr.Column():
            c["panel_help"] = gr.Markdown(
                "**Panels**\n\n" + "\n".join(f"- **{titles[q]}**: {eng.panel_help[q]}" for q in present.panels)
            )
            with gr.Accordion("All figures (JSON)", open=False):
                c["raw"] = gr.JSON()
    with gr.Group(visible=False):  # API-only endpoints (gradio_client), see the README
        c["api_image"] = gr.File(type="filepath", label="image")
        c["api_model"] = gr.Textbox(label="model")
        c["api_source"] = gr.Textbox(label="source", value="unknown")
        c["api_model_b"] = gr.Textbox(label="model B")
        c["api_alpha"] = gr.Number(label="alpha")
        c["api_out"] = gr.File(label="x4 PNG")
        c["api_json"] = gr.JSON(label="fields")
        c["api_list"] = gr.JSON(label="models")
        c["api_files"] = gr.File(label="files", file_count="multiple")
        for i in range(1, 6):
            c[f"api_btn{i}"] = gr.Button(f"api{i}")
    return c
