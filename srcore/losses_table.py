"""The loss terms a generator objective is built from: one table, the rest derives from it.

An objective is a dict of named weighted terms, e.g. ``{"vgg": 1.0, "adv": 1e-3}`` (the report's
eq. g).  ``srcore.losses`` implements the terms; the model table (``srcore.zoo``) names each
model's objective; CLIs accept ``"vgg=1,adv=1e-3"``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LossTerm:
    key: str
    label: str
    equation: str  # the report's equation letter
    content: bool  # compares SR with HR (an objective needs at least one)


LOSS_TERMS: dict[str, LossTerm] = {
    t.key: t
    for t in (
        LossTerm("mse", "pixel-wise MSE", "c", True),
        LossTerm("vgg", "VGG feature loss before the 3rd max-pool", "d", True),
        LossTerm("adv", "adversarial -log D(G(x))", "e", False),
    )
}


def parse_loss(spec: str) -> dict[str, float]:
    """``"vgg=1,adv=1e-3"`` (or the legacy ``"vgg+adv"``) -> ``{"vgg": 1.0, "adv": 0.001}``."""
    out: dict[str, float] = {}
    for part in spec.replace("+", ",").split(","):
        part = part.strip()
        if not part:
            continue
        key, _, w = part.partition("=")
        key = key.strip()
        try:
            out[key] = float(w) if w else (1e-3 if key == "adv" else 1.0)
        except ValueError:
            raise ValueError(f"loss term {part!r}: weight {w!r} is not a number") from None
    return out


def format_loss(loss: dict[str, float]) -> str:
    """``{"vgg": 1.0, "adv": 0.001}`` -> ``"vgg + 0.001 adv"`` (for titles and model cards)."""
    return " + ".join(k if w == 1 else f"{w:g} {k}" for k, w in loss.items())
