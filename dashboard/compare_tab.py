"""The Compare tab: every model's ×4 of one image side by side in a synced pixel viewer, with metrics.

``CompareTab(engine)`` holds the examples, a small result cache and the result files; ``build()``
lays the tab out inside the current ``gr.Tab`` and wires it.  The panels are shown by the viewer
(``dashboard.viewer``: zoom / pan / slider in the browser, at true device pixels); a compare fills
them in as each model finishes.  The callbacks return dicts keyed by component (named outputs).
Model maths lives in ``dashboard.core`` / ``srcore``; this module only writes PNGs and relays.
Named API endpoints: ``/upscale`` (image, model → PNG), ``/models``, ``/compare`` (named fields).
"""

from __future__ import annotations

import json
import os
import queue
import re
import threading
import uuid
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr
import numpy as np

from dashboard import cache as rcache
from dashboard import core, serving, viewer
from dashboard.core import EXAMPLE_LOADERS, UPLOAD_HR, UPLOAD_LR, Engine, InputError, Result
from dashboard.tempstore import TempStore
from srcore.imageio import ImageLoadError, save_png
from srcore.metrics import METRIC_BY_KEY, PANEL_METRICS

VIEW_IMAGES = "Images"
VIEW_ABS = "Error |SR − HR|"
VIEW_SIGNED = "Signed error SR − HR"
VIEW_DIFF = "Difference A − B"


def write_png(arr: np.ndarray, folder: Path, name: str) -> str:
    p = folder / f"{name}.png"
    save_png(arr, p)
    return str(p)


PENDING = "…"  # a figure still being computed (LPIPS follows the panels and PSNR / SSIM)


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
class Shown:
    """What the viewer shows for one result and view: its config and the files behind it."""

    config: str
    files: dict[str, str]  # panel key -> PNG path (clean, no overlay)


def _stem(source: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(str(source)).stem).strip("_")[:60] or "image"


README = """{source}: x4 super-resolution outputs from SR Loss Lab

{stem}_lr.png          the low-resolution image exactly as fed to the models ({lw}x{lh} px){lr_note}
{stem}_<model>_x4.png  each model's x4 output ({ow}x{oh} px), clean (no overlay)
{stem}_bicubic_x4.png  MATLAB-style bicubic x4, the baseline
{hr_line}metrics.json           {metrics_line}
"""


