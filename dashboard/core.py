"""The compare pipeline behind the Compare tab: no Gradio here, only arrays in and arrays out.

All model maths comes from ``srcore`` (loading, inference, degradation, metrics, LPIPS);
this module only orchestrates it and prepares pictures for display (crops, nearest-neighbour
enlargement, outlines, error heat maps).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch

from dashboard.settings import Settings
from srcore import SCALE
from srcore.compare import BatchLPIPS
from srcore.imageio import load_image
from srcore.inference import prepare, upscale
from srcore.metrics import METRIC_BY_KEY, PANEL_METRICS, Metric, Reference, mod_crop, shave
from srcore.models import Generator
from srcore.models.feature_nets import LPIPS
from srcore.prefilter import PrefilterError
from srcore.prefilter import describe as describe_treatment
from srcore.resize import downscale_x4
from srcore.zoo import ModelSpec, discover, load_specs

# the panels besides the models: their titles and one line of help each
FIXED_TITLES = {"lr": "LR input (nearest ×4)", "bicubic": "Bicubic", "hr": "HR ground truth"}
FIXED_HELP = {
    "lr": "the small input, each pixel shown as a 4×4 block",
    "bicubic": "MATLAB-style bicubic ×4 (no learning)",
    "hr": "the original the input was made from",
}
# the figures each panel's caption shows and the "best" marks are given for (from srcore.metrics.METRICS)
CAPTION_METRICS: tuple[Metric, ...] = tuple(METRIC_BY_KEY[k] for k in ("psnr_y", "ssim_y", "lpips"))

# the two input modes (radio labels, also the API's values) and the upload cap: plain values here,
# not in ui.py, so tests and scripts share them without importing Gradio
UPLOAD_HR = "Ground truth (the app makes the ×4 smaller input)"
UPLOAD_LR = "Low-res input, a real photo or unknown: just upscale it (no ground truth, no metrics)"
UPLOAD_LR_BENCHMARK = "Low-res input made by MATLAB-style shrink (benchmark): upscale it untreated"
# which LR source (srcore.prefilter.SOURCES) each low-res mode means; the ground-truth mode has none
LR_SOURCE = {UPLOAD_LR: "unknown", UPLOAD_LR_BENCHMARK: "benchmark"}
MAX_FILE_SIZE = "15mb"

# the example photos (menu label -> scikit-image loader); the first is the app's opening view
EXAMPLE_LOADERS = {"Astronaut": "astronaut", "Chelsea (cat)": "chelsea", "Coffee": "coffee", "Rocket": "rocket"}

MAX_HR_SIDE = 1024  # HR uploads larger than this are centre-cropped (keeps the Space responsive)
MAX_LR_SIDE = 1024  # LR uploads: upscaled whole (tiled) up to this; larger ones are centre-cropped, with a note
MIN_LR_SIDE = 12
REGION_SIZES = (32, 256)
# from this many LR pixels (a 200x200 input) a compare runs its models one after another, each on
# every worker, so the first panel shows early; below it, whole models side by side finish sooner
STRIPS_FROM_LR_PX = 200 * 200


class InputError(ValueError):
    """A problem with the user's input; the message is meant for the user."""


class Cancelled(RuntimeError):
    """The compare was stopped because nobody waits for it any more."""


_stop = threading.local()


@contextmanager
def stop_when(check: Callable[[], bool]) -> Iterator[None]:
    """Within the block, ``run_compare`` (in this thread) stops between models once ``check()`` is
    true: a visitor who closed the tab should not cost a full compare (``dashboard.serving``)."""
    prev = getattr(_stop, "check", None)
    _stop.check = check
    try:
        yield
    finally:
        _stop.check = prev


def should_stop() -> Callable[[], bool]:
    """The stop check installed by ``stop_when`` for this thread (never true outside one)."""
    return getattr(_stop, "check", None) or (lambda: False)


def _workers(threads: int) -> int:
    """Parallel workers for a compare: one per core, each running torch single-threaded.

    Independent panels (and their metrics) run side by side; this avoids OpenMP's busy-waiting
    synchronisation, which is slow on a small CPU shared with other work.  ``threads`` (SR_THREADS) overrides.
    """
    n = threads or (os.cpu_count() or 1)
    n = max(1, min(n, 8))
    torch.set_num_threads(1)
    return n


