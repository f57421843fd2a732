"""Where do two outputs differ most?  The top non-overlapping windows of local energy of A − B.

Two losses rarely differ everywhere: they part ways on texture (grass, hair, fabric), around edges
(halos, ringing) and in flat areas (noise, checkerboards).  ``top_windows`` finds the ``count``
squares of side ``side`` (output pixels) where the mean squared difference of the two images' Y
channels is largest, greedily and without overlap, so a viewer can step through them in order.
One summed-area table gives every window's energy in O(H·W); each pick then masks the positions
whose window would overlap it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from srcore.metrics import rgb_to_y


@dataclass(frozen=True)
class Window:
    """A square of the output grid (x, y: top-left; side) and the RMS of A − B inside it (Y, grey levels)."""

    x: int
    y: int
    side: int
    rms: float

    def as_dict(self) -> dict:
        return {"x": self.x, "y": self.y, "w": self.side, "h": self.side, "rms": round(self.rms, 3)}


def _window_sums(e: np.ndarray, side: int) -> np.ndarray:
    """Sum of ``e`` over every side×side window (top-left positions), via a summed-area table."""
    s = np.zeros((e.shape[0] + 1, e.shape[1] + 1), dtype=np.float64)
    np.cumsum(np.cumsum(e, axis=0, dtype=np.float64), axis=1, out=s[1:, 1:])
    return s[side:, side:] - s[:-side, side:] - s[side:, :-side] + s[:-side, :-side]


def top_windows(a: np.ndarray, b: np.ndarray, side: int = 64, count: int = 8) -> list[Window]:
    """The ``count`` non-overlapping ``side``-pixel squares where ``a`` and ``b`` (HxWx3 or HxW, same
    size) differ most in luma energy, largest first.  Windows of no difference are left out, so two
    equal images give an empty list; an image smaller than ``side`` is one window of its own size."""
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        raise ValueError(f"the two images differ in size: {a.shape} vs {b.shape}")
    if side < 1 or count < 1:
        raise ValueError(f"side and count must be positive, not {side} and {count}")
    h, w = a.shape[:2]
    side = min(side, h, w)
    d = rgb_to_y(a) - rgb_to_y(b)
    sums = _window_sums(d * d, side)
    free = np.ones(sums.shape, dtype=bool)
    out: list[Window] = []
    area = float(side * side)
    while len(out) < count:
        masked = np.where(free, sums, -1.0)
        i = int(np.argmax(masked))
        y, x = divmod(i, sums.shape[1])
        if masked[y, x] <= 1e-9:  # nothing left that differs
            break
        out.append(Window(int(x), int(y), side, float(np.sqrt(sums[y, x] / area))))
        # any window whose top-left lies within side-1 of this one would overlap it
        free[max(0, y - side + 1) : y + side, max(0, x - side + 1) : x + side] = False
    return out


__all__ = ["Window", "top_windows"]
