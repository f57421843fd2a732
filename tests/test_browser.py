"""Real-browser test of the dashboard: headless Debian chromium driven by Playwright.

Loads the app and checks: the first view is a comparison whose panels name panel and image; the
synced viewer shows the output file's pixels at 100 % and 400 % and zooms by keyboard; choosing
another example fills the panels in model by model with a progress line; the view is kept in the
URL; axe-core (npm, injected from node_modules, never a CDN) finds no serious or critical
violation on any tab; the phone layout (390x844) fits; the Training / Benchmark plots render.
Screenshots go to tests/_artifacts/, the README's ones (screenshot-compare, -100, -400, -phone,
-dark) too, so a test run changes no tracked file; ``SR_UPDATE_DOCS=1 python -m pytest
tests/test_browser.py`` writes those into docs/ instead (the explicit command that updates them).
Never downloads a browser: skipped when /usr/bin/chromium is not installed.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import urljoin

import numpy as np
import pytest
import test_viewer_browser as VB  # the viewer's screen-pixel helpers
from app_helpers import CHROMIUM, MODELS, ROOT, checkpoint_dir, launch, stop
from app_helpers import viewer_cfg as cfg
from app_helpers import wait_viewer_idle as wait_idle

ARTIFACTS = ROOT / "tests" / "_artifacts"
# the README's screenshots: docs/ only on request (SR_UPDATE_DOCS=1), else beside the other artifacts
DOCS = ROOT / "docs" if os.environ.get("SR_UPDATE_DOCS") == "1" else ARTIFACTS / "docs"

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason=f"{CHROMIUM} not installed (apt-get install -y chromium); no browser is downloaded",
    ),
]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("browser")
    ckpt = checkpoint_dir(tmp)
    proc, url = launch(ckpt, tmp / "app.log")
    try:
        yield url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def page(app_url):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=VB.ARGS)
        pg = browser.new_page(viewport={"width": 1440, "height": 1000})
        pg.set_default_timeout(180_000)
        pg.goto(app_url, wait_until="load")
        yield pg
        browser.close()


def test_first_view_is_a_comparison(page):
    page.wait_for_selector(".srv-grid canvas[data-panel='hr']")
    wait_idle(page)
    c = cfg(page)
    assert [p["key"] for p in c["panels"]] == ["lr", "bicubic", *MODELS, "hr"]
    assert page.get_by_text("ground truth 512×512 px").count() >= 1
    assert page.locator(".srv-metrics", has_text="★").count() >= 1, "best values are marked"
    # every panel has a text alternative naming the panel and the image
    for p in c["panels"]:
        label = page.locator(f".srv-grid canvas[data-panel='{p['key']}']").get_attribute("aria-label")
        assert p["title"] in label and "Astronaut" in label


def test_real_app_shows_the_output_file_pixels(page):
    """The app's own viewer: at 100 % and 400 % a model's panel shows its output PNG's pixels."""
    from PIL import Image

    wait_idle(page)
    panel = next(p for p in cfg(page)["panels"] if p["key"] == MODELS[-1])
    # the PNG as the app serves it (sr-files/…: the page names no server path)
    assert panel["url"].startswith("sr-files/") and "file=" not in panel["url"], panel["url"]
    got = page.request.get(urljoin(page.url, panel["url"]))
    assert got.ok, got.status
    png = np.asarray(Image.open(io.BytesIO(got.body())).convert("RGB"))
    for btn, zoom in (("1", 1), ("3", 4)):
        page.click(f"button[data-zoom='{btn}']")
        st = VB.state(page)
        assert st["k"] == zoom
        key, cw, ch = next(s for s in st["sizes"] if s[0] == panel["key"])
        got = VB.shot(page, key, png, zoom)
        want, mask = VB.expected(png, zoom, st["ox"], st["oy"], cw, ch)
        bad = np.any(got != want, axis=2) & mask
        assert mask.sum() > 1000 and not bad.any(), f"{bad.sum()} screen pixels differ at {zoom * 100} %"
        page.screenshot(path=str(ARTIFACTS / f"viewer-{zoom * 100}.png"))
    docs = DOCS
    docs.mkdir(parents=True, exist_ok=True)
    page.locator(".srv-grid").focus()
    page.keyboard.press("0")  # keyboard: back to fit
    assert VB.state(page)["k"] == 0
    page.keyboard.press("+")
    assert VB.state(page)["k"] == 1
    page.locator(".srv-gridwrap").screenshot(path=str(docs / "screenshot-100.png"))
    page.keyboard.press("+")
    page.keyboard.press("+")
    assert VB.state(page)["k"] == 4
    page.locator(".srv-gridwrap").screenshot(path=str(docs / "screenshot-400.png"))
    page.keyboard.press("0")