class Engine:
    """Everything loaded once at start-up: the models to show (the table's and the user's own,
    ``srcore.zoo.discover``), the generators that are intact, and the LPIPS net."""

    def __init__(self, settings: Settings | None = None):
        settings = settings or Settings.from_env()
        self.settings = settings
        self.workers = _workers(settings.threads)
        self.pool = ThreadPoolExecutor(self.workers, thread_name_prefix="sr-compare") if self.workers > 1 else None
        t0 = time.perf_counter()
        found = discover(settings.checkpoints, settings.model_dirs)
        self.specs: tuple[ModelSpec, ...] = found.specs
        self.refused: dict[str, str] = found.refused  # checkpoint file -> why it is not shown
        loaded, self.problems = load_specs(found.specs, settings.checkpoints)
        # prepared once, before the compare's threads share them
        self.models: dict[str, Generator] = {k: prepare(m) for k, m in loaded.items()}
        try:
            self.lpips: BatchLPIPS | None = BatchLPIPS(LPIPS())
            self.lpips_problem: str | None = None
        except (FileNotFoundError, RuntimeError, OSError) as e:
            self.lpips, self.lpips_problem = None, str(e)
        self.load_seconds = time.perf_counter() - t0

    @property
    def keys(self) -> tuple[str, ...]:
        """Every model to show, in order: the table's, then the ones found on disk."""
        return tuple(s.key for s in self.specs)

    @property
    def available(self) -> list[str]:
        return [k for k in self.keys if k in self.models]

    @property
    def titles(self) -> dict[str, str]:
        return {s.key: s.title for s in self.specs}

    @property
    def sr_panels(self) -> tuple[str, ...]:
        return ("bicubic", *self.keys)

    @property
    def panels(self) -> tuple[str, ...]:
        return ("lr", *self.sr_panels, "hr")

    @property
    def panel_titles(self) -> dict[str, str]:
        return {"lr": FIXED_TITLES["lr"], "bicubic": FIXED_TITLES["bicubic"], **self.titles, "hr": FIXED_TITLES["hr"]}

    @property
    def panel_help(self) -> dict[str, str]:
        return {
            "lr": FIXED_HELP["lr"],
            "bicubic": FIXED_HELP["bicubic"],
            **{s.key: s.description for s in self.specs},
            "hr": FIXED_HELP["hr"],
        }


@dataclass
class Result:
    """One comparison: the images of every panel and their scores against HR (if there is one)."""

    lr: np.ndarray
    hr: np.ndarray | None
    images: dict[str, np.ndarray]  # panel -> HxWx3 uint8 (all the HR size)
    scores: dict[str, dict[str, float]] = field(default_factory=dict)  # SR panel -> metrics
    notes: list[str] = field(default_factory=list)
    source: str = ""
    lr_source: str = "benchmark"  # "unknown": the models ran with the real-photo treatment (srcore.prefilter)
    seconds: float = 0.0  # the models and PSNR / SSIM (LPIPS too, unless it was left to add_lpips)
    lpips_seconds: float = 0.0  # add_lpips's time when it ran apart from the compare
    key: str = ""  # its key in dashboard.cache (what a session's state holds instead of the result)

    @property
    def size(self) -> tuple[int, int]:
        h, w = self.images["lr"].shape[:2]
        return h, w


def nearest(img: np.ndarray, k: int) -> np.ndarray:
    """Pixel-exact nearest-neighbour enlargement by an integer factor."""
    return np.repeat(np.repeat(img, k, axis=0), k, axis=1) if k > 1 else img


def _centre_crop(img: np.ndarray, side: int, multiple: int = 1) -> tuple[np.ndarray, bool]:
    h, w = img.shape[:2]
    nh, nw = min(h, side), min(w, side)
    nh, nw = nh - nh % multiple, nw - nw % multiple
    if (nh, nw) == (h, w):
        return img, False
    y, x = (h - nh) // 2, (w - nw) // 2
    return np.ascontiguousarray(img[y : y + nh, x : x + nw]), True


def prepare_input(img: np.ndarray, as_lr: bool) -> tuple[np.ndarray, np.ndarray | None, list[str]]:
    """(LR, HR or None, notes) from an RGB uint8 image used as ground truth or as LR input."""
    if not as_lr:
        hr, notes = ground_truth(img)
        return downscale_x4(hr), hr, notes
    notes: list[str] = []
    lr, cropped = _centre_crop(img, MAX_LR_SIDE)
    if cropped:
        notes.append(f"the input was centre-cropped to {lr.shape[1]}×{lr.shape[0]} (limit {MAX_LR_SIDE} px per side)")
    if min(lr.shape[:2]) < MIN_LR_SIDE:
        raise InputError(f"the image is {img.shape[1]}×{img.shape[0]}; it needs at least {MIN_LR_SIDE} px per side")
    return lr, None, notes


