"""The "Rate" and "Results" tabs: blind human assessment (issue 6).

Mount inside an existing ``gr.Blocks``::

    from dashboard.rating_tab import build_rating_tab, build_results_tab
    with gr.Tab("Rate"):
        build_rating_tab()
    with gr.Tab("Results"):
        build_results_tab()

or run the two tabs alone: ``python -m dashboard.rating_tab [--port 7861] [--host 127.0.0.1]``.

Settings (environment): ``SR_RATINGS_DB`` (database file), ``SR_RATING_IMAGES`` (an organiser's
image folder instead of the bundled photos), ``SR_RATING_CROP`` (crop side in HR pixels, 128),
``SR_RATING_ZOOM`` (display enlargement, 3), ``SR_RATING_PAIRS`` (pairs per session, 40),
``SR_ADMIN_TOKEN`` (turns on the organiser tools), ``SR_RATING_SECRET`` (key for the rater id kept
in the browser; by default a random one stored in the database).

Blindness: the browser receives only pixels and progress.  The stimulus token lives in a
server-side ``gr.State``; which model it stands for lives only in the ratings database.  The
rater's anonymous id is kept in the browser (``gr.BrowserState``, encrypted), so a rater who
closes the tab and comes back continues where they stopped.

All computation lives in ``srcore.rating``; this module only lays out components and relays.
"""

from __future__ import annotations

import argparse
import hmac
import os
import secrets
import tempfile
import threading
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from srcore.rating.service import RatingService, Served
from srcore.rating.stimuli import stimulus_plan
from srcore import zoo
from srcore.rating.store import RatingError, RatingStore

MOS_LABELS = ("bad", "poor", "fair", "good", "excellent")
PROTOCOL_CHOICES = [("Score single images (1 = bad ... 5 = excellent)", "mos"), ("Compare two images side by side", "pair")]
TITLES = {"bicubic": "Bicubic", **zoo.TITLES, "hr": "HR (original)"}
CONCURRENCY = 16  # rating events are short SQLite transactions; let many run at once

_service: RatingService | None = None
_service_lock = threading.Lock()


def get_service(warm: bool = True, models: dict | None = None, missing: dict[str, str] | None = None) -> RatingService:
    """The process-wide rating service: the store at ``default_db_path()`` and the stimulus set,
    computed once (``warm``: now, which takes a few seconds; else on first use).  The app builds
    its tabs with ``warm=False`` and warms the stimuli in the background once it is serving."""
    global _service
    with _service_lock:
        if _service is None:
            _service = RatingService(RatingStore(), models=models, missing=missing)
        svc = _service
        if warm and svc._stimuli is None:
            st = svc.stimuli
            for i in st.image_ids:  # warm the zoomed crops so no request pays for them
                for m in st.models:
                    st.image(i, m)
        return svc


def _unavailable(what: str, e: Exception) -> dict:
    gr.Markdown(f"**The {what} is unavailable:** {e}")
    return {}


def _title(m: str) -> str:
    return TITLES.get(m, m)


# ------------------------------------------------------------------ Rate tab


def _render(s: Served):
    """Outputs: rater, session, progress, status, mos_box, mos_img, pair_box, left, right."""
    session = {"rater": s.rater_id, "protocol": s.protocol, "token": s.token}
    progress = f"**Progress: {s.progress}**"
    status = s.message
    if s.finished:
        return (s.rater_id, session, progress, status, gr.update(visible=False), None,
                gr.update(visible=False), None, None)
    if s.protocol == "mos":
        return (s.rater_id, session, progress, status, gr.update(visible=True), s.images[0],
                gr.update(visible=False), None, None)
    return (s.rater_id, session, progress, status, gr.update(visible=False), None,
            gr.update(visible=True), s.images[0], s.images[1])


def _error(msg: str):
    return (gr.skip(), gr.skip(), gr.skip(), f"**{msg}**", gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip())


