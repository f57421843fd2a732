"""The model zoo: one table of the four models, from which everything else derives.

``MODELS`` holds one frozen ``ModelSpec`` per model (key, title, colour, objective, checkpoint
file, description).  The CLIs' choices, the trainer, the experiment's arms, the dashboard's
panels, plots, benchmark and rating mode, and the README tables all read it.
``load_generator("srgan_pl")`` loads ``checkpoints/srgan_pl.safetensors``; a path loads that file.
``GENERATOR`` is the architecture every arm uses (the comparison is about the loss, not the
network); ``SEED_GENERATOR`` is the report's own network.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from srcore import paths
from srcore.checkpoint import CheckpointError, load_generator_file
from srcore.config import Recipe, report_recipe
from srcore.losses_table import format_loss
from srcore.models.generator import Generator, GeneratorConfig

# The report's widths; resize-convolution upsampling and one LR-consistency step (see
# srcore.models.generator for why: no sub-pixel pattern, no colour cast, for any loss).
GENERATOR = GeneratorConfig(n1=128, n2=64, n3=32, k2=3, upsampler="resize_conv", lr_consistency=True)
SEED_GENERATOR = GeneratorConfig(n1=128, n2=64, k2=3, upsampler="nearest", residual=False)


@dataclass(frozen=True)
class ModelSpec:
    """One model of the comparison: what it is called, how it is drawn, what it minimises."""

    key: str
    title: str
    colour: str
    loss: dict[str, float] = field(hash=False)
    description: str
    checkpoint: str = ""  # file name in the checkpoints folder; default KEY.safetensors

    @property
    def file(self) -> str:
        return self.checkpoint or f"{self.key}.safetensors"

    @property
    def loss_text(self) -> str:
        return format_loss(self.loss)


MODELS: tuple[ModelSpec, ...] = (
    ModelSpec("srcnn_mse", "SRCNN-MSE", "#1f77b4", {"mse": 1.0}, "pixel-wise MSE loss (eq. c)"),
    ModelSpec("srcnn_pl", "SRCNN-PL", "#2ca02c", {"vgg": 1.0}, "VGG feature loss before the 3rd max-pool (eq. f)"),
    ModelSpec("srgan_mse", "SRGAN-MSE", "#ff7f0e", {"mse": 1.0, "adv": 1e-3}, "MSE + 1e-3 x adversarial loss (eq. m)"),
    ModelSpec("srgan_pl", "SRGAN-PL", "#d62728", {"vgg": 1.0, "adv": 1e-3},
              "VGG feature loss + 1e-3 x adversarial loss (eq. g)"),
)
BY_KEY: dict[str, ModelSpec] = {m.key: m for m in MODELS}
MODEL_NAMES: tuple[str, ...] = tuple(BY_KEY)
TITLES: dict[str, str] = {m.key: m.title for m in MODELS}
DESCRIPTIONS: dict[str, str] = {m.key: m.description for m in MODELS}
COLOURS: dict[str, str] = {m.key: m.colour for m in MODELS}


def spec(key: str) -> ModelSpec:
    """The table entry of a model key; a clear error naming the choices otherwise."""
    try:
        return BY_KEY[key]
    except KeyError:
        raise KeyError(f"unknown model {key!r}; choose from {', '.join(BY_KEY)}") from None


@dataclass
class ZooEntry:
    name: str
    arch: GeneratorConfig
    recipe: Recipe


def entry(name: str, recipe: str = "finetune", arch: str = "default") -> ZooEntry:
    """Architecture and a recipe for a zoo name; ``recipe="report"`` the report's settings,
    ``arch="seed"`` the report's network."""
    s = spec(name)
    rec = report_recipe(s.loss) if recipe == "report" else Recipe(loss=dict(s.loss))
    cfg = SEED_GENERATOR if arch == "seed" else GENERATOR
    return ZooEntry(name, GeneratorConfig(**cfg.to_dict()), rec)


def checkpoint_path(name_or_path: str | Path) -> Path:
    s = str(name_or_path)
    if s in BY_KEY:
        return paths.CHECKPOINTS / BY_KEY[s].file
    return Path(s)


def load_generator(name_or_path: str | Path, device: str | torch.device = "cpu") -> Generator:
    """A ready (eval-mode) generator from a zoo name or a .safetensors path."""
    model, _ = load_generator_file(checkpoint_path(name_or_path), device)
    return model


def load_available(names=MODEL_NAMES, device: str = "cpu") -> tuple[dict[str, Generator], dict[str, str]]:
    """Load every shipped model that is intact; return (models, {name: why it is missing})."""
    models, problems = {}, {}
    for n in names:
        try:
            models[n] = load_generator(n, device)
        except CheckpointError as e:
            problems[n] = str(e)
    return models, problems


__all__ = ["GENERATOR", "SEED_GENERATOR", "MODELS", "ModelSpec", "spec", "entry", "load_generator", "load_available",
           "checkpoint_path", "Generator"]
