"""The Compare tab keeps results in its one bounded cache; a session's state is only the key (issue 16).

Through the tab's own callbacks (no server): the state a compare leaves is a short string; the same
file uploaded twice (under another name) is computed once; a result the cache has let go is
computed again for an example and, for an upload, asks the visitor to press Compare again.
"""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest
from helpers import photo
from PIL import Image

from dashboard import core
from dashboard.compare_tab import PENDING, VIEW_IMAGES, CompareTab
from dashboard.core import UPLOAD_HR, Engine, Result
from dashboard.settings import Settings
from srcore import paths

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module", params=[1, 2], ids=["1 worker", "2 workers"])
def tab(request) -> CompareTab:
    engine = Engine(Settings(checkpoints=paths.CHECKPOINTS, threads=request.param, rating_tabs=False))
    t = CompareTab(engine)
    with gr.Blocks():
        t.build()
    return t


def _last(gen) -> dict:
    """What the page holds once a streamed callback ends: each update on top of the ones before."""
    outs = list(gen)
    assert outs and all(isinstance(o, dict) for o in outs)
    merged: dict = {}
    for o in outs:
        merged.update(o)
    return merged


def _cfg(out: dict, tab: CompareTab) -> dict:
    v = out[tab.c["viewer"]]
    return json.loads(v) if isinstance(v, str) else v


def _upload(tab: CompareTab, path, prev=None) -> dict:
    return _last(tab.on_compare(prev, None, str(path), UPLOAD_HR, tab.engine.available, VIEW_IMAGES, None, None))


def test_state_is_a_key_and_one_upload_is_computed_once(tab, tmp_path):
    a, b = tmp_path / "a.png", tmp_path / "copy of a.png"
    Image.fromarray(photo("astronaut", (64, 64))).save(a)
    b.write_bytes(a.read_bytes())
    first = _upload(tab, a)
    key = first[tab.c["state"]]
    assert isinstance(key, str) and len(key) < 300, "the session holds a key, not the images"
    res = tab.results.get(key)
    assert isinstance(res, Result) and res.source == "a.png"
    misses = len(tab.results)
    second = _upload(tab, b, prev=key)
    assert second[tab.c["state"]] == key and tab.results.get(key) is res, "same content: computed once"
    assert len(tab.results) == misses
    # the view callbacks take the key
    assert _cfg(tab.on_view(key, VIEW_IMAGES, None, None), tab)["panels"]
    assert tab.on_downloads(key)[tab.c["downloads"]]


def test_a_result_let_go_is_recomputed_for_an_example_and_asked_for_again_for_an_upload(tab, tmp_path):
    up = tmp_path / "gone.png"
    Image.fromarray(np.asarray(photo("coffee", (64, 64)))).save(up)
    up_key = _upload(tab, up)[tab.c["state"]]
    ex = _last(tab.on_compare(None, "Astronaut", None, UPLOAD_HR, tab.engine.available, VIEW_IMAGES, None, None))
    ex_key = ex[tab.c["state"]]
    tab.results.clear()
    view = tab.on_view(ex_key, VIEW_IMAGES, None, None)  # the example: computed again
    assert _cfg(view, tab)["source"] == "Astronaut" and tab.results.get(ex_key) is not None
    with pytest.raises(gr.Error, match="press Compare"):
        tab.on_view(up_key, VIEW_IMAGES, None, None)
    out = tab.on_region(up_key, gr.EventData(None, {"x": 0, "y": 0, "w": 8, "h": 8}))
    assert set(out) == {tab.c["table"], tab.c["region"]} and all(v == gr.skip() for v in out.values())
    with pytest.raises(gr.Error, match="run a comparison first"):
        tab.on_view(None, VIEW_IMAGES, None, None)


def test_panels_and_psnr_come_first_then_lpips_fills_in(tab, tmp_path):
    """The compare shows the panels with PSNR / SSIM as soon as the models finish; LPIPS (six
    AlexNet passes) follows in a second update, equal to the figure computed in one go."""
    path = tmp_path / "shifted.png"
    Image.fromarray(np.roll(photo("astronaut", (96, 96)), 3, axis=1)).save(path)
    outs = list(tab.on_compare(None, None, str(path), UPLOAD_HR, tab.engine.available, VIEW_IMAGES, None, None))
    first = next(o for o in outs if tab.c["state"] in o)  # the first complete result
    assert first is not outs[-1], "LPIPS should arrive in an update of its own"
    rows = first[tab.c["table"]].value["data"]
    lp_col = tab.table_headers().index(next(h for h in tab.table_headers() if h.startswith("LPIPS")))
    assert rows and all(r[lp_col] == PENDING for r in rows)
    assert all(r[1] not in ("", PENDING) for r in rows)  # PSNR is there
    assert first[tab.c["downloads"]] is None  # the zip's metrics.json waits for LPIPS
    assert "LPIPS follows" in first[tab.c["status"]]
    last = outs[-1]
    assert tab.c["state"] not in last and tab.c["view"] not in last  # the view a visitor chose stays
    rows = last[tab.c["table"]].value["data"]
    assert all(r[lp_col] not in (PENDING, "–") for r in rows)
    res = tab.results.get(first[tab.c["state"]])
    once = core.run_compare(tab.engine, res.hr)
    for p, s in res.scores.items():
        assert s == pytest.approx(once.scores[p], abs=1e-6)
    assert last[tab.c["downloads"]] and any(f.endswith(".zip") for f in last[tab.c["downloads"]])
    assert "LPIPS follows" not in last[tab.c["status"]]


