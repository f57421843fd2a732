"""Training recipes as plain dataclasses (no YAML, no registry).

``report_recipe`` reproduces the report's settings for a loss; ``finetune_recipe`` is a generic
fine-tune.  The protocol that made the shipped checkpoints (one MSE pre-training, four arms
of equal length that differ only in the loss) is ``srcore.experiment``'s presets.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

from srcore.losses_table import LOSS_TERMS, format_loss, parse_loss

SRGAN_VGG_SCALE = 1 / 12.75  # Ledig et al. 2017, section 2.2.1


def _legacy_loss(loss: str, adv_weight: float) -> dict[str, float]:
    """Metadata of earlier checkpoints stored the loss as "vgg+adv" with a separate adv_weight."""
    return {t: (adv_weight if t == "adv" else 1.0) for t in loss.split("+")}


@dataclass
class Recipe:
    """How a generator is trained; stored in the checkpoint's metadata."""

    # The objective as named weighted terms (srcore.losses_table.LOSS_TERMS), e.g. {"vgg": 1, "adv": 1e-3}.
    loss: dict[str, float] = field(default_factory=lambda: {"mse": 1.0})
    vgg_variant: str = "vgg16"  # vgg16 relu3_3, or vgg19 relu3_4 if its weights are supplied
    # VGG feature maps are multiplied by this before the distance (SRGAN [1] uses 1/12.75 so the
    # content loss is on the MSE's scale).  Adam makes it irrelevant without an adversarial term;
    # with one it sets how much the 1e-3 adversarial term counts (unscaled, VGG loss ~6 swamps it).
    vgg_feature_scale: float = 1.0
    init_from: str | None = None  # zoo name or checkpoint path of the generator to start from
    steps: int = 20000  # optimiser steps (iterations), not epochs
    batch: int = 16
    patch: int = 96  # HR crop side; LR crops are patch // 4
    lr: float = 5e-4
    betas: tuple[float, float] = (0.9, 0.999)
    lr_d: float = 1e-4
    schedule: str = "cosine"  # cosine | constant
    warmup: int = 200
    min_lr_ratio: float = 0.02
    data: str = "crops"  # crops (random crops, MATLAB bicubic x4) | seed (report: resize to 256/64)
    crops_per_image: int = 8  # random crops drawn per image per epoch
    augment: bool = True  # flips and 90-degree rotations (seed data: horizontal flips only)
    ema_decay: float = 0.999  # 0 disables the exponential moving average of G
    grad_clip: float = 0.0  # 0 disables

    def __post_init__(self) -> None:
        if isinstance(self.loss, str):
            self.loss = parse_loss(self.loss)
        self.loss = {str(k): float(v) for k, v in dict(self.loss).items()}
        unknown = [k for k in self.loss if k not in LOSS_TERMS]
        if unknown or not self.loss:
            raise ValueError(f"unknown loss term(s) {unknown}; choose from {', '.join(LOSS_TERMS)}")
        if not any(LOSS_TERMS[k].content for k in self.loss):
            raise ValueError(
                f"loss {format_loss(self.loss)} has no content term ({', '.join(k for k, t in LOSS_TERMS.items() if t.content)})"
            )
        if self.patch % 4:
            raise ValueError("patch must be a multiple of 4")
        self.betas = (float(self.betas[0]), float(self.betas[1]))

    @property
    def adversarial(self) -> bool:
        return "adv" in self.loss

    @property
    def uses_vgg(self) -> bool:
        return "vgg" in self.loss

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> Recipe:
        d = dict(d)
        if isinstance(d.get("loss"), str) and "=" not in d["loss"]:
            d["loss"] = _legacy_loss(d["loss"], float(d.get("adv_weight", 1e-3)))
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def updated(self, **kw) -> Recipe:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


def report_recipe(loss: dict[str, float]) -> Recipe:
    """The report's settings for a loss: Adam 2e-4, beta1 0.5, batch 10, 256/64 resized images, 201 iterations."""
    return Recipe(
        loss=dict(loss),
        steps=201,
        batch=10,
        patch=256,
        lr=2e-4,
        betas=(0.5, 0.999),
        lr_d=2e-4,
        schedule="constant",
        warmup=0,
        data="seed",
        ema_decay=0.0,
    )


def finetune_recipe(loss: dict[str, float], init_from: str | None = None) -> Recipe:
    """A loss arm fine-tuned from an MSE generator (see srcore.experiment for the protocol as run)."""
    if set(loss) == {"mse"} and init_from is None:
        return Recipe(loss=dict(loss), steps=20000, batch=16, patch=96, lr=5e-4)
    return Recipe(
        loss=dict(loss),
        init_from=init_from,
        steps=2000,
        batch=8,
        patch=96,
        lr=1e-4,
        lr_d=1e-4,
        warmup=50,
        ema_decay=0.99,
        vgg_feature_scale=SRGAN_VGG_SCALE,
    )


@dataclass
class TrainConfig:
    """Everything a training run needs besides the recipe (paths, intervals, hardware)."""

    name: str
    train_dirs: list[str] = field(default_factory=list)
    val_dirs: list[str] = field(default_factory=list)
    out_dir: str = "runs/srcnn_mse"
    export: str | None = None  # where the final generator goes (.safetensors)
    save_every: int = 200
    val_every: int = 500
    log_every: int = 10
    picture_every: int = 1000
    workers: int = 2
    seed: int = 0
    device: str = "auto"
    amp: bool = True  # bf16 autocast on GPU only
    deterministic: bool = False
    threads: int = 0  # torch CPU threads; 0 keeps torch's default
    val_max_side: int = 0  # centre-crop validation images to this HR side (0: whole images)
    progress: bool = True
    holdout: int = 0  # training images held out (by name hash) for validation
    channels_last: bool = False  # off until measured faster on a GPU (benchmarks/train_speed.py)
    compile: bool = False  # torch.compile; off until measured faster
    cudnn_benchmark: bool = True  # GPU only
    data_timeout: float = 300.0  # seconds a data worker may take for one batch before the run ends with an error
    dist_timeout: float = 1800.0  # seconds a collective may wait for the other ranks (torchrun)
    lock_wait: float = 0.0  # seconds to wait for another trainer to leave the run folder (then refuse)

    def to_dict(self) -> dict:
        return asdict(self)
