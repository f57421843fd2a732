"""The Compare tab's teaching views and fixes (issue 22), through the tab's own callbacks (no server):
the loss slider's blend panel, "where do they differ?", no stale panel of another size, no panel
waiting for an unticked model, region bests marked."""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest
from helpers import photo
from PIL import Image

from dashboard import core
from dashboard.compare_tab import VIEW_DIFF, VIEW_IMAGES, CompareTab
from dashboard.core import UPLOAD_HR, Engine
from dashboard.settings import Settings
from srcore import paths

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def tab() -> CompareTab:
    t = CompareTab(Engine(Settings(checkpoints=paths.CHECKPOINTS, threads=2, rating_tabs=False)))
    with gr.Blocks():
        t.build()
    if not {"srcnn_mse", "srgan_pl"} <= set(t.engine.models):
        pytest.skip("the shipped srcnn_mse / srgan_pl checkpoints are missing")
    return t


def _cfg(out: dict, tab: CompareTab) -> dict:
    v = out[tab.c["viewer"]]
    return json.loads(v) if isinstance(v, str) else v


def _last(gen) -> dict:
    merged: dict = {}
    for o in gen:
        merged.update(o)
    return merged


def _astronaut_key(tab) -> str:
    return tab.compute("Astronaut", None, UPLOAD_HR, tab.engine.available).key


def test_blend_panel_has_its_metrics_and_is_blended_once_per_alpha(tab):
    key = _astronaut_key(tab)
    res = tab.results.get(key)
    before = tab.runner.blends.blends
    out = tab.on_view(key, VIEW_IMAGES, None, None, True, "srcnn_mse", "srgan_pl", 0.35)
    cfg = _cfg(out, tab)
    keys = [p["key"] for p in cfg["panels"]]
    assert keys[-2:] == ["blend", "hr"], "the blend sits before the ground truth"
    blend = next(p for p in cfg["panels"] if p["key"] == "blend")
    assert "α = 0.35" in blend["title"] and "PSNR" in blend["caption"] and blend["file"].endswith("_x4.png")
    assert cfg["blend"] == {"a": "srcnn_mse", "b": "srgan_pl", "alpha": 0.35}
    rows = out[tab.c["table"]]
    assert rows[-1][0] == blend["title"] and all(v not in ("–", "…") for v in rows[-1][1:5])
    tab.on_view(key, VIEW_IMAGES, None, None, True, "srcnn_mse", "srgan_pl", 0.3 + 0.05)
    assert tab.runner.blends.blends == before + 1, "one blend for α = 0.35"
    # α = 0 is the arm itself, run as /upscale runs it
    ex0 = tab.extras(res, True, "srcnn_mse", "srgan_pl", 0.0)[0]
    np.testing.assert_array_equal(ex0.image, core._sr(tab.engine, "srcnn_mse", res.lr))
    ex5 = tab.extras(res, True, "srcnn_mse", "srgan_pl", 0.5)[0]
    assert not np.array_equal(ex5.image, ex0.image)
    # off: no blend panel, and the URL loses it
    cfg = _cfg(tab.on_view(key, VIEW_IMAGES, None, None, False, "srcnn_mse", "srgan_pl", 0.35), tab)
    assert "blend" not in [p["key"] for p in cfg["panels"]] and cfg["blend"] is None


def test_blend_lpips_from_the_kept_hr_features_is_the_fresh_one(tab):
    """Moving α passes only the blend through AlexNet (the HR's features are kept): same figures."""
    res = tab.results.get(_astronaut_key(tab))
    first = tab.extras(res, True, "srcnn_mse", "srgan_pl", 0.65)[0]
    assert res.uid in tab.runner._hr_feats
    for ex in (first, tab.extras(res, True, "srcnn_mse", "srgan_pl", 0.7)[0]):
        fresh = core.score_panels(tab.engine, {"blend": ex.image}, res.hr, 4)["blend"]
        assert ex.scores.keys() == fresh.keys()
        for k, v in fresh.items():
            assert ex.scores[k] == pytest.approx(v, abs=1e-6), k


def test_a_compare_with_the_blend_scores_it_in_its_lpips_batch(tab, tmp_path):
    """The Compare button with the loss slider on: panels and PSNR / SSIM first (the blend's LPIPS
    "…" like the arms'), then every LPIPS, the blend's included."""
    path = tmp_path / "blendcmp.png"
    Image.fromarray(photo("coffee", (96, 112))).save(path)
    outs = list(
        tab.on_compare(
            None,
            None,
            str(path),
            UPLOAD_HR,
            ["srcnn_mse", "srgan_pl"],
            VIEW_IMAGES,
            None,
            None,
            True,
            "srcnn_mse",
            "srgan_pl",
            0.4,
        )
    )
    firsts = [o for o in outs if tab.c["table"] in o]
    assert len(firsts) == 2, "the figures, then LPIPS"
    blend_row = lambda o: next(r for r in o[tab.c["table"]].value["data"] if r[0].startswith("Blend"))  # noqa: E731
    assert "…" in blend_row(firsts[0]) and "…" not in blend_row(firsts[1])
    cfg = _cfg(firsts[1], tab)
    assert "LPIPS 0." in next(p for p in cfg["panels"] if p["key"] == "blend")["caption"]
    state = next(o[tab.c["state"]] for o in outs if tab.c["state"] in o)
    assert tab.results.get(state).uid in tab.runner._hr_feats, "kept for the next α"
    # without the slider no HR features are kept (up to 43 MB each)
    Image.fromarray(photo("coffee", (88, 104))).save(path := tmp_path / "plain.png")
    out = _last(tab.on_compare(None, None, str(path), UPLOAD_HR, ["srcnn_mse"], VIEW_IMAGES, None, None))
    assert tab.results.get(out[tab.c["state"]]).uid not in tab.runner._hr_feats