def test_panels_fill_in_as_models_finish(page):
    """Choosing another example: a progress line names the model being run, the panels fill in one
    after another, then the whole new comparison shows."""
    wait_idle(page)
    page.evaluate("""() => { window.__seen = []; const v = document.querySelector('.srv-host')._srv;
        const set = v.set.bind(v);
        v.set = (c) => { window.__seen.push({progress: c.progress, stale: c.panels.filter(p => p.stale).length,
                                             ready: c.panels.filter(p => p.url && !p.stale).map(p => p.key)}); set(c); }; }""")
    page.get_by_label("Example photo").click()
    page.get_by_role("option", name="Coffee").click()
    page.wait_for_function(
        "() => document.querySelector('.srv-host')._srv.cfg.source === 'Coffee' "
        "&& !document.querySelector('.srv-host')._srv.cfg.progress"
    )
    seen = page.evaluate("() => window.__seen")
    steps = [s for s in seen if s["progress"]]
    assert steps, seen
    assert any("running" in s["progress"] for s in steps), steps
    # Coffee (600x400) is not the astronaut's size: its panels wait as placeholders, never as the old
    # image drawn small in a grey box (issue 22); same-size images keep the previous panels (tests/test_compare_teach.py)
    assert all(s["stale"] == 0 for s in steps), "another size: placeholders, not the previous image"
    assert len({len(s["ready"]) for s in steps}) > 1, "panels appear one after another"
    wait_idle(page)
    page.screenshot(path=str(ARTIFACTS / "compare-coffee.png"), full_page=True)
    page.get_by_label("Example photo").click()
    page.get_by_role("option", name="Astronaut").click()
    page.wait_for_function("() => document.querySelector('.srv-host')._srv.cfg.source === 'Astronaut'")
    wait_idle(page)
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(DOCS / "screenshot-compare.png"), full_page=False)


def _shown(pg, example: str, timeout: float = 60_000) -> None:
    pg.wait_for_function(
        f"() => {{ const v = document.querySelector('.srv-host')._srv; "
        f"return v.cfg.source === {example!r} && !v.cfg.progress; }}",
        timeout=timeout,
    )


def _lpips_cells(pg) -> list[str]:
    """The whole-image LPIPS column of the metrics table, as on screen."""
    return pg.evaluate("""() => { const root = document.querySelector('#metrics-table');
        const heads = [...root.querySelectorAll('thead th')].map(h => h.innerText.trim());
        const i = heads.findIndex(h => h.startsWith('LPIPS'));
        return [...root.querySelectorAll('div[role=row]')].map(r =>
            [...r.querySelectorAll('[role=gridcell],[role=cell],td')][i].innerText.trim()); }""")


