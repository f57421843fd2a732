"""The Compare tab: every model's ×4 of one image side by side in a synced pixel viewer, with metrics.

This module is the tab's wiring, the one part that knows Gradio: it builds the components
(``compare_layout``), connects their events to the callbacks below, and turns ``InputError`` into
``gr.Error``.  The work is done by one object per role:

* ``compare_compute.CompareRunner``: the compare and its cache, region figures, the loss slider's
  blend, the "where do they differ?" windows;
* ``compare_present.Presenter`` / ``compare_views.ViewBuilder``: captions, tables, status and the
  viewer's config;
* ``compare_files.ResultFiles``: the PNGs and the download set;
* ``compare_api.CompareAPI``: the named endpoints ``/upscale``, ``/blend``, ``/models``, ``/compare``.

The callbacks return dicts keyed by component (named outputs).
"""

from __future__ import annotations

import contextlib
import functools
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gradio as gr

from dashboard import cache as rcache
from dashboard import core, serving, viewer
from dashboard.compare_api import CompareAPI
from dashboard.compare_compute import BLEND, CompareRunner, Extra
from dashboard.compare_files import ResultFiles
from dashboard.compare_layout import layout
from dashboard.compare_present import (  # noqa: F401  (re-exported for callers and tests)
    HOWTO_GT,
    HOWTO_LR,
    PENDING,
    VIEW_ABS,
    VIEW_DIFF,
    VIEW_IMAGES,
    VIEW_SIGNED,
    Presenter,
    Shown,
)
from dashboard.compare_views import ViewBuilder
from dashboard.core import EXAMPLE_LOADERS, UPLOAD_HR, Engine, InputError, Result
from srcore.blend import BlendError, check_alpha


def user_errors(fn: Callable) -> Callable:
    """``fn`` with ``InputError`` / ``BlendError`` shown to the visitor as a ``gr.Error``."""

    @functools.wraps(fn)
    def wrapper(*args, **kw):
        try:
            return fn(*args, **kw)
        except (InputError, BlendError) as e:
            raise gr.Error(str(e), print_exception=False) from None

    return wrapper


