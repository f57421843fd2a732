"""The loss slider's curves in the Benchmark tab's perception–distortion plots.

``benchmark.json`` may hold ``blend_curves`` (``python -m srcore.evaluate --blend-curves``,
``srcore.blend_curves``): for each pair of arms A → B, each set and α = 0, 0.1, …, 1, the mean
PSNR-Y and LPIPS of the blended network.  ``add_curves`` draws each pair as a dashed line through
its α points (labelled at the ends' neighbours by α) on a set's plot; without the key the plot
says how to compute them.  Malformed entries are skipped, never raised.  No Gradio here.
"""

from __future__ import annotations

import plotly.graph_objects as go

SETS = ("Set14", "Kodak24")  # the sets the evaluation computes the curves on


def _curve(entry: dict, name: str, alphas: list) -> tuple[list[float], list[float]] | None:
    sets = entry.get("sets")
    figs = sets.get(name) if isinstance(sets, dict) else None
    if not isinstance(figs, dict):
        return None
    x, y = figs.get("psnr_y"), figs.get("lpips")
    if not isinstance(x, list) or not isinstance(y, list) or not (len(x) == len(y) == len(alphas) > 1):
        return None
    if any(not isinstance(v, (int, float)) for v in (*x, *y)):
        return None
    return [float(v) for v in x], [float(v) for v in y]


def add_curves(fig: go.Figure, bench: dict | None, name: str, titles: dict[str, str], colours: dict[str, str]) -> int:
    """Draw every pair's blend curve of set ``name`` on ``fig``; returns how many were drawn.  On
    Set14 / Kodak24 with no ``blend_curves`` in ``bench``, a note under the plot says why."""
    bc = (bench or {}).get("blend_curves")
    if not isinstance(bc, dict):
        if name in SETS and bench:
            fig.add_annotation(
                text="no loss-slider curves in benchmark.json yet (python -m srcore.evaluate --blend-curves)",
                showarrow=False,
                x=0.5,
                y=-0.22,
                xref="paper",
                yref="paper",
                font=dict(size=11),
            )
        return 0
    alphas = bc.get("alphas") if isinstance(bc.get("alphas"), list) else []
    drawn = 0
    for entry in bc.get("pairs") or []:
        if not isinstance(entry, dict):
            continue
        xy = _curve(entry, name, alphas)
        if xy is None:
            continue
        a, b = str(entry.get("a")), str(entry.get("b"))
        ta, tb = titles.get(a, a), titles.get(b, b)
        fig.add_trace(
            go.Scatter(
                x=xy[0],
                y=xy[1],
                mode="lines+markers",
                name=f"blend {ta} → {tb}",
                line=dict(color=colours.get(b, "#444"), dash="dash", width=1.5),
                marker=dict(size=5, color=colours.get(b, "#444")),
                customdata=[[float(al)] for al in alphas],
                hovertemplate=f"{ta} → {tb}, α = %{{customdata[0]:.1f}}<br>PSNR-Y %{{x:.2f}} dB<br>"
                "LPIPS %{y:.4f}<extra></extra>",
            )
        )
        drawn += 1
    return drawn


def note(bench: dict | None) -> str:
    """One line for the tab on what the dashed curves are, or how to get them."""
    if not bench:
        return ""
    if not isinstance(bench.get("blend_curves"), dict):
        return (
            "Loss-slider curves (network interpolation between arms) are not in this benchmark.json; "
            "`python -m srcore.evaluate ... --blend-curves` adds them for Set14 and Kodak24."
        )
    return (
        "Dashed lines: the loss slider, θ(α) = (1 − α)·θ_A + α·θ_B for α = 0, 0.1, …, 1 between two arms "
        "(hover for α). A curve that bulges up and to the right of the straight line between its two "
        "arms means a blend beats both on the perception–distortion trade-off."
    )
