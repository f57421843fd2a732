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

# The report's widths; resize-convolution upsampling, one LR-consistency step and one residual
# for R, G and B (see
# srcore.models.generator for why: no sub-pixel pattern, no colour cast, for any loss).
GENERATOR = GeneratorConfig(
    n1=128, n2=64, n3=32, k2=3, upsampler="resize_conv", lr_consistency=True, luma_residual=True
)
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
    ModelSpec(
        "srgan_pl",
        "SRGAN-PL",
        "#d62728",
        {"vgg": 1.0, "adv": 1e-3},
        "VGG feature loss + 1e-3 x adversarial loss (eq. g)",
    ),
)
BY_KEY: dict[str, ModelSpec] = {m.key: m for m in MODELS}
MODEL_NAMES: tuple[str, ...] = tuple(BY_KEY)
TITLES: dict[str, str] = {m.key: m.title for m in MODELS}
DESCRIPTIONS: dict[str, str] = {m.key: m.description for m in MODELS}
COLOURS: dict[str, str] = {m.key: m.colour for m in MODELS}


def by_objective(content: str, adversarial: bool) -> str:
    """The key of the table's model whose objective has this content term (``mse`` or ``vgg``),
    with or without the adversarial term: the roles the analyses name, read off the table."""
    for m in MODELS:
        if content in m.loss and ("adv" in m.loss) == adversarial:
            return m.key
    raise KeyError(f"no model with content loss {content!r} and adversarial={adversarial}")


MSE_ARM = by_objective("mse", False)  # the reference every other arm is compared with
PL_ARM = by_objective("vgg", False)
GAN_MSE_ARM = by_objective("mse", True)
GAN_PL_ARM = by_objective("vgg", True)


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


# colours for models found on disk (not in the table), in order of discovery
EXTRA_COLOURS = ("#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#aec7e8", "#ffbb78")
RESERVED_KEYS = ("lr", "bicubic", "hr")  # panel names the dashboard uses besides the models


@dataclass(frozen=True)
class Discovery:
    """What ``discover`` found: every model to show (the table's first) and the files refused, with why."""

    specs: tuple[ModelSpec, ...]
    refused: dict[str, str] = field(hash=False)


def _spec_from_metadata(
    path: Path, meta: dict, taken: set[str], colour: str, titles: frozenset[str] | set[str] = frozenset()
) -> ModelSpec:
    """A ModelSpec for a user's checkpoint from its ``model`` metadata entry (written by srcore.train).
    Its key and title are made unique against ``taken`` keys and ``titles`` (from the file name)."""
    info = meta.get("model")
    if not isinstance(info, dict) or not isinstance(info.get("loss"), dict) or not info["loss"]:
        raise CheckpointError(
            f"{path.name}: its metadata has no 'model' entry with a title and a loss, so it cannot be shown "
            "(train it with `python -m srcore.train NAME --loss ... --title ...`, which writes one)"
        )
    key = str(info.get("key") or path.stem)
    if key in taken or key in RESERVED_KEYS:
        key = path.stem if path.stem not in taken and path.stem not in RESERVED_KEYS else f"{path.stem}_{len(taken)}"
    loss = {str(k): float(v) for k, v in info["loss"].items()}
    title = str(info.get("title") or key)
    if title in titles:  # e.g. a copy of a shipped checkpoint: named after its file, so panels stay apart
        title = f"{title} ({path.name})"
        n = 2
        while title in titles:
            title, n = f"{str(info.get('title') or key)} ({path.name}, {n})", n + 1
    description = str(info.get("description") or f"your model: {format_loss(loss)}")
    return ModelSpec(key, title, colour, loss, description, checkpoint=str(path.resolve()))


def discover(folder: str | Path, extra: tuple[str | Path, ...] = ()) -> Discovery:
    """The table's models plus every generator checkpoint in ``folder`` (and the ``extra`` folders)
    whose metadata describes it (srcore.train's ``model`` entry), so a user's own model shows up
    next to the four.  A generator checkpoint without that entry is refused, named in ``refused``;
    other safetensors files (the perceptual networks' weights) are not generators and are skipped.
    Only metadata is read here; the weights load later (``load_specs``)."""
    from srcore.checkpoint import FORMAT, read_metadata

    folder = Path(folder)
    specs = list(MODELS)
    table_files = {(folder / m.file).resolve() for m in MODELS}
    taken = {m.key for m in MODELS}
    refused: dict[str, str] = {}
    for d in (folder, *map(Path, extra)):
        for path in sorted(d.glob("*.safetensors")) if d.is_dir() else ():
            if path.resolve() in table_files:
                continue
            try:
                meta = read_metadata(path)
                if meta.get("format") != FORMAT:
                    continue  # not a generator (e.g. VGG / LPIPS weights)
                colour = EXTRA_COLOURS[(len(specs) - len(MODELS)) % len(EXTRA_COLOURS)]
                s = _spec_from_metadata(path, meta, taken, colour, {x.title for x in specs})
            except CheckpointError as e:
                refused[path.name] = str(e).replace(str(d) + "/", "")
                continue
            specs.append(s)
            taken.add(s.key)
    return Discovery(tuple(specs), refused)


def load_specs(
    specs: tuple[ModelSpec, ...] | list[ModelSpec], folder: str | Path | None = None, device: str = "cpu"
) -> tuple[dict[str, Generator], dict[str, str]]:
    """Load every model of ``specs`` from ``folder`` (default: the checkpoints folder) that is intact;
    return (models, {key: why it is missing}) so the app runs with the others."""
    base = Path(folder) if folder is not None else paths.CHECKPOINTS
    models, problems = {}, {}
    for s in specs:
        try:
            models[s.key], _ = load_generator_file(base / s.file, device)
        except CheckpointError as e:
            problems[s.key] = str(e)
    return models, problems


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


__all__ = [
    "GENERATOR",
    "SEED_GENERATOR",
    "MODELS",
    "ModelSpec",
    "Discovery",
    "spec",
    "entry",
    "discover",
    "load_specs",
    "load_generator",
    "load_available",
    "checkpoint_path",
    "Generator",
]