class CompareTab:
    """The Compare tab of one app: its role objects, its components (``c``) and its callbacks."""

    def __init__(
        self, engine: Engine, gate: serving.ComputeGate | None = None, results: rcache.ResultCache | None = None
    ):
        """``gate``: where compares wait (default: one with ``engine.settings.max_waiting``);
        ``results``: the finished compares (default: a cache of ``engine.settings.result_cache_mb``)."""
        self.engine = engine
        self.gate = gate if gate is not None else serving.ComputeGate(max_waiting=engine.settings.max_waiting)
        self.runner = CompareRunner(engine, results)
        self.files = ResultFiles(engine.sr_panels)
        gr.set_static_paths([self.files.root])  # the downloads are served in place (not copied)
        viewer.serve_folder(self.files.root)  # the viewer's PNGs: sr-files/…, no server path in the page
        self.present = Presenter(engine, self.files)
        self.views = ViewBuilder(self.present)
        self.api = CompareAPI(self.runner, self.files, self.present)
        self.results = self.runner.results
        self.panels, self.sr_panels = engine.panels, engine.sr_panels
        self.c: dict[str, Any] = {}  # components by name, filled by build()

    # ---- short names for callers and tests
    def compute(self, example, upload, mode, models) -> Result:
        return user_errors(self.runner.compute)(example, upload, mode, models)

    def shown(self, res: Result, view: str = VIEW_IMAGES, a=None, b=None, **kw) -> Shown:
        return self.views.shown(res, view, a, b, **kw)

    def status(self, res: Result | None) -> str:
        return self.present.status(res)

    def table_headers(self) -> list[str]:
        return self.present.table_headers()

    def region_scores(self, res: Result, x, y, w, h, extras: tuple[Extra, ...] = ()):
        return self.runner.region_scores(res, x, y, w, h, extras)

    def downloads(self, res: Result | None) -> list[str] | None:
        return self.files.downloads(res)

    # ---- what the visitor chose besides the compare

    def extras(self, res: Result | None, blend_on=False, ba=None, bb=None, alpha=0.5, lpips=True) -> tuple[Extra, ...]:
        """The blend panel when the loss slider is on (and both arms are loaded), else none
        (``lpips=False``: its LPIPS may still be missing, for ``runner.add_lpips``)."""
        if res is None or not blend_on or ba not in self.engine.models or bb not in self.engine.models:
            return ()
        try:
            return (self.runner.blend(res, ba, bb, check_alpha(alpha if alpha is not None else 0.5), lpips),)
        except BlendError as e:
            raise gr.Error(str(e), print_exception=False) from None

    def spots(self, res: Result, pair, extras: tuple[Extra, ...]) -> dict | None:
        if not pair or res is None:
            return None
        a, b = pair
        have = {*res.images, *(e.key for e in extras), *(("hr",) if res.hr is not None else ())}
        if a not in have or b not in have:
            return None
        return {"a": a, "b": b, "windows": self.runner.spots(res, a, b, extras)}

    # ---- callbacks (each returns {component: value})

    def _final(self, res: Result, view, a, b, blend=(False, None, None, 0.5), pair=None, lpips=True) -> dict:
        """Every output of a finished compare.  While LPIPS is still being computed (``on_compare``
        shows the panels and PSNR / SSIM first, ``lpips=False``: the blend's too) its cells read "…"
        and the downloads wait for it."""
        c, p = self.c, self.present
        gt = res.hr is not None
        ex = self.extras(res, *blend, lpips=lpips)
        sh = self.views.shown(res, view, a, b, extras=ex, spots=self.spots(res, pair, ex))
        rect = (0, 0, *res.size[::-1]) if gt else None  # fit: the whole image, no region columns yet
        upload = res.source not in EXAMPLE_LOADERS
        return {
            c["state"]: res.key,
            c["status"]: p.status(res),
            c["viewer"]: sh.config,
            c["table"]: gr.Dataframe(p.metrics_table(res, {}, ex), visible=gt),
            c["region"]: p.region_text(res, rect),
            c["view"]: gr.Radio(visible=gt, value=view if gt else VIEW_IMAGES),
            c["ab"]: gr.Row(visible=gt and view == VIEW_DIFF),
            c["raw"]: p.info(res),
            c["downloads"]: None if core.lpips_pending(self.engine, res) else self.files.downloads(res),
            c["howto"]: HOWTO_GT if gt else HOWTO_LR,
            c["example"]: gr.update(value=None if upload else res.source),
        }

    def on_compare(
        self, prev, example, upload, mode, models, view, a, b, blend_on=False, ba=None, bb=None, alpha=0.5, pair=None
    ):
        """Generator: a line at once, then the panels fill in as each model finishes; the previous
        images stay (if of the same size) until replaced."""
        try:
            yield from self._compare(prev, example, upload, mode, models, view, a, b, (blend_on, ba, bb, alpha), pair)
        except (InputError, BlendError) as e:
            raise gr.Error(str(e), print_exception=False) from None

    def _compare(self, prev, example, upload, mode, models, view, a, b, blend, pair):
        c = self.c
        prev = self.runner.result_of(prev, recompute=False)
        chosen = [m for m in (models or []) if m in self.engine.models]
        names = [*chosen, "bicubic"]  # core.run_compare's order
        src = self._source_name(example, upload)
        yield {c["status"]: f"Compare of **{src}** started: reading the image…"}
        partial: Result | None = None
        done: list[str] = []
        uid = uuid.uuid4().hex[:12]  # the result's id from the start: panel files are written once
        for kind, *rest in self.runner.compute_steps(example, upload, mode, chosen, lpips=False, uid=uid):
            if kind == "done":
                res = rest[0]
                yield self._final(res, view, a, b, blend, pair, lpips=False)
                ex = self.extras(res, *blend, lpips=False)  # the blend panel (just made)
                if (
                    self.engine.lpips is not None
                    and res.hr is not None
                    and (core.lpips_pending(self.engine, res) or any("lpips" not in e.scores for e in ex))
                ):  # the panels and PSNR / SSIM are on screen: LPIPS of all of them in one batch
                    self.runner.add_lpips(res, ex)
                    out = self._final(res, view, a, b, blend, pair)
                    yield {c[k]: out[c[k]] for k in ("viewer", "table", "status", "raw", "downloads")}
                return
            p, sr, lr, hr = rest
            if partial is None:
                partial = Result(lr=lr, hr=hr, images={"lr": lr}, source=src)
                partial.uid = uid
                if hr is not None:
                    partial.images["hr"] = hr
            partial.images[p] = sr
            done.append(p)
            nxt = next((n for n in names if n not in done), None)
            titles = self.present.titles
            line = f"{titles.get(p, p)} done ({len(done)} of {len(names)}); " + (
                f"running {titles.get(nxt, nxt)}…" if nxt else "computing the metrics…"
            )
            base = prev if isinstance(prev, Result) and getattr(prev, "uid", None) else partial
            sh = self.views.shown(base, VIEW_IMAGES, a, b, progress=line, pending=partial, expected=names)
            yield {c["viewer"]: sh.config, c["status"]: line}

    @staticmethod
    def _source_name(example, upload) -> str:
        path = rcache.upload_path(upload)
        return Path(path).name if path else str(example)

    def on_view(self, state, view, a, b, blend_on=False, ba=None, bb=None, alpha=0.5, pair=None):
        """A change of view, of the loss slider or of the compared pair: the viewer and the table."""
        res = user_errors(self.runner.result_of)(state)
        if res is None:
            raise gr.Error("run a comparison first", print_exception=False)
        ex = self.extras(res, blend_on, ba, bb, alpha)
        sh = self.views.shown(res, view, a, b, extras=ex, spots=self.spots(res, pair, ex))
        out = {self.c["viewer"]: sh.config, self.c["ab"]: gr.Row(visible=view == VIEW_DIFF)}
        if res.hr is not None:
            out[self.c["table"]] = self.present.metrics_table(res, {}, ex)
        return out

    def on_spots(self, state, view, a, b, blend_on, ba, bb, alpha, spot_a, spot_b):
        """ "Where do they differ?": the pair is kept in the session; the viewer gets the windows."""
        if spot_a == spot_b:
            raise gr.Error("choose two different panels", print_exception=False)
        if BLEND in (spot_a, spot_b) and not blend_on:
            raise gr.Error("turn the loss slider on to compare with its blend panel", print_exception=False)
        pair = (spot_a, spot_b)
        return {**self.on_view(state, view, a, b, blend_on, ba, bb, alpha, pair), self.c["pair"]: pair}

    def on_region(self, state, evt: gr.EventData, blend_on=False, ba=None, bb=None, alpha=0.5):
        """The region columns for the rectangle the viewer shows.  A region of another result (the
        viewer shows a compare still streaming) or a malformed event changes nothing: every output
        gets ``gr.skip()`` (an empty dict is an error toast in Gradio 6)."""
        res = self.runner.result_of(state, recompute=False)
        d = getattr(evt, "_data", None) or {}
        unchanged = {self.c["table"]: gr.skip(), self.c["region"]: gr.skip()}
        if res is None or res.hr is None or d.get("id") not in (None, getattr(res, "uid", None)):
            return unchanged
        try:
            ex = self.extras(res, blend_on, ba, bb, alpha)
            rs, rect = self.runner.region_scores(res, d["x"], d["y"], d["w"], d["h"], ex)
        except (KeyError, TypeError, ValueError):
            return unchanged
        return {
            self.c["table"]: self.present.metrics_table(res, rs, ex),
            self.c["region"]: self.present.region_text(res, rect),
        }

    def on_load(self, request: gr.Request):
        """A page load: the example named in the URL (?img=…), else the first; the loss slider as the
        URL has it (?ba=&bb=&alpha=); fresh file links."""
        q = dict(request.query_params) if request is not None else {}
        example = q.get("img") if q.get("img") in self.runner.examples else next(iter(EXAMPLE_LOADERS))
        res = self.compute(example, None, UPLOAD_HR, self.engine.available)
        c = self.c
        blend = (False, c["blend_a"].value, c["blend_b"].value, 0.5)
        if q.get("ba") in self.engine.models and q.get("bb") in self.engine.models:
            with contextlib.suppress(BlendError):
                blend = (True, q["ba"], q["bb"], round(check_alpha(q.get("alpha", 0.5)) / 0.05) * 0.05)
        out = self._final(res, VIEW_IMAGES, None, None, blend)
        out.update({c["example"]: example, c["blend_on"]: blend[0], c["blend_a"]: blend[1], c["blend_b"]: blend[2]})
        out[c["alpha"]] = round(blend[3], 2)
        return out

    def on_downloads(self, state):
        return {self.c["downloads"]: self.files.downloads(self.runner.result_of(state))}

    # ---- layout and wiring

    def build(self, initial: Result | None = None) -> dict[str, Any]:
        """Lay the tab out in the current context and wire it; returns its components by name."""
        first_example = next(iter(EXAMPLE_LOADERS))
        if initial is not None and initial.source == first_example:
            self.runner.seed(initial)
        init_res = self.compute(first_example, None, UPLOAD_HR, self.engine.available)
        self.c = c = layout(self.engine, self.present, self.present.status(init_res))
        c["state"] = gr.State(init_res.key)  # the key of the session's comparison in ``self.results``
        c["pair"] = gr.State(None)  # the "where do they differ?" pair, once asked
        self._wire()
        return c

    def _result_outputs(self) -> list:
        """The components a compare (and a page load) fills: one list, so the two cannot drift apart."""
        keys = ("state", "status", "viewer", "table", "region", "view", "ab", "raw", "downloads", "howto", "example")
        return [self.c[k] for k in keys]

    def _wire(self) -> None:
        c = self.c
        blend_in = [c["blend_on"], c["blend_a"], c["blend_b"], c["alpha"]]
        cmp_in = [
            c["state"],
            c["example"],
            c["upload"],
            c["mode"],
            c["models"],
            c["view"],
            c["a"],
            c["b"],
            *blend_in,
            c["pair"],
        ]
        cmp_out = self._result_outputs()
        # compares wait in dashboard.serving's gate (one runs; past its waiting limit a visitor is told
        # at once how many wait and when to retry; a compare whose visitor left stops between models),
        # so Gradio's own queue lets them through to it.  "always_last": a choice made while a compare
        # still runs is computed after it, never dropped (Gradio's default "once" ignores it)
        cmp_kw: dict[str, Any] = dict(
            concurrency_id="compare", concurrency_limit=None, show_progress="hidden", trigger_mode="always_last"
        )
        on_compare = serving.gated_stream(self.on_compare, self.gate, waiting=self._waiting_line)
        view_kw: dict[str, Any] = dict(concurrency_id="view", concurrency_limit=2, show_progress="hidden")
        c["run"].click(on_compare, cmp_in, cmp_out, api_name="compare_live", api_visibility="undocumented", **cmp_kw)
        c["example"].input(
            lambda: None, None, c["upload"], queue=False, api_visibility="private", trigger_mode="always_last"
        ).then(on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        c["upload"].upload(on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        c["mode"].input(on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        view_in = [c["state"], c["view"], c["a"], c["b"], *blend_in, c["pair"]]
        for k in ("view", "a", "b", "blend_on", "blend_a", "blend_b", "alpha"):
            event = c[k].release if k == "alpha" else c[k].input
            event(
                self.on_view,
                view_in,
                [c["viewer"], c["ab"], c["table"]],
                api_visibility="private",
                trigger_mode="always_last",
                **view_kw,
            )
        c["spot_btn"].click(
            self.on_spots,
            [c["state"], c["view"], c["a"], c["b"], *blend_in, c["spot_a"], c["spot_b"]],
            [c["viewer"], c["ab"], c["table"], c["pair"]],
            api_visibility="private",
            **view_kw,
        )
        c["viewer"].region(
            self.on_region,
            [c["state"], *blend_in],
            [c["table"], c["region"]],
            api_visibility="private",
            trigger_mode="always_last",
            **view_kw,
        )
        wire_api(c, self.api, self.gate, self.on_downloads)

    def _waiting_line(self, ahead: int) -> dict:
        """The status line a compare shows at once, before its turn comes."""
        line = "Compare started" + (f": {ahead} ahead of you in the queue…" if ahead else "…")
        return {self.c["status"]: line}

    def wire_load(self, demo: gr.Blocks) -> None:
        """Each page load shows the example named in the URL (``?img=``) with fresh file links."""
        c = self.c
        outs = [*self._result_outputs(), c["blend_on"], c["blend_a"], c["blend_b"], c["alpha"]]
        demo.load(
            self.on_load,
            None,
            outs,
            api_visibility="private",
            concurrency_id="view",
            concurrency_limit=2,
            show_progress="hidden",
        )


def wire_api(c: dict[str, Any], api: CompareAPI, gate: serving.ComputeGate, on_downloads: Callable) -> None:
    """The named API endpoints (``/upscale``, ``/models``, ``/compare``, ``/downloads``, ``/blend``)."""
    gated = functools.partial(serving.gated, gate=gate)
    kw: dict[str, Any] = dict(concurrency_id="compare", concurrency_limit=None)
    c["api_btn1"].click(
        gated(user_errors(api.upscale)),
        [c["api_image"], c["api_model"], c["api_source"]],
        c["api_out"],
        api_name="upscale",
        **kw,
    )
    c["api_btn2"].click(api.models, None, c["api_list"], api_name="models", queue=False)
    c["api_btn3"].click(
        gated(user_errors(api.compare)),
        [c["api_image"], c["example"], c["mode"], c["models"]],
        [c["api_json"], c["api_files"], c["state"]],
        api_name="compare",
        **kw,
    )
    c["api_btn4"].click(on_downloads, c["state"], c["downloads"], api_name="downloads", queue=False)
    c["api_btn5"].click(
        gated(user_errors(api.blend)),
        [c["api_image"], c["api_model"], c["api_model_b"], c["api_alpha"]],
        c["api_out"],
        api_name="blend",
        **kw,
    )
