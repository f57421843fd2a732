"""The About tab: what the app compares, the models and losses, the metrics, the protocol as run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from dashboard import benchmark
from dashboard.about import about_text
from srcore.zoo import ModelSpec

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def build(specs: tuple[ModelSpec, ...], folder: Path) -> dict[str, Any]:
    """Lay the tab out in the current context; returns its components by name.  The protocol is
    read from the folder's ``benchmark.json`` once, when the app is built."""
    data, _ = benchmark.load(folder)
    return {"text": gr.Markdown(about_text(specs, data), latex_delimiters=LATEX)}
