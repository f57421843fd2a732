"""Where the project's files live: shipped checkpoints and perceptual-network weights.

The checkpoints folder is, in this order: ``SR_CHECKPOINTS``; the ``checkpoints/`` of the source
checkout this package runs from (a clone, or ``pip install -e``); the copy a non-editable install
puts in ``<prefix>/share/sr-loss-lab/checkpoints`` (``data-files`` in pyproject.toml).  When none
exists, the checkout's path is kept so that errors name it, and ``missing_hint`` says what to do.
"""

from __future__ import annotations

import os
import sys
import sysconfig
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARE_NAME = Path("share") / "sr-loss-lab" / "checkpoints"


def installed_checkpoints() -> list[Path]:
    """Where a non-editable install's checkpoints may be: under each installation scheme's data
    prefix (a venv, the user site, the system)."""
    prefixes = [sysconfig.get_paths().get("data"), sys.prefix, sysconfig.get_paths("posix_user").get("data")]
    return list(dict.fromkeys(Path(p) / SHARE_NAME for p in prefixes if p))


def find_checkpoints() -> Path:
    env = os.environ.get("SR_CHECKPOINTS")
    if env:
        return Path(env)
    local = REPO_ROOT / "checkpoints"
    if local.is_dir():
        return local
    return next((p for p in installed_checkpoints() if p.is_dir()), local)


def missing_hint() -> str:
    """What to do when a shipped file is not in ``CHECKPOINTS``."""
    return (
        "set SR_CHECKPOINTS to a folder with the generators and perceptual weights (a clone's checkpoints/), "
        "or install the package with `pip install .` from a clone, which copies them along"
    )


CHECKPOINTS = find_checkpoints()
VGG16_WEIGHTS = CHECKPOINTS / "vgg16_relu3_3.safetensors"
VGG19_WEIGHTS = CHECKPOINTS / "vgg19_relu3_4.safetensors"  # optional, user-supplied
ALEXNET_WEIGHTS = CHECKPOINTS / "alexnet_features.safetensors"
LPIPS_LIN_WEIGHTS = CHECKPOINTS / "lpips_alex_lin.safetensors"