def test_panel_files_are_written_once_per_compare(tab, tmp_path, monkeypatch):
    """The panels streamed while the models run and the finished result share one folder: each
    PNG is encoded once."""
    import dashboard.compare_files as ct

    path = tmp_path / "rolled.png"
    Image.fromarray(np.roll(photo("astronaut", (96, 96)), 5, axis=0)).save(path)
    written: list[str] = []
    real = ct.write_png
    monkeypatch.setattr(ct, "write_png", lambda arr, folder, name: written.append(name) or real(arr, folder, name))
    out = _upload(tab, path)
    res = tab.results.get(out[tab.c["state"]])
    assert len(written) == len(set(written)), f"encoded more than once: {sorted(written)}"
    urls = [p["url"] for p in _cfg(out, tab)["panels"] if p.get("url")]
    assert len(urls) == len(tab.panels) and all(res.uid in u for u in urls)


def test_whole_image_region_costs_nothing(tab):
    """Fit-to-window shows the whole image: the region columns stay empty (the whole-image
    columns hold its figures) instead of repeating six AlexNet passes."""
    res = tab.compute("Astronaut", None, UPLOAD_HR, tab.engine.available)
    H, W = res.size
    rs, rect = tab.region_scores(res, 0, 0, W, H)
    assert rs == {} and rect == (0, 0, W, H)
    rs, _ = tab.region_scores(res, 0, 0, W // 2, H // 2)
    assert set(rs) == set(tab.sr_panels) and all(v["lpips"] is not None for v in rs.values())


def test_a_compare_nobody_reads_stops_before_its_next_model(tab, tmp_path, monkeypatch):
    """Closing the Compare stream (the visitor left: ``serving.gated_stream`` closes it) stops the
    computation before its next model instead of running the rest for nobody."""
    import threading
    import time

    path = tmp_path / "left.png"
    Image.fromarray(np.roll(photo("astronaut", (64, 64)), 7, axis=1)).save(path)
    calls: list[str] = []
    real = core.upscale

    def slow(model, lr, *a, **k):
        calls.append("bicubic" if model is None else "model")
        time.sleep(0.3)
        return real(model, lr, *a, **k)

    monkeypatch.setattr(core, "upscale", slow)
    gen = tab.on_compare(None, None, str(path), UPLOAD_HR, tab.engine.available, VIEW_IMAGES, None, None)
    next(gen)  # the first finished panel is on screen
    gen.close()
    for t in [t for t in threading.enumerate() if t.name == "compare"]:
        t.join(10)
    started = len(calls)
    time.sleep(0.5)
    assert len(calls) == started  # nothing runs on afterwards
    # the models already running finish (and, with workers, those that started as they did)
    assert started <= 2 * tab.engine.workers < 1 + len(tab.engine.available)


def test_a_region_of_another_result_changes_nothing(tab):
    """While a new compare streams, the viewer reports regions of the new result but the session
    still names the old one: both outputs are skipped (an empty dict is an error toast)."""
    res = tab.compute("Astronaut", None, UPLOAD_HR, tab.engine.available)
    for data in ({"x": 0, "y": 0, "w": 64, "h": 64, "id": "not-this-result"}, {"x": 0}):
        out = tab.on_region(res.key, gr.EventData(None, data))
        assert set(out) == {tab.c["table"], tab.c["region"]} and all(v == gr.skip() for v in out.values())
    out = tab.on_region(res.key, gr.EventData(None, {"x": 0, "y": 0, "w": 64, "h": 64, "id": res.uid}))
    assert "Visible region" in out[tab.c["region"]] and len(out[tab.c["table"]]) == len(res.scores)


@pytest.mark.parametrize("side", [48, 208], ids=["small: models side by side", "large: one after another"])
def test_both_schedules_give_the_models_own_pixels(tab, side):
    """Small inputs run whole models side by side, large ones each model on every worker (its first
    panel shows early): either way every panel is the model's own output (strips differ from the
    whole image by float rounding only: at most 1 grey level on a few pixels), and a large input's
    panels arrive in the order the models are listed."""
    lr = np.ascontiguousarray(photo("astronaut", (side, side)))
    seen: list[str] = []
    res = core.run_compare(tab.engine, lr, as_lr=True, on_panel=lambda p, *_: seen.append(p))
    assert sorted(seen) == sorted(["bicubic", *tab.engine.available])
    if side * side >= core.STRIPS_FROM_LR_PX:
        assert seen == [*tab.engine.available, "bicubic"]
    for m in tab.engine.available:
        d = np.abs(res.images[m].astype(int) - core.upscale(tab.engine.models[m], lr))
        assert d.max() <= 1 and (d > 0).mean() < 1e-5, (m, d.max(), (d > 0).mean())
