"""The About tab: what the app compares, the losses, the metrics and the data."""

from __future__ import annotations

from typing import Any

import gradio as gr

from dashboard.about import ABOUT

LATEX = [{"left": "$$", "right": "$$", "display": True}, {"left": "$", "right": "$", "display": False}]


def build() -> dict[str, Any]:
    """Lay the tab out in the current context; returns its components by name."""
    return {"text": gr.Markdown(ABOUT, latex_delimiters=LATEX)}
