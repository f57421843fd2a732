"""The stimulus set: the same zoomed-in crop of every image from every model, plus the plans
that decide which stimuli a rater sees and in which order.

For each image (scikit-image's bundled colour photos, or the folder ``$SR_RATING_IMAGES``):
mod-crop to a multiple of 4, make the LR input with ``srcore.resize.downscale_x4``, super-resolve
it with bicubic and every available model, and keep the same centre crop (``crop`` HR pixels,
default ``$SR_RATING_CROP`` or 128) of each output and of the HR original.  Only a window of
the LR image around the crop (plus the network's receptive field) is upscaled, which gives the
same pixels as upscaling the whole image and keeps start-up fast.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import random
import threading
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from srcore.imageio import list_images, load_image
from srcore.metrics import mod_crop
from srcore.zoo import MODEL_NAMES
from srcore.resize import downscale_x4

BUNDLED = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry")
MODEL_KEYS = ("bicubic", *MODEL_NAMES, "hr")
ANCHORS = ("bicubic", "hr")  # the low and the high anchor
DEFAULT_CROP = 128
DEFAULT_ZOOM = 3
DEFAULT_PAIR_SESSION = 40


def _env_int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


@dataclass
class StimulusSet:
    """Crops by image and model key: ``crops[image_id][model_key]`` is an HxWx3 uint8 array."""

    crops: dict[str, dict[str, np.ndarray]]
    models: tuple[str, ...]
    crop: int
    zoom: int = DEFAULT_ZOOM
    missing: dict[str, str] = field(default_factory=dict)  # model -> why it is not in the set
    _zoomed: dict = field(default_factory=dict, repr=False)

    @property
    def image_ids(self) -> list[str]:
        return list(self.crops)

    @property
    def signature(self) -> str:
        return hashlib.sha1(("|".join(self.image_ids) + "#" + "|".join(self.models)).encode()).hexdigest()[:12]

    def image(self, image_id: str, model: str) -> np.ndarray:
        """The crop enlarged ``zoom`` times with nearest-neighbour pixels (so browsers do not blur it)."""
        key = (image_id, model)
        if key not in self._zoomed:
            a = self.crops[image_id][model]
            self._zoomed[key] = np.ascontiguousarray(np.repeat(np.repeat(a, self.zoom, 0), self.zoom, 1)) if self.zoom > 1 else a
        return self._zoomed[key]

    def mos_items(self) -> list[tuple[str, tuple[str]]]:
        return [(i, (m,)) for i in self.image_ids for m in self.models]

    def pair_items(self) -> list[tuple[str, tuple[str, str]]]:
        return [(i, pair) for i in self.image_ids for pair in itertools.combinations(self.models, 2)]

    def plan(self, rater_id: str, protocol: str, length: int | None = None) -> list[tuple[str, tuple[str, ...]]]:
        """The rater's stimuli in a random order that is fixed for this rater (so a session can be
        resumed).  MOS: every image x model.  Pairs: every bicubic-vs-HR anchor pair plus random
        other pairs up to ``length`` (default ``$SR_RATING_PAIRS`` or 40)."""
        rng = random.Random(f"{rater_id}:{protocol}:{self.signature}")
        if protocol == "mos":
            items = self.mos_items()
            rng.shuffle(items)
            return items[:length] if length else items
        if protocol != "pair":
            raise ValueError(f"unknown protocol {protocol!r}")
        length = length or _env_int("SR_RATING_PAIRS", DEFAULT_PAIR_SESSION)
        items = self.pair_items()
        anchors = [it for it in items if set(it[1]) == set(ANCHORS)]
        others = [it for it in items if set(it[1]) != set(ANCHORS)]
        rng.shuffle(anchors)
        rng.shuffle(others)
        chosen = anchors[: max(1, length // 4)] + others
        chosen = chosen[:length]
        rng.shuffle(chosen)
        return chosen


def _bundled_images(names=BUNDLED) -> dict[str, np.ndarray]:
    import skimage.data

    return {n: getattr(skimage.data, n)() for n in names}


def _folder_images(folder: str | Path) -> dict[str, np.ndarray]:
    out = {}
    for p in list_images(folder):
        name = p.stem
        while name in out:
            name += "_"
        out[name] = load_image(p).array
    return out


def _centre_window(h: int, w: int, side: int) -> tuple[int, int]:
    """Top-left of a ``side`` square at the image centre, on a multiple of 4."""
    y0 = max(0, (h - side) // 2) // 4 * 4
    x0 = max(0, (w - side) // 2) // 4 * 4
    return y0, x0


def crops_for_image(hr: np.ndarray, models: dict, crop: int) -> dict[str, np.ndarray]:
    """The same centre crop (``crop`` HR pixels, a multiple of 4) of HR, bicubic and each model."""
    import torch

    from srcore.inference import sr_uint8
    from srcore.resize import bicubic_x4

    hr = mod_crop(hr, 4)
    h, w = hr.shape[:2]
    side = min(crop, h, w) // 4 * 4
    lr = downscale_x4(hr)
    y0, x0 = _centre_window(h, w, side)
    ly, lx, ls = y0 // 4, x0 // 4, side // 4
    out = {"hr": np.ascontiguousarray(hr[y0:y0 + side, x0:x0 + side])}

    def window(pad: int):
        ya, xa = max(ly - pad, 0), max(lx - pad, 0)
        yb, xb = min(ly + ls + pad, lr.shape[0]), min(lx + ls + pad, lr.shape[1])
        return lr[ya:yb, xa:xb], 4 * (ly - ya), 4 * (lx - xa)

    sub, oy, ox = window(8)  # bicubic's support is 2 LR pixels; 8 leaves room for the edge padding rule
    out["bicubic"] = np.ascontiguousarray(bicubic_x4(sub)[oy:oy + side, ox:ox + side])
    for name, model in models.items():
        sub, oy, ox = window(model.receptive_radius + 4)
        with torch.inference_mode():
            sr = sr_uint8(model, sub, tile=None)
        out[name] = np.ascontiguousarray(sr[oy:oy + side, ox:ox + side])
    return out


def build_stimuli(folder: str | Path | None = None, crop: int | None = None, models: dict | None = None,
                  zoom: int | None = None, missing: dict[str, str] | None = None) -> StimulusSet:
    """Compute every crop once.  ``models`` (with ``missing``: model -> why it is absent) defaults
    to ``srcore.zoo.load_available()``; the app passes the generators it has already loaded."""
    crop = crop or _env_int("SR_RATING_CROP", DEFAULT_CROP)
    zoom = zoom or _env_int("SR_RATING_ZOOM", DEFAULT_ZOOM)
    folder = folder or os.environ.get("SR_RATING_IMAGES") or None
    missing = dict(missing or {})
    if models is None:
        from srcore.zoo import load_available

        models, missing = load_available()
    images = _folder_images(folder) if folder else _bundled_images()
    if not images:
        raise FileNotFoundError(f"no images found in {folder}")
    crops = {i: crops_for_image(a, models, crop) for i, a in images.items()}
    keys = tuple(k for k in MODEL_KEYS if k in ("bicubic", "hr") or k in models) + tuple(
        k for k in models if k not in MODEL_KEYS)
    side = next(iter(crops.values()))["hr"].shape[0]
    return StimulusSet(crops=crops, models=keys, crop=side, zoom=zoom, missing=missing)


@dataclass
class StimulusPlan:
    """What a stimulus set will hold, known without computing it (for the tab's description)."""

    n_images: int
    crop: int
    zoom: int
    missing: dict[str, str]


def stimulus_plan(missing: dict[str, str] | None = None) -> StimulusPlan:
    """Cheap look-ahead of ``build_stimuli()``'s defaults: image count, crop, zoom, and the models
    left out (``missing`` as the caller's model loader found it; without it, the models whose
    checkpoint file is absent).  Raises like ``build_stimuli`` for a bad image folder."""
    from srcore import paths
    from srcore.zoo import checkpoint_path

    folder = os.environ.get("SR_RATING_IMAGES") or None
    n = len(list_images(folder)) if folder else len(BUNDLED)
    if not n:
        raise FileNotFoundError(f"no images found in {folder}")
    if missing is None:
        missing = {m: "checkpoint not found" for m in MODEL_NAMES if not checkpoint_path(m).is_file()}
    return StimulusPlan(n, _env_int("SR_RATING_CROP", DEFAULT_CROP), _env_int("SR_RATING_ZOOM", DEFAULT_ZOOM), missing)


_cache: dict = {}
_cache_lock = threading.Lock()


def get_stimuli(**kw) -> StimulusSet:
    """The process-wide stimulus set, built on first use (thread-safe)."""
    key = tuple(sorted(kw.items()))
    with _cache_lock:
        if key not in _cache:
            _cache[key] = build_stimuli(**kw)
        return _cache[key]


def to_pil(a: np.ndarray) -> Image.Image:
    return Image.fromarray(a)


__all__ = ["StimulusSet", "StimulusPlan", "stimulus_plan", "build_stimuli", "get_stimuli", "crops_for_image", "MODEL_KEYS", "ANCHORS", "BUNDLED"]
