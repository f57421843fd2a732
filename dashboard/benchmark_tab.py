"""The Benchmark tab: mean scores per test set from ``benchmark.json``, with published rows and plots.

Table and figures come from ``dashboard.benchmark`` (no Gradio there); the tab is filled when
opened.  Callbacks return dicts keyed by component.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from dashboard import benchmark as bench


class BenchmarkTab:
    """The Benchmark tab's components (``c``) and callback."""

    def __init__(self) -> None:
        self.c: dict[str, Any] = {}

    def outputs(self) -> dict:
        c = self.c
        data, msg = bench.load()
        return {c["note"]: msg or bench.environment_text(data), c["table"]: bench.table(data),
                c["plot"]: bench.scatter(data)}

    def build(self, tab: gr.Tab) -> dict[str, Any]:
        """Lay the tab out inside ``tab`` (already entered) and wire it; returns its components by name."""
        c = self.c
        c["note"] = gr.Markdown()
        c["table"] = gr.Dataframe(headers=bench.COLUMNS, interactive=False, label="Mean scores per test set (x4)")
        gr.Markdown(bench.PUBLISHED_SOURCE)
        c["plot"] = gr.Plot(show_label=False, elem_id="plot-pd")
        tab.select(self.outputs, None, [c["note"], c["table"], c["plot"]], api_visibility="private", queue=False)
        return c
