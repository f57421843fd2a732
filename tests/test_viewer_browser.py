"""The synced viewer (dashboard/static/viewer.js) in a real browser: the screen shows the file's pixels.

A minimal Gradio page holds only the viewer, fed three panels made of per-pixel random colours (so
any resampling, smoothing or half-pixel offset changes the picture): a 320x240 "output", a second
output, and its 80x60 "LR input" drawn nearest x4.  Headless Debian chromium (Playwright, never a
downloaded browser) at device scale 1 and 2:

* at 100 % and 400 % the canvas screenshot equals the PNG nearest-upscaled by 1 or 4 (device px per
  output px; the LR input by 4 or 16) over the whole area the image covers;
* dragging one panel moves every panel by exactly the dragged number of device pixels;
* the keyboard zooms (+, −, 0) and pans (arrows).
"""

from __future__ import annotations

import io
import socket
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import pytest
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from app_helpers import CHROMIUM, CHROMIUM_ARGS  # noqa: E402

pytestmark = [
    pytest.mark.timeout(1800),
    pytest.mark.skipif(
        not Path(CHROMIUM).is_file(),
        reason=f"{CHROMIUM} not installed (apt-get install -y chromium); no browser is downloaded",
    ),
]
ARGS = [*CHROMIUM_ARGS, "--disable-sync", "--force-color-profile=srgb"]
W, H = 320, 240


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def pictures(tmp_path_factory):
    d = tmp_path_factory.mktemp("viewer")
    rng = np.random.default_rng(13)
    pics = {
        "a": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
        "b": rng.integers(0, 256, (H, W, 3), dtype=np.uint8),
        "lr": rng.integers(0, 256, (H // 4, W // 4, 3), dtype=np.uint8),
    }
    for k, v in pics.items():
        Image.fromarray(v).save(d / f"{k}.png")
    return d, pics


@pytest.fixture(scope="module")
def url(pictures):
    from dashboard import viewer

    d, _ = pictures
    gr.set_static_paths([d])
    cfg = viewer.config(
        id="t1",
        source="noise",
        width=W,
        height=H,
        panels=[
            viewer.panel("lr", "LR input (nearest ×4)", d / "lr.png", scale=4, file="noise_lr.png"),
            viewer.panel("a", "Panel A", d / "a.png", file="noise_a_x4.png"),
            viewer.panel("b", "Panel B", d / "b.png", file="noise_b_x4.png"),
        ],
    )
    with gr.Blocks() as demo:
        v = viewer.component(None)
        box = gr.Textbox(label="region", elem_id="region-out")

        def region(e: gr.EventData):
            return f"{e._data['x']},{e._data['y']},{e._data['w']},{e._data['h']}"

        v.region(region, None, box)
        demo.load(lambda: cfg, None, v)
    port = _free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, css=viewer.CSS)
    yield f"http://127.0.0.1:{port}/"
    demo.close()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def open_page(browser, url, dpr):
    ctx = browser.new_context(viewport={"width": 1100, "height": 900}, device_scale_factor=dpr)
    pg = ctx.new_page()
    pg.set_default_timeout(180_000)
    pg.goto(url, wait_until="load")
    pg.wait_for_selector(".srv-grid canvas[data-panel='b']")
    pg.wait_for_function("""() => { const v = document.querySelector('.srv-host')._srv;
        return v && [...v.images.values()].length >= 3 && [...v.images.values()].every(i => i._ok); }""")
    return ctx, pg


def state(pg) -> dict:
    return pg.evaluate("""() => { const v = document.querySelector('.srv-host')._srv;
        return {k: v.k, ox: v.ox, oy: v.oy, dpr: devicePixelRatio,
                sizes: v.canvases.map(([c, p]) => [p.key, c.width, c.height])}; }""")


def screen(pg) -> np.ndarray:
    """The viewport at device scale (one screenshot for every panel checked)."""
    return np.asarray(Image.open(io.BytesIO(pg.screenshot(animations="disabled"))).convert("RGB"))


def shot(pg, panel: str, img: np.ndarray | None = None, f: int = 1, full: np.ndarray | None = None) -> np.ndarray:
    """The screen pixels of a panel's canvas (its backing size), cut from a viewport screenshot.

    Chromium paints a box whose layout position is fractional at a whole-pixel position it rounds
    to (in CSS px for composited layers, so up to ``dpr`` device px from the rounded device
    position); with ``img`` (the file, ``f`` device px per image px) the cut is placed where the
    canvas matches it best within ±2 device px.  Any resampling still fails the exact comparison:
    it cannot be matched at any offset."""
    c = pg.locator(f".srv-grid canvas[data-panel='{panel}']")
    c.scroll_into_view_if_needed()
    box = c.bounding_box()
    dpr, w, h = pg.evaluate("(c) => [devicePixelRatio, c.width, c.height]", c.element_handle())
    full = screen(pg) if full is None else full
    x, y = (int(np.floor(v * dpr + 0.5)) for v in (box["x"], box["y"]))
    if img is None:
        return full[y : y + h, x : x + w]
    st = state(pg)
    want, mask = expected(img, f, st["ox"], st["oy"], w, h)
    best = None
    for dy in range(-2, 3):
        for dx in range(-2, 3):
            got = full[max(0, y + dy) : y + dy + h, max(0, x + dx) : x + dx + w]
            if got.shape[:2] != (h, w):
                continue
            bad = int((np.any(got != want, axis=2) & mask).sum())
            if best is None or bad < best[0]:
                best = (bad, got)
    return best[1]


def expected(img: np.ndarray, f: int, ox: int, oy: int, cw: int, ch: int):
    """What the canvas should show: ``img`` nearest-upscaled by ``f`` with its left/top at (-ox, -oy);
    and the mask of canvas pixels the image covers."""
    ys, xs = np.arange(ch) + oy, np.arange(cw) + ox
    iy, ix = np.floor_divide(ys, f), np.floor_divide(xs, f)
    my = (ys >= 0) & (iy < img.shape[0])
    mx = (xs >= 0) & (ix < img.shape[1])
    out = img[np.clip(iy, 0, img.shape[0] - 1)][:, np.clip(ix, 0, img.shape[1] - 1)]
    return out, my[:, None] & mx[None, :]


def check_pixels(pg, pics, zoom: int):
    st = state(pg)
    assert st["k"] == zoom
    full = screen(pg)  # the three panels sit in one row, all in the viewport
    for key, cw, ch in st["sizes"]:
        f = zoom * (4 if key == "lr" else 1)
        got = shot(pg, key, pics[key], f, full=full)
        assert got.shape[:2] == (ch, cw), f"{key}: screenshot {got.shape[:2]} vs canvas backing {(ch, cw)}"
        want, mask = expected(pics[key], f, st["ox"], st["oy"], cw, ch)
        assert mask.sum() > 1000, f"{key}: too little of the image on screen to check"
        bad = np.any(got != want, axis=2) & mask
        assert not bad.any(), (
            f"{key} at {zoom * 100} % (dpr {st['dpr']}): {bad.sum()} of {mask.sum()} "
            f"checked screen pixels differ from the file's pixels"
        )


@pytest.mark.parametrize("dpr", [1, 2])
def test_screen_shows_file_pixels_at_100_and_400(browser, url, pictures, dpr):
    _, pics = pictures
    ctx, pg = open_page(browser, url, dpr)
    try:
        pg.click("button[data-zoom='1']")
        check_pixels(pg, pics, 1)
        pg.click("button[data-zoom='3']")
        check_pixels(pg, pics, 4)
        # pan somewhere off-centre and check again (no half-pixel drift)
        pg.locator(".srv-grid").focus()
        pg.keyboard.press("ArrowRight")
        pg.keyboard.press("ArrowDown")
        check_pixels(pg, pics, 4)
    finally:
        ctx.close()


@pytest.mark.parametrize("dpr", [1, 2])
def test_panning_one_panel_moves_all_equally(browser, url, pictures, dpr):
    _, pics = pictures
    ctx, pg = open_page(browser, url, dpr)
    try:
        pg.click("button[data-zoom='3']")  # 400 %: every panel bigger than its canvas
        full = screen(pg)
        before = {k: shot(pg, k, pics[k], 4 * (4 if k == "lr" else 1), full=full) for k in ("lr", "a", "b")}
        s0 = state(pg)
        box = pg.locator(".srv-grid canvas[data-panel='a']").bounding_box()
        x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
        dx, dy = 37, 23  # CSS px: drag right / down, so the picture moves right / down
        pg.mouse.move(x, y)
        pg.mouse.down()
        pg.mouse.move(x + dx, y + dy, steps=5)
        pg.mouse.up()
        s1 = state(pg)
        assert (s0["ox"] - s1["ox"], s0["oy"] - s1["oy"]) == (dx * dpr, dy * dpr)
        sx, sy = dx * dpr, dy * dpr
        full = screen(pg)
        for k, b in before.items():
            a = shot(pg, k, pics[k], 4 * (4 if k == "lr" else 1), full=full)
            assert np.array_equal(a[sy:, sx:], b[: b.shape[0] - sy, : b.shape[1] - sx]), (
                f"panel {k} did not move by exactly ({sx}, {sy}) device px"
            )
            assert not np.array_equal(a, b)
    finally:
        ctx.close()


def test_keyboard_zoom_and_pan(browser, url, pictures):
    _, pics = pictures
    ctx, pg = open_page(browser, url, 1)
    try:
        grid = pg.locator(".srv-grid")
        grid.focus()
        assert state(pg)["k"] == 0  # opens at fit
        pg.keyboard.press("+")
        assert state(pg)["k"] == 1
        pg.keyboard.press("+")
        pg.keyboard.press("+")
        assert state(pg)["k"] == 4
        assert pg.locator("button[data-zoom='3']").get_attribute("aria-pressed") == "true"
        check_pixels(pg, pics, 4)
        s = state(pg)
        pg.keyboard.press("ArrowLeft")
        assert state(pg)["ox"] == s["ox"] - 64
        pg.keyboard.press("-")
        assert state(pg)["k"] == 2
        check_pixels(pg, pics, 2)
        pg.keyboard.press("0")
        assert state(pg)["k"] == 0
        # the visible region goes back to Python (region metrics) and the view into the URL
        pg.keyboard.press("=")
        pg.keyboard.press("=")
        pg.wait_for_function("() => new URLSearchParams(location.search).get('z') === '2'")
        r = state(pg)
        x0 = r["ox"] // 2
        pg.wait_for_function(
            f"() => (document.querySelector('#region-out textarea') || {{}}).value?.startsWith('{max(0, x0)},')"
        )
    finally:
        ctx.close()