def test_blend_panel_says_when_it_ran_untreated(tab, tmp_path):
    """A real-photo LR upload: the arms get their fitted treatment, the blend (fitted for no blend)
    runs the input as it is, as /blend does, and its caption says so; a benchmark LR needs no word."""
    path = tmp_path / "lr.png"
    Image.fromarray(photo("chelsea", (48, 64))).save(path)
    for mode, said in ((core.UPLOAD_LR, True), (core.UPLOAD_LR_BENCHMARK, False)):
        key = tab.compute("Astronaut", str(path), mode, ["srcnn_mse", "srgan_pl"]).key
        res = tab.results.get(key)
        assert res.lr_source == ("unknown" if said else "benchmark")
        cfg = _cfg(tab.on_view(key, VIEW_IMAGES, None, None, True, "srcnn_mse", "srgan_pl", 0.5), tab)
        blend = next(p for p in cfg["panels"] if p["key"] == "blend")
        assert ("untreated" in blend["caption"]) is said, blend["caption"]
        ex0 = tab.extras(res, True, "srcnn_mse", "srgan_pl", 0.0)[0]
        np.testing.assert_array_equal(ex0.image, core._sr(tab.engine, "srcnn_mse", res.lr))


def test_where_do_they_differ_gives_windows_and_keeps_the_pair(tab):
    key = _astronaut_key(tab)
    out = tab.on_spots(key, VIEW_IMAGES, None, None, False, "srcnn_mse", "srgan_pl", 0.5, "srcnn_mse", "srgan_pl")
    assert out[tab.c["pair"]] == ("srcnn_mse", "srgan_pl")
    spots = _cfg(out, tab)["spots"]
    ws = spots["windows"]
    assert 1 <= len(ws) <= 8 and ws == sorted(ws, key=lambda w: -w["rms"])
    assert "SRCNN-MSE vs SRGAN-PL" in spots["label"] and "halos" in spots["caption"]
    # a later view change keeps them
    assert _cfg(tab.on_view(key, VIEW_DIFF, "srcnn_mse", "srgan_pl", pair=("srcnn_mse", "srgan_pl")), tab)["spots"]
    with pytest.raises(gr.Error, match="two different"):
        tab.on_spots(key, VIEW_IMAGES, None, None, False, None, None, 0.5, "hr", "hr")
    with pytest.raises(gr.Error, match="loss slider"):
        tab.on_spots(key, VIEW_IMAGES, None, None, False, None, None, 0.5, "blend", "hr")


def test_unticked_models_are_not_left_waiting(tab, tmp_path):
    path = tmp_path / "few.png"
    Image.fromarray(photo("chelsea", (64, 64))).save(path)
    out = _last(tab.on_compare(None, None, str(path), UPLOAD_HR, ["srgan_pl"], VIEW_IMAGES, None, None))
    panels = _cfg(out, tab)["panels"]
    assert [p["key"] for p in panels] == ["lr", "bicubic", "srgan_pl", "hr"]
    assert all(p["url"] for p in panels)


def test_stale_panels_only_of_the_same_size_and_without_links(tab, tmp_path):
    small, big, same = tmp_path / "small.png", tmp_path / "big.png", tmp_path / "same.png"
    Image.fromarray(photo("coffee", (64, 64))).save(small)
    Image.fromarray(photo("rocket", (128, 96))).save(big)
    Image.fromarray(photo("rocket", (64, 64))).save(same)
    prev = _last(tab.on_compare(None, None, str(small), UPLOAD_HR, tab.engine.available, VIEW_IMAGES, None, None))
    key = prev[tab.c["state"]]
    steps = [
        _cfg(o, tab)
        for o in tab.on_compare(key, None, str(big), UPLOAD_HR, tab.engine.available, VIEW_IMAGES, None, None)
        if tab.c["viewer"] in o
    ]
    streaming = [c for c in steps if c["progress"]]
    assert streaming and all(not p["stale"] for c in streaming for p in c["panels"]), "another size: placeholders"
    steps = [
        _cfg(o, tab)
        for o in tab.on_compare(key, None, str(same), UPLOAD_HR, tab.engine.available, VIEW_IMAGES, None, None)
        if tab.c["viewer"] in o
    ]
    stale = [p for c in steps if c["progress"] for p in c["panels"] if p["stale"]]
    assert stale and all(p["file"] is None and p["url"] for p in stale), "same size: old image, no link"


def test_first_update_says_the_compare_started(tab, tmp_path):
    path = tmp_path / "quick.png"
    Image.fromarray(photo("astronaut", (64, 64), offset=7)).save(path)
    first = next(tab.on_compare(None, None, str(path), UPLOAD_HR, tab.engine.available, VIEW_IMAGES, None, None))
    assert set(first) == {tab.c["status"]} and "started" in first[tab.c["status"]]


def test_region_best_is_marked(tab):
    res = tab.results.get(_astronaut_key(tab))
    rs, _ = tab.region_scores(res, 0, 0, 64, 64)
    rows = tab.present.metrics_table(res, rs)
    heads = tab.table_headers()
    col = heads.index(next(h for h in heads if h.startswith("Region PSNR")))
    best = max(rs, key=lambda p: rs[p]["psnr_y"] if p in res.scores else -1)
    row = next(r for r in rows if r[0] == tab.present.titles[best])
    assert row[col].endswith("★") and "region: " in row[-1] and "PSNR" in row[-1].split("region: ")[1]
    assert sum(r[col].endswith("★") for r in rows) == 1
