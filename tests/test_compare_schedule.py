"""How a small compare shares its workers (``dashboard.core._side_by_side``): a finished panel's
scoring goes ahead of any model not yet started, every panel is scored once, and the first error
stops the other workers before their next job and reaches the caller."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from dashboard.core import _side_by_side


def _run(workers: int, order: list[str], fail: str | None = None, log: list[str] | None = None) -> list[str]:
    log = [] if log is None else log
    lock = threading.Lock()

    def sr_of(p: str) -> np.ndarray:
        time.sleep(0.01)
        if p == fail:
            raise RuntimeError(f"{p} broke")
        return np.zeros((1, 1, 3), np.uint8)

    def finished(p: str, sr: np.ndarray) -> None:
        assert sr.shape == (1, 1, 3)
        with lock:
            log.append(f"panel {p}")

    def score(p: str) -> None:
        with lock:
            log.append(f"score {p}")

    with ThreadPoolExecutor(workers) as pool:
        _side_by_side(pool, workers, order, sr_of, finished, score)
    return log


def test_one_worker_scores_each_panel_before_the_next_model():
    assert _run(1, ["a", "b", "c"]) == ["panel a", "score a", "panel b", "score b", "panel c", "score c"]


def test_two_workers_score_every_panel_once():
    log = _run(2, ["a", "b", "c", "d", "bicubic"])
    assert sorted(x for x in log if x.startswith("score")) == sorted(f"score {p}" for p in [*"abcd", "bicubic"])
    assert all(log.index(f"panel {p}") < log.index(f"score {p}") for p in ["a", "b", "c", "d", "bicubic"])


def test_the_first_error_stops_the_rest_and_is_raised():
    log: list[str] = []
    with pytest.raises(RuntimeError, match="b broke"):
        _run(1, ["a", "b", "c"], fail="b", log=log)
    assert log == ["panel a", "score a"]  # c never started


def test_a_pooled_compare_stops_between_models_when_the_visitor_leaves():
    """The side-by-side path (a small input, two workers) stops before its next model too."""
    from types import SimpleNamespace

    from helpers import counting_generators

    from dashboard import core

    models = counting_generators()
    img = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    asked: list[int] = []
    with ThreadPoolExecutor(2) as pool:
        engine = SimpleNamespace(models=models, lpips=None, pool=pool, workers=2, available=list(models))
        with core.stop_when(lambda: (asked.append(1), len(asked) > 2)[1]), pytest.raises(core.Cancelled):
            core.run_compare(engine, img, lpips=False)
        assert sum(m.calls for m in models.values()) == 2, "the two started models ran, then it stopped"
        res = core.run_compare(engine, img, lpips=False)
    assert set(res.scores) == {"bicubic", *models} and all(s["psnr_y"] > 0 for s in res.scores.values())