def build_rating_tab(service: RatingService | None = None, models: dict | None = None,
                     missing: dict[str, str] | None = None) -> dict:
    """Create the rating components inside the current Blocks/Tab context; returns them by name
    (an empty dict, with the reason shown, when the store or the stimuli cannot be set up).
    ``models`` / ``missing``: the app's loaded generators and what is wrong with the others."""
    try:
        svc = service or get_service(warm=False, models=models, missing=missing)
        plan = stimulus_plan(missing)  # cheap: the crops are computed on first use / in the background
    except Exception as e:  # a bad image folder or an unwritable database must not take the app down
        return _unavailable("rating mode", e)
    secret = os.environ.get("SR_RATING_SECRET") or svc.store.meta_default("browser_secret", lambda: secrets.token_hex(16))
    rater = gr.BrowserState(None, storage_key="sr_dashboard_rater_id", secret=secret)
    session = gr.State(None)
    missing = f" ({len(plan.missing)} model(s) unavailable and left out)" if plan.missing else ""
    gr.Markdown(
        "### Blind quality assessment\n"
        f"You will see zoomed-in crops ({plan.crop}x{plan.crop} pixels, shown {plan.zoom}x larger) of "
        f"{plan.n_images} photos, some super-resolved from a 4x smaller version, some original. "
        "Nothing tells you which method made which image. Judge the image quality (sharpness, "
        "natural detail, artefacts). Your answers are anonymous; you can stop at any time and "
        f"come back later in the same browser to continue.{missing}")
    with gr.Row():
        protocol = gr.Radio(PROTOCOL_CHOICES, value="mos", label="Task", scale=3)
        start = gr.Button("Start / continue", variant="primary", scale=1)
    progress = gr.Markdown("")
    status = gr.Markdown("")
    with gr.Group(visible=False) as mos_box:
        mos_img = gr.Image(label="Image", interactive=False, format="png", buttons=["fullscreen"], show_label=False)
        gr.Markdown("**How good is the quality of this image?**")
        with gr.Row():
            score_btns = [gr.Button(f"{i} - {lab}") for i, lab in enumerate(MOS_LABELS, start=1)]
    with gr.Group(visible=False) as pair_box:
        with gr.Row():
            left = gr.Image(label="Left", interactive=False, format="png", buttons=["fullscreen"])
            right = gr.Image(label="Right", interactive=False, format="png", buttons=["fullscreen"])
        gr.Markdown("**Which looks better?**")
        with gr.Row():
            b_left = gr.Button("Left")
            b_tie = gr.Button("Can't tell")
            b_right = gr.Button("Right")
    outputs = [rater, session, progress, status, mos_box, mos_img, pair_box, left, right]

    def on_start(proto, rater_id):
        try:
            return _render(svc.start(rater_id, proto or "mos"))
        except RatingError as e:
            return _error(str(e))
        except (OSError, ValueError) as e:  # e.g. the organiser's image folder became unreadable
            return _error(f"The rating images could not be prepared: {e}")

    def make_vote(answer):
        def on_vote(sess):
            if not sess or not sess.get("token"):
                return _error("Press \"Start / continue\" first." if not sess else "This session is complete.")
            try:
                return _render(svc.vote(sess["rater"], sess["protocol"], sess["token"], answer))
            except RatingError as e:
                return _error(str(e))
        return on_vote

    start.click(on_start, [protocol, rater], outputs, api_name="rating_start", concurrency_limit=CONCURRENCY)
    for i, b in enumerate(score_btns, start=1):
        b.click(make_vote(i), [session], outputs, api_name=f"rating_score_{i}", concurrency_limit=CONCURRENCY,
                trigger_mode="once")
    for b, ans in ((b_left, "left"), (b_tie, "tie"), (b_right, "right")):
        b.click(make_vote(ans), [session], outputs, api_name=f"rating_choose_{ans}", concurrency_limit=CONCURRENCY,
                trigger_mode="once")
    return dict(rater=rater, session=session, protocol=protocol, start=start, progress=progress, status=status,
                mos_image=mos_img, score_buttons=score_btns, left=left, right=right,
                choice_buttons=[b_left, b_tie, b_right])


# ------------------------------------------------------------------ Results tab


def _fmt(df: pd.DataFrame, digits: int = 3) -> pd.DataFrame:
    d = df.copy()
    for c in d.columns:
        if c in ("model", "model_a", "model_b"):
            d[c] = d[c].map(lambda m: _title(m) if isinstance(m, str) else m)
        elif pd.api.types.is_float_dtype(d[c]):
            d[c] = d[c].round(digits)
    return d


