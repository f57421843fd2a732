"""The model zoo: four names, one architecture, four losses.

``load_generator("srgan_pl")`` loads ``checkpoints/srgan_pl.safetensors``; a path loads that
file.  ``GENERATOR`` is the architecture the shipped checkpoints use (the comparison is about
the loss, not the network); ``SEED_GENERATOR`` is the report's own network.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from srcore import paths
from srcore.checkpoint import CheckpointError, load_generator_file
from srcore.config import MODEL_LOSS, Recipe, recommended_recipe, report_recipe
from srcore.models.generator import Generator, GeneratorConfig

GENERATOR = GeneratorConfig(n1=128, n2=64, n3=32, k2=3)  # the report's widths
SEED_GENERATOR = GeneratorConfig(n1=128, n2=64, k2=3, upsampler="nearest", residual=False)

TITLES = {"srcnn_mse": "SRCNN-MSE", "srcnn_pl": "SRCNN-PL", "srgan_mse": "SRGAN-MSE", "srgan_pl": "SRGAN-PL"}
DESCRIPTIONS = {
    "srcnn_mse": "pixel-wise MSE loss (eq. c)",
    "srcnn_pl": "VGG feature loss before the 3rd max-pool (eq. f)",
    "srgan_mse": "MSE + 1e-3 x adversarial loss (eq. m)",
    "srgan_pl": "VGG feature loss (features x 1/12.75, as SRGAN) + 1e-3 x adversarial loss (eq. g)",
}


@dataclass
class ZooEntry:
    name: str
    arch: GeneratorConfig
    recipe: Recipe


def entry(name: str, recipe: str = "recommended", arch: str = "default") -> ZooEntry:
    """Architecture and recipe for a zoo name; ``arch="seed"`` gives the report's network."""
    if name not in MODEL_LOSS:
        raise KeyError(f"unknown model {name!r}; choose from {', '.join(MODEL_LOSS)}")
    rec = report_recipe(name) if recipe == "report" else recommended_recipe(name)
    cfg = SEED_GENERATOR if arch == "seed" else GENERATOR
    return ZooEntry(name, GeneratorConfig(**cfg.to_dict()), rec)


def checkpoint_path(name_or_path: str | Path) -> Path:
    s = str(name_or_path)
    if s in MODEL_LOSS:
        return paths.CHECKPOINTS / f"{s}.safetensors"
    return Path(s)


def load_generator(name_or_path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """A ready (eval-mode) generator from a zoo name or a .safetensors path."""
    model, _ = load_generator_file(checkpoint_path(name_or_path), device)
    return model


def load_available(names=paths.MODEL_NAMES, device: str = "cpu") -> tuple[dict[str, Generator], dict[str, str]]:
    """Load every shipped model that is intact; return (models, {name: why it is missing})."""
    models, problems = {}, {}
    for n in names:
        try:
            models[n] = load_generator(n, device)
        except CheckpointError as e:
            problems[n] = str(e)
    return models, problems


__all__ = ["GENERATOR", "SEED_GENERATOR", "entry", "load_generator", "load_available", "checkpoint_path", "Generator"]
