"""The results view of the blind study: MOS, win rates, Bradley-Terry, agreement, significance and
rater quality control, with the flagged raters excluded by default (issue 23).

While the study is open everything here needs the organiser token; after closing, the organiser
may make the results public.  The organiser's own tools are in ``dashboard.rating_admin``.
"""

from __future__ import annotations

import gradio as gr
import numpy as np
import pandas as pd

from dashboard.rating_common import CONCURRENCY, client_of, export_path, title
from srcore.rating.service import RatingService
from srcore.rating.store import SCORE_MAX, SCORE_MIN, RatingError


def fmt(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    d = df.copy()
    for c in d.columns:
        if c in ("model", "model_a", "model_b"):
            d[c] = d[c].map(lambda m: title(m) if isinstance(m, str) else m)
        elif pd.api.types.is_float_dtype(d[c]):
            d[c] = d[c].round(digits)
    return d


def mos_figure(mos: pd.DataFrame):
    """MOS bars with their 95% intervals clipped to the 1-5 scale (a t-interval from few votes can
    reach past it) and n under each bar."""
    import plotly.graph_objects as go

    fig = go.Figure()
    if len(mos):
        m = mos["mos"].astype(float)
        lo = np.clip(mos["ci_low"].astype(float), SCORE_MIN, SCORE_MAX)
        hi = np.clip(mos["ci_high"].astype(float), SCORE_MIN, SCORE_MAX)
        fig.add_bar(
            x=[f"{title(x)}<br>n={n}" for x, n in zip(mos["model"], mos["n"])],
            y=m,
            base=0,
            error_y=dict(type="data", symmetric=False, array=(hi - m).fillna(0), arrayminus=(m - lo).fillna(0)),
            text=[f"{v:.2f}" for v in m],
            textposition="inside",
        )
    fig.update_layout(
        title="Mean opinion score (95% CI, clipped to the 1-5 scale)",
        yaxis=dict(range=[0, SCORE_MAX + 0.2], title="MOS (1-5)"),
        height=380,
        margin=dict(l=40, r=20, t=50, b=60),
    )
    return fig


def win_figure(rates: pd.DataFrame, counts: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure()
    if len(rates):
        names = [title(m) for m in rates.index]
        text = [
            [("" if n == 0 else f"{r:.2f}<br>n={n}") for r, n in zip(rr, nn)]
            for rr, nn in zip(rates.to_numpy(), counts.to_numpy())
        ]
        fig.add_heatmap(
            z=rates.to_numpy(),
            x=names,
            y=names,
            zmin=0,
            zmax=1,
            colorscale="RdBu",
            text=text,
            texttemplate="%{text}",
            colorbar=dict(title="win rate"),
        )
    fig.update_layout(
        title="Pairwise win rate (row beats column; ties = 1/2)",
        height=420,
        yaxis=dict(autorange="reversed"),
        margin=dict(l=40, r=20, t=50, b=40),
    )
    return fig


def bt_figure(bt: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure()
    if len(bt):
        fig.add_scatter(
            x=bt["score"],
            y=[title(m) for m in bt["model"]],
            mode="markers",
            error_x=dict(
                type="data",
                symmetric=False,
                array=(bt["ci_high"] - bt["score"]).fillna(0),
                arrayminus=(bt["score"] - bt["ci_low"]).fillna(0),
            ),
            marker=dict(size=10),
        )
    fig.update_layout(
        title="Bradley-Terry score (log-strength, 95% bootstrap CI)",
        height=360,
        xaxis=dict(title="score (0 = average)"),
        margin=dict(l=40, r=20, t=50, b=40),
    )
    return fig


def summary_text(res, exclude: bool) -> str:
    flagged = int(res.qc["flagged"].sum()) if len(res.qc) else 0
    if exclude:
        what = f"{len(res.excluded_raters)} flagged rater(s) excluded - untick the box to include them"
    else:
        what = f"{flagged} flagged rater(s) included - tick the box to exclude them"
    uninvited = f"; {res.uninvited} session(s) without an invitation not counted" if res.uninvited else ""
    return (
        f"**{res.n_votes} votes from {res.n_raters} raters** ({what}{uninvited}; attention checks, gold and "
        "repeated items and the practice trial are not counted as votes)."
    )


def analyse(svc: RatingService, exclude: bool):
    from srcore.rating import stats  # scipy: imported on first use, not at app start-up

    s = svc.settings
    return stats.analyse(
        svc.store.votes_frame(), exclude=exclude, speeder_s=s.speeder_s, invited_only=s.access == "invited"
    )


def build_results_view(svc: RatingService) -> dict:
    """Create the results components inside the current Blocks/Tab context; returns them by name.
    While the study is open, results and exports need the organiser token."""
    gr.Markdown(
        "### Results of the blind assessment\nWhile the study is open, results are for the organiser "
        "only: enter the organiser token and press **Refresh**."
    )
    with gr.Row():
        token = gr.Textbox(label="Organiser token", type="password", max_lines=1, scale=2)
        exclude = gr.Checkbox(True, label="Exclude flagged raters (see quality control below)", scale=2)
        refresh = gr.Button("Refresh", variant="primary", scale=1)
    summary = gr.Markdown("")
    with gr.Row():
        mos_plot = gr.Plot(label="MOS")
        bt_plot = gr.Plot(label="Bradley-Terry")
    mos_tbl = gr.Dataframe(label="MOS per model", interactive=False)
    sens_tbl = gr.Dataframe(
        label="With and without the flagged raters (MOS and Bradley-Terry score)", interactive=False
    )
    img_tbl = gr.Dataframe(label="MOS per image", interactive=False)
    win_plot = gr.Plot(label="Win rates")
    bt_tbl = gr.Dataframe(label="Bradley-Terry scores", interactive=False)
    sig_tbl = gr.Dataframe(
        label="Significance (Wilcoxon signed-rank for MOS, sign test for pairs; Holm-corrected)", interactive=False
    )
    agree_tbl = gr.Dataframe(label="Inter-rater agreement", interactive=False)
    qc_tbl = gr.Dataframe(
        # no method names in the page while raters use it (the study stays blind)
        label="Rater quality control: attention checks, gold and repeated items, pacing, speeders, "
        "straight-lining, agreement with the other raters and the known-answer anchors; each flag with its reason",
        interactive=False,
    )
    with gr.Row():
        csv_btn = gr.Button("Export all votes (CSV)")
        csv_file = gr.File(label="votes.csv", interactive=False)
    outs = [summary, mos_plot, bt_plot, mos_tbl, sens_tbl, img_tbl, win_plot, bt_tbl, sig_tbl, agree_tbl, qc_tbl]

    def on_refresh(excl, tok, request: gr.Request):
        try:
            svc.results_allowed(tok, client_of(request))
        except RatingError as e:
            return (f"**{e}**",) + (None,) * (len(outs) - 1)
        res = analyse(svc, bool(excl))
        qc = res.qc.copy()
        qc["rater_id"] = qc["rater_id"].str[:8] + "..."
        return (
            summary_text(res, bool(excl)),
            mos_figure(res.mos),
            bt_figure(res.bt),
            fmt(res.mos),
            fmt(res.sensitivity),
            fmt(res.mos_images),
            win_figure(res.win_rates, res.win_counts),
            fmt(res.bt),
            fmt(res.significance, 4),
            fmt(res.agreement),
            fmt(qc),
        )

    refresh.click(on_refresh, [exclude, token], outs, api_name="rating_results", concurrency_limit=CONCURRENCY)
    exclude.change(on_refresh, [exclude, token], outs, api_visibility="private", concurrency_limit=CONCURRENCY)

    def on_csv(tok, request: gr.Request):
        try:
            svc.results_allowed(tok, client_of(request))
        except RatingError as e:
            gr.Warning(str(e))
            return None
        from srcore.atomic import write_text_atomic
        from srcore.rating import stats

        path = export_path("votes", ".csv")
        write_text_atomic(path, stats.votes_csv(svc.store.votes_frame()), mode=0o600)
        return str(path)

    csv_btn.click(on_csv, [token], csv_file, api_name="rating_export_csv", concurrency_limit=CONCURRENCY)
    return dict(token=token, refresh=refresh, exclude=exclude, summary=summary, csv_button=csv_btn, csv_file=csv_file)