def _mos_figure(mos: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure()
    if len(mos):
        fig.add_bar(x=[_title(m) for m in mos["model"]], y=mos["mos"],
                    error_y=dict(type="data", symmetric=False, array=(mos["ci_high"] - mos["mos"]).fillna(0),
                                 arrayminus=(mos["mos"] - mos["ci_low"]).fillna(0)),
                    text=[f"n={n}" for n in mos["n"]], textposition="inside")
    fig.update_layout(title="Mean opinion score (95% CI)", yaxis=dict(range=[0, 5.5], title="MOS (1-5)"),
                      height=380, margin=dict(l=40, r=20, t=50, b=40))
    return fig


def _win_figure(rates: pd.DataFrame, counts: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure()
    if len(rates):
        names = [_title(m) for m in rates.index]
        text = [[("" if n == 0 else f"{r:.2f}<br>n={n}") for r, n in zip(rr, nn)]
                for rr, nn in zip(rates.to_numpy(), counts.to_numpy())]
        fig.add_heatmap(z=rates.to_numpy(), x=names, y=names, zmin=0, zmax=1, colorscale="RdBu",
                        text=text, texttemplate="%{text}", colorbar=dict(title="win rate"))
    fig.update_layout(title="Pairwise win rate (row beats column; ties = 1/2)", height=420,
                      yaxis=dict(autorange="reversed"), margin=dict(l=40, r=20, t=50, b=40))
    return fig


def _bt_figure(bt: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure()
    if len(bt):
        fig.add_scatter(x=bt["score"], y=[_title(m) for m in bt["model"]], mode="markers",
                        error_x=dict(type="data", symmetric=False, array=(bt["ci_high"] - bt["score"]).fillna(0),
                                     arrayminus=(bt["score"] - bt["ci_low"]).fillna(0)), marker=dict(size=10))
    fig.update_layout(title="Bradley-Terry score (log-strength, 95% bootstrap CI)", height=360,
                      xaxis=dict(title="score (0 = average)"), margin=dict(l=40, r=20, t=50, b=40))
    return fig


def _export_path(stem: str, suffix: str, max_age_s: float = 3600) -> Path:
    """A fresh file name in one temp folder; exports older than ``max_age_s`` are removed."""
    d = Path(tempfile.gettempdir()) / "sr-rating-exports"
    d.mkdir(parents=True, exist_ok=True)
    now = time.time()
    for old in d.iterdir():
        try:
            if now - old.stat().st_mtime > max_age_s:
                old.unlink()
        except OSError:
            pass
    return d / f"{stem}-{time.strftime('%Y%m%d-%H%M%S')}-{secrets.token_hex(4)}{suffix}"


def _admin_ok(token: str | None) -> bool:
    want = os.environ.get("SR_ADMIN_TOKEN")
    return bool(want) and isinstance(token, str) and hmac.compare_digest(token.encode(), want.encode())


def build_results_tab(service: RatingService | None = None) -> dict:
    """Create the results components inside the current Blocks/Tab context; returns them by name."""
    try:
        svc = service or get_service(warm=False)  # results need the store only
    except Exception as e:
        return _unavailable("results view", e)
    gr.Markdown("### Results of the blind assessment\nPress **Refresh** to compute from all votes stored so far.")
    with gr.Row():
        refresh = gr.Button("Refresh", variant="primary")
        exclude = gr.Checkbox(False, label="Exclude flagged raters (see quality control below)")
    summary = gr.Markdown("")
    with gr.Row():
        mos_plot = gr.Plot(label="MOS")
        bt_plot = gr.Plot(label="Bradley-Terry")
    mos_tbl = gr.Dataframe(label="MOS per model", interactive=False)
    img_tbl = gr.Dataframe(label="MOS per image", interactive=False)
    win_plot = gr.Plot(label="Win rates")
    bt_tbl = gr.Dataframe(label="Bradley-Terry scores", interactive=False)
    sig_tbl = gr.Dataframe(label="Significance (Wilcoxon signed-rank for MOS, sign test for pairs; Holm-corrected)",
                           interactive=False)
    agree_tbl = gr.Dataframe(label="Inter-rater agreement", interactive=False)
    qc_tbl = gr.Dataframe(label="Rater quality control: a rater is flagged when the low anchor beat the original "
                          "in most of their anchor comparisons", interactive=False)
    with gr.Row():
        csv_btn = gr.Button("Export all votes (CSV)")
        csv_file = gr.File(label="votes.csv", interactive=False)

    def on_refresh(excl):
        from srcore.rating import stats  # scipy: imported on first use, not at app start-up

        res = stats.analyse(svc.store.votes_frame(), exclude=bool(excl))
        flagged = int(res.qc["flagged"].sum()) if len(res.qc) else 0
        text = (f"**{res.n_votes} votes from {res.n_raters} raters** "
                f"({flagged} rater(s) flagged{', excluded' if res.excluded_raters else ''}).")
        qc = res.qc.copy()
        qc["rater_id"] = qc["rater_id"].str[:8] + "..."
        return (text, _mos_figure(res.mos), _bt_figure(res.bt), _fmt(res.mos), _fmt(res.mos_images),
                _win_figure(res.win_rates, res.win_counts), _fmt(res.bt), _fmt(res.significance, 4),
                _fmt(res.agreement), _fmt(qc))

    outs = [summary, mos_plot, bt_plot, mos_tbl, img_tbl, win_plot, bt_tbl, sig_tbl, agree_tbl, qc_tbl]
    refresh.click(on_refresh, [exclude], outs, api_name="rating_results")
    exclude.change(on_refresh, [exclude], outs, api_visibility="private")

    def on_csv():
        from srcore.rating import stats

        return str(stats.export_csv(svc.store.votes_frame(), _export_path("votes", ".csv")))

    csv_btn.click(on_csv, None, csv_file, api_name="rating_export_csv")

    with gr.Accordion("Organiser", open=False):
        if not os.environ.get("SR_ADMIN_TOKEN"):
            gr.Markdown("Organiser tools are off. Start the app with `SR_ADMIN_TOKEN=...` to reset or download the data.")
            admin = {}
        else:
            gr.Markdown(f"Database: `{svc.store.path}`")
            token = gr.Textbox(label="Organiser token", type="password")
            with gr.Row():
                dl_btn = gr.Button("Download a copy of the database")
                db_file = gr.File(label="database copy", interactive=False)
            confirm = gr.Textbox(label='Type RESET to confirm deleting every vote and rater')
            reset_btn = gr.Button("Reset all ratings", variant="stop")
            admin_msg = gr.Markdown("")

            def on_download(tok):
                if not _admin_ok(tok):
                    return None, "**Wrong organiser token.**"
                path = svc.store.backup(_export_path("ratings", ".sqlite3"))
                return str(path), f"Copy made ({svc.store.count_votes()} votes)."

            def on_reset(tok, conf):
                if not _admin_ok(tok):
                    return "**Wrong organiser token.**", conf
                if (conf or "").strip() != "RESET":
                    return "**Type RESET in the box to confirm.**", conf
                n = svc.store.reset()
                return f"Deleted {n} votes and all raters.", ""

            dl_btn.click(on_download, [token], [db_file, admin_msg], api_name="rating_admin_download",
                         api_visibility="undocumented")
            reset_btn.click(on_reset, [token, confirm], [admin_msg, confirm], api_name="rating_admin_reset",
                            api_visibility="undocumented")
            admin = dict(token=token, download=dl_btn, reset=reset_btn, confirm=confirm, message=admin_msg)
    return dict(refresh=refresh, exclude=exclude, summary=summary, csv_button=csv_btn, csv_file=csv_file, **admin)


# ------------------------------------------------------------------ standalone


def build_app(service: RatingService | None = None) -> gr.Blocks:
    svc = service or get_service()
    with gr.Blocks(title="SR blind assessment") as demo:
        with gr.Tab("Rate"):
            build_rating_tab(svc)
        with gr.Tab("Results"):
            build_results_tab(svc)
    return demo


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description="Blind rating of the super-resolution models (standalone)")
    ap.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    ap.add_argument("--port", type=int, default=int(os.environ.get("GRADIO_SERVER_PORT", 7861)))
    args = ap.parse_args(argv)
    t = time.time()
    svc = get_service()
    print(f"ratings database: {svc.store.path}; stimuli ready in {time.time() - t:.1f}s "
          f"({len(svc.stimuli.image_ids)} images x {len(svc.stimuli.models)} versions)", flush=True)
    demo = build_app(svc)
    demo.queue(default_concurrency_limit=CONCURRENCY)
    demo.launch(server_name=args.host, server_port=args.port, show_error=True)


if __name__ == "__main__":
    main()
