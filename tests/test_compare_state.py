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

from dashboard.compare_tab import VIEW_IMAGES, CompareTab
from dashboard.core import UPLOAD_HR, Engine, Result
from dashboard.settings import Settings
from srcore import paths

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def tab() -> CompareTab:
    engine = Engine(Settings(checkpoints=paths.CHECKPOINTS, threads=1, rating_tabs=False))
    t = CompareTab(engine)
    with gr.Blocks():
        t.build()
    return t


def _last(gen) -> dict:
    outs = list(gen)
    assert outs and isinstance(outs[-1], dict)
    return outs[-1]


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
    assert tab.on_region(up_key, gr.EventData(None, {"x": 0, "y": 0, "w": 8, "h": 8})) == {}
    with pytest.raises(gr.Error, match="run a comparison first"):
        tab.on_view(None, VIEW_IMAGES, None, None)