class CompareTab:
    """The Compare tab of one app: state shared by its callbacks (engine, examples, cache, files)."""

    def __init__(
        self, engine: Engine, gate: serving.ComputeGate | None = None, results: rcache.ResultCache | None = None
    ):
        """``gate``: where compares wait (default: one with ``engine.settings.max_waiting``);
        ``results``: the finished compares (default: a cache of ``engine.settings.result_cache_mb``)."""
        self.engine = engine
        self.gate = gate if gate is not None else serving.ComputeGate(max_waiting=engine.settings.max_waiting)
        self.temp = TempStore()
        gr.set_static_paths([self.temp.root])  # the viewer loads the PNGs straight from there
        self.panels = engine.panels
        self.sr_panels = engine.sr_panels
        self.titles = engine.panel_titles
        from skimage import data as skdata

        self.examples = {k: getattr(skdata, v)() for k, v in EXAMPLE_LOADERS.items()}
        # every finished compare, by key (input content, mode, models); sessions hold only the key
        self.results = results if results is not None else rcache.ResultCache(budget_mb=engine.settings.result_cache_mb)
        self._files: dict[tuple[str, str], str] = {}  # (result uid, file kind) -> PNG path
        self._regions: dict = {}  # (result uid, rectangle) -> region scores
        self.c: dict[str, Any] = {}  # components by name, filled by build()

    # ---- computing

    def compute(self, example, upload, mode, models) -> Result:
        """A finished comparison (no progress): cached for the examples."""
        res = None
        for kind, *rest in self.compute_steps(example, upload, mode, models):
            if kind == "done":
                res = rest[0]
        return res

    def compute_steps(self, example, upload, mode, models, lpips: bool = True, uid: str | None = None):
        """Yield ("panel", key, sr, lr, hr) as each panel's image is ready, then ("done", Result).
        ``lpips=False``: the result may still lack LPIPS (``core.add_lpips``); ``uid``: the result's
        id (its files' folder), chosen by a caller that shows panels before the result is done.
        Errors in the input raise gr.Error with a message for the user.  Closing the generator
        (the visitor left) stops the compare before its next model."""
        models = [m for m in (models or []) if m in self.engine.models]
        path = rcache.upload_path(upload)
        key = rcache.key_for(None if path else example, path, mode, models)
        held = self.results.get(key)
        if held is not None:
            if lpips:
                core.add_lpips(self.engine, held)
            yield ("done", held)
            return
        arr, notes, source, as_lr = self._input(example, upload, mode)
        q: queue.Queue = queue.Queue()
        abandoned = threading.Event()

        def work():
            try:
                with core.stop_when(abandoned.is_set):
                    r = core.run_compare(
                        self.engine,
                        arr,
                        as_lr=as_lr is not None,
                        lr_source=as_lr or "benchmark",
                        models=models,
                        source=source,
                        on_panel=lambda p, sr, lr, hr: q.put(("panel", p, sr, lr, hr)),
                        lpips=lpips,
                    )
                q.put(("done", r))
            except BaseException as e:  # noqa: BLE001 - handed to the caller's thread, which raises it
                q.put(("error", e))

        threading.Thread(target=work, name="compare", daemon=True).start()
        try:
            while True:
                item = q.get()
                if item[0] == "error":
                    e = item[1]
                    if isinstance(e, InputError):
                        raise gr.Error(str(e), print_exception=False) from None
                    raise e
                if item[0] == "done":
                    res = item[1]
                    res.notes[:0] = notes
                    res.uid = uid or uuid.uuid4().hex[:12]
                    self.results.put(key, res)
                    yield ("done", res)
                    return
                yield item
        finally:
            abandoned.set()

    def seed(self, res: Result) -> None:
        """Cache an already computed comparison of the first example with every model (app start-up)."""
        if not getattr(res, "uid", None):
            res.uid = uuid.uuid4().hex[:12]
        self.results.put(rcache.key_for(res.source, None, UPLOAD_HR, list(self.engine.available)), res)

    def result_of(self, state, recompute: bool = True) -> Result | None:
        """The result a session's state names (its cache key).  An example's result that the cache has
        let go is computed again (``recompute``); an upload's cannot be, and the visitor is asked to
        press Compare again (a ``gr.Error``).  ``None`` when the session has no comparison yet, or
        when it is gone and ``recompute`` is false."""
        if state is None or isinstance(state, Result):
            return state
        res = self.results.get(state)
        if res is not None or not recompute:
            return res
        example = rcache.example_of(state)
        if example is not None:
            return self.compute(example[0], None, UPLOAD_HR, example[1])
        raise gr.Error(
            "This comparison is no longer held by the server (it keeps the recent ones only); "
            "press Compare to run it again.",
            print_exception=False,
        )

    def _input(self, example, upload, mode):
        path = rcache.upload_path(upload)
        if path:
            try:
                arr, notes = core.load_upload(path)
            except ImageLoadError as e:
                raise gr.Error(f"Could not use that file: {e}", print_exception=False) from None
            return arr, notes, Path(path).name, core.LR_SOURCE.get(mode)
        if example not in self.examples:
            raise gr.Error(
                f"unknown example {example!r}; choose one of {', '.join(self.examples)}", print_exception=False
            )
        return self.examples[example], [], example, None

    # ---- files (clean PNGs, one folder per result)

    def _file(self, uid: str, source: str, kind: str, make) -> str:
        """The PNG of ``kind`` for result ``uid`` (made by ``make()`` once; remade if cleaned away)."""
        key = (uid, kind)
        p = self._files.get(key)
        if p and Path(p).is_file():
            return p
        folder = self.temp.root / uid
        folder.mkdir(parents=True, exist_ok=True)
        path = write_png(make(), folder, f"{_stem(source)}_{kind}")
        self._files[key] = path
        return path

    @staticmethod
    def kind(panel: str) -> str:
        """File-name part of a panel: ``lr``, ``hr`` or ``<model>_x4``."""
        return panel if panel in ("lr", "hr") else f"{panel}_x4"

    def panel_file(self, uid, source, panel: str, img: np.ndarray) -> str:
        return self._file(uid, source, self.kind(panel), lambda: img)

    # ---- text

    def caption(self, panel: str, res: Result, best: dict) -> str:
        if panel == "lr":
            h, w = res.lr.shape[:2]
            return f"input {w}×{h} px, each pixel shown as 4×4"
        if panel == "hr":
            h, w = res.hr.shape[:2]
            return f"ground truth {w}×{h} px"
        if res.hr is None or panel not in res.scores:
            h, w = res.images[panel].shape[:2] if panel in res.images else (0, 0)
            return f"{w}×{h} px" if w else ""
        s = res.scores[panel]
        parts = []
        for m in core.CAPTION_METRICS:
            if m.key not in s:  # LPIPS, still being computed
                parts.append(f"{m.label} {PENDING}")
                continue
            val = _fmt(m.key, s.get(m.key)) + (f" {m.unit}" if m.unit else "")
            parts.append(f"{m.label} {val}{' ★' if best.get(m.key) == panel else ''}")
        return " · ".join(parts)

    def table_headers(self) -> list[str]:
        whole = [
            f"{METRIC_BY_KEY[k].label}{' (' + METRIC_BY_KEY[k].unit + ')' if METRIC_BY_KEY[k].unit else ''} "
            f"{METRIC_BY_KEY[k].arrow}"
            for k in PANEL_METRICS
        ]
        region = [f"Visible region {m.label} {m.arrow}" for m in core.CAPTION_METRICS]
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
            rows.append(
                [
                    self.titles[p],
                    *(_fmt(k, s.get(k)) if k in s else PENDING for k in PANEL_METRICS),
                    *(_fmt(m.key, r.get(m.key)) for m in core.CAPTION_METRICS),
                    ", ".join(marks),
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

    # ---- the viewer's config

    def _key_of(self, title_or_key) -> str:
        return next((k for k, t in self.titles.items() if t == title_or_key), title_or_key)

    def shown(
        self,
        res: Result,
        view: str = VIEW_IMAGES,
        a: str | None = None,
        b: str | None = None,
        progress: str = "",
        pending: Result | None = None,
    ) -> Shown:
        """The viewer config of ``res`` in ``view`` (``a``/``b``: the panels of the A − B view).
        ``pending``: a comparison still running, whose finished panels replace ``res``'s."""
        cur = pending or res
        uid, src = cur.uid, cur.source
        gt = cur.hr is not None
        best = core.best_of(res.scores) if pending is None else {}
        files, panels = {}, []
        h, w = cur.hr.shape[:2] if gt else (4 * cur.lr.shape[0], 4 * cur.lr.shape[1])

        def add(key, title, path, scale=1, caption="", stale=False, alt_what=None):
            files[key] = path
            name = Path(path).name if path else None
            panels.append(
                viewer.panel(
                    key,
                    title,
                    path,
                    scale=scale,
                    caption=caption,
                    file=name,
                    stale=stale,
                    alt=f"{alt_what or title} of {src}" + (" (previous image, updating)" if stale else ""),
                )
            )

        keys = [p for p in self.panels if p != "hr" or gt]
        view = view if gt else VIEW_IMAGES
        if view in (VIEW_ABS, VIEW_SIGNED):
            keys = [p for p in self.sr_panels if p in cur.images] + ["hr"]
        elif view == VIEW_DIFF:
            a, b = self._key_of(a or "bicubic"), self._key_of(b or self.sr_panels[-1])
            keys = [k for k in dict.fromkeys([a, b, "hr"]) if k in cur.images or k in ("lr", "hr")]
        for p in keys:
            title = self.titles.get(p, p)
            if p == "lr":
                add(p, title, self.panel_file(uid, src, "lr", cur.lr), scale=4, caption=self.caption("lr", cur, best))
                continue
            img = cur.images.get(p) if p != "hr" else cur.hr
            if img is None:  # still running: the previous image of this panel, marked, or a placeholder
                old = res.images.get(p) if pending is not None and res is not pending else None
                path = self.panel_file(res.uid, res.source, p, old) if old is not None else None
                add(p, title, path, stale=path is not None)
                continue
            if view in (VIEW_ABS, VIEW_SIGNED) and p != "hr":
                signed = view == VIEW_SIGNED
                kind = f"{p}_{'signed' if signed else 'abs'}err"
                path = self._file(
                    uid,
                    src,
                    kind,
                    lambda img=img, signed=signed: (viewer.signed_error if signed else viewer.abs_error)(img, cur.hr),
                )
                add(
                    p,
                    f"{title}: {'SR − HR' if signed else '|SR − HR|'}",
                    path,
                    caption=self.caption(p, cur, best),
                    alt_what=f"{'signed' if signed else 'absolute'} error map of {title}",
                )
                continue
            add(p, title, self.panel_file(uid, src, p, img), caption=self.caption(p, cur, best))
        colorbar = None
        if view == VIEW_ABS:
            colorbar = viewer.colorbar("abs", "|SR − HR|, grey levels (mean over R, G, B)")
        elif view == VIEW_SIGNED:
            colorbar = viewer.colorbar("signed", "SR − HR, grey levels: blue = darker than HR, red = brighter")
        elif view == VIEW_DIFF and a in cur.images and b in cur.images:
            ta, tb = self.titles.get(a, a), self.titles.get(b, b)
            path = self._file(uid, src, f"{a}_minus_{b}", lambda: viewer.signed_error(cur.images[a], cur.images[b]))
            add("diff", f"{ta} − {tb}", path, alt_what=f"difference {ta} minus {tb}")
            colorbar = viewer.colorbar("signed", f"{ta} − {tb}, grey levels: red = A brighter, blue = A darker")
        notes = list(cur.notes if pending is None else [])
        notes = [n for n in notes if "no ground truth" not in n]
        if not gt:
            notes.insert(
                0,
                "No ground truth: this image is only upscaled, so there is no HR panel, no error map "
                "and no PSNR / SSIM / LPIPS.",
            )
        slider = (self._key_of(a) if a else "bicubic", self._key_of(b) if b else self.sr_panels[-1])
        cfg = viewer.config(
            id=uid,
            source=src,
            width=w,
            height=h,
            panels=panels,
            progress=progress,
            notes=notes,
            colorbar=colorbar,
            slider=slider,
        )
        return Shown(cfg, files)

    # ---- region metrics (the rectangle the viewer shows)

    def region_scores(self, res: Result, x: int, y: int, w: int, h: int) -> tuple[dict, tuple[int, int, int, int]]:
        H, W = res.size
        side = core.REGION_SIZES[0]
        w, h = max(side, min(int(w), W)), max(side, min(int(h), H))
        x, y = max(0, min(int(x), W - w)), max(0, min(int(y), H - h))
        rect = (x, y, w, h)
        if (w, h) == (W, H):  # the whole image: its figures are the whole-image columns (less the border)
            return {}, rect
        key = (res.uid, rect)
        if key not in self._regions:
            crops = {p: im[y : y + h, x : x + w] for p, im in res.images.items() if p in self.sr_panels or p == "hr"}
            self._regions[key] = core.score_panels(self.engine, crops, crops["hr"], 0)
            if len(self._regions) > 256:
                self._regions.pop(next(iter(self._regions)))
        return self._regions[key], rect

    # ---- downloads

    def downloads(self, res) -> list[str] | None:
        """A zip (every image, metrics.json, README.txt) and each PNG: the LR as fed to the models,
        each output clean as ``<image>_<model>_x4.png``, and the ground truth."""
        if res is None:
            return None
        src, uid, stem = res.source, res.uid, _stem(res.source)
        files = [self.panel_file(uid, src, "lr", res.lr)]
        files += [self.panel_file(uid, src, p, res.images[p]) for p in self.sr_panels if p in res.images]
        if res.hr is not None:
            files.append(self.panel_file(uid, src, "hr", res.hr))
        zpath = self.temp.root / uid / f"{stem}_x4_outputs.zip"
        if not zpath.is_file():
            lh, lw = res.lr.shape[:2]
            oh, ow = 4 * lh, 4 * lw
            readme = README.format(
                source=src,
                stem=stem,
                lw=lw,
                lh=lh,
                ow=ow,
                oh=oh,
                lr_note=(
                    "\n                       (made from the ground truth by MATLAB-style bicubic /4)"
                    if res.hr is not None
                    else "\n                       (your upload, centre-cropped only if it exceeded the limit)"
                ),
                hr_line=f"{stem}_hr.png          the ground truth ({ow}x{oh} px)\n" if res.hr is not None else "",
                metrics_line=(
                    "PSNR-Y / SSIM-Y (MATLAB Y channel, 8-bit, border 4), PSNR-RGB, LPIPS (AlexNet v0.1) "
                    "of each output against the ground truth"
                    if res.hr is not None
                    else "no metrics: there is no ground truth for an upscale-only input"
                ),
            )
            meta = {
                "source": src,
                "lr_size": [lw, lh],
                "output_size": [ow, oh],
                "files": [Path(f).name for f in files],
                "scores": res.scores,
                "notes": res.notes,
                "convention": "PSNR/SSIM on the MATLAB Y channel, 8-bit, border 4; LPIPS AlexNet v0.1",
            }
            tmp = zpath.with_suffix(".part")
            with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
                for f in files:
                    zf.write(f, Path(f).name)
                zf.writestr("metrics.json", json.dumps(_jsonable(meta), indent=1))
                zf.writestr("README.txt", readme)
            tmp.replace(zpath)
        return [str(zpath), *files]

    # ---- callbacks (each returns {component: value})

    def _final(self, res: Result, view, a, b) -> dict:
        """Every output of a finished compare.  While LPIPS is still being computed (``on_compare``
        shows the panels and PSNR / SSIM first) its cells read "…" and the downloads wait for it."""
        c = self.c
        gt = res.hr is not None
        pending = core.lpips_pending(self.engine, res)
        sh = self.shown(res, view, a, b)
        rect = (0, 0, *res.size[::-1]) if gt else None  # fit: the whole image, no region columns yet
        return {
            c["state"]: res.key,
            c["status"]: self.status(res),
            c["viewer"]: sh.config,
            c["table"]: gr.Dataframe(self.metrics_table(res, {}), visible=gt),
            c["region"]: self.region_text(res, rect),
            c["view"]: gr.Radio(visible=gt, value=view if gt else VIEW_IMAGES),
            c["ab"]: gr.Row(visible=gt and view == VIEW_DIFF),
            c["raw"]: self.info(res),
            c["downloads"]: None if pending else self.downloads(res),
        }

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
            " — zoom or pan the viewer and the region columns follow (no border shave)."
        )

    def info(self, res: Result) -> dict:
        return _jsonable(
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
                "convention": "PSNR/SSIM on MATLAB Y channel, 8-bit, border 4; LPIPS AlexNet v0.1",
            }
        )

    def on_compare(self, prev, example, upload, mode, models, view, a, b):
        """Generator: the panels fill in as each model finishes; the previous images stay until replaced."""
        c = self.c
        prev = self.result_of(prev, recompute=False)
        names = [*[m for m in (models or []) if m in self.engine.models], "bicubic"]  # core.run_compare's order
        partial: Result | None = None
        done: list[str] = []
        uid = uuid.uuid4().hex[:12]  # the result's id from the start: panel files are written once
        for kind, *rest in self.compute_steps(example, upload, mode, models, lpips=False, uid=uid):
            if kind == "done":
                res = rest[0]
                yield self._final(res, view, a, b)
                if core.lpips_pending(self.engine, res):  # the panels and PSNR / SSIM are on screen
                    core.add_lpips(self.engine, res)
                    out = self._final(res, view, a, b)
                    yield {c[k]: out[c[k]] for k in ("viewer", "table", "status", "raw", "downloads")}
                return
            p, sr, lr, hr = rest
            if partial is None:
                partial = Result(lr=lr, hr=hr, images={"lr": lr}, source=self._source_name(example, upload))
                partial.uid = uid
                if hr is not None:
                    partial.images["hr"] = hr
            partial.images[p] = sr
            done.append(p)
            nxt = next((n for n in names if n not in done), None)
            line = f"{self.titles.get(p, p)} done ({len(done)} of {len(names)}); " + (
                f"running {self.titles.get(nxt, nxt)}…" if nxt else "computing the metrics…"
            )
            base = prev if isinstance(prev, Result) and getattr(prev, "uid", None) else partial
            sh = self.shown(base, VIEW_IMAGES, a, b, progress=line, pending=partial)
            yield {c["viewer"]: sh.config, c["status"]: line}

    @staticmethod
    def _source_name(example, upload) -> str:
        path = rcache.upload_path(upload)
        return Path(path).name if path else example

    def on_view(self, state, view, a, b):
        res = self.result_of(state)
        if res is None:
            raise gr.Error("run a comparison first", print_exception=False)
        return {self.c["viewer"]: self.shown(res, view, a, b).config, self.c["ab"]: gr.Row(visible=view == VIEW_DIFF)}

    def on_region(self, state, evt: gr.EventData):
        """The region columns for the rectangle the viewer shows.  A region of another result (the
        viewer shows a compare still streaming) or a malformed event changes nothing: every output
        gets ``gr.skip()`` (an empty dict is an error toast in Gradio 6)."""
        res = self.result_of(state, recompute=False)
        d = getattr(evt, "_data", None) or {}
        unchanged = {self.c["table"]: gr.skip(), self.c["region"]: gr.skip()}
        if res is None or res.hr is None or d.get("id") not in (None, getattr(res, "uid", None)):
            return unchanged
        try:
            rs, rect = self.region_scores(res, d["x"], d["y"], d["w"], d["h"])
        except (KeyError, TypeError, ValueError):
            return unchanged
        return {self.c["table"]: self.metrics_table(res, rs), self.c["region"]: self.region_text(res, rect)}

    def on_load(self, request: gr.Request):
        """A page load: the example named in the URL (?img=…), else the first; fresh file links."""
        q = dict(request.query_params) if request is not None else {}
        example = q.get("img") if q.get("img") in self.examples else next(iter(EXAMPLE_LOADERS))
        res = self.compute(example, None, UPLOAD_HR, self.engine.available)
        out = self._final(res, VIEW_IMAGES, None, None)
        out[self.c["example"]] = example
        return out

    # ---- API (named endpoints for gradio_client)

    def api_models(self) -> dict:
        """What is loaded: the panels ``upscale`` accepts, and the models left out with why."""
        return {
            "models": [{"key": k, "title": self.titles[k]} for k in ["bicubic", *self.engine.available]],
            "missing": dict(self.engine.problems),
            "refused": dict(self.engine.refused),
        }

    def api_upscale(self, image, model, source="unknown"):
        """x4 of an image file by one model (or "bicubic"): the PNG's path.  ``source``: "unknown"
        (a real photo, the default: the fitted treatment of srcore.prefilter) or "benchmark"."""
        if (source or "unknown") not in core.LR_SOURCE.values():
            raise gr.Error(f"unknown source {source!r}; choose unknown or benchmark", print_exception=False)
        if not image:
            raise gr.Error("no image given", print_exception=False)
        key = self._key_of(model or "")
        if key != "bicubic" and key not in self.engine.models:
            raise gr.Error(
                f"unknown model {model!r}; loaded: {', '.join(['bicubic', *self.engine.available])}",
                print_exception=False,
            )
        try:
            arr, _ = core.load_upload(image)
            lr, _, notes = core.prepare_input(arr, as_lr=True)
        except ImageLoadError as e:
            raise gr.Error(f"Could not use that file: {e}", print_exception=False) from None
        except InputError as e:
            raise gr.Error(str(e), print_exception=False) from None
        if notes:
            raise gr.Error(f"{notes[0]}; upload at most {core.MAX_LR_SIDE} px per side", print_exception=False)
        try:
            sr = core._sr(self.engine, key, lr, source or "unknown")
        except core.PrefilterError as e:
            raise gr.Error(str(e), print_exception=False) from None
        return write_png(sr, self.temp.new(), f"{_stem(Path(str(image)).name)}_{key}_x4")

    def api_compare(self, image, example, mode, models):
        """A whole comparison: (named fields as JSON, the downloadable files); the session's state too."""
        res = self.compute(
            example or next(iter(EXAMPLE_LOADERS)),
            image or None,
            mode or UPLOAD_HR,
            models if models else self.engine.available,
        )
        files = self.downloads(res)
        out = self.info(res)
        out["files"] = {
            ("zip" if f.endswith(".zip") else Path(f).stem[len(_stem(res.source)) + 1 :]): Path(f).name for f in files
        }
        out["status"] = self.status(res)
        return out, files, res.key

    # ---- layout

    def build(self, initial: Result | None = None) -> dict[str, Any]:
        """Lay the tab out in the current context and wire it; returns its components by name."""
        eng = self.engine
        first_example = next(iter(EXAMPLE_LOADERS))
        if initial is not None and initial.source == first_example:
            self.seed(initial)
        init_res = self.compute(first_example, None, UPLOAD_HR, eng.available)
        choices = [(eng.titles[m], m) for m in eng.available]
        panel_choices = [(self.titles[p], p) for p in self.sr_panels if p == "bicubic" or p in eng.models]
        c = self.c
        c["state"] = gr.State(init_res.key)  # the key of the session's comparison in ``self.results``
        with gr.Row(equal_height=False):
            with gr.Column(scale=2, min_width=280):
                c["example"] = gr.Dropdown(
                    list(EXAMPLE_LOADERS),
                    value=first_example,
                    label="Example photo",
                    info="scikit-image's bundled photos",
                )
                c["upload"] = gr.File(
                    label="…or upload your own image (PNG, JPEG, BMP, WebP, TIFF, GIF)",
                    file_types=["image"],
                    type="filepath",
                    height=120,
                )
                c["mode"] = gr.Radio(
                    [UPLOAD_HR, UPLOAD_LR, core.UPLOAD_LR_BENCHMARK],
                    value=UPLOAD_HR,
                    label="The uploaded image is",
                    info=f"a low-res input is upscaled whole up to {core.MAX_LR_SIDE} px a side. The "
                    "models were trained on LR made by MATLAB-style antialiased bicubic /4; a real "
                    "photo gets a pre-filter fitted on training images (the Benchmark tab's "
                    "cubic_no_aa columns), a benchmark-made input none",
                )
            with gr.Column(scale=2, min_width=280):
                c["models"] = gr.CheckboxGroup(
                    choices, value=[m for _, m in choices], label="Models to run", info="bicubic always runs"
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
                c["status"] = gr.Markdown(self.status(init_res), elem_id="compare-status")
                gr.Markdown(
                    "**How to read it.** PSNR-Y and SSIM-Y (higher is better) reward pixel accuracy; "
                    "LPIPS (lower is better) tracks perceived similarity; ★ marks the best panel per metric. "
                    "**Wheel or pinch to zoom, drag to pan** (all panels move together); keys: arrows pan, "
                    "+ / − zoom, 0 fits. 100 % shows each output pixel on one screen pixel."
                )
        c["viewer"] = viewer.component(None)
        c["region"] = gr.Markdown(elem_id="region-line")
        c["table"] = gr.Dataframe(
            headers=self.table_headers(),
            label="Metrics (whole image: border 4; visible region: no border)",
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
                gr.Markdown(
                    "**Panels**\n\n" + "\n".join(f"- **{self.titles[q]}**: {eng.panel_help[q]}" for q in self.panels)
                )
                with gr.Accordion("All figures (JSON)", open=False):
                    c["raw"] = gr.JSON()
        with gr.Group(visible=False):  # API-only endpoints (gradio_client), see the README
            c["api_image"] = gr.File(type="filepath", label="image")
            c["api_model"] = gr.Textbox(label="model")
            c["api_source"] = gr.Textbox(label="source", value="unknown")
            c["api_models_in"] = gr.Textbox(label="models", value="")
            c["api_out"] = gr.File(label="x4 PNG")
            c["api_json"] = gr.JSON(label="fields")
            c["api_list"] = gr.JSON(label="models")
            c["api_files"] = gr.File(label="files", file_count="multiple")
            c["api_btn"] = gr.Button("api")
            c["api_btn2"] = gr.Button("api2")
            c["api_btn3"] = gr.Button("api3")
            c["api_btn4"] = gr.Button("api4")
        self._wire()
        return c

    def _result_outputs(self) -> list:
        """The components a compare (and a page load) fills: one list, so the two cannot drift apart."""
        c = self.c
        return [c[k] for k in ("state", "status", "viewer", "table", "region", "view", "ab", "raw", "downloads")]

    def _wire(self) -> None:
        c = self.c
        cmp_in = [c["state"], c["example"], c["upload"], c["mode"], c["models"], c["view"], c["a"], c["b"]]
        cmp_out = self._result_outputs()
        # one compare at a time across every trigger (memory stays bounded on a small Space);
        # the cheap view / region updates share a second slot
        # compares wait in dashboard.serving's gate (one runs; past its waiting limit a visitor is told
        # at once how many wait and when to retry; a compare whose visitor left stops between models),
        # so Gradio's own queue lets them through to it
        # "always_last": a choice made while a compare (or its LPIPS update) still runs is computed
        # after it, never dropped (Gradio's default "once" ignores it)
        cmp_kw: dict[str, Any] = dict(
            concurrency_id="compare", concurrency_limit=None, show_progress="hidden", trigger_mode="always_last"
        )
        on_compare = serving.gated_stream(self.on_compare, self.gate)
        view_kw: dict[str, Any] = dict(concurrency_id="view", concurrency_limit=2, show_progress="hidden")
        c["run"].click(on_compare, cmp_in, cmp_out, api_name="compare_live", api_visibility="undocumented", **cmp_kw)
        c["example"].input(
            lambda: None, None, c["upload"], queue=False, api_visibility="private", trigger_mode="always_last"
        ).then(on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        c["upload"].upload(on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        c["mode"].input(on_compare, cmp_in, cmp_out, api_visibility="private", **cmp_kw)
        for k in ("view", "a", "b"):
            c[k].input(
                self.on_view,
                [c["state"], c["view"], c["a"], c["b"]],
                [c["viewer"], c["ab"]],
                api_visibility="private",
                **view_kw,
            )
        c["viewer"].region(
            self.on_region,
            [c["state"]],
            [c["table"], c["region"]],
            api_visibility="private",
            trigger_mode="always_last",
            **view_kw,
        )
        # named API endpoints
        c["api_btn"].click(
            serving.gated(self.api_upscale, self.gate),
            [c["api_image"], c["api_model"], c["api_source"]],
            c["api_out"],
            api_name="upscale",
            concurrency_id="compare",
            concurrency_limit=None,
        )
        c["api_btn2"].click(self.api_models, None, c["api_list"], api_name="models", queue=False)
        c["api_btn3"].click(
            serving.gated(self.api_compare, self.gate),
            [c["api_image"], c["example"], c["mode"], c["models"]],
            [c["api_json"], c["api_files"], c["state"]],
            api_name="compare",
            concurrency_id="compare",
            concurrency_limit=None,
        )
        c["api_btn4"].click(self.on_downloads, c["state"], c["downloads"], api_name="downloads", queue=False)

    def wire_load(self, demo: gr.Blocks) -> None:
        """Each page load shows the example named in the URL (``?img=``) with fresh file links."""
        c = self.c
        demo.load(
            self.on_load,
            None,
            [c["example"], *self._result_outputs()],
            api_visibility="private",
            concurrency_id="view",
            concurrency_limit=2,
            show_progress="hidden",
        )

    def on_downloads(self, state):
        return {self.c["downloads"]: self.downloads(self.result_of(state))}
