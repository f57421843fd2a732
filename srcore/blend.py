"""Network interpolation between two generators: θ(α) = (1 − α)·θ_A + α·θ_B.

The four arms start from one shared MSE pre-training, so their weights stay close enough for a
straight line between them to give a working network at every point (Wang et al., "Deep Network
Interpolation for Continuous Imagery Effect Transition", CVPR 2019; ESRGAN's ``net_interp.py``).
Walking α from 0 to 1 shows what one loss adds to another, step by step.

``blend(a, b, alpha)`` returns A or B itself at α = 0 or 1 (so those ends equal the arms' outputs
bit for bit) and otherwise a new generator of the same structure holding the blended weights.
Both generators must have the same architecture: a blend of unlike networks is refused with the
differences named.  The inference copies (``srcore.inference.prepare``) derive their weights
linearly from the trained ones, so blending two prepared copies equals preparing the blend, up
to float rounding.  ``BlendCache`` keeps the last few blends so a slider computes each α once.
"""

from __future__ import annotations

import copy
import threading
from collections import OrderedDict

import torch

from srcore.models.generator import Generator

ALPHA_STEP = 0.05  # the dashboard's slider step; the evaluation curves use 0.1


class BlendError(ValueError):
    """Two generators that cannot be blended, or an α outside [0, 1]; the message says why."""


def check_alpha(alpha: float) -> float:
    """``alpha`` as a float in [0, 1], or a ``BlendError`` naming the bad value."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise BlendError(f"α must be a number from 0 to 1, not {alpha!r}") from None
    if not 0.0 <= a <= 1.0:  # NaN fails this too
        raise BlendError(f"α must be from 0 to 1, not {alpha!r}")
    return a


def _config_of(g: Generator) -> dict:
    return g.cfg.to_dict()


def check_compatible(a: Generator, b: Generator) -> None:
    """Raise ``BlendError`` unless ``a`` and ``b`` share architecture and weight shapes."""
    ca, cb = _config_of(a), _config_of(b)
    if ca != cb:
        diff = ", ".join(
            f"{k}: {ca.get(k)!r} vs {cb.get(k)!r}" for k in sorted(set(ca) | set(cb)) if ca.get(k) != cb.get(k)
        )
        raise BlendError(f"the two generators have different architectures ({diff}); only like networks can be blended")
    sa, sb = a.state_dict(), b.state_dict()
    if sa.keys() != sb.keys():
        raise BlendError("the two generators hold different weights (one is an inference copy, the other is not?)")
    bad = [k for k in sa if sa[k].shape != sb[k].shape]
    if bad:
        raise BlendError(f"weight shapes differ at {', '.join(bad[:3])}")


def blend_state(sa: dict[str, torch.Tensor], sb: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """(1 − α)·A + α·B for every floating-point tensor; other tensors (counters) are taken from A."""
    alpha = check_alpha(alpha)
    out = {}
    for k, va in sa.items():
        vb = sb[k]
        out[k] = torch.lerp(va, vb.to(va.dtype), alpha) if va.is_floating_point() else va.clone()
    return out


def blend(a: Generator, b: Generator, alpha: float) -> Generator:
    """The generator θ(α) between ``a`` (α = 0) and ``b`` (α = 1); ``a`` or ``b`` itself at the ends.

    The result keeps ``a``'s structure, mode and memory format (``a`` is deep-copied, then its
    weights are replaced), so a blend of two inference copies is itself ready for inference."""
    alpha = check_alpha(alpha)
    check_compatible(a, b)
    if alpha == 0.0:
        return a
    if alpha == 1.0:
        return b
    g = copy.deepcopy(a)
    with torch.no_grad():
        state = blend_state(a.state_dict(), b.state_dict(), alpha)
        for k, t in g.state_dict().items():
            t.copy_(state[k])
    return g


def alpha_key(alpha: float) -> float:
    """α rounded to 1e-6, so 0.1 + 0.05 and 0.15 name one cached blend."""
    return round(check_alpha(alpha), 6)


class BlendCache:
    """The last ``size`` blends by (A's name, B's name, α): a slider moved back and forth blends each
    α once.  Thread-safe; blending 170 k weights takes about a millisecond, the cache saves the
    deep copy and keeps one model object per α (so its outputs can be cached too)."""

    def __init__(self, size: int = 8):
        self.size = size
        self._items: OrderedDict[tuple[str, str, float], Generator] = OrderedDict()
        self._lock = threading.Lock()
        self.blends = 0  # how many blends were made (tests: once per α)

    def get(self, name_a: str, a: Generator, name_b: str, b: Generator, alpha: float) -> Generator:
        key = (name_a, name_b, alpha_key(alpha))
        with self._lock:
            g = self._items.get(key)
            if g is not None:
                self._items.move_to_end(key)
                return g
        g = blend(a, b, key[2])
        with self._lock:
            if key[2] not in (0.0, 1.0):
                self.blends += 1
            self._items[key] = g
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return g


__all__ = ["ALPHA_STEP", "BlendError", "BlendCache", "blend", "blend_state", "check_alpha", "check_compatible"]
