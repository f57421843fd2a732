"""The Training tab: loss curves, validation metrics and progress pictures from the histories.

Figures come from ``dashboard.training`` (no Gradio there); this module lays the tab out and
wires it.  The tab is filled when opened (not on every page load).  Callbacks return dicts
keyed by component.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from dashboard import training
from srcore.zoo import MODEL_NAMES, TITLES


class TrainingTab:
    """The Training tab's components (``c``) and callbacks."""

    def __init__(self) -> None:
        self.c: dict[str, Any] = {}

    def outputs(self, models, log, alpha, overlay, step, crop) -> dict:
        c = self.c
        hist = training.load_histories()
        pics = training.picture_steps(hist)
        steps = training.all_steps(pics)
        crops = training.crop_names(pics)
        crop = crop if crop in crops else (crops[0] if crops else None)
        maxstep = steps[-1] if steps else 0
        step = maxstep if step is None or step > maxstep or step < 0 else step
        return {
            c["status"]: training.status_text(hist),
            c["loss"]: training.loss_figure(hist, models, log, alpha),
            c["disc"]: training.disc_figure(hist, models, log, alpha),
            c["val"]: training.val_figure(hist, models),
            c["report"]: gr.Plot(training.report_figure(models, log, alpha) if overlay else None, visible=bool(overlay)),
            c["step"]: gr.Slider(minimum=0, maximum=max(maxstep, 1), value=step, interactive=bool(steps)),
            c["crop"]: gr.Dropdown(choices=crops, value=crop),
            **self.pictures(pics, step, crop),
        }

    def latest(self, models, log, alpha, overlay, _step, crop) -> dict:
        """Like ``outputs`` but jumps the picture slider to the latest step."""
        return self.outputs(models, log, alpha, overlay, -1, crop)

    def pictures(self, pics, step, crop) -> dict:
        imgs = self.c["imgs"]
        if crop is None:
            return {imgs[m]: gr.Image(value=None, label=f"{TITLES[m]} · no pictures yet") for m in MODEL_NAMES}
        at = training.pictures_at(pics, int(step or 0), crop)
        out = {}
        for m in MODEL_NAMES:
            path, s = at[m]
            label = f"{TITLES[m]} · step {s:,}" if path else f"{TITLES[m]} · not trained yet"
            out[imgs[m]] = gr.Image(value=path, label=label)
        return out

    def picture_outputs(self, step, crop) -> dict:
        hist = training.load_histories()
        return self.pictures(training.picture_steps(hist), step, crop)

    def build(self, tab: gr.Tab) -> dict[str, Any]:
        """Lay the tab out inside ``tab`` (already entered) and wire it; returns its components by name."""
        c = self.c
        gr.Markdown("Loss curves and validation metrics logged while training (hover for values). "
                    "Dashed curves in the optional panel are the report's own runs.")
        with gr.Row():
            c["models"] = gr.CheckboxGroup([(TITLES[m], m) for m in MODEL_NAMES], value=list(MODEL_NAMES), label="Models")
            c["log"] = gr.Checkbox(True, label="Log-scale losses")
            c["alpha"] = gr.Slider(0, 0.99, value=0.6, step=0.01, label="Smoothing (moving average)")
            c["overlay"] = gr.Checkbox(False, label="Show the report's own curves")
            c["reload"] = gr.Button("Reload histories", size="sm")
        c["status"] = gr.Markdown()
        c["loss"] = gr.Plot(show_label=False, elem_id="plot-loss")
        c["disc"] = gr.Plot(show_label=False, elem_id="plot-disc")
        c["val"] = gr.Plot(show_label=False, elem_id="plot-val")
        c["report"] = gr.Plot(show_label=False, visible=False, elem_id="plot-report")
        gr.Markdown("### Progress pictures: the same validation crop through training")
        with gr.Row():
            c["step"] = gr.Slider(0, 1, value=0, step=1, label="Training step (shows the latest picture at or before it)")
            c["crop"] = gr.Dropdown([], label="Validation crop")
        with gr.Row(equal_height=False):
            c["imgs"] = {m: gr.Image(label=TITLES[m], height=260, interactive=False, format="png",
                                     elem_classes=["panel-img"]) for m in MODEL_NAMES}
        t_in = [c[k] for k in ("models", "log", "alpha", "overlay", "step", "crop")]
        t_out = [c[k] for k in ("status", "loss", "disc", "val", "report", "step", "crop")] + list(c["imgs"].values())
        for trig in (tab.select, c["reload"].click):
            trig(self.latest, t_in, t_out, api_visibility="private", queue=False)
        for k in ("models", "log", "alpha", "overlay"):
            c[k].input(self.outputs, t_in, t_out, api_visibility="private", queue=False)
        imgs = list(c["imgs"].values())
        c["step"].release(self.picture_outputs, [c["step"], c["crop"]], imgs, api_visibility="private", queue=False)
        c["crop"].input(self.picture_outputs, [c["step"], c["crop"]], imgs, api_visibility="private", queue=False)
        return c
