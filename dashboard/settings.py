"""The app's settings: every ``SR_*`` / ``GRADIO_SERVER_*`` variable, read once at start-up.

``app.py`` calls ``Settings.from_env()`` once and hands the object to ``build_demo``; nothing else
in ``dashboard`` reads the environment, so what the app runs with is visible in one place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from srcore import paths


class SettingsError(ValueError):
    """A setting with an unusable value; the message names the variable."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a whole number") from None


@dataclass(frozen=True)
class Settings:
    """What the app runs with (each field names its environment variable)."""

    checkpoints: Path = paths.CHECKPOINTS  # SR_CHECKPOINTS: generators, perceptual weights, histories, benchmark
    model_dirs: tuple[Path, ...] = ()  # SR_MODELS: more folders of your own checkpoints (os.pathsep-separated)
    threads: int = 0  # SR_THREADS: parallel compare workers (0 = one per core)
    rating_tabs: bool = True  # SR_RATING_TABS=0 leaves out the Rate / Results tabs
    host: str = "127.0.0.1"  # GRADIO_SERVER_NAME
    port: int = 7860  # GRADIO_SERVER_PORT
    extra: dict[str, str] = field(default_factory=dict, hash=False)  # the raw SR_* values, for the start-up log

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read the settings from ``env`` (default: the process environment)."""
        env = os.environ if env is None else env
        dirs = tuple(Path(p) for p in env.get("SR_MODELS", "").split(os.pathsep) if p.strip())
        return cls(
            checkpoints=Path(env["SR_CHECKPOINTS"]) if env.get("SR_CHECKPOINTS") else paths.CHECKPOINTS,
            model_dirs=dirs,
            threads=max(0, _int(env, "SR_THREADS", 0)),
            rating_tabs=env.get("SR_RATING_TABS", "1").strip() != "0",
            host=env.get("GRADIO_SERVER_NAME", "127.0.0.1"),
            port=_int(env, "GRADIO_SERVER_PORT", 7860),
            extra={k: v for k, v in env.items() if k.startswith("SR_")},
        )
