"""The stimulus set: the same zoomed-in crop of every image from every model, plus the plans
that decide which stimuli a rater sees and in which order.

For each image (the bundled Kodak crops in ``images/study`` - kept for rating only, never shown
in the Compare tab - or the organiser's ``folder``; the app's ``SR_RATING_IMAGES``):
mod-crop to a multiple of 4, make the LR input with ``srcore.resize.downscale_x4``, super-resolve
it with bicubic and every available model, and keep the same centre crop (``crop`` HR pixels,
default 128; the app's ``SR_RATING_CROP``) of each output and of the HR original.  Only a window of
the LR image around the crop (plus the network's receptive field) is upscaled, which gives the
same pixels as upscaling the whole image and keeps start-up fast.

Attention checks: a heavily degraded version of the HR crop (``DEGRADED``) with a known answer.
Plans are shuffled with a server secret, so public code and public data cannot predict them.

Nothing here reads the environment: the dashboard's ``Settings`` reads the ``SR_RATING_*``
variables and passes the values in.
"""

from __future__ import annotations

import hashlib
import hmac
import io
import itertools
import random
import secrets
import struct
import threading
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from srcore.imageio import list_images, load_image
from srcore.metrics import mod_crop
from srcore.resize import downscale_x4
from srcore.zoo import MODEL_NAMES