def test_lpips_follows_and_a_choice_made_meanwhile_is_not_dropped(page):
    """The panels and PSNR / SSIM show as soon as the models finish and LPIPS fills in after; an
    example chosen in between is computed next (Gradio's default trigger used to drop it).  No
    error toast appears meanwhile (a region event of a still-streaming compare once raised one)."""
    wait_idle(page)
    page.evaluate("""() => { window.__toasts = [];
        new MutationObserver(() => document.querySelectorAll("[data-testid='toast-body']").forEach(t => {
            if (!window.__toasts.includes(t.innerText)) window.__toasts.push(t.innerText); }))
          .observe(document.body, {childList: true, subtree: true}); }""")
    page.get_by_label("Example photo").click()
    page.get_by_role("option", name="Rocket").click()
    _shown(page, "Rocket")
    page.get_by_label("Example photo").click()  # at once: Rocket's LPIPS is still being computed
    page.get_by_role("option", name="Chelsea (cat)").click()
    _shown(page, "Chelsea (cat)")
    page.wait_for_function(
        """() => { const txt = document.querySelector('#metrics-table').innerText;
            return txt.includes('Bicubic') && !txt.includes('…'); }"""
    )
    cells = _lpips_cells(page)
    assert len(cells) == 5 and all(0 < float(c.removesuffix(" ★")) < 1 for c in cells), cells
    page.get_by_label("Example photo").click()
    page.get_by_role("option", name="Astronaut").click()
    _shown(page, "Astronaut")
    wait_idle(page)
    page.wait_for_timeout(1000)  # the region event of the last config, and any toast it would bring
    toasts = page.evaluate("() => window.__toasts")
    assert not toasts, f"no error should reach the visitor while comparing: {toasts}"


def test_view_state_in_url(page):
    """The zoom, centre and layout go into the URL, and opening that URL restores them."""
    wait_idle(page)
    page.click("button[data-zoom='2']")
    page.select_option(".srv-toolbar select[aria-label='Layout']", "2")
    page.wait_for_function("() => new URLSearchParams(location.search).get('layout') === '2'")
    url = page.url
    st = VB.state(page)
    pg2 = page.context.browser.new_page(viewport={"width": 1440, "height": 1000})
    try:
        pg2.goto(url, wait_until="load")
        pg2.wait_for_selector(".srv-grid canvas")
        wait_idle(pg2)
        st2 = VB.state(pg2)
        assert st2["k"] == 2 and len(st2["sizes"]) == 2
        assert abs(st2["ox"] - st["ox"]) <= 2 and abs(st2["oy"] - st["oy"]) <= 2
    finally:
        pg2.close()
    page.select_option(".srv-toolbar select[aria-label='Layout']", "all")
    page.click("button[data-zoom='0']")


AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"


