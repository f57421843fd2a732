"""The Benchmark tab: mean scores per test set from ``benchmark.json``, with published rows and
one perception–distortion plot per set.

Table and figures come from ``dashboard.benchmark`` (no Gradio there); the tab is filled when
opened.  Callbacks return dicts keyed by component.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from dashboard import benchmark as bench
from dashboard import blend_plot
from srcore.zoo import ModelSpec

PINNED_WIDTHS = (96, 160)  # px of the Set and Model columns, pinned at these offsets by CSS below
_CELL = '#bench-table [role=gridcell][data-col="{i}"], #bench-table .header-cell[data-heading="{i}"]'
# Set and Model stay in sight while the figures scroll sideways (sticky cells over an opaque background)
CSS = "\n".join(
    [
        ", ".join(_CELL.format(i=i) for i in range(len(PINNED_WIDTHS)))
        + " { position: sticky !important; z-index: 3; background-color: inherit; }",
        ", ".join(f'#bench-table .header-cell[data-heading="{i}"]' for i in range(len(PINNED_WIDTHS)))
        + " { background-color: var(--table-even-background-fill, var(--background-fill-primary)); z-index: 4; }",
        *(_CELL.format(i=i) + f" {{ left: {sum(PINNED_WIDTHS[:i])}px; }}" for i in range(len(PINNED_WIDTHS))),
        _CELL.format(i=len(PINNED_WIDTHS) - 1) + " { box-shadow: inset -2px 0 0 var(--border-color-primary); }",
        "",
    ]
)


class BenchmarkTab:
    """The Benchmark tab's components (``c``) and callback, for the models in ``specs``."""

    def __init__(self, specs: tuple[ModelSpec, ...], folder: Path) -> None:
        self.specs = specs
        self.folder = folder
        self.c: dict[str, Any] = {}

    def outputs(self) -> dict:
        c = self.c
        data, msg = bench.load(self.folder)
        df = bench.table(data, self.specs)
        names = bench.sets(data)
        out = {
            c["note"]: msg
            or "  \n".join(t for t in (bench.environment_text(data), blend_plot.note(data), self.missing(data)) if t),
            c["spread"]: "" if msg else bench.uncertainty_text(data),
            c["pairs"]: gr.Dataframe(
                bench.pairwise_table(data, self.specs), visible=bool((data or {}).get("pairwise"))
            ),
            # every row shown: no inner scroll box hiding the last rows (wrapped headers and cells are tall)
            # Set and Model at fixed widths: CSS (above, in the page's style) pins them at those offsets
            c["table"]: gr.Dataframe(
                bench.styled(df),
                headers=list(df.columns),
                max_height=160 + 64 * len(df),
                column_widths=[f"{w}px" for w in PINNED_WIDTHS],
            ),
        }
        for i, plot in enumerate(c["plots"]):
            out[plot] = (
                gr.Plot(bench.set_figure(data, names[i], self.specs), visible=True)
                if i < len(names)
                else gr.Plot(None, visible=i == 0 and not names)
            )
        return out

    def missing(self, data: dict | None) -> str:
        """Which of the shown models (your own ones, typically) ``benchmark.json`` has no figures for, and how to add them."""
        have = {k for body in (data or {}).get("sets", {}).values() for k in body.get("models", {})}
        gone = [s for s in self.specs if s.key not in have]
        if not data or not gone:
            return ""
        how = " ".join(f"--model {Path(s.checkpoint).name if s.checkpoint else s.key}" for s in gone)
        return (
            f"Not in this benchmark: {', '.join(f'**{s.title}**' for s in gone)} (benchmark.json has no figures "
            f"for {'it' if len(gone) == 1 else 'them'}); `python -m srcore.evaluate --set Set5=DIR ... --model bicubic "
            f"... {how} --json checkpoints/benchmark.json` adds {'it' if len(gone) == 1 else 'them'}."
        )

    def build(self, tab: gr.Tab) -> dict[str, Any]:
        """Lay the tab out inside ``tab`` (already entered) and wire it; returns its components by name."""
        c = self.c
        c["note"] = gr.Markdown()
        c["spread"] = gr.Markdown(elem_id="bench-spread")
        c["table"] = gr.Dataframe(
            interactive=False,
            wrap=True,
            label="Mean scores per test set (x4), ± sd over seeds; ★ best per set where resolved, “tie” where not",
            elem_id="bench-table",
            # Set and Model stay in sight while the figures scroll sideways: Gradio 6's virtual table
            # ignores ``pinned_columns``, so CSS (above) pins them
        )
        gr.Markdown(
            bench.PUBLISHED_SOURCE + " Arrows: ↑ higher is better, ↓ lower is better, →x closest to x is better."
        )
        c["pairs"] = gr.Dataframe(
            interactive=False,
            wrap=True,
            label="Each arm against SRCNN-MSE and bicubic: mean paired difference and its 95% interval",
            elem_id="bench-pairs",
            visible=False,
        )
        c["plots"] = []
        for i in range(0, bench.MAX_SETS, 2):
            with gr.Row():
                c["plots"] += [
                    gr.Plot(show_label=False, visible=False, elem_id="plot-pd" if i + j == 0 else f"plot-pd-{i + j}")
                    for j in range(2)
                ]
        tab.select(
            self.outputs,
            None,
            [c["note"], c["spread"], c["table"], c["pairs"], *c["plots"]],
            api_visibility="private",
            queue=False,
        )
        return c
