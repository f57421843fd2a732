"""The Compare tab's computation and its caches: no Gradio, no presentation.

``CompareRunner`` turns an input (an example or an upload, a mode, the chosen models) into a
``core.Result``, streaming each panel as it finishes; holds every finished result once in the
shared ``dashboard.cache.ResultCache`` (a session keeps only its key); scores the rectangle the
viewer shows; and adds the two teaching views:

* the *loss slider*: arm A and arm B blended at α (``srcore.blend``), run on the result's LR input
  as ``/upscale`` runs a model (``core.sr_by``), scored against the ground truth; one blend per α
  (``BlendCache``) and one output per (result, A, B, α);
* *where do they differ?*: the top non-overlapping windows of A − B's local energy
  (``srcore.differ``), per (result, A, B).

Problems with the input raise ``core.InputError`` with a message for the visitor; the wiring
(``dashboard.compare_tab``) shows it.
"""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from dashboard import cache as rcache
from dashboard import core
from dashboard.core import EXAMPLE_LOADERS, UPLOAD_HR, Engine, InputError, Result
from srcore import SCALE
from srcore.blend import BlendCache, alpha_key
from srcore.differ import top_windows
from srcore.imageio import ImageLoadError

BLEND = "blend"  # the blend panel's key
SPOT_SIDE = 64  # output pixels per side of a "where do they differ?" window (about a 400 % view)
SPOT_COUNT = 8


@dataclass
class Extra:
    """A panel computed on top of a result (the blend): its image and scores against the ground truth."""

    key: str
    title: str
    image: np.ndarray
    scores: dict = field(default_factory=dict)
    seconds: float = 0.0
    note: str = ""  # a line under its figures (the blend: when the input ran untreated)
    file_kind: str = ""  # its PNG's name after the image's stem
    meta: dict = field(default_factory=dict)  # the blend's {"a", "b", "alpha"} (kept in the page URL)


class Bounded(OrderedDict):
    """An insertion-ordered dict that forgets its oldest entries past ``limit``."""

    def __init__(self, limit: int):
        super().__init__()
        self.limit = limit

    def __setitem__(self, key, value) -> None:
        super().__setitem__(key, value)
        while len(self) > self.limit:
            self.popitem(last=False)


