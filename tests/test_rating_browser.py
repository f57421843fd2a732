"""A rater completes a short session in a real browser (headless Debian chromium via Playwright):
scores images, reloads the page and continues where they stopped (the anonymous id lives in the
browser), compares a pair; the page never names a model.  Skipped when /usr/bin/chromium is absent.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]
SECRET_WORDS = re.compile(r"bicubic|srcnn|srgan|srgan_pl|srcnn_mse", re.I)

pytestmark = [
    pytest.mark.timeout(300),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} not installed; no browser is downloaded"),
]


def _rating_load():
    if "rating_load" in sys.modules:
        return sys.modules["rating_load"]
    spec = importlib.util.spec_from_file_location("rating_load", REPO / "benchmarks" / "rating_load.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["rating_load"] = mod
    spec.loader.exec_module(mod)
    return mod


def test_rater_completes_a_short_session_in_the_browser(tmp_path):
    pytest.importorskip("playwright")
    import skimage.data
    from PIL import Image
    from playwright.sync_api import expect, sync_playwright

    from srcore.rating.store import RatingStore

    rl = _rating_load()
    ck = rl.make_untrained_checkpoints(tmp_path / "checkpoints")
    images = tmp_path / "images"
    images.mkdir()
    for name in ("astronaut", "coffee"):
        a = getattr(skimage.data, name)()
        h, w = a.shape[:2]
        Image.fromarray(a[h // 2 - 64:h // 2 + 64, w // 2 - 64:w // 2 + 64]).save(images / f"{name}.png")
    db = tmp_path / "ratings.sqlite3"
    env = {"SR_RATING_IMAGES": str(images), "SR_RATING_PAIRS": "3"}
    with rl.launch_app(db, ck, zoom=2, extra_env=env) as url, sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 1000})
        page.set_default_timeout(30_000)
        expect.set_options(timeout=30_000)  # a loaded 2-core machine is slow to draw
        page.goto(url)
        page.get_by_role("button", name="Start / continue").click()
        expect(page.get_by_text("Progress: 0 / 12")).to_be_visible()  # 2 images x 6 versions
        for k, label in enumerate(["3 - fair", "5 - excellent", "1 - bad"], start=1):
            page.get_by_role("button", name=label).click()
            expect(page.get_by_text(f"Progress: {k} / 12")).to_be_visible()
        assert page.locator("img").count() >= 1
        html = page.content()
        shots = REPO / "tests" / "_artifacts"
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "rating-mos.png"))

        # stop and come back: a reload keeps the anonymous id (browser storage)
        page.reload()
        page.get_by_role("button", name="Start / continue").click()
        expect(page.get_by_text("Progress: 3 / 12")).to_be_visible()
        page.get_by_role("button", name="4 - good").click()
        expect(page.get_by_text("Progress: 4 / 12")).to_be_visible()

        # the pairwise protocol, to the end of its (3-pair) session
        page.get_by_text("Compare two images side by side").click()
        page.get_by_role("button", name="Start / continue").click()
        expect(page.get_by_text("Progress: 0 / 3")).to_be_visible()
        page.screenshot(path=str(shots / "rating-pair.png"))
        for k, name in enumerate(["Left", "Can't tell", "Right"], start=1):
            page.get_by_role("button", name=name, exact=True).click()
            expect(page.get_by_text(f"Progress: {k} / 3")).to_be_visible()
        expect(page.get_by_text("Session complete")).to_be_visible()
        html += page.content()
        page.screenshot(path=str(shots / "rating-done.png"))

        # the results view: refresh shows the counts and draws the plotly charts
        page.get_by_role("tab", name="Results").click()
        page.get_by_role("button", name="Refresh").click()
        expect(page.get_by_text("7 votes from 1 raters")).to_be_visible()
        expect(page.locator(".js-plotly-plot").first).to_be_visible()
        page.screenshot(path=str(shots / "rating-results.png"), full_page=True)
        browser.close()

    assert not SECRET_WORDS.search(html), SECRET_WORDS.search(html).group(0)
    s = RatingStore(db)
    votes = s.votes()
    s.close()
    assert len(votes) == 7 and len({v["rater_id"] for v in votes}) == 1
    assert sorted(v["score"] for v in votes if v["protocol"] == "mos") == [1, 3, 4, 5]
    assert sorted(v["choice"] for v in votes if v["protocol"] == "pair") == ["left", "right", "tie"]