@pytest.mark.skipif(not AXE.is_file(), reason="axe-core not installed (npm install, from package.json)")
def test_no_serious_accessibility_violations_on_any_tab(page):
    """axe-core (from npm, injected from node_modules) on each tab: no serious or critical violation."""
    page.add_script_tag(path=str(AXE))
    found = {}
    toasts = page.locator("[data-testid='toast-body']").all_inner_texts()
    print("toasts already shown:", toasts)  # left by earlier tests (e.g. a lost connection); also checked
    for tab in ("Compare", "Training", "Benchmark", "Rate", "Results", "About"):
        t = page.get_by_role("tab", name=tab)
        if not t.count():
            continue
        t.click()
        # the tab's content settled (Gradio dims pending outputs, which would be measured dimmed)
        page.wait_for_function("() => !document.querySelector('.pending, .generating')", timeout=180_000)
        page.wait_for_timeout(1500)
        res = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => ({id: v.id, impact: v.impact, help: v.help,
                        nodes: v.nodes.slice(0, 4).map(n => n.target.join(' ') + ': ' + n.failureSummary)}))""")
        if res:
            found[tab] = res
            print(tab, res)
    page.get_by_role("tab", name="Compare").click()
    # a real error toast (a file that is not an image): Gradio's toast markup, as our a11y.js leaves it
    bad = ARTIFACTS / "not-an-image.png"
    bad.parent.mkdir(parents=True, exist_ok=True)
    bad.write_text("this is text, not a PNG")
    page.locator("input[type='file']").first.set_input_files(str(bad))
    toast = page.locator("[data-testid='toast-body']", has_text="Could not use that file")
    toast.first.wait_for(state="visible")
    page.wait_for_timeout(500)
    res = page.evaluate("""async () => (await axe.run('[data-testid="toast-body"]', {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact)).map(v => v.id)""")
    if res:
        found["error toast"] = res
    for b in page.locator("[data-testid='toast-close']").all():
        b.click()
    assert not found, found


def test_phone_layout_and_dark_mode(page, app_url):
    """390x844 phone: nothing wider than the screen, the grid two-up, file names whole; dark theme."""
    browser = page.context.browser
    ctx = browser.new_context(
        viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True, has_touch=True
    )
    pg = ctx.new_page()
    pg.set_default_timeout(180_000)
    pg.goto(app_url, wait_until="load")
    pg.wait_for_selector(".srv-grid canvas")
    wait_idle(pg)
    over = pg.evaluate("""() => [...document.querySelectorAll('body *')].filter(e => {
        const r = e.getBoundingClientRect(); return r.width > 0 && (r.right > innerWidth + 1 || r.left < -1)
            && getComputedStyle(e).position !== 'fixed' && !e.closest('.srv-hscroll');
    }).slice(0, 8).map(e => e.tagName + '.' + e.className)""")
    assert pg.evaluate("document.scrollingElement.scrollWidth") <= 391, over
    cols = pg.evaluate("getComputedStyle(document.querySelector('.srv-grid')).gridTemplateColumns.split(' ').length")
    assert cols == 2
    cut = pg.evaluate("""() => [...document.querySelectorAll('.srv-dl')].filter(a => a.scrollWidth > a.clientWidth + 1)
        .map(a => a.textContent)""")
    assert not cut, cut
    pg.locator(".srv-gridwrap").evaluate("e => e.scrollIntoView({block: 'start'})")
    pg.wait_for_timeout(300)
    pg.screenshot(path=str(DOCS / "screenshot-phone.png"))
    ctx.close()
    ctx = browser.new_context(viewport={"width": 1440, "height": 1000})
    pg = ctx.new_page()
    pg.set_default_timeout(180_000)
    pg.goto(app_url + "?__theme=dark", wait_until="load")
    pg.wait_for_selector(".srv-grid canvas")
    wait_idle(pg)
    assert pg.evaluate(
        "document.body.classList.contains('dark') || document.documentElement.classList.contains('dark')"
        " || !!document.querySelector('.dark')"
    )
    pg.screenshot(path=str(DOCS / "screenshot-dark.png"))
    if AXE.is_file():  # contrast and the rest, in the dark theme too
        pg.add_script_tag(path=str(AXE))
        pg.wait_for_timeout(500)
        bad = pg.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => ['serious', 'critical'].includes(v.impact))
            .map(v => v.id + ': ' + v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(' | '))""")
        assert not bad, bad
    ctx.close()


def test_training_tab_renders_plotly(page):
    page.get_by_role("tab", name="Training").click()
    page.wait_for_selector("#plot-loss .js-plotly-plot .main-svg", timeout=120_000)
    page.wait_for_selector("#plot-val .js-plotly-plot .main-svg")
    assert page.locator(".js-plotly-plot").count() >= 3
    page.wait_for_timeout(800)
    page.screenshot(path=str(ARTIFACTS / "training.png"), full_page=True)


def test_benchmark_and_about_tabs(page):
    page.get_by_role("tab", name="Benchmark").click()
    page.wait_for_selector("#plot-pd .js-plotly-plot .main-svg", timeout=120_000)
    assert page.get_by_text("FSRCNN (published)").count() >= 1
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "benchmark.png"), full_page=True)
    page.get_by_role("tab", name="About").click()
    page.wait_for_selector("text=What this project fixed")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "about.png"), full_page=True)
