"""The Compare viewer's pictures and config (dashboard.viewer), without a browser."""

from __future__ import annotations

import json

import numpy as np

from dashboard import viewer


def test_abs_error_map_scale():
    a = np.zeros((2, 3, 3), np.uint8)
    b = a.copy()
    b[0, 1] = 48  # saturates
    b[1, 2] = 24  # half way
    m = viewer.abs_error(a, b)
    lut = viewer.lut(viewer.ABS_SCALE)
    assert (m[0, 0] == lut[0]).all() and (m[0, 1] == lut[255]).all() and (m[1, 2] == lut[127]).all()
    assert not (lut[0] == lut[255]).all()


def test_signed_error_is_signed():
    a = np.full((1, 3, 3), 100, np.uint8)
    b = np.array([[[100] * 3, [52] * 3, [148] * 3]], np.uint8)
    m = viewer.signed_error(a, b).astype(int)
    mid, hi, lo = m[0]
    # equal -> the middle colour (near white); a brighter than b -> red end; a darker -> blue end
    assert mid.min() > 200
    assert hi[0] > hi[2] and lo[2] > lo[0]
    assert (viewer.signed_error(b, a)[0, 1] == viewer.signed_error(a, b)[0, 2]).all()


def test_colorbar_and_config_round_trip():
    cb = viewer.colorbar("signed", "A − B")
    assert cb["min"] == -48 and cb["max"] == 48 and len(cb["stops"]) == 9 and cb["ticks"][2] == 0
    p = viewer.panel(
        "srgan_pl",
        "SRGAN-PL",
        "/tmp/x/Astronaut_srgan_pl_x4.png",
        file="Astronaut_srgan_pl_x4.png",
        alt="SRGAN-PL of Astronaut",
    )
    cfg = json.loads(
        viewer.config(
            id="u1", source="Astronaut", width=512, height=512, panels=[p], colorbar=cb, progress="running SRGAN-PL…"
        )
    )
    assert cfg["panels"][0]["url"] == "gradio_api/file=/tmp/x/Astronaut_srgan_pl_x4.png"
    assert cfg["panels"][0]["alt"] == "SRGAN-PL of Astronaut" and cfg["progress"].startswith("running")
    assert '"region"' in viewer.MOUNT  # the event the Compare tab listens to
