"""Issue 22 in a real browser (headless Debian chromium via Playwright; never a downloaded browser).

The app runs with ``SR_MODELS`` naming a folder that holds a copy of a shipped checkpoint, and:

* the copy gets a title of its own (from its file name), so no two panels share one;
* a compare of fewer models leaves no panel "waiting for this model…" once it is done;
* an upload of another size never draws the previous image's panels (nor offers their links);
* the region columns mark the region's own best at 400 % (★ in the region column);
* the upload's label does not cover the drop zone's icon and text;
* Plotly is loaded at idle time, before a plot tab opens (no freeze when it does);
* on a phone at *fit* a vertical swipe on a panel scrolls the page; zoomed in, it pans the panels;
* the loss slider adds a blend panel, kept in the URL (ba, bb, alpha) and restored from it;
* "Where do they differ?" jumps to 400 % on the first window and n steps to the next, with the
  region line following.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import test_viewer_browser as VB
from app_helpers import CHROMIUM, ROOT, checkpoint_dir, launch, stop
from app_helpers import viewer_cfg as cfg
from app_helpers import wait_viewer_idle as wait_idle
from PIL import Image

pytestmark = [
    pytest.mark.timeout(2400),
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason=f"{CHROMIUM} not installed (apt-get install -y chromium); no browser is downloaded",
    ),
]
COPY = "my_copy.safetensors"


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("cmpbrowser")
    ckpt = checkpoint_dir(tmp)
    own = tmp / "own"
    own.mkdir()
    shutil.copy(ckpt / "srcnn_mse.safetensors", own / COPY)
    proc, url = launch(ckpt, tmp / "app.log", timeout=900, extra_env={"SR_MODELS": str(own), "SR_RATING_TABS": "0"})
    try:
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=VB.ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def page(browser, app_url):
    pg = browser.new_page(viewport={"width": 1440, "height": 1000})
    pg.set_default_timeout(180_000)
    pg.goto(app_url, wait_until="load")
    wait_idle(pg)
    yield pg
    pg.close()


def table(pg) -> tuple[list[str], list[list[str]]]:
    """The metrics table as on screen: (headers, rows of cell texts)."""
    return pg.evaluate("""() => { const root = document.querySelector('#metrics-table');
        const heads = [...root.querySelectorAll('thead th')].map(h => h.innerText.trim());
        const rows = [...root.querySelectorAll('div[role=row]')].map(r =>
            [...r.querySelectorAll('[role=gridcell],[role=cell],td')].map(c => c.innerText.trim()));
        return [heads, rows.filter(r => r.length)]; }""")


def test_a_clashing_own_model_gets_a_unique_title(page):
    titles = [p["title"] for p in cfg(page)["panels"]]
    assert len(titles) == len(set(titles)), titles
    assert f"SRCNN-MSE ({COPY})" in titles and "SRCNN-MSE" in titles


def test_the_upload_label_leaves_the_drop_zone_text_free(page):
    st = page.evaluate("""() => { const u = document.querySelector('#compare-upload');
        const lab = u.querySelector('[data-testid=block-label]').getBoundingClientRect();
        const parts = [...u.querySelectorAll('[data-testid=upload-icon], [data-testid=upload-text] *')]
            .map(e => e.getBoundingClientRect()).filter(r => r.height > 0);
        const box = u.getBoundingClientRect();
        return {label: lab.bottom, top: Math.min(...parts.map(r => r.top)),
                bottom: Math.max(...parts.map(r => r.bottom)), box: box.bottom}; }""")
    assert st["label"] <= st["top"] and st["bottom"] <= st["box"], st


def test_unticked_models_are_not_left_waiting(page):
    models = page.locator("#models-run")
    models.locator("label", has_text="SRGAN-MSE").click()  # untick SRGAN-MSE
    models.locator("label", has_text=f"SRCNN-MSE ({COPY})").click()  # and the copy
    page.get_by_role("button", name="Compare", exact=True).click()
    page.wait_for_function(
        "() => !document.querySelector('.srv-host')._srv.cfg.panels.some(p => p.key === 'srgan_mse')"
    )
    wait_idle(page)
    keys = [p["key"] for p in cfg(page)["panels"]]
    assert "srgan_mse" not in keys and "my_copy" not in keys and {"srcnn_mse", "srgan_pl"} <= set(keys)
    assert page.evaluate("() => document.querySelectorAll('.srv-grid canvas').length") == len(keys)
    models.locator("label", has_text="SRGAN-MSE").click()
    models.locator("label", has_text=f"SRCNN-MSE ({COPY})").click()


def test_an_upload_of_another_size_shows_no_stale_panels(page, tmp_path):
    img = np.asarray(Image.open(ROOT / "docs" / "screenshot-100.png").convert("RGB"))[:320, :448]
    path = tmp_path / "other_size.png"
    Image.fromarray(np.ascontiguousarray(img)).save(path)
    page.evaluate("""() => { window.__seen = []; const v = document.querySelector('.srv-host')._srv;
        const set = v.set.bind(v);
        v.set = (c) => { window.__seen.push({source: c.source, progress: c.progress,
            stale: c.panels.filter(p => p.stale).length, links: c.panels.filter(p => p.stale && p.file).length}); set(c); }; }""")
    page.locator("#compare-upload input[type='file']").set_input_files(str(path))
    page.wait_for_function(
        "() => document.querySelector('.srv-host')._srv.cfg.source === 'other_size.png'"
        " && !document.querySelector('.srv-host')._srv.cfg.progress"
    )
    seen = page.evaluate("() => window.__seen")
    assert any(s["progress"] for s in seen), seen
    assert all(s["stale"] == 0 and s["links"] == 0 for s in seen), seen
    status = page.locator("#compare-status").inner_text()
    assert "other_size.png" in status
    # the example menu no longer names the example while the panels show the upload
    assert page.get_by_label("Example photo").input_value() in ("", None)
    page.get_by_label("Example photo").click()
    page.get_by_role("option", name="Astronaut").click()
    page.wait_for_function("() => document.querySelector('.srv-host')._srv.cfg.source === 'Astronaut'")
    wait_idle(page)


def test_region_best_is_marked_at_400(page):
    page.click("button[data-zoom='3']")
    page.wait_for_function("""() => [...document.querySelectorAll('#metrics-table [role=gridcell], #metrics-table td')]
        .some(td => td.innerText.includes('region:'))""")
    heads, rows = table(page)
    cols = [i for i, h in enumerate(heads) if h.startswith("Region")]
    assert cols and rows
    for i in cols:
        assert sum(r[i].endswith("★") for r in rows) == 1, (heads[i], [r[i] for r in rows])
    assert any("region:" in r[-1] for r in rows)
    page.click("button[data-zoom='0']")


def test_loss_slider_panel_and_url(page, browser):
    page.locator("#blend-on input[type='checkbox']").check()
    page.wait_for_function("() => document.querySelector('.srv-host')._srv.cfg.panels.some(p => p.key === 'blend')")
    wait_idle(page)
    page.wait_for_function("() => new URLSearchParams(location.search).get('alpha') === '0.50'")
    blend = next(p for p in cfg(page)["panels"] if p["key"] == "blend")
    assert "SRCNN-MSE → SRGAN-PL" in blend["title"] and "PSNR" in blend["caption"]
    heads, rows = table(page)
    assert any(r[0] == blend["title"] for r in rows)
    url = page.url.replace("alpha=0.50", "alpha=0.25")
    pg2 = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        pg2.goto(url, wait_until="load")
        pg2.wait_for_function("() => document.querySelector('.srv-host')?._srv?.cfg?.blend?.alpha === 0.25")
        wait_idle(pg2)
        assert any(p["key"] == "blend" and "α = 0.25" in p["title"] for p in cfg(pg2)["panels"])
    finally:
        pg2.close()
    page.locator("#blend-on input[type='checkbox']").uncheck()
    page.wait_for_function("() => !document.querySelector('.srv-host')._srv.cfg.panels.some(p => p.key === 'blend')")


def test_where_do_they_differ_steps_through_windows(page):
    page.get_by_role("button", name="Where do they differ?").click()
    page.wait_for_function(
        "() => { const v = document.querySelector('.srv-host')._srv; return v.cfg.spots && v.spot === 0; }"
    )
    st = page.evaluate("""() => { const v = document.querySelector('.srv-host')._srv;
        const [W, H] = v.viewSize(); return {k: v.k, c: v.pointAt(W / 2, H / 2), w: v.cfg.spots.windows}; }""")
    assert st["k"] == 4
    w0 = st["w"][0]
    assert abs(st["c"][0] - (w0["x"] + w0["w"] / 2)) <= 2 or w0["x"] < 64 or w0["x"] > 400
    page.wait_for_function("() => document.querySelector('#region-line').innerText.includes('Visible region: x')")
    line0 = page.locator("#region-line").inner_text()
    assert "place 1 of" in page.locator(".srv-spot-text").inner_text()
    page.locator(".srv-grid").focus()
    page.keyboard.press("n")
    assert page.evaluate("() => document.querySelector('.srv-host')._srv.spot") == 1
    assert "place 2 of" in page.locator(".srv-spot-text").inner_text()
    page.wait_for_function("(l) => document.querySelector('#region-line').innerText !== l", arg=line0)
    page.keyboard.press("p")
    assert page.evaluate("() => document.querySelector('.srv-host')._srv.spot") == 0
    page.keyboard.press("0")


def test_plotly_is_compiled_before_a_plot_tab_opens(browser, app_url):
    """Gradio imports its 4.6 MB Plotly chunk when the first plot is drawn: compiling it froze the
    page for 1.4 s as the Training tab opened.  The page loads it at idle time instead."""
    pg = browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        pg.goto(app_url, wait_until="load")
        wait_idle(pg)
        pg.wait_for_function(
            "() => performance.getEntriesByType('resource').some(e => /PlotlyPlot-[^/]*[.]js$/.test(e.name))",
            timeout=30_000,
        )
        assert pg.locator(".js-plotly-plot").count() == 0, "no plot drawn yet: the chunk came at idle time"
    finally:
        pg.close()


def test_phone_swipe_at_fit_scrolls_the_page(browser, app_url):
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=2, is_mobile=True, has_touch=True
    )
    pg = ctx.new_page()
    pg.set_default_timeout(180_000)
    try:
        pg.goto(app_url, wait_until="load")
        wait_idle(pg)
        canvas = pg.locator(".srv-grid canvas").first
        canvas.scroll_into_view_if_needed()
        cdp = ctx.new_cdp_session(pg)

        def swipe() -> None:
            # a finger's own touch events (Input.synthesizeScrollGesture's "touch" source scrolls
            # nothing in headless chromium, not even a plain long page): the browser decides by the
            # canvas's touch-action whether the page scrolls or the viewer gets the pointer moves
            box = canvas.bounding_box()
            x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] * 0.8
            cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": x, "y": y}]})
            for i in range(1, 11):
                cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y - 12 * i}]})
                pg.wait_for_timeout(16)
            cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})

        y0 = pg.evaluate("scrollY")
        swipe()
        pg.wait_for_timeout(300)
        assert pg.evaluate("scrollY") > y0 + 50, "at fit a swipe on a panel scrolls the page"
        canvas.scroll_into_view_if_needed()
        pg.click("button[data-zoom='3']")
        before = VB.state(pg)
        y1 = pg.evaluate("scrollY")
        swipe()
        pg.wait_for_timeout(300)
        after = VB.state(pg)
        assert after["oy"] != before["oy"], "zoomed in, a swipe pans the panels"
        assert abs(pg.evaluate("scrollY") - y1) < 5, "…and leaves the page where it is"
    finally:
        ctx.close()


def test_benchmark_table_keeps_set_and_model_in_sight_and_every_row(page):
    page.get_by_role("tab", name="Benchmark").click()
    page.wait_for_selector("#bench-table div[role=row]", timeout=180_000)
    page.wait_for_timeout(500)
    st = page.evaluate("""() => { const root = document.querySelector('#bench-table');
        const boxes = [...root.querySelectorAll('*')].filter(e => { const cs = getComputedStyle(e);
            return /(auto|scroll)/.test(cs.overflowY) && e.scrollHeight > e.clientHeight + 1; });
        const wide = [...root.querySelectorAll('*')].find(e => e.scrollWidth > e.clientWidth + 1
            && /(auto|scroll)/.test(getComputedStyle(e).overflowX));
        const cells = ['[role=gridcell][data-col="0"]', '[role=gridcell][data-col="1"]',
            '.header-cell[data-heading="0"]', '.header-cell[data-heading="1"]'].map(s => root.querySelector(s));
        const at = () => cells.map(c => { const r = c.getBoundingClientRect();
            // on top where it stands (not covered by the figures scrolled under it)
            const hit = document.elementFromPoint(r.left + r.width / 2, r.top + r.height / 2);
            return [Math.round(r.left), c.contains(hit)]; });
        const before = at();
        // every header word on one line: headers break between words, never inside one
        const broken = [];
        for (const h of root.querySelectorAll('.header-cell')) {
            const walk = document.createTreeWalker(h, NodeFilter.SHOW_TEXT);
            for (let t = walk.nextNode(); t; t = walk.nextNode()) {
                for (const m of t.data.matchAll(/\\S+/g)) {
                    const r = document.createRange(); r.setStart(t, m.index); r.setEnd(t, m.index + m[0].length);
                    const tops = new Set([...r.getClientRects()].filter(q => q.width > 0).map(q => Math.round(q.top)));
                    if (tops.size > 1) broken.push(m[0]);
                } } }
        if (wide) wide.scrollLeft = wide.scrollWidth;
        return {innerScroll: boxes.length, before, after: at(), scrolled: !!wide, broken}; }""")
    assert st["broken"] == [], "header words broken across lines"
    assert st["innerScroll"] == 0, "no inner vertical scroll hides the last rows"
    if st["scrolled"]:
        for (x0, _), (x1, seen) in zip(st["before"], st["after"]):
            assert abs(x1 - x0) <= 1 and seen, f"Set and Model stay put and in sight while the figures scroll: {st}"
    page.get_by_role("tab", name="Compare").click()
