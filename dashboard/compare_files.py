"""The Compare tab's files: each result's clean PNGs (one folder per result) and its download set.

``ResultFiles`` writes a panel's PNG once per result and kind (remade if the temp sweep removed
it), and builds the downloads: the LR as fed to the models, each output as
``<image>_<model>_x4.png``, the ground truth, and a zip with ``metrics.json`` and a README.
No Gradio here: the wiring (``dashboard.compare_tab``) hands the paths on.
"""

from __future__ import annotations

import json
import re
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from dashboard.core import Result
from dashboard.tempstore import TempStore
from srcore.imageio import save_png

README = """{source}: x4 super-resolution outputs from SR Loss Lab

{stem}_lr.png          the low-resolution image exactly as fed to the models ({lw}x{lh} px){lr_note}
{stem}_<model>_x4.png  each model's x4 output ({ow}x{oh} px), clean (no overlay)
{stem}_bicubic_x4.png  MATLAB-style bicubic x4, the baseline
{hr_line}metrics.json           {metrics_line}
"""
CONVENTION = "PSNR/SSIM on the MATLAB Y channel, 8-bit, border 4; LPIPS AlexNet v0.1"


def write_png(arr: np.ndarray, folder: Path, name: str) -> str:
    """``arr`` as ``folder/name.png`` (written atomically by ``srcore.imageio.save_png``)."""
    p = folder / f"{name}.png"
    save_png(arr, p)
    return str(p)


def stem(source: str) -> str:
    """A file-name-safe stem of an image's name (what every download of it starts with)."""
    return re.sub(r"[^A-Za-z0-9_-]+", "_", Path(str(source)).stem).strip("_")[:60] or "image"


def jsonable(d):
    """``d`` with numpy scalars as Python numbers and non-finite floats as None (JSON-safe)."""
    if isinstance(d, dict):
        return {k: jsonable(v) for k, v in d.items()}
    if isinstance(d, (list, tuple)):
        return [jsonable(v) for v in d]
    if isinstance(d, (np.floating, float)):
        v = float(d)
        return v if np.isfinite(v) else None
    if isinstance(d, np.integer):
        return int(d)
    return d


def kind(panel: str) -> str:
    """File-name part of a panel: ``lr``, ``hr`` or ``<model>_x4``."""
    return panel if panel in ("lr", "hr") else f"{panel}_x4"


class ResultFiles:
    """The PNGs and zips of results, under one temporary root (one folder per result id)."""

    def __init__(self, sr_panels: tuple[str, ...]):
        self.temp = TempStore()
        self.sr_panels = sr_panels
        self._paths: dict[tuple[str, str], str] = {}  # (result uid, file kind) -> PNG path
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        return self.temp.root

    def file(self, uid: str, source: str, what: str, make: Callable[[], np.ndarray]) -> str:
        """The PNG of ``what`` for result ``uid`` (made by ``make()`` once; remade if cleaned away)."""
        key = (uid, what)
        p = self._paths.get(key)
        if p and Path(p).is_file():
            return p
        folder = self.temp.root / uid
        folder.mkdir(parents=True, exist_ok=True)
        path = write_png(make(), folder, f"{stem(source)}_{what}")
        with self._lock:
            self._paths[key] = path
            if len(self._paths) > 4096:  # forget the oldest names (the files go with the temp sweep)
                self._paths.pop(next(iter(self._paths)))
        return path

    def panel(self, uid: str, source: str, panel: str, img: np.ndarray) -> str:
        return self.file(uid, source, kind(panel), lambda: img)

    def one_off(self, img: np.ndarray, name: str) -> str:
        """A PNG in a fresh folder of its own (an API answer)."""
        return write_png(img, self.temp.new(), name)

    def downloads(self, res: Result | None) -> list[str] | None:
        """A zip (every image, metrics.json, README.txt) and each PNG: the LR as fed to the models,
        each output clean as ``<image>_<model>_x4.png``, and the ground truth."""
        if res is None:
            return None
        src, uid, st = res.source, res.uid, stem(res.source)
        files = [self.panel(uid, src, "lr", res.lr)]
        files += [self.panel(uid, src, p, res.images[p]) for p in self.sr_panels if p in res.images]
        if res.hr is not None:
            files.append(self.panel(uid, src, "hr", res.hr))
        zpath = self.temp.root / uid / f"{st}_x4_outputs.zip"
        if not zpath.is_file():
            self._zip(res, files, zpath)
        return [str(zpath), *files]

    @staticmethod
    def _zip(res: Result, files: list[str], zpath: Path) -> None:
        src, st = res.source, stem(res.source)
        lh, lw = res.lr.shape[:2]
        oh, ow = 4 * lh, 4 * lw
        gt = res.hr is not None
        readme = README.format(
            source=src,
            stem=st,
            lw=lw,
            lh=lh,
            ow=ow,
            oh=oh,
            lr_note=(
                "\n                       (made from the ground truth by MATLAB-style bicubic /4)"
                if gt
                else "\n                       (your upload, centre-cropped only if it exceeded the limit)"
            ),
            hr_line=f"{st}_hr.png          the ground truth ({ow}x{oh} px)\n" if gt else "",
            metrics_line=(
                "PSNR-Y / SSIM-Y (MATLAB Y channel, 8-bit, border 4), PSNR-RGB, LPIPS (AlexNet v0.1) "
                "of each output against the ground truth"
                if gt
                else "no metrics: there is no ground truth for an upscale-only input"
            ),
        )
        meta = {
            "source": src,
            "lr_size": [lw, lh],
            "output_size": [ow, oh],
            "files": [Path(f).name for f in files],
            "scores": res.scores,
            "notes": res.notes,
            "convention": CONVENTION,
        }
        tmp = zpath.with_suffix(".part")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_STORED) as zf:
            for f in files:
                zf.write(f, Path(f).name)
            zf.writestr("metrics.json", json.dumps(jsonable(meta), indent=1))
            zf.writestr("README.txt", readme)
        tmp.replace(zpath)