def ground_truth(img: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """(HR, notes): an RGB uint8 image as the ground truth of a compare, cropped to the size limit
    and to multiples of the scale."""
    notes: list[str] = []
    if min(img.shape[:2]) < MIN_LR_SIDE * SCALE:
        raise InputError(
            f"the image is {img.shape[1]}×{img.shape[0]}; as ground truth it needs at least {MIN_LR_SIDE * SCALE} px "
            "per side (or upload it as a low-resolution input)"
        )
    hr, cropped = _centre_crop(img, MAX_HR_SIDE, SCALE)
    if cropped:
        why = (
            f"limit {MAX_HR_SIDE} px per side"
            if max(img.shape[:2]) > MAX_HR_SIDE
            else f"sides must be multiples of {SCALE}"
        )
        notes.append(f"the image was centre-cropped to {hr.shape[1]}×{hr.shape[0]} ({why})")
    return np.ascontiguousarray(mod_crop(hr, SCALE)), notes


def _sr(engine: Engine, p: str, lr: np.ndarray, lr_source: str = "benchmark") -> np.ndarray:
    """x4 SR of one panel by one model on every core (``/upscale``, and compares of large inputs).
    A generator's input is cut into horizontal strips (with context rows enough for its receptive
    field, so the result is the whole-image one up to float rounding: at most 1 grey level on a
    few pixels in a million) run on the pool's workers side by side.
    (``run_compare`` gives each model a worker of its own for small inputs instead.)
    ``lr_source="unknown"``: the fitted treatment of ``srcore.prefilter`` (its blur reaches 2-4 px,
    well inside the strips' context rows)."""
    if p == "bicubic":
        return upscale(None, lr)
    return sr_by(engine, engine.models[p], lr, lr_source, p)


def sr_by(
    engine: Engine, model: Generator, lr: np.ndarray, lr_source: str = "benchmark", p: str | None = None
) -> np.ndarray:
    """x4 SR of ``lr`` by ``model`` (an inference copy, or a blend of two) as ``_sr`` runs a
    panel's model: so a blend at α = 0 or 1, which is the arm itself, gives ``/upscale``'s bytes.
    ``lr_source``/``p``: the unknown-source treatment fitted for model ``p`` (``srcore.prefilter``)."""
    h = lr.shape[0]
    n = min(engine.workers, max(1, h // 32)) if engine.pool is not None else 1
    if n == 1:
        return upscale(model, lr, source=lr_source, key=p)
    pad = getattr(model, "receptive_radius", 16) + 4
    cuts = [round(i * h / n) for i in range(n + 1)]

    def strip(i):
        y0, y1 = cuts[i], cuts[i + 1]
        ya, yb = max(0, y0 - pad), min(h, y1 + pad)
        sr = upscale(model, np.ascontiguousarray(lr[ya:yb]), source=lr_source, key=p)
        return sr[SCALE * (y0 - ya) : SCALE * (y1 - ya)]

    return np.concatenate(list(engine.pool.map(strip, range(n))), axis=0)


def _side_by_side(
    pool: ThreadPoolExecutor,
    workers: int,
    order: list[str],
    sr_of: Callable[[str], np.ndarray],
    finished: Callable[[str, np.ndarray], None],
    score: Callable[[str], None] | None,
) -> None:
    """Run the panels of ``order`` one per worker, and score each finished panel (``score``) ahead
    of any panel not yet started: the scores then fill the time the models leave, and when the
    last model is done only its own score remains (queued behind all the models, five scores
    would run after them).  The first error stops every worker before its next job and is raised."""
    todo, ready = list(order), []
    lock = threading.Lock()
    failed: list[BaseException] = []

    def work() -> None:
        while True:
            with lock:
                if failed or not (ready or todo):
                    return
                job, p = ("score", ready.pop(0)) if ready else ("panel", todo.pop(0))
            try:
                if job == "score":
                    assert score is not None
                    score(p)
                    continue
                finished(p, sr_of(p))
                if score is not None:
                    with lock:
                        ready.append(p)
            except BaseException as e:  # noqa: BLE001 - re-raised in the caller's thread below
                with lock:
                    failed.append(e)
                return

    for fut in [pool.submit(work) for _ in range(max(1, min(workers, len(order))))]:
        fut.result()
    if failed:
        raise failed[0]


def run_compare(
    engine: Engine,
    img: np.ndarray,
    as_lr: bool = False,
    models=None,
    source: str = "",
    on_panel=None,
    lpips: bool = True,
    lr_source: str = "benchmark",
) -> Result:
    """Upscale with bicubic and the chosen models; score every SR panel against HR.

    ``on_panel(name, sr, lr, hr)``, if given, is called as each panel's SR is ready (the models in
    order, then bicubic), before that panel's metrics are computed, so a caller can show panels as
    they come; it may be called from a worker thread (a queue's ``put`` is the usual callback).
    ``lpips=False`` leaves LPIPS out (``add_lpips`` fills it in later): six AlexNet passes cost more
    than the four models on a small CPU, so the Compare tab shows the panels and PSNR / SSIM first.
    ``lr_source`` (low-res mode only): "unknown" runs the models with the fitted treatment of
    ``srcore.prefilter``, and a note names it; "benchmark" feeds the image as it is.
    """
    t0 = time.perf_counter()
    stop = should_stop()
    ref = None
    if as_lr:
        lr, hr, notes = prepare_input(img, as_lr)
        try:
            models_run = [m for m in (engine.available if models is None else models) if m in engine.models]
            if models_run:  # bicubic alone is never treated
                notes.append(describe_treatment(lr_source, models_run))
        except PrefilterError as e:
            raise InputError(f"the low-res mode for real photos is unavailable: {e}") from None
    else:
        lr_source = "benchmark"  # the app makes the input itself, by the benchmark's shrink
        hr, notes = ground_truth(img)
        ref = Reference(hr, SCALE)
        if engine.pool is not None:  # the reference's SSIM statistics on an idle worker while the LR is made
            engine.pool.submit(ref.ssim_ref)
        lr = downscale_x4(hr)
    chosen = [m for m in (engine.available if models is None else models) if m in engine.models]
    names = ["bicubic", *chosen]
    keys = tuple(k for k in PANEL_METRICS if k != "lpips")

    side_by_side = engine.pool is not None and lr.shape[0] * lr.shape[1] < STRIPS_FROM_LR_PX

    def sr_of(p: str) -> np.ndarray:
        if stop():  # the visitor left: stop between models (dashboard.serving)
            raise Cancelled("the visitor left during the compare")
        if side_by_side:  # a small input: the whole model on one worker, single-threaded
            return upscale(None if p == "bicubic" else engine.models[p], lr, source=lr_source, key=p)
        return _sr(engine, p, lr, lr_source)  # a large input: this model on every worker

    def metrics(p: str) -> dict:
        assert ref is not None
        return ref.score(srs[p], keys=keys)

    def score_now(p: str) -> None:
        scored[p] = metrics(p)

    srs: dict[str, np.ndarray] = {}
    scored: dict = {}  # panel -> its metrics (a dict, a future of the pool, or None: later)

    def finished_panel(p: str, sr: np.ndarray) -> None:
        srs[p] = sr
        if on_panel is not None:
            on_panel(p, sr, lr, hr)

    def finished(p: str, sr: np.ndarray) -> None:
        finished_panel(p, sr)
        if ref is not None:
            scored[p] = engine.pool.submit(metrics, p) if engine.pool is not None else None

    order = [*chosen, "bicubic"]  # the models first: the first learned panel shows soonest
    if side_by_side:
        # whole models side by side, one per worker, finish sooner than one model after another
        # cut into strips; for a large input the first panel would then come only halfway through
        assert engine.pool is not None
        _side_by_side(engine.pool, engine.workers, order, sr_of, finished_panel, score_now if ref is not None else None)
    else:
        for p in order:
            finished(p, sr_of(p))

    def figures(p: str) -> dict:
        s = scored[p]
        return s if isinstance(s, dict) else s.result() if s is not None else metrics(p)

    scores = {p: figures(p) for p in names if p in scored}
    images = {"lr": nearest(lr, SCALE)}
    images.update({p: srs[p] for p in order})
    res = Result(lr=lr, hr=hr, images=images, notes=notes, source=source, lr_source=lr_source)
    if hr is not None:
        images["hr"] = hr
        res.scores = scores
        if lpips:
            add_lpips(engine, res)
            res.lpips_seconds = 0.0
    else:
        res.notes.append("no ground truth for an uploaded low-resolution image, so no PSNR / SSIM / LPIPS")
    res.seconds = time.perf_counter() - t0
    return res


def lpips_pending(engine: Engine, res: Result) -> bool:
    """Whether ``res`` still lacks LPIPS figures that ``add_lpips`` would compute."""
    return engine.lpips is not None and res.hr is not None and any("lpips" not in s for s in res.scores.values())


def add_lpips(
    engine: Engine, res: Result, also: Sequence[tuple[dict, np.ndarray]] = (), ref_feats: list | None = None
) -> list | None:
    """Fill in each SR panel's LPIPS against HR (border shaved, as the whole-image figures are):
    the HR's and every panel's AlexNet features, split over the pool's workers.  Idempotent, and
    safe when two sessions finish the same cached result at once.  ``also``: (scores, image) of
    panels computed on top of ``res`` (the blend), scored in the same batch; ``ref_feats``: the
    HR's features from an earlier call, which this one returns (None when no LPIPS ran)."""
    lp = engine.lpips
    if lp is None or res.hr is None:
        return None
    with _lpips_lock:
        names = [p for p in res.scores if "lpips" not in res.scores[p]]
        more = [(s, im) for s, im in also if "lpips" not in s]
        if not names and not more:
            return ref_feats
        t0 = time.perf_counter()
        kept: list = []
        ds = _lpips_to(
            engine,
            shave(res.hr, SCALE),
            [shave(im, SCALE) for im in [*(res.images[p] for p in names), *(im for _, im in more)]],
            ref_feats,
            kept.append,
        )
        for p, d in zip(names, ds):
            res.scores[p]["lpips"] = d
        for (sc, _), d in zip(more, ds[len(names) :]):
            sc["lpips"] = d
        if names:
            res.lpips_seconds = time.perf_counter() - t0
        return kept[0] if kept else ref_feats


_lpips_lock = threading.Lock()


def _lpips_to(engine: Engine, ref: np.ndarray, images: list[np.ndarray], ref_feats=None, keep=None) -> list[float]:
    """LPIPS of ``images`` against ``ref``, the AlexNet passes split over the pool's workers
    (``ref_feats`` / ``keep``: as ``srcore.compare.BatchLPIPS.to_reference``)."""
    assert engine.lpips is not None
    if engine.pool is None:
        return engine.lpips.to_reference(ref, images, ref_feats=ref_feats, keep=keep)
    return engine.lpips.to_reference(
        ref, images, parts=engine.workers, map_fn=engine.pool.map, ref_feats=ref_feats, keep=keep
    )


def score_panels(
    engine: Engine, images: dict[str, np.ndarray], hr: np.ndarray, border: int, lpips: bool = True
) -> dict[str, dict]:
    """PSNR-Y, SSIM-Y, PSNR-RGB (``srcore.metrics``) and LPIPS (batched; ``lpips=False``: left out,
    for ``add_lpips``) of each SR panel."""
    names = [p for p in images if p not in ("lr", "hr")]
    ref = Reference(hr, border)
    keys = PANEL_METRICS if lpips else tuple(k for k in PANEL_METRICS if k != "lpips")
    out = {p: ref.score(images[p], keys=keys) for p in names}
    if lpips and engine.lpips is not None and names:
        try:
            ds = _lpips_to(engine, shave(hr, border), [shave(images[p], border) for p in names])
        except RuntimeError:  # region too small for AlexNet's pooling
            ds = [None] * len(names)
        for p, d in zip(names, ds):
            out[p]["lpips"] = d
    return out


def best_of(scores: dict[str, dict], metrics: tuple[Metric, ...] = CAPTION_METRICS) -> dict[str, str]:
    """Metric -> panel holding the best value (each metric's own direction, ``Metric.better``)."""
    best: dict[str, str] = {}
    for m in metrics:
        for p, s in scores.items():
            v = s.get(m.key)
            if v is None or not np.isfinite(v):
                continue
            if m.key not in best or m.better(v, scores[best[m.key]][m.key]):
                best[m.key] = p
    return best


# ------------------------------------------------------------------ regions and display


def load_upload(path) -> tuple[np.ndarray, list[str]]:
    """Read an uploaded file with srcore (raises ImageLoadError with a user-facing message)."""
    li = load_image(path)
    return li.array, li.notes
