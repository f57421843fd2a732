"""Progress pictures: the same validation crop through training, for the pre-training and each arm.

Files are ``<checkpoints>/progress/<key>/<crop>_step<NNNNNN>.png`` (named in the history's
``picture`` records).  The crop's LR input and HR original, when the run saved them as
``<crop>_lr.png`` / ``<crop>_hr.png``, are shown beside the outputs.  Every picture is enlarged
with nearest-neighbour pixels to about ``DISPLAY_PX``, so the browser shows the real pixels
instead of smoothing them.  No Gradio here.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from dashboard.training import PRETRAIN, Run, progress_dir

DISPLAY_PX = 256


def picture_steps(runs: dict[str, Run], folder: Path) -> dict[str, list[tuple[int, list[str]]]]:
    """key -> [(global step, [file names])] of the progress pictures that exist on disk."""
    out = {}
    for key, run in runs.items():
        d = progress_dir(folder, key)
        rows = []
        for r in run.records:
            if r.get("kind") == "picture":
                files = [f for f in r.get("files", []) if (d / f).is_file()]
                if files:
                    rows.append((int(run.x(r, "steps")), files))
        if rows:
            out[key] = sorted(rows)
    return out


def crop_names(pics: dict) -> list[str]:
    names: list[str] = []
    for rows in pics.values():
        for _, files in rows:
            for f in files:
                stem = f.rsplit("_step", 1)[0]
                if stem not in names:
                    names.append(stem)
    return names


def all_steps(pics: dict) -> list[int]:
    return sorted({s for rows in pics.values() for s, _ in rows})


def pictures_at(pics: dict, keys, folder: Path, step: int, crop: str) -> dict[str, tuple[str | None, int | None]]:
    """key -> (picture path, its global step): the latest picture of ``crop`` at or before ``step``."""
    out: dict[str, tuple[str | None, int | None]] = {}
    for k in keys:
        best: tuple[str | None, int | None] = (None, None)
        for s, files in pics.get(k, []):
            if s > step:
                break
            f = next((f for f in files if f.rsplit("_step", 1)[0] == crop), None)
            if f:
                best = (str(progress_dir(folder, k) / f), s)
        out[k] = best
    return out


def reference(folder: Path, keys, crop: str, kind: str) -> str | None:
    """The crop's ``lr`` or ``hr`` picture, from the pre-training's folder or any arm's."""
    for k in (PRETRAIN, *keys):
        p = progress_dir(folder, k) / f"{crop}_{kind}.png"
        if p.is_file():
            return str(p)
    return None


def enlarged(path: str | None, factor: int) -> np.ndarray | None:
    """The picture enlarged ``factor`` times with nearest-neighbour pixels (None when there is no
    picture or it cannot be read)."""
    if path is None:
        return None
    try:
        with Image.open(path) as im:
            a = np.asarray(im.convert("RGB"))
    except OSError:
        return None
    return np.repeat(np.repeat(a, factor, axis=0), factor, axis=1) if factor > 1 else a


def display_factor(path: str | None) -> int:
    """The whole enlargement that brings an output (HR-sized) picture to about ``DISPLAY_PX``."""
    if path is None:
        return 1
    try:
        with Image.open(path) as im:
            return max(1, DISPLAY_PX // max(im.size))
    except OSError:
        return 1
