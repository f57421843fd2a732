"""Real-browser test of the dashboard: headless Debian chromium driven by Playwright.

Loads the app, checks the first view is a comparison, runs a comparison, clicks a panel and checks
that the zoomed crops change, switches to the Training tab and checks a plotly plot rendered.
Screenshots go to tests/_artifacts/; the compare view also to docs/screenshot-compare.png.
Never downloads a browser: skipped when /usr/bin/chromium is not installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from app_helpers import CHROMIUM, ROOT, checkpoint_dir, launch, stop
from app_helpers import CHROMIUM_ARGS as ARGS

ARTIFACTS = ROOT / "tests" / "_artifacts"

pytestmark = [
    pytest.mark.timeout(900),
    pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                       reason=f"{CHROMIUM} not installed (apt-get install -y chromium); no browser is downloaded"),
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
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        pg = browser.new_page(viewport={"width": 1440, "height": 1000})
        pg.set_default_timeout(120_000)
        pg.goto(app_url, wait_until="load")
        yield pg
        browser.close()


def zoom_src(pg, panel: str) -> str:
    return pg.locator(f"#zoom-{panel} img").first.get_attribute("src") or ""


def test_first_view_is_a_comparison(page):
    page.wait_for_selector("#panel-srgan_pl img")
    page.wait_for_selector("#zoom-hr img")
    assert page.get_by_text("ground truth 512×512 px").count() >= 1
    assert page.locator("text=★").count() >= 1, "best values are marked"


def pick_example(page, name: str) -> None:
    """Choose an example photo and wait until the HR panel shows the new comparison."""
    before_hr = page.locator("#panel-hr img").first.get_attribute("src")
    page.get_by_label("Example photo").click()
    page.get_by_role("option", name=name).click()
    page.wait_for_function(
        "(s) => { const i = document.querySelector('#panel-hr img'); return i && i.src && i.src !== s; }",
        arg=before_hr)


def test_compare_click_zoom_and_screenshot(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    # run a comparison: pick another example (this triggers the compare)
    page.locator("#panel-hr img").first.wait_for()
    pick_example(page, "Coffee")
    page.wait_for_selector("text=Coffee")
    page.wait_for_timeout(500)
    page.screenshot(path=str(ARTIFACTS / "compare-coffee.png"), full_page=True)

    # back to the astronaut for the README screenshot, then click a panel
    pick_example(page, "Astronaut")
    page.wait_for_timeout(800)
    before = {p: zoom_src(page, p) for p in ("hr", "srgan_pl", "bicubic")}
    img = page.locator("#panel-srgan_pl img").first
    box = img.bounding_box()
    assert box and box["width"] > 50
    img.click(position={"x": box["width"] * 0.3, "y": box["height"] * 0.75})
    page.wait_for_function(
        "(s) => { const i = document.querySelector('#zoom-hr img'); return i && i.src && i.src !== s; }",
        arg=before["hr"])
    page.wait_for_timeout(800)
    after = {p: zoom_src(page, p) for p in before}
    for p in before:
        assert after[p] and after[p] != before[p], f"zoomed crop of {p} did not change after the click"
    page.screenshot(path=str(ARTIFACTS / "compare-clicked.png"), full_page=True)

    # README screenshot: the top of the page down to the zoom row
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_timeout(300)
    bottom = page.evaluate("""() => Math.max(...[...document.querySelectorAll('.zoom-caption')].map(
        e => e.getBoundingClientRect().bottom + window.scrollY))""")
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    page.screenshot(path=str(docs / "screenshot-compare.png"), full_page=True,
                    clip={"x": 0, "y": 0, "width": 1440, "height": bottom + 24})
    shutil.copy(docs / "screenshot-compare.png", ARTIFACTS / "screenshot-compare.png")


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
