"""Raters complete a 30-item MOS session and a 30-item pairwise session in a real browser
(headless Debian chromium via Playwright, never a downloaded one) by keyboard only, at a desktop
(1440x900) and a phone (390x844) viewport: every item's image(s) and buttons are on screen
without scrolling; what the rater sees names no model, and the page no photo file.  The rater
comes the way a real one does: through a participant link the organiser made (``?invite=...``;
the study is by invitation by default), answers the practice trial (not counted), and meets a
progress bar with an accessible name.  A reload reopens the Rate tab where the rater was.
Skipped when /usr/bin/chromium or Playwright is absent.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
MODEL_WORDS = re.compile(r"bicubic|srcnn|srgan|degraded", re.I)
# the photos' file names: never anywhere in the page (the page's Gradio config does list the
# organiser's model choices, which say nothing about which image is which)
IMAGE_WORDS = re.compile(r"kodim|p\d\d\.png|degraded", re.I)
ITEMS = 30

pytestmark = [
    pytest.mark.timeout(900),
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


def _in_view(page) -> dict:
    """Whether the stimulus images and the visible answer buttons lie inside the viewport."""
    return page.evaluate("""() => {
        const vis = (el) => el.offsetParent !== null;
        const els = [...document.querySelectorAll('#sr-stage .sr-stim img'),
                     ...[...document.querySelectorAll('#sr-stage button')].filter(vis)];
        const h = window.innerHeight, w = window.innerWidth;
        const out = els.map(el => { const r = el.getBoundingClientRect();
            return r.top >= 0 && r.left >= 0 && r.bottom <= h + 1 && r.right <= w + 1 && r.height > 20; });
        return {n: els.length, ok: out.every(x => x), scrollY: window.scrollY};
    }""")


def invite_link(url: str) -> str:
    """A single-use participant link, made as the organiser makes one (the organiser API)."""
    from gradio_client import Client

    c = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    text = str(c.predict(_rating_load().ADMIN_TOKEN, 1, 1, 0, api_name="/rating_admin_links"))
    c.close()
    m = re.search(r"https?://\S+\?invite=\S+", text)
    assert m, text
    return m.group(0)


def answer(page, protocol: str, keys, k: int, shots: Path | None = None, tag: str = "") -> dict:
    """Wait for the item's images, check they and the buttons are on screen, then answer by key."""
    page.wait_for_function(
        "() => [...document.querySelectorAll('#sr-stage .sr-stim img')].every(i => i.complete && i.naturalWidth > 0)"
    )
    v = _in_view(page)
    assert v["n"] >= (6 if protocol == "mos" else 5) and v["ok"], (protocol, k, v)
    if shots is not None:
        page.screenshot(path=str(shots / f"rating-{protocol}-{tag}.png"))
    page.keyboard.press(keys[k % len(keys)])
    return v


@pytest.mark.parametrize("viewport", [(1440, 900), (390, 844)], ids=["desktop", "phone"])
def test_keyboard_only_sessions_fit_the_viewport(tmp_path, viewport):
    pytest.importorskip("playwright")
    from playwright.sync_api import expect, sync_playwright

    from srcore.rating.store import RatingStore

    rl = _rating_load()
    ck = rl.make_untrained_checkpoints(tmp_path / "checkpoints")
    db = tmp_path / "ratings.sqlite3"
    env = {"SR_RATING_ITEMS": str(ITEMS)}  # the bundled Kodak crops, 128 px shown 3x
    shots = REPO / "tests" / "_artifacts"
    shots.mkdir(parents=True, exist_ok=True)
    tag = "x".join(map(str, viewport))
    with rl.launch_app(db, ck, crop=128, zoom=3, extra_env=env) as url, sync_playwright() as pw:
        link = invite_link(url)
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": viewport[0], "height": viewport[1]})
        page.set_default_timeout(60_000)
        expect.set_options(timeout=60_000)  # a loaded 2-core machine is slow to draw
        page.goto(link)
        expect(page.get_by_text("This is a 1 (bad)")).to_be_visible()  # the labelled anchors
        expect(page.get_by_label("Invitation or class code")).to_have_value(link.split("?invite=")[1])
        page.get_by_label("Participant code (optional)").fill("class 7b")
        page.get_by_role("button", name="Start / continue").click()
        html = seen = ""  # the page's HTML, and the text a rater sees
        for protocol, keys in (("mos", "12345"), ("pair", ["ArrowLeft", "ArrowRight", "ArrowDown"])):
            if protocol == "pair":
                page.get_by_text("Compare two images side by side").click()
                page.get_by_role("button", name="Start / continue").click()
            # the practice trial comes first: answered, not counted
            expect(page.get_by_text(re.compile(r"Progress: 0 / \d+ - practice trial"))).to_be_visible()
            bar = page.get_by_role("progressbar", name="Rating progress")
            expect(bar).to_be_visible()
            total = int(bar.get_attribute("aria-valuemax"))
            assert total >= ITEMS + ITEMS // 10, total  # the items, attention checks, gold and repeats
            answer(page, protocol, keys, 0)
            y0 = None
            for k in range(total):
                expect(page.get_by_text(f"Progress: {k} / {total}", exact=True)).to_be_visible()
                if k == 3:
                    html += page.content()
                    seen += page.inner_text("body")
                    if protocol == "mos":  # stop and come back: the Rate tab reopens where the rater was
                        page.reload()
                        expect(page.get_by_text(f"Progress: {k} / {total}", exact=True)).to_be_visible()
                        expect(page.get_by_text("Welcome back")).to_be_visible()
                v = answer(page, protocol, keys, k, shots if k == 3 else None, tag)
                y0 = v["scrollY"] if y0 is None else y0
                assert v["scrollY"] == y0, "the page scrolled between items"
            expect(page.get_by_text("Your completion code")).to_be_visible()
            html += page.content()
            seen += page.inner_text("body")
        page.screenshot(path=str(shots / f"rating-done-{tag}.png"))
        browser.close()

    assert not MODEL_WORDS.search(seen), MODEL_WORDS.search(seen)
    assert not IMAGE_WORDS.search(re.sub(r'src="data:[^"]+"', "", html))
    s = RatingStore(db)
    votes = s.votes()
    raters = s.raters()
    s.close()
    practice = [v for v in votes if v["kind"] == "practice"]
    votes = [v for v in votes if v["kind"] != "practice"]
    assert len(practice) == 2 and {v["protocol"] for v in practice} == {"mos", "pair"}
    assert len(votes) == 2 * total and len(raters) == 1 and raters[0]["participant"] == "class 7b"
    mos = [v["score"] for v in votes if v["protocol"] == "mos"]
    assert sorted(set(mos)) == [1, 2, 3, 4, 5] and len(mos) == total
    assert {v["choice"] for v in votes if v["protocol"] == "pair"} == {"left", "right", "tie"}
