"""The viewer config of a result (``dashboard.viewer``): which panels, their files and captions, the
error views' pictures and colour bars, the blend panel and the "where do they differ?" windows.

While a compare runs, panels of the new image that are not done yet show the previous image's
panel (marked, without its download link) only when that image has the same size; otherwise a
placeholder, so no stale thumbnail of another size is drawn.  A finished result shows only the
panels it has (a model the visitor left unticked is not a panel waiting for ever).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from dashboard import core, viewer
from dashboard.compare_compute import Extra
from dashboard.compare_present import SPOT_CAPTION, VIEW_ABS, VIEW_DIFF, VIEW_IMAGES, VIEW_SIGNED, Presenter, Shown
from dashboard.core import Result


class ViewBuilder:
    """``shown(...)``: the viewer's JSON config for a result in one of the views."""

    def __init__(self, present: Presenter):
        self.p = present
        self.files = present.files
        self.titles = present.titles

    def shown(
        self,
        res: Result,
        view: str = VIEW_IMAGES,
        a: str | None = None,
        b: str | None = None,
        progress: str = "",
        pending: Result | None = None,
        expected: Sequence[str] = (),
        extras: Sequence[Extra] = (),
        spots: dict | None = None,
    ) -> Shown:
        """The viewer config of ``res`` in ``view`` (``a``/``b``: the panels of the A − B view).
        ``pending``: a comparison still running, whose finished panels replace ``res``'s, and
        ``expected`` the panels it will still bring; ``extras``: panels computed on top (the
        blend); ``spots``: {"a", "b", "windows": [...]} for the "where do they differ?" stepper."""
        p = self.p
        cur = pending or res
        uid, src = cur.uid, cur.source
        gt = cur.hr is not None
        best = core.best_of(res.scores) if pending is None else {}
        files: dict[str, str] = {}
        panels: list[dict] = []
        h, w = cur.hr.shape[:2] if gt else (4 * cur.lr.shape[0], 4 * cur.lr.shape[1])
        same_size = pending is not None and res is not pending and res.lr.shape == cur.lr.shape

        def add(key, title, path, scale=1, caption="", stale=False, alt_what=None):
            if path:
                files[key] = path
            panels.append(
                viewer.panel(
                    key,
                    title,
                    path,
                    scale=scale,
                    caption=caption,
                    file=Path(path).name if path and not stale else None,  # no link to another image's file
                    stale=stale,
                    alt=f"{alt_what or title} of {src}" + (" (previous image, updating)" if stale else ""),
                )
            )

        running = set(expected) if pending is not None else set()
        keys = [k for k in p.panels if k in ("lr", "hr") or k in cur.images or k in running]
        keys = [k for k in keys if k != "hr" or gt]
        view = view if gt else VIEW_IMAGES
        if view in (VIEW_ABS, VIEW_SIGNED):
            keys = [k for k in p.sr_panels if k in cur.images] + ["hr"]
        elif view == VIEW_DIFF:
            a, b = p.key_of(a or "bicubic"), p.key_of(b or p.sr_panels[-1])
            have = {**cur.images, **{e.key: e.image for e in extras}}
            keys = [k for k in dict.fromkeys([a, b, "hr"]) if k in have or k in ("lr", "hr")]
        extra_by = {e.key: e for e in extras} if pending is None else {}
        if view == VIEW_IMAGES and extra_by:  # the blend sits before the ground truth
            at = len(keys) - 1 if gt else len(keys)
            keys[at:at] = list(extra_by)
        for k in keys:
            if k in extra_by:
                e = extra_by[k]
                path = self.files.file(uid, src, e.file_kind, lambda e=e: e.image)
                add(k, e.title, path, caption=" · ".join(t for t in (p.caption(k, cur, best, e.scores), e.note) if t))
                continue
            title = self.titles.get(k, k)
            if k == "lr":
                add(k, title, self.files.panel(uid, src, "lr", cur.lr), scale=4, caption=p.caption("lr", cur, best))
                continue
            img = cur.images.get(k) if k != "hr" else cur.hr
            if img is None:  # still running: the previous image's panel of the same size, marked, or a placeholder
                old = res.images.get(k) if same_size else None
                path = self.files.panel(res.uid, res.source, k, old) if old is not None else None
                add(k, title, path, stale=path is not None)
                continue
            if view in (VIEW_ABS, VIEW_SIGNED) and k != "hr":
                signed = view == VIEW_SIGNED
                kind = f"{k}_{'signed' if signed else 'abs'}err"
                path = self.files.file(
                    uid,
                    src,
                    kind,
                    lambda img=img, signed=signed: (viewer.signed_error if signed else viewer.abs_error)(img, cur.hr),
                )
                add(
                    k,
                    f"{title}: {'SR − HR' if signed else '|SR − HR|'}",
                    path,
                    caption=p.caption(k, cur, best),
                    alt_what=f"{'signed' if signed else 'absolute'} error map of {title}",
                )
                continue
            add(k, title, self.files.panel(uid, src, k, img), caption=p.caption(k, cur, best))
        colorbar = None
        if view == VIEW_ABS:
            colorbar = viewer.colorbar("abs", "|SR − HR|, grey levels (mean over R, G, B)")
        elif view == VIEW_SIGNED:
            colorbar = viewer.colorbar("signed", "SR − HR, grey levels: blue = darker than HR, red = brighter")
        elif view == VIEW_DIFF and a and b:
            have = {**cur.images, **{e.key: e.image for e in extras}}
            if a in have and b in have:
                ta, tb = self._title(a, extras), self._title(b, extras)
                name = "_minus_".join(self._kind(k, extras) for k in (a, b))
                path = self.files.file(uid, src, name, lambda: viewer.signed_error(have[a], have[b]))
                add("diff", f"{ta} − {tb}", path, alt_what=f"difference {ta} minus {tb}")
                colorbar = viewer.colorbar("signed", f"{ta} − {tb}, grey levels: red = A brighter, blue = A darker")
        notes = [n for n in (cur.notes if pending is None else []) if "no ground truth" not in n]
        if not gt:
            notes.insert(
                0,
                "No ground truth: this image is only upscaled, so there is no HR panel, no error map "
                "and no PSNR / SSIM / LPIPS.",
            )
        slider = (p.key_of(a) if a else "bicubic", p.key_of(b) if b else p.sr_panels[-1])
        cfg = viewer.config(
            id=uid,
            source=src,
            width=w,
            height=h,
            panels=panels,
            progress=progress,
            notes=notes,
            colorbar=colorbar,
            slider=slider,
            spots=self._spots(spots, extras) if pending is None else None,
            blend=next((e.meta for e in extras if e.key == "blend"), None) if pending is None else None,
        )
        return Shown(cfg, files)

    def _title(self, key: str, extras: Sequence[Extra]) -> str:
        return next((e.title for e in extras if e.key == key), self.titles.get(key, key))

    @staticmethod
    def _kind(key: str, extras: Sequence[Extra]) -> str:
        return next((e.file_kind for e in extras if e.key == key), key)

    def _spots(self, spots: dict | None, extras: Sequence[Extra]) -> dict | None:
        if not spots:
            return None
        ta, tb = self._title(spots["a"], extras), self._title(spots["b"], extras)
        return {
            "a": spots["a"],
            "b": spots["b"],
            "label": f"{ta} vs {tb}",
            "windows": spots["windows"],
            "caption": SPOT_CAPTION,
        }
