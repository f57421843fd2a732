"""The raters' path in the pages themselves (issue 23, items 1 and 8): the full app puts the study
on a page of its own, ``/study``, with nothing of the Compare tab on it, and the links the
organiser makes open that page; the progress bar has an accessible name; the MOS chart's
intervals stay on the 1-5 scale with n shown under each bar.  (The practice trial and the resume
after a reload run in a real browser in ``test_rating_browser.py``.)"""

from __future__ import annotations

import re

import pandas as pd
import pytest

pytestmark = pytest.mark.timeout(600)


def test_study_page_holds_the_study_and_nothing_else(tmp_path):
    import gradio as gr

    from benchmarks.rating_load import make_untrained_checkpoints
    from dashboard.core import Engine
    from dashboard.rating_tab import STUDY_PATH
    from dashboard.settings import Settings
    from dashboard.ui import build_app

    ck = make_untrained_checkpoints(tmp_path / "ck")
    if not (ck / "lpips_alex_lin.safetensors").is_file():
        pytest.skip("perceptual-network weights missing from checkpoints/")
    settings = Settings(
        checkpoints=ck, threads=1, ratings_db=tmp_path / "r.sqlite3", admin_token="tok", rating_crop=32, rating_items=4
    )
    app = build_app(Engine(settings), settings=settings)
    demo = app.demo
    page = STUDY_PATH.strip("/")
    assert (page, "Study", False) in demo.pages  # its own page, not in the navigation bar
    on_study = [b for b in demo.blocks.values() if getattr(b, "page", "") == page]
    home = [b for b in demo.blocks.values() if getattr(b, "page", "") == ""]
    labels = {str(getattr(b, "label", "") or getattr(b, "value", "")) for b in on_study}
    assert "Start / continue" in labels and "Invitation or class code" in labels
    assert any(isinstance(b, gr.Tab) and b.label == "Compare" for b in home)  # the Compare tab is on the home page
    # ... and nothing of it, nor any tab, image upload or model name, is on the study page
    assert not [b for b in on_study if isinstance(b, (gr.Tab, gr.Tabs, gr.Image, gr.File, gr.Dataframe, gr.Plot))]
    names = re.compile("|".join(["bicubic", "srcnn", "srgan", *app.engine.titles.values()]), re.I)
    assert not [t for t in labels if names.search(t)], labels
    # the participant links the organiser makes (the /rating_admin_links event) open that page
    from types import SimpleNamespace

    fn = next(f for f in demo.fns.values() if f.api_name == "rating_admin_links")
    req = SimpleNamespace(headers={"host": "space.example"}, client=SimpleNamespace(host="192.0.2.7"))
    links = fn.fn("tok", 2, 1, 0, req).splitlines()
    assert len(links) == 2 and all(re.fullmatch(r"http://space\.example/study\?invite=\S+", u) for u in links), links
    assert app.rating is not None and app.rating.invite_id(links[0].split("=", 1)[1]) is not None
    app.rating.store.close()


def test_progress_bar_has_an_accessible_name_and_says_the_practice_trial():
    from dashboard.rating_rate import progress_html
    from srcore.rating.service import Served

    html = progress_html(Served("k", "mos", "n1", done=0, total=36, practice=True))
    assert 'role="progressbar"' in html and 'aria-label="Rating progress"' in html
    assert 'aria-valuemax="36"' in html and "practice trial" in html
    html = progress_html(Served("k", "mos", "n2", done=7, total=36))
    assert 'aria-valuenow="7"' in html and "Progress: 7 / 36" in html and "practice" not in html


def test_mos_intervals_clipped_to_the_scale_with_n_shown():
    from dashboard.rating_results import mos_figure
    from srcore.rating import stats

    # two votes: a t-interval with 1 degree of freedom reaches far past 1 and 5
    votes = {"a": [1.0, 5.0], "b": [5.0, 5.0, 4.0]}
    rows = []
    for k, x in votes.items():
        m, _sd, lo, hi, n = stats.mean_ci(x)
        rows.append({"model": k, "n": n, "mos": m, "ci_low": lo, "ci_high": hi})
    mos = pd.DataFrame(rows)
    assert mos["ci_low"].min() < 1 and mos["ci_high"].max() > 5  # what the chart must not draw
    bar = mos_figure(mos).data[0]
    y = pd.Series(bar.y, dtype=float)
    hi = y + pd.Series(bar.error_y.array, dtype=float)
    lo = y - pd.Series(bar.error_y.arrayminus, dtype=float)
    assert hi.max() <= 5 + 1e-9 and lo.min() >= 1 - 1e-9
    assert [x.split("n=")[1] for x in bar.x] == ["2", "3"]