class CompareRunner:
    """Computing compares, blends and difference windows for one app; every cache is bounded."""

    def __init__(self, engine: Engine, results: rcache.ResultCache | None = None):
        from skimage import data as skdata

        self.engine = engine
        self.examples = {k: getattr(skdata, v)() for k, v in EXAMPLE_LOADERS.items()}
        self.results = results if results is not None else rcache.ResultCache(budget_mb=engine.settings.result_cache_mb)
        self.blends = BlendCache(size=8)
        self._regions: Bounded = Bounded(256)  # (result uid, extras, rectangle) -> region scores
        self._extras: Bounded = Bounded(32)  # (result uid, A, B, α) -> Extra
        self._spots: Bounded = Bounded(64)  # (result uid, A, B, blend) -> windows
        # result uid -> its HR's LPIPS features (10 MB for a 512 px image, 43 MB at 1024 px), kept
        # while the loss slider is on: moving α then passes only the blend through AlexNet
        self._hr_feats: Bounded = Bounded(2)
        self._lock = threading.Lock()

    # ---- compares

    def compute(self, example, upload, mode, models) -> Result:
        """A finished comparison (no progress); cached."""
        res = None
        for kind, *rest in self.compute_steps(example, upload, mode, models):
            if kind == "done":
                res = rest[0]
        assert res is not None
        return res

    def compute_steps(self, example, upload, mode, models, lpips: bool = True, uid: str | None = None):
        """Yield ("panel", key, sr, lr, hr) as each panel's image is ready, then ("done", Result).
        ``lpips=False``: the result may still lack LPIPS (``core.add_lpips``); ``uid``: the result's
        id (its files' folder), chosen by a caller that shows panels before the result is done.
        Closing the generator (the visitor left) stops the compare before its next model."""
        models = [m for m in (models or []) if m in self.engine.models]
        path = rcache.upload_path(upload)
        key = rcache.key_for(None if path else example, path, mode, models)
        held = self.results.get(key)
        if held is not None:
            if lpips:
                core.add_lpips(self.engine, held)
            yield ("done", held)
            return
        arr, notes, source, as_lr = self.input(example, upload, mode)
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
                    raise item[1]
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
        press Compare again (an ``InputError``).  ``None`` when the session has no comparison yet, or
        when it is gone and ``recompute`` is false."""
        if state is None or isinstance(state, Result):
            return state
        res = self.results.get(state)
        if res is not None or not recompute:
            return res
        example = rcache.example_of(state)
        if example is not None:
            return self.compute(example[0], None, UPLOAD_HR, example[1])
        raise InputError(
            "This comparison is no longer held by the server (it keeps the recent ones only); "
            "press Compare to run it again."
        )

    def input(self, example, upload, mode) -> tuple[np.ndarray, list[str], str, str | None]:
        """(image, notes, source name, LR source) of an upload or an example; the LR source
        ("unknown" or "benchmark", ``core.LR_SOURCE``) is None for a ground truth."""
        path = rcache.upload_path(upload)
        if path:
            try:
                arr, notes = core.load_upload(path)
            except ImageLoadError as e:
                raise InputError(f"Could not use that file: {e}") from None
            return arr, notes, Path(path).name, core.LR_SOURCE.get(mode)
        if example not in self.examples:
            raise InputError(f"unknown example {example!r}; choose one of {', '.join(self.examples)}")
        return self.examples[example], [], example, None

    # ---- the rectangle the viewer shows

    def region_scores(
        self, res: Result, x: int, y: int, w: int, h: int, extras: tuple[Extra, ...] = ()
    ) -> tuple[dict, tuple[int, int, int, int]]:
        """Each SR panel's figures (and each extra's) on the rectangle, clamped to the image and to
        at least the smallest region; the whole image gives no region figures."""
        H, W = res.size
        side = core.REGION_SIZES[0]
        w, h = max(side, min(int(w), W)), max(side, min(int(h), H))
        x, y = max(0, min(int(x), W - w)), max(0, min(int(y), H - h))
        rect = (x, y, w, h)
        if (w, h) == (W, H) or res.hr is None:
            return {}, rect
        key = (res.uid, tuple(e.title for e in extras), rect)
        got = self._regions.get(key)
        if got is None:
            sr = set(self.engine.sr_panels)
            crops = {p: im[y : y + h, x : x + w] for p, im in res.images.items() if p in sr or p == "hr"}
            crops.update({e.key: e.image[y : y + h, x : x + w] for e in extras})
            got = core.score_panels(self.engine, crops, crops["hr"], 0)
            self._regions[key] = got
        return got, rect

    # ---- the loss slider

    def blend_model(self, a: str, b: str, alpha: float):
        """The generator θ(α) between arms ``a`` and ``b`` (the arm itself at α = 0 or 1)."""
        for k in (a, b):
            if k not in self.engine.models:
                raise InputError(f"unknown model {k!r}; loaded: {', '.join(self.engine.available)}")
        return self.blends.get(a, self.engine.models[a], b, self.engine.models[b], alpha)

    def blend(self, res: Result, a: str, b: str, alpha: float, lpips: bool = True) -> Extra:
        """The blend panel of ``res``: arms ``a`` and ``b`` at ``alpha`` on its LR input, scored (once per
        result, pair and α).  ``lpips=False``: PSNR / SSIM only, LPIPS left to ``add_lpips`` (a
        compare scores the blend in its own LPIPS batch)."""
        al = alpha_key(alpha)
        key = (res.uid, a, b, al)
        got = self._extras.get(key)
        if got is None:
            t0 = time.perf_counter()
            sr = core.sr_by(self.engine, self.blend_model(a, b, al), res.lr)
            scores = {}
            if res.hr is not None:
                scores = core.score_panels(self.engine, {BLEND: sr}, res.hr, SCALE, lpips=False)[BLEND]
            t = self.engine.titles
            title = f"Blend {t.get(a, a)} → {t.get(b, b)}, α = {al:.2f}"
            kind = f"blend_{a}_to_{b}_alpha{round(al * 100):03d}_x4"
            # the real-photo treatment is fitted per arm, never for a blend: said under the panel
            note = (
                "" if res.lr_source == "benchmark" else "input untreated (the real-photo treatment is fitted per model)"
            )
            got = Extra(BLEND, title, sr, scores, time.perf_counter() - t0, note, kind, {"a": a, "b": b, "alpha": al})
            self._extras[key] = got
        if lpips:
            t0 = time.perf_counter()
            self.add_lpips(res, (got,))
            got.seconds += time.perf_counter() - t0
        return got

    def add_lpips(self, res: Result, extras: tuple[Extra, ...] = ()) -> None:
        """LPIPS of the result's panels and of ``extras`` that lack it, in one batch.  With extras
        (the loss slider is on) the HR's features are kept for the last two results, so the next
        α needs one AlexNet pass."""
        uid = getattr(res, "uid", None)
        also = [(e.scores, e.image) for e in extras if res.hr is not None]
        feats = core.add_lpips(self.engine, res, also, self._hr_feats.get(uid) if uid else None)
        if uid and extras and feats is not None:
            self._hr_feats[uid] = feats

    # ---- where do two panels differ?

    def spots(self, res: Result, a: str, b: str, extras: tuple[Extra, ...] = ()) -> list[dict]:
        """The top non-overlapping windows where panels ``a`` and ``b`` differ most, largest first."""
        images = {**res.images, **{e.key: e.image for e in extras}}
        if res.hr is not None:
            images["hr"] = res.hr
        for k in (a, b):
            if k not in images or k == "lr":
                raise InputError(f"panel {k!r} is not in this comparison; choose two of {', '.join(images)}")
        key = (res.uid, a, b, tuple(e.title for e in extras if e.key in (a, b)))
        got = self._spots.get(key)
        if got is None:
            got = [w.as_dict() for w in top_windows(images[a], images[b], SPOT_SIDE, SPOT_COUNT)]
            self._spots[key] = got
        return got