IMAGES_DIR = Path(__file__).resolve().parent / "images"
BUNDLED = IMAGES_DIR / "study"
PRACTICE = IMAGES_DIR / "practice" / "practice.png"
MODEL_KEYS = ("bicubic", *MODEL_NAMES, "hr")
DEGRADED = "degraded"  # attention checks only: never a model in the results
BLURRED = "blurred"  # gold items only: the original strongly blurred (the original must win)
ANCHORS = ("bicubic", "hr")  # the low and the high anchor
DEFAULT_CROP = 128
DEFAULT_ZOOM = 3
DEFAULT_ITEMS = 30
DEFAULT_ATTENTION_EVERY = 10
DEFAULT_REPEAT_EVERY = 10  # one earlier item shown again per this many items (intra-rater consistency)
DEFAULT_GOLD_EVERY = 10  # one gold item (original vs strongly blurred) per this many items


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

    def png(self, image_id: str, model: str) -> bytes:
        """The crop as PNG bytes carrying a fresh random text chunk: the same stimulus never has
        the same bytes (or hash) twice, so what one rater receives cannot be matched by hash with
        what another received.  Shown enlarged by the page (CSS, nearest-neighbour)."""
        key = ("png", image_id, model)
        if key not in self._zoomed:
            buf = io.BytesIO()
            Image.fromarray(self.crops[image_id][model]).save(buf, format="PNG")
            self._zoomed[key] = buf.getvalue()
        return with_random_chunk(self._zoomed[key])

    def image(self, image_id: str, model: str) -> np.ndarray:
        """The crop enlarged ``zoom`` times with nearest-neighbour pixels (so browsers do not blur it)."""
        key = (image_id, model)
        if key not in self._zoomed:
            a = self.crops[image_id][model]
            self._zoomed[key] = (
                np.ascontiguousarray(np.repeat(np.repeat(a, self.zoom, 0), self.zoom, 1)) if self.zoom > 1 else a
            )
        return self._zoomed[key]

    def _models(self, models=None) -> tuple[str, ...]:
        return self.models if models is None else tuple(m for m in self.models if m in set(models))

    def mos_items(self, models=None) -> list[tuple[str, tuple[str]]]:
        return [(i, (m,)) for i in self.image_ids for m in self._models(models)]

    def pair_items(self, models=None) -> list[tuple[str, tuple[str, str]]]:
        return [(i, pair) for i in self.image_ids for pair in itertools.combinations(self._models(models), 2)]

    def plan(
        self,
        rater_id: str,
        protocol: str,
        length: int | None = None,
        secret: str = "",
        models=None,
        attention_every: int = 0,
        repeat_every: int = 0,
        gold_every: int = 0,
        practice: bool = False,
    ) -> list[tuple]:
        """The rater's stimuli in a random order that is fixed for this rater (so a session can be
        resumed) but seeded with the server ``secret`` (so nobody can predict it from the public
        code and the rater id).  MOS: image x model items up to ``length``.  Pairs: a quarter
        bicubic-vs-HR anchor pairs plus random other pairs up to ``length`` (default 30).
        ``attention_every`` > 0 adds one attention check (kind "attention": the degraded crop, or
        HR vs degraded) per that many items, at least one, at secret random places.  Quality items,
        each (image, models, "attention", role) and never counted in the results:
        ``repeat_every`` > 0 shows one earlier real item again (role "repeat") per that many items,
        at least 3 places after it; ``gold_every`` > 0 adds gold items (role "gold": the blurred
        original, or original vs blurred, whose answer is known without knowing any model);
        ``practice`` puts one practice trial first (role "practice": answered, not counted)."""
        seed = hmac.new(secret.encode(), f"{rater_id}:{protocol}:{self.signature}".encode(), hashlib.sha256).digest()
        rng = random.Random(seed)
        # (image id, models) items: one model (MOS) or two (pairs); attention checks are added below
        items: list[tuple]
        chosen: list[tuple]
        if protocol == "mos":
            items = self.mos_items(models)
            rng.shuffle(items)
            chosen = items[:length] if length else items
        elif protocol == "pair":
            length = length or DEFAULT_ITEMS
            items = self.pair_items(models)
            anchors = [it for it in items if set(it[1]) == set(ANCHORS)]
            others = [it for it in items if set(it[1]) != set(ANCHORS)]
            rng.shuffle(anchors)
            rng.shuffle(others)
            chosen = (anchors[: max(1, length // 4)] + others)[:length]
            rng.shuffle(chosen)
        else:
            raise ValueError(f"unknown protocol {protocol!r}")
        if attention_every > 0 and chosen:
            n = max(1, len(chosen) // attention_every)
            imgs = self.image_ids[:]
            rng.shuffle(imgs)
            checks: list[tuple] = [
                (imgs[k % len(imgs)], (DEGRADED,) if protocol == "mos" else ("hr", DEGRADED), "attention")
                for k in range(n)
            ]
            for c in checks:  # never first: the rater gets one real item before any check
                chosen.insert(rng.randint(1, len(chosen)), c)
        return self._quality_items(chosen, protocol, rng, repeat_every, gold_every, practice)

    def _quality_items(
        self, chosen: list[tuple], protocol: str, rng: random.Random, repeat_every: int, gold_every: int, practice: bool
    ) -> list[tuple]:
        """``chosen`` with the repeated, gold and practice items of ``plan`` put in."""
        real = [i for i, it in enumerate(chosen) if len(it) < 3]
        if gold_every > 0 and real:
            imgs = self.image_ids[:]
            rng.shuffle(imgs)
            for k in range(max(1, len(real) // gold_every)):
                models = (BLURRED,) if protocol == "mos" else ("hr", BLURRED)
                chosen.insert(rng.randint(1, len(chosen)), (imgs[k % len(imgs)], models, "attention", "gold"))
        if repeat_every > 0 and len(real) >= 4:
            n = max(1, len(real) // repeat_every)
            originals = [it for it in chosen if len(it) < 3][: max(1, len(real) - 3)]
            for it in rng.sample(originals, min(n, len(originals))):
                at = chosen.index(it)
                chosen.insert(rng.randint(min(at + 4, len(chosen)), len(chosen)), (it[0], it[1], "attention", "repeat"))
        if practice and self.image_ids:
            img = self.image_ids[rng.randrange(len(self.image_ids))]
            chosen.insert(0, (img, (DEGRADED,) if protocol == "mos" else ("hr", DEGRADED), "attention", "practice"))
        return chosen


def with_random_chunk(png: bytes) -> bytes:
    """``png`` with a random ``tEXt`` chunk after the header: other bytes, the same pixels."""
    data = b"n\x00" + secrets.token_hex(8).encode()
    chunk = struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", zlib.crc32(b"tEXt" + data))
    head = 8 + 25  # signature + IHDR chunk
    return png[:head] + chunk + png[head:]


def degrade(hr: np.ndarray, seed: int = 0) -> np.ndarray:
    """A heavily degraded copy for attention checks: 8x blockier, plus visible noise."""
    h, w = hr.shape[:2]
    small = Image.fromarray(hr).resize((max(1, w // 8), max(1, h // 8)), Image.Resampling.BOX)
    blocky = np.asarray(small.resize((w, h), Image.Resampling.NEAREST), dtype=np.float32)
    out = blocky + np.random.default_rng(seed).normal(0, 18, blocky.shape)
    return np.clip(out, 0, 255).round().astype(np.uint8)


def blur(hr: np.ndarray) -> np.ndarray:
    """A strongly blurred copy for gold items (Gaussian, sigma a sixteenth of the side, at least 3 px):
    plainly worse than the original to anyone who looks, whatever the models are."""
    from PIL import ImageFilter

    radius = max(3.0, min(hr.shape[:2]) / 16)
    return np.asarray(Image.fromarray(hr).filter(ImageFilter.GaussianBlur(radius)), dtype=np.uint8)


def practice_anchors() -> tuple[bytes, bytes]:
    """PNG bytes of the practice page's anchors: (what a 1 looks like, what a 5 looks like),
    from a photo that is not in the study."""
    hr = load_image(PRACTICE).array
    side = min(hr.shape[:2]) // 4 * 4
    hr = np.ascontiguousarray(hr[:side, :side])
    out = []
    for a in (degrade(hr), hr):
        buf = io.BytesIO()
        Image.fromarray(a).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out[0], out[1]


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
    out = {"hr": np.ascontiguousarray(hr[y0 : y0 + side, x0 : x0 + side])}

    def window(pad: int):
        ya, xa = max(ly - pad, 0), max(lx - pad, 0)
        yb, xb = min(ly + ls + pad, lr.shape[0]), min(lx + ls + pad, lr.shape[1])
        return lr[ya:yb, xa:xb], 4 * (ly - ya), 4 * (lx - xa)

    sub, oy, ox = window(8)  # bicubic's support is 2 LR pixels; 8 leaves room for the edge padding rule
    out["bicubic"] = np.ascontiguousarray(bicubic_x4(sub)[oy : oy + side, ox : ox + side])
    for name, model in models.items():
        sub, oy, ox = window(model.receptive_radius + 4)
        with torch.inference_mode():
            sr = sr_uint8(model, sub, tile=None)
        out[name] = np.ascontiguousarray(sr[oy : oy + side, ox : ox + side])
    out[DEGRADED] = degrade(out["hr"])
    out[BLURRED] = blur(out["hr"])
    return out


def build_stimuli(
    folder: str | Path | None = None,
    crop: int | None = None,
    models: dict | None = None,
    zoom: int | None = None,
    missing: dict[str, str] | None = None,
) -> StimulusSet:
    """Compute every crop once, from the images in ``folder`` (default: the bundled ones), ``crop``
    HR pixels a side (default ``DEFAULT_CROP``), shown ``zoom`` times enlarged (``DEFAULT_ZOOM``).
    ``models`` (with ``missing``: model -> why it is absent) defaults to
    ``srcore.zoo.load_available()``; the app passes the generators it has already loaded."""
    crop = crop or DEFAULT_CROP
    zoom = zoom or DEFAULT_ZOOM
    folder = folder or None
    missing = dict(missing or {})
    if models is None:
        from srcore.zoo import load_available

        models, missing = load_available()
    images = _folder_images(folder or BUNDLED)
    if not images:
        raise FileNotFoundError(f"no images found in {folder}")
    crops = {i: crops_for_image(a, models, crop) for i, a in images.items()}
    keys = tuple(k for k in MODEL_KEYS if k in ("bicubic", "hr") or k in models) + tuple(
        k for k in models if k not in MODEL_KEYS
    )
    side = next(iter(crops.values()))["hr"].shape[0]
    return StimulusSet(crops=crops, models=keys, crop=side, zoom=zoom, missing=missing)


@dataclass
class StimulusPlan:
    """What a stimulus set will hold, known without computing it (for the tab's description)."""

    n_images: int
    crop: int
    zoom: int
    missing: dict[str, str]


def stimulus_plan(
    missing: dict[str, str] | None = None,
    folder: str | Path | None = None,
    crop: int | None = None,
    zoom: int | None = None,
) -> StimulusPlan:
    """Cheap look-ahead of ``build_stimuli(folder, crop, zoom=zoom)``: image count, crop, zoom, and
    the models left out (``missing`` as the caller's model loader found it; without it, the models
    whose checkpoint file is absent).  Raises like ``build_stimuli`` for a bad image folder."""
    from srcore.zoo import checkpoint_path

    folder = folder or None
    n = len(list_images(folder or BUNDLED))
    if not n:
        raise FileNotFoundError(f"no images found in {folder}")
    if missing is None:
        missing = {m: "checkpoint not found" for m in MODEL_NAMES if not checkpoint_path(m).is_file()}
    return StimulusPlan(n, crop or DEFAULT_CROP, zoom or DEFAULT_ZOOM, missing)


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


__all__ = [
    "StimulusSet",
    "StimulusPlan",
    "stimulus_plan",
    "build_stimuli",
    "get_stimuli",
    "crops_for_image",
    "MODEL_KEYS",
    "ANCHORS",
    "BUNDLED",
    "DEGRADED",
    "BLURRED",
    "degrade",
    "blur",
    "practice_anchors",
    "with_random_chunk",
]
