"""The Compare tab's named API endpoints (for gradio_client), without Gradio: plain functions that
return values or raise ``core.InputError`` with a message for the caller (the wiring turns it into
a ``gr.Error``).

``/upscale`` (image, model → ×4 PNG), ``/blend`` (image, model A, model B, α → the ×4 PNG of the
blended network; α = 0 and 1 give A's and B's ``/upscale`` output bit for bit, since the blend is
then the arm itself and both run through ``core.sr_by``), ``/models`` and ``/compare``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dashboard import core
from dashboard.compare_compute import CompareRunner
from dashboard.compare_files import ResultFiles, stem
from dashboard.compare_present import Presenter
from dashboard.core import EXAMPLE_LOADERS, UPLOAD_HR, InputError
from srcore.blend import BlendError, alpha_key
from srcore.imageio import ImageLoadError


class CompareAPI:
    """What the named endpoints compute, on the tab's runner, files and presenter."""

    def __init__(self, runner: CompareRunner, files: ResultFiles, present: Presenter):
        self.runner = runner
        self.engine = runner.engine
        self.files = files
        self.present = present

    def models(self) -> dict:
        """What is loaded: the panels ``upscale`` accepts, and the models left out with why."""
        titles = self.present.titles
        return {
            "models": [{"key": k, "title": titles[k]} for k in ["bicubic", *self.engine.available]],
            "missing": dict(self.engine.problems),
            "refused": dict(self.engine.refused),
        }

    def _lr_of(self, image) -> np.ndarray:
        """The LR input an API call upscales: the file read and checked as the compare's LR mode does."""
        if not image:
            raise InputError("no image given")
        try:
            arr, _ = core.load_upload(image)
            lr, _, notes = core.prepare_input(arr, as_lr=True)
        except ImageLoadError as e:
            raise InputError(f"Could not use that file: {e}") from None
        if notes:
            raise InputError(f"{notes[0]}; upload at most {core.MAX_LR_SIDE} px per side")
        return lr

    def _model_key(self, model, bicubic: bool = True) -> str:
        key = self.present.key_of(model or "")
        ok = (bicubic and key == "bicubic") or key in self.engine.models
        if not ok:
            loaded = ["bicubic", *self.engine.available] if bicubic else self.engine.available
            raise InputError(f"unknown model {model!r}; loaded: {', '.join(loaded)}")
        return key

    def upscale(self, image, model, source="unknown") -> str:
        """x4 of an image file by one model (or "bicubic"): the PNG's path.  ``source``: "unknown"
        (a real photo, the default: the fitted treatment of srcore.prefilter) or "benchmark"."""
        source = source or "unknown"
        if source not in core.LR_SOURCE.values():
            raise InputError(f"unknown source {source!r}; choose unknown or benchmark")
        key = self._model_key(model)
        lr = self._lr_of(image)
        try:
            sr = core._sr(self.engine, key, lr, source)
        except core.PrefilterError as e:
            raise InputError(str(e)) from None
        return self.files.one_off(sr, f"{stem(Path(str(image)).name)}_{key}_x4")

    def blend(self, image, model_a, model_b, alpha) -> str:
        """x4 of an image file by arms A and B blended at ``alpha``: the PNG's path."""
        a, b = self._model_key(model_a, bicubic=False), self._model_key(model_b, bicubic=False)
        try:
            al = alpha_key(alpha)
            model = self.runner.blend_model(a, b, al)
        except BlendError as e:
            raise InputError(str(e)) from None
        lr = self._lr_of(image)
        sr = core.sr_by(self.engine, model, lr)
        return self.files.one_off(sr, f"{stem(Path(str(image)).name)}_{a}_to_{b}_alpha{round(al * 100):03d}_x4")

    def compare(self, image, example, mode, models) -> tuple[dict, list[str], str]:
        """A whole comparison: (named fields, the downloadable files, the session's state)."""
        res = self.runner.compute(
            example or next(iter(EXAMPLE_LOADERS)),
            image or None,
            mode or UPLOAD_HR,
            models if models else self.engine.available,
        )
        files = self.files.downloads(res) or []
        out = self.present.info(res)
        out["files"] = {
            ("zip" if f.endswith(".zip") else Path(f).stem[len(stem(res.source)) + 1 :]): Path(f).name for f in files
        }
        out["status"] = self.present.status(res)
        return out, files, res.key
