"""The synced pixel viewer of the Compare tab: a ``gr.HTML`` running ``dashboard/static/viewer.js``.

The component's value is a JSON config (``config()``) naming each panel's PNG (served by Gradio
from a static folder, never a CDN), its title, caption, text alternative and download name.  The
script draws every panel in one shared zoom/pan at integer device-pixel zoom steps without smoothing,
and reports the visible region back (a ``region`` event carrying x, y, w, h in output pixels).

Also here: the error views drawn as pictures (absolute, signed, A − B) and their colour bars.
No model maths: that is ``dashboard.core`` / ``srcore``.
"""

from __future__ import annotations

import json
from pathlib import Path

import gradio as gr
import numpy as np

STATIC = Path(__file__).resolve().parent / "static"
JS = (STATIC / "viewer.js").read_text(encoding="utf-8")
CSS = (STATIC / "viewer.css").read_text(encoding="utf-8")
A11Y_JS = (STATIC / "a11y.js").read_text(encoding="utf-8")  # launch(js=...): fixes to Gradio's own widgets
MOUNT = JS + "\nwindow.SRViewer.mount(element, props, trigger, watch);\n"

ERR_MAX = 48.0  # grey levels at which the error maps saturate


FILES_PREFIX = "sr-files/"  # the page-relative route of the served folders (dashboard.serving.PanelFiles)
SERVED: list[Path] = []  # folders served under FILES_PREFIX + their index (serve_folder)


def serve_folder(folder: str | Path) -> int:
    """Serve the files under ``folder`` at ``sr-files/<index>/<path inside it>`` (no server path in
    the page): its index."""
    f = Path(folder).resolve()
    if f not in SERVED:
        SERVED.append(f)
    return SERVED.index(f)


def file_url(path: str | Path) -> str:
    """The page-relative URL of ``path``: ``sr-files/<folder index>/<path inside it>`` for a file in a
    served folder (``serve_folder``), else Gradio's own ``gradio_api/file=`` route (which names the
    server path; a folder passed to set_static_paths)."""
    p = Path(path).resolve()
    for i, f in enumerate(SERVED):
        if p.is_relative_to(f):
            return f"{FILES_PREFIX}{i}/{p.relative_to(f).as_posix()}"
    return "gradio_api/file=" + str(p)


def component(value: dict | None = None, elem_id: str = "viewer") -> gr.HTML:
    """The viewer block (call inside a Blocks context); its ``region`` event gives the visible rectangle."""
    return gr.HTML(
        json.dumps(value) if value is not None else "",
        html_template='<div class="srv-host"></div>',
        js_on_load=MOUNT,
        elem_id=elem_id,
        apply_default_css=False,
        padding=False,
        container=False,
    )


def panel(
    key: str,
    title: str,
    path: str | Path | None,
    *,
    scale: int = 1,
    caption: str = "",
    alt: str = "",
    file: str | None = None,
    stale: bool = False,
    size: tuple[int, int] | None = None,
) -> dict:
    """One panel entry: ``scale`` output pixels per image pixel (4 for the LR input shown nearest x4)."""
    return {
        "key": key,
        "title": title,
        "url": file_url(path) if path else None,
        "scale": int(scale),
        "caption": caption,
        "alt": alt or title,
        "file": file,
        "stale": bool(stale),
        "w": size[1] if size else None,
        "h": size[0] if size else None,
    }


def config(
    *,
    id: str,
    source: str,
    width: int,
    height: int,
    panels: list[dict],
    progress: str = "",
    notes: list[str] | None = None,
    colorbar: dict | None = None,
    slider: tuple[str, str] | None = None,
    spots: dict | None = None,
    blend: dict | None = None,
) -> str:
    """The viewer's value: a JSON string (``width`` / ``height`` of the x4 output grid; ``spots``: the
    "where do they differ?" windows, {"a", "b", "label", "caption", "windows": [{x, y, w, h, rms}]}; ``blend``: the loss slider's {"a", "b", "alpha"}, kept in the URL)."""
    return json.dumps(
        {
            "id": id,
            "source": source,
            "width": int(width),
            "height": int(height),
            "panels": panels,
            "progress": progress,
            "notes": list(notes or []),
            "colorbar": colorbar,
            "slider_left": slider[0] if slider else None,
            "slider_right": slider[1] if slider else None,
            "spots": spots,
            "blend": blend,
        }
    )


# ------------------------------------------------------------------ error pictures and colour bars


def _lut(name: str) -> np.ndarray:
    from plotly.colors import sample_colorscale

    cols = sample_colorscale(name, [i / 255 for i in range(256)])
    return np.array(
        [[int(round(float(v))) for v in c[c.index("(") + 1 : -1].split(",")[:3]] for c in cols], dtype=np.uint8
    )


_LUTS: dict[str, np.ndarray] = {}


def lut(name: str) -> np.ndarray:
    if name not in _LUTS:
        _LUTS[name] = _lut(name)
    return _LUTS[name]


ABS_SCALE, SIGNED_SCALE = "Inferno", "RdBu_r"


def abs_error(a: np.ndarray, b: np.ndarray, vmax: float = ERR_MAX) -> np.ndarray:
    """|a − b| averaged over RGB (8-bit levels) as an inferno picture: black = equal, yellow ≥ vmax."""
    err = np.abs(a.astype(np.int16) - b.astype(np.int16)).mean(axis=2)
    return lut(ABS_SCALE)[np.clip(err * (255.0 / vmax), 0, 255).astype(np.uint8)]


def signed_error(a: np.ndarray, b: np.ndarray, vmax: float = ERR_MAX) -> np.ndarray:
    """a − b averaged over RGB: blue where a is darker, white where equal, red where a is brighter."""
    d = (a.astype(np.int16) - b.astype(np.int16)).mean(axis=2)
    return lut(SIGNED_SCALE)[np.clip(np.rint(127.5 + d * (127.5 / vmax)), 0, 255).astype(np.uint8)]


def colorbar(kind: str, label: str, vmax: float = ERR_MAX) -> dict:
    """The viewer's colour bar for an error view (``kind`` "abs" or "signed")."""
    name = ABS_SCALE if kind == "abs" else SIGNED_SCALE
    t = lut(name)
    stops = [f"rgb({r},{g},{b})" for r, g, b in t[:: 255 // 8][:9]]
    v = int(vmax)
    ticks = [0, v // 4, v // 2, 3 * v // 4, f"≥{v}"] if kind == "abs" else [f"≤−{v}", -v // 2, 0, v // 2, f"≥{v}"]
    return {"label": label, "min": 0 if kind == "abs" else -v, "max": v, "stops": stops, "ticks": ticks}
