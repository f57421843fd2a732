"""The Training tab: loss curves, validation metrics and progress pictures from the histories.

Figures come from ``dashboard.training`` and ``dashboard.progress`` (no Gradio there); this module
lays the tab out and wires it.  The pre-training is drawn once and each arm from its real starting
step; the x axis switches between steps and images seen.  The tab is filled when opened (not on
every page load).  Callbacks return dicts keyed by component.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from dashboard import progress, training
from dashboard.training import PRETRAIN, PRETRAIN_TITLE
from srcore import SCALE
from srcore.zoo import ModelSpec

AXIS_CHOICES = [("optimiser steps", "steps"), ("images seen", "images")]


class TrainingTab:
    """The Training tab's components (``c``) and callbacks, for the models in ``specs``."""

    def __init__(self, specs: tuple[ModelSpec, ...], folder: Path) -> None:
        self.specs = specs
        self.folder = folder
        self.keys = (PRETRAIN, *(s.key for s in specs))  # the picture panels
        self.titles = {PRETRAIN: PRETRAIN_TITLE, **{s.key: s.title for s in specs}}
        self.c: dict[str, Any] = {}

    def _runs(self):
        return training.load_runs(self.specs, self.folder)

    def outputs(self, models, log, alpha, overlay, axis, step, crop) -> dict:
        c = self.c
        runs = self._runs()
        pics = progress.picture_steps(runs, self.folder)
        steps = progress.all_steps(pics)
        crops = progress.crop_names(pics)
        crop = crop if crop in crops else (crops[0] if crops else None)
        maxstep = steps[-1] if steps else 0
        step = maxstep if step is None or step > maxstep or step < 0 else step
        axis = axis if axis in training.AXES else "steps"
        return {
            c["status"]: training.status_text(runs, self.specs),
            c["loss"]: training.loss_figure(runs, models, log, alpha, axis),
            c["disc"]: training.disc_figure(runs, models, log, alpha, axis),
            c["val"]: training.val_figure(runs, models, axis),
            c["report"]: gr.Plot(
                training.report_figure(self.specs, self.folder, models, log, alpha) if overlay else None,
                visible=bool(overlay),
            ),
            c["step"]: gr.Slider(minimum=0, maximum=max(maxstep, 1), value=step, interactive=bool(steps)),
            c["crop"]: gr.Dropdown(choices=crops, value=crop),
            **self.pictures(pics, step, crop),
        }

    def latest(self, models, log, alpha, overlay, axis, _step, crop) -> dict:
        """Like ``outputs`` but jumps the picture slider to the latest step."""
        return self.outputs(models, log, alpha, overlay, axis, -1, crop)

    def pictures(self, pics, step, crop) -> dict:
        imgs = self.c["imgs"]
        if crop is None:
            return {imgs[k]: gr.Image(value=None, label=f"{self.titles.get(k, k)} · no pictures yet") for k in imgs}
        at = progress.pictures_at(pics, self.keys, self.folder, int(step or 0), crop)
        hr = progress.reference(self.folder, self.keys, crop, "hr")
        factor = progress.display_factor(hr or next((p for p, _ in at.values() if p), None))
        out = {
            imgs["lr"]: gr.Image(
                value=progress.enlarged(progress.reference(self.folder, self.keys, crop, "lr"), factor * SCALE),
                label=f"LR input (nearest ×{factor * SCALE})",
            ),
            imgs["hr"]: gr.Image(value=progress.enlarged(hr, factor), label=f"HR original (nearest ×{factor})"),
        }
        for k in self.keys:
            path, s = at[k]
            label = (
                f"{self.titles[k]} · step {s:,} (nearest ×{factor})" if path else f"{self.titles[k]} · not trained yet"
            )
            out[imgs[k]] = gr.Image(value=progress.enlarged(path, factor), label=label)
        return out

    def picture_outputs(self, step, crop) -> dict:
        runs = self._runs()
        return self.pictures(progress.picture_steps(runs, self.folder), step, crop)

    def build(self, tab: gr.Tab) -> dict[str, Any]:
        """Lay the tab out inside ``tab`` (already entered) and wire it; returns its components by name."""
        c = self.c
        gr.Markdown(
            "Loss curves and validation metrics logged while training (hover for values). All models start "
            "from one shared MSE pre-training (grey), drawn once; each model's curve begins where it ended."
        )
        with gr.Row():
            c["models"] = gr.CheckboxGroup(
                [(s.title, s.key) for s in self.specs], value=[s.key for s in self.specs], label="Models"
            )
            c["axis"] = gr.Radio(AXIS_CHOICES, value="steps", label="x axis")
            c["log"] = gr.Checkbox(True, label="Log-scale losses")
            c["alpha"] = gr.Slider(0, 0.99, value=0.6, step=0.01, label="Smoothing (moving average)")
            c["overlay"] = gr.Checkbox(False, label="Show the report's own curves")
            c["reload"] = gr.Button("Reload histories", size="sm")
        c["status"] = gr.Markdown()
        c["loss"] = gr.Plot(show_label=False, elem_id="plot-loss")
        c["disc"] = gr.Plot(show_label=False, elem_id="plot-disc")
        c["val"] = gr.Plot(show_label=False, elem_id="plot-val")
        c["report"] = gr.Plot(show_label=False, visible=False, elem_id="plot-report")
        gr.Markdown("### Progress pictures: the same validation crop through training (nearest-neighbour, real pixels)")
        with gr.Row():
            c["step"] = gr.Slider(
                0,
                1,
                value=0,
                step=1,
                label="Training step, counted from the start of the pre-training (latest picture at or before it)",
            )
            c["crop"] = gr.Dropdown([], label="Validation crop")
        c["imgs"] = {}
        panels = ["lr", *self.keys, "hr"]
        for i in range(0, len(panels), 4):
            with gr.Row(equal_height=False):
                for k in panels[i : i + 4]:
                    c["imgs"][k] = gr.Image(
                        label=self.titles.get(k, k.upper()),
                        height=280,
                        interactive=False,
                        format="png",
                        elem_classes=["panel-img"],
                        elem_id=f"progress-{k}",
                    )
        t_in = [c[k] for k in ("models", "log", "alpha", "overlay", "axis", "step", "crop")]
        t_out = [c[k] for k in ("status", "loss", "disc", "val", "report", "step", "crop")] + list(c["imgs"].values())
        for trig in (tab.select, c["reload"].click):
            trig(self.latest, t_in, t_out, api_visibility="private", queue=False)
        for k in ("models", "log", "alpha", "overlay", "axis"):
            c[k].input(self.outputs, t_in, t_out, api_visibility="private", queue=False)
        imgs = list(c["imgs"].values())
        # .input: a drag and a number typed in the box apply at once (.release waited for the box to lose focus)
        c["step"].input(
            self.picture_outputs,
            [c["step"], c["crop"]],
            imgs,
            api_visibility="private",
            trigger_mode="always_last",
            concurrency_limit=2,
            show_progress="hidden",
        )
        c["crop"].input(self.picture_outputs, [c["step"], c["crop"]], imgs, api_visibility="private", queue=False)
        return c
