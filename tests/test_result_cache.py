"""The shared result cache (issue 16): results by key, bounded by their pixel bytes, computed once."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from dashboard.cache import EXAMPLE_PREFIX, ResultCache, key_for, result_bytes
from dashboard.core import Result

pytestmark = pytest.mark.timeout(60)


def _result(side: int = 100, fill: int = 0) -> Result:
    img = np.full((side, side, 3), fill, np.uint8)
    lr = np.zeros((side // 4, side // 4, 3), np.uint8)
    return Result(lr=lr, hr=img, images={"lr": img.copy(), "bicubic": img.copy(), "hr": img})


def test_result_bytes_counts_each_array_once():
    r = _result(100)
    panels = 3 * 100 * 100 * 3
    assert result_bytes(r) == panels + 25 * 25 * 3  # hr shared by images["hr"] and .hr


def test_lru_eviction_by_bytes():
    one = result_bytes(_result())
    cache = ResultCache(budget_mb=2.5 * one / 1e6)
    for k in "abc":
        cache.put(k, _result())
    assert [k for k in "abc" if cache.get(k) is not None] == ["b", "c"] and cache.evictions == 1
    cache.get("b")  # b is now the most recently used: c goes next
    cache.put("d", _result())
    assert cache.get("c") is None and cache.get("b") is not None and cache.get("d") is not None
    assert cache.nbytes == 2 * one and len(cache) == 2
    huge = ResultCache(budget_mb=0.001)
    huge.put("x", _result(200))
    assert huge.get("x") is not None, "the newest result is kept even over the budget"


def test_get_or_compute_computes_each_key_once():
    cache = ResultCache()
    calls = []

    def compute():
        calls.append(1)
        time.sleep(0.1)
        return _result(fill=len(calls))

    out = []
    threads = [threading.Thread(target=lambda: out.append(cache.get_or_compute("k", compute))) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len({id(r) for r in out}) == 1 and out[0].key == "k"
    assert cache.hits == 3 and cache.misses == 1


def test_keys_follow_content_mode_and_models(tmp_path):
    a, b, c = tmp_path / "a.png", tmp_path / "b.png", tmp_path / "c.png"
    a.write_bytes(b"same bytes")
    b.write_bytes(b"same bytes")
    c.write_bytes(b"other bytes")
    k = key_for(None, str(a), "hr", ["srcnn_mse"])
    assert k == key_for(None, str(b), "hr", ["srcnn_mse"]), "same content, other name: one result"
    assert k != key_for(None, str(c), "hr", ["srcnn_mse"])
    assert k != key_for(None, str(a), "lr", ["srcnn_mse"])
    assert k != key_for(None, str(a), "hr", ["srcnn_mse", "srgan_pl"])
    assert key_for("Astronaut", None, "hr", ["srgan_pl"]) == f"{EXAMPLE_PREFIX}Astronaut|srgan_pl"
    assert len(k) < 100, "a session holds only this short string"
