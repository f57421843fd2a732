"""Issue 22's fixes outside the Compare tab: the Training plots start near the arms and name each
run once in their legends; the About tab no longer describes the old network and validation."""

from __future__ import annotations

import pytest

from dashboard import training
from dashboard.about import about_text
from srcore import paths
from srcore.zoo import MODELS


def test_training_plots_focus_on_the_arms_and_list_each_run_once():
    runs = training.load_runs(MODELS, paths.CHECKPOINTS)
    arms = [r for k, r in runs.items() if k != training.PRETRAIN and r.offset_steps]
    if not arms:
        pytest.skip("no arm histories with a pre-training offset in checkpoints/history")
    keys = [m.key for m in MODELS]
    start = min(r.offset_steps for r in arms)
    for fig in (training.loss_figure(runs, keys, True, 0.6), training.val_figure(runs, keys)):
        names = [t.name for t in fig.data if t.showlegend is not False]
        assert len(names) == len(set(names)), names
        lo, hi = fig.layout.xaxis.range
        assert lo < start < hi and (start - lo) < 0.5 * (hi - lo), "the arms take most of the axis"


def test_focus_leaves_arms_that_fill_the_axis_alone():
    pre = training.Run(training.PRETRAIN, "pre", "#777", [{"kind": "train", "step": s} for s in (0, 100)])
    arm = training.Run("a", "A", "#f00", [{"kind": "train", "step": s} for s in (0, 100)], offset_steps=100)
    import plotly.graph_objects as go

    fig = training.focus_arms(go.Figure(), [pre, arm], "steps")
    assert fig.layout.xaxis.range is None


def test_about_text_is_current():
    text = about_text(MODELS, None)
    assert "PixelShuffle" not in text and "zoom row" not in text
    assert "validation and the benchmark use Set5" not in text and "held out" in text
    assert "resize-convolution" in text
