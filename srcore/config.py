"""Training recipes as plain dataclasses (no YAML, no registry).

``report_recipe`` reproduces the report's settings; ``recommended_recipe`` is what the shipped
checkpoints were trained with: MSE pre-training, then the PL and GAN models fine-tuned from
the MSE generator.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace

LOSSES = ("mse", "vgg", "mse+adv", "vgg+adv")


@dataclass
class Recipe:
    """How a generator is trained; stored in the checkpoint's metadata."""

    loss: str = "mse"  # mse (c), vgg (d/f), mse+adv (m), vgg+adv (g)
    adv_weight: float = 1e-3  # weight of -log D(G(x)) in (g) and (m)
    vgg_variant: str = "vgg16"  # vgg16 relu3_3, or vgg19 relu3_4 if its weights are supplied
    # VGG feature maps are multiplied by this before the distance (SRGAN [1] uses 1/12.75 so the
    # content loss is on the MSE's scale).  Adam makes it irrelevant for SRCNN-PL; for SRGAN-PL it
    # sets how much the 1e-3 adversarial term counts (unscaled, VGG loss ~6 swamps it).
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
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r}; choose from {LOSSES}")
        if self.patch % 4:
            raise ValueError("patch must be a multiple of 4")
        self.betas = tuple(self.betas)

    @property
    def adversarial(self) -> bool:
        return self.loss.endswith("+adv")

    @property
    def uses_vgg(self) -> bool:
        return self.loss.startswith("vgg")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "Recipe":
        return cls(**{k: v for k, v in d.items() if k in cls.__dataclass_fields__})

    def updated(self, **kw) -> "Recipe":
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


SRGAN_VGG_SCALE = 1 / 12.75  # Ledig et al. 2017, section 2.2.1
MODEL_LOSS = {"srcnn_mse": "mse", "srcnn_pl": "vgg", "srgan_mse": "mse+adv", "srgan_pl": "vgg+adv"}


def report_recipe(name: str) -> Recipe:
    """The report's settings: Adam 2e-4, beta1 0.5, batch 10, 256/64 resized images, 201 iterations."""
    return Recipe(
        loss=MODEL_LOSS[name], steps=201, batch=10, patch=256, lr=2e-4, betas=(0.5, 0.999), lr_d=2e-4,
        schedule="constant", warmup=0, data="seed", ema_decay=0.0,
    )


def recommended_recipe(name: str) -> Recipe:
    """Pre-train SRCNN-MSE; fine-tune the other three from it with their own loss."""
    if name == "srcnn_mse":
        return Recipe(loss="mse", steps=20000, batch=16, patch=96, lr=5e-4)
    return Recipe(
        loss=MODEL_LOSS[name], init_from="srcnn_mse", steps=2000, batch=8, patch=96, lr=1e-4,
        lr_d=1e-4, warmup=50, ema_decay=0.99,
        vgg_feature_scale=SRGAN_VGG_SCALE if name == "srgan_pl" else 1.0,
    )


RECIPES = {"report": report_recipe, "recommended": recommended_recipe}


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

    def to_dict(self) -> dict:
        return asdict(self)
