"""Where the project's files live: shipped checkpoints and perceptual-network weights."""

from __future__ import annotations

import os
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
CHECKPOINTS = Path(os.environ.get("SR_CHECKPOINTS", REPO_ROOT / "checkpoints"))
VGG16_WEIGHTS = CHECKPOINTS / "vgg16_relu3_3.safetensors"
VGG19_WEIGHTS = CHECKPOINTS / "vgg19_relu3_4.safetensors"  # optional, user-supplied
ALEXNET_WEIGHTS = CHECKPOINTS / "alexnet_features.safetensors"
LPIPS_LIN_WEIGHTS = CHECKPOINTS / "lpips_alex_lin.safetensors"
