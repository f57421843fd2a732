"""The "Rate" and "Results" tabs: a blind human-rating study (issues 6 and 14).

Mount inside an existing ``gr.Blocks`` (``settings``: the app's ``dashboard.settings.Settings``)::

    from dashboard.rating_tab import build_tabs
    service = build_tabs(settings)  # the "Rate" and "Results" tabs; None if the service is unusable

or run the two tabs alone: ``python -m dashboard.rating_tab [--port 7861] [--host 127.0.0.1]``.

Settings (read once, into ``Settings``, by ``app.py`` or this module's ``main``, and passed down to
``make_service``): ``SR_RATINGS_DB`` (database file), ``SR_RATING_IMAGES`` (an organiser's
image folder instead of the bundled Kodak crops), ``SR_RATING_CROP`` / ``SR_RATING_ITEMS``
(defaults of the crop side and the items per session, until the organiser saves settings),
``SR_RATING_ZOOM`` (display enlargement, 3), ``SR_ADMIN_TOKEN`` (the organiser's token; without it
the study runs with its defaults and nobody sees results while it is open), ``SR_RATING_SECRET``
(server secret for plans and browser storage; by default a random one kept in the database);
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` for the standalone app (default port 7861).

Blindness: the browser receives only PNG bytes (inline, with fresh bytes every time, no file
names, neutral alt text) and progress.  The nonce of the shown stimulus lives in a server-side
``gr.State``; the rater's secret session key lives in the browser (``gr.BrowserState``,
encrypted), so a rater who closes the tab, or whose server restarted, continues where they stopped.

All computation lives in ``srcore.rating``; this module only lays out components and relays.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import os
import secrets
import sys
import tempfile
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from dashboard.settings import Settings, SettingsError
from srcore import zoo
from srcore.rating.service import PROTOCOL_NAMES, RatingService, Served, StudySettings
from srcore.rating.stimuli import MODEL_KEYS, practice_anchors
from srcore.rating.store import RatingError, RatingStore

MOS_LABELS = ("bad", "poor", "fair", "good", "excellent")
PROTOCOL_CHOICES = [
    ("Score single images (1 = bad ... 5 = excellent)", "mos"),
    ("Compare two images side by side", "pair"),
]
TITLES = {"bicubic": "Bicubic", **zoo.TITLES, "hr": "HR (original)"}
CONCURRENCY = 16  # rating events are short SQLite transactions; let many run at once
STAGE_ID = "sr-stage"

# keys 1-5 press the MOS buttons, left/right (and down for "can't tell") the pair buttons; not
# while typing in a field, and only when that button is on screen
KEYS_JS = """
if (!window.__srRatingKeys) {
  window.__srRatingKeys = true;
  document.addEventListener('keydown', (e) => {
    const t = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || e.repeat) return;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA' || t.isContentEditable)) return;
    let id = null;
    if (/^[1-5]$/.test(e.key)) id = 'sr-mos-' + e.key;
    else if (e.key === 'ArrowLeft') id = 'sr-left';
    else if (e.key === 'ArrowRight') id = 'sr-right';
    else if (e.key === 'ArrowDown' || e.key === '0') id = 'sr-tie';
    const b = id && document.getElementById(id);
    if (b && b.offsetParent !== null && !b.disabled) { e.preventDefault(); b.click(); }
  });
}
"""
SCROLL_JS = f"() => {{ const el = document.getElementById('{STAGE_ID}'); if (el && el.offsetParent !== null) el.scrollIntoView({{block: 'start'}}); }}"
CSS = f"""
#{STAGE_ID} {{ gap: 6px; }}
#{STAGE_ID} .sr-stim {{ display: flex; gap: 8px; justify-content: center; align-items: flex-start; }}
#{STAGE_ID} .sr-stim img {{ image-rendering: pixelated; object-fit: contain; min-width: 0;
  height: min(var(--sr-side), calc(100dvh - 250px)); max-width: 100%; }}
#{STAGE_ID} .sr-pair img {{ max-width: calc(50% - 4px); }}
#{STAGE_ID} .sr-bar {{ height: 10px; background: #ddd; border-radius: 5px; overflow: hidden; }}
#{STAGE_ID} .sr-bar > div {{ height: 100%; background: #3b82f6; }}
#{STAGE_ID} button {{ min-width: 0; padding-left: 4px; padding-right: 4px; }}
#{STAGE_ID} kbd {{ border: 1px solid #999; border-radius: 3px; padding: 0 4px; font-size: 0.85em; }}
"""


def make_service(
    settings: Settings, models: dict | None = None, missing: dict[str, str] | None = None
) -> RatingService:
    """The rating service of one app, from its settings: the store at ``settings.ratings_db`` (else
    ``srcore.rating.default_db_path()``), the organiser token, the server secret, the image folder
    and the study's default crop / items / zoom.  ``models`` / ``missing``: the app's loaded
    generators and what is wrong with the others.  The stimuli are computed on first use, or by
    ``warm``."""
    _note_own_titles(settings)
    return RatingService(
        RatingStore(settings.ratings_db),
        models=models,
        missing=missing,
        admin_token=settings.admin_token,
        secret=settings.rating_secret,
        defaults=StudySettings(items=settings.rating_items, crop=settings.rating_crop),
        images=settings.rating_images,
        zoom=settings.rating_zoom,
    )


def warm(svc: RatingService) -> RatingService:
    """Compute the stimulus set of ``svc`` now (a few seconds) and encode every crop once, so no
    request pays for it.  The app builds its tabs first and warms in the background once serving."""
    st = svc.stimuli
    for i in st.image_ids:
        for m in st.crops[i]:
            st.png(i, m)
    return svc


def _unavailable(what: str, e: Exception) -> dict:
    print(f"{what} unavailable: {e!r}", flush=True)  # details (paths) go to the server log only
    gr.Markdown(f"**The {what} is unavailable** ({type(e).__name__}); the server log says why.")
    return {}


_OWN_TITLES: dict[str, str] = {}  # titles of the user's own models, filled by make_service from the settings


def _note_own_titles(settings: Settings) -> None:
    """Titles of the models discovered beside the table's (the checkpoints folder and ``SR_MODELS``)."""
    with contextlib.suppress(OSError, ValueError):
        _OWN_TITLES.update({s.key: s.title for s in zoo.discover(settings.checkpoints, settings.model_dirs).specs})


def _title(m: str) -> str:
    return TITLES.get(m) or _OWN_TITLES.get(m, m)


def _client(request: gr.Request | None) -> str:
    """Who is asking, for throttling: the socket's address (headers can be forged)."""
    host = getattr(getattr(request, "client", None), "host", None)
    return str(host or "unknown")


def _data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode()


# ------------------------------------------------------------------ Rate tab


def _stim_html(s: Served, side: int) -> str:
    """The images of a stimulus, inline (no URL or file name), with neutral alt text."""
    if s.protocol == "mos":
        imgs = f'<img alt="Image to rate" src="{_data_uri(s.images[0])}">'
        cls = "sr-mos"
    else:
        imgs = (
            f'<img alt="Left image" src="{_data_uri(s.images[0])}">'
            f'<img alt="Right image" src="{_data_uri(s.images[1])}">'
        )
        cls = "sr-pair"
    return f'<div class="sr-stim {cls}" style="--sr-side: {side}px">{imgs}</div>'


def _progress_html(s: Served) -> str:
    pct = 100 * s.done / s.total if s.total else 100
    return (
        f'<div class="sr-bar" role="progressbar" aria-valuemin="0" aria-valuemax="{s.total}" '
        f'aria-valuenow="{s.done}"><div style="width:{pct:.1f}%"></div></div>'
        f'<div class="sr-progress-text">Progress: {s.progress}</div>'
    )


N_OUT = 10  # key, session, intro, stage, done, progress, stimulus, mos_row, pair_row, status


def _render(s: Served, side: int):
    """Outputs in the order of N_OUT."""
    session = {"key": s.key, "protocol": s.protocol, "nonce": s.nonce}
    status = s.message
    if s.finished:
        done = (
            f"### {s.message}\n\nYour completion code: **`{s.completion_code}`**\n\n"
            "Give this code to the organiser if they asked for it. You may now close the page."
        )
        return (
            s.key,
            session,
            gr.update(visible=True),
            gr.update(visible=False),
            gr.update(visible=True, value=done),
            _progress_html(s),
            "",
            gr.update(),
            gr.update(),
            "",
        )
    mos = s.protocol == "mos"
    return (
        s.key,
        session,
        gr.update(visible=False),
        gr.update(visible=True),
        gr.update(visible=False),
        _progress_html(s),
        _stim_html(s, side),
        gr.update(visible=mos),
        gr.update(visible=not mos),
        status,
    )


def _error(msg: str):
    return (gr.skip(),) * (N_OUT - 1) + (f"**{msg}**",)


def _intro_error(msg: str):
    """An error while the intro is shown: say it there, change nothing else."""
    return (gr.skip(),) * 4 + (gr.update(visible=True, value=f"**{msg}**"),) + (gr.skip(),) * 5


def build_tabs(
    settings: Settings, models: dict | None = None, missing: dict[str, str] | None = None
) -> RatingService | None:
    """The "Rate" and "Results" tabs, inside the current Blocks/Tabs context, on one service made from
    ``settings`` (``make_service``); returns the service, or None (each tab saying that it is
    unavailable) when it cannot be set up (an unwritable database, say)."""
    svc: RatingService | None = None
    problem: Exception = RuntimeError("no rating service")
    try:
        svc = make_service(settings, models=models, missing=missing)
    except Exception as e:  # noqa: BLE001 - an unusable database must not take the app down
        problem = e
    with gr.Tab("Rate", id="rate"):
        if svc is not None:
            build_rating_tab(svc)
        else:
            _unavailable("rating mode", problem)
    with gr.Tab("Results", id="results"):
        if svc is not None:
            build_results_tab(svc)
        else:
            _unavailable("results view", problem)
    return svc


def build_rating_tab(svc: RatingService) -> dict:
    """Create the rating components inside the current Blocks/Tab context; returns them by name
    (an empty dict, with the reason shown, when the stimuli cannot be set up)."""
    try:
        plan = svc.plan()  # cheap: the crops are computed on first use / in the background
        anchors = practice_anchors()
    except Exception as e:  # noqa: BLE001 - a bad image folder or an unwritable database must not take the app down
        return _unavailable("rating mode", e)
    from gradio.context import Context

    tab = Context.block if isinstance(Context.block, gr.Tab) else None
    tabs = getattr(tab, "parent", None) if tab is not None else None
    if tab is not None and tab.id is None:
        tab.id = "rate"
    side = plan.crop * plan.zoom
    # Gradio ships the BrowserState secret to the page, so it gets a value derived from (never equal to)
    # the server secret; the stored session key is the rater's own anyway
    browser_secret = hmac.new(svc.secret.encode(), b"browser-state", hashlib.sha256).hexdigest()
    key_store = gr.BrowserState(None, storage_key="sr_rating_session", secret=browser_secret)
    session = gr.State(None)
    gr.HTML(f"<style>{CSS}</style>", js_on_load=KEYS_JS, elem_id="sr-rating-setup")
    with gr.Group(visible=True) as intro:
        n_missing = f" ({len(plan.missing)} model(s) unavailable and left out)" if plan.missing else ""
        gr.Markdown(
            "### Blind quality assessment\n"
            f"You will see zoomed-in crops of photos, some super-resolved from a 4x smaller version, some "
            "original. Nothing tells you which method made which image. Judge the image quality (sharpness, "
            "natural detail, artefacts). Your answers are anonymous; you can stop at any time and come back "
            f"later in the same browser to continue.{n_missing}\n\n"
            "Keys: <kbd>1</kbd>-<kbd>5</kbd> give a score, <kbd>←</kbd> / <kbd>→</kbd> choose the left or "
            "right image, <kbd>↓</kbd> means you can't tell."
        )
        with gr.Accordion("Practice: what a 1 and a 5 look like", open=True, visible=svc.settings.practice) as practice:
            gr.HTML(
                '<div style="display:flex;gap:12px;flex-wrap:wrap;justify-content:center">'
                f'<figure style="margin:0;text-align:center"><img alt="Example of score 1" src="{_data_uri(anchors[0])}" '
                'style="image-rendering:pixelated;width:min(220px,42vw)"><figcaption>This is a <b>1 (bad)</b>: '
                "blocky, noisy, no detail.</figcaption></figure>"
                f'<figure style="margin:0;text-align:center"><img alt="Example of score 5" src="{_data_uri(anchors[1])}" '
                'style="image-rendering:pixelated;width:min(220px,42vw)"><figcaption>This is a <b>5 (excellent)</b>: '
                "sharp, natural detail.</figcaption></figure></div>"
                "<p>Most images fall in between. Some items check that you are paying attention.</p>"
            )
        with gr.Row():
            protocol = gr.Radio(PROTOCOL_CHOICES, value="mos", label="Task", scale=3)
            participant = gr.Textbox(label="Participant or class code (optional)", max_lines=1, max_length=64, scale=2)
        start = gr.Button("Start / continue", variant="primary")
    done_md = gr.Markdown("", visible=False)
    with gr.Column(visible=False, elem_id=STAGE_ID) as stage:
        progress = gr.HTML("")
        stim = gr.HTML("")
        with gr.Row(visible=True, equal_height=True) as mos_row:
            score_btns = [
                gr.Button(f"{i} {lab}", elem_id=f"sr-mos-{i}", min_width=40, scale=1)
                for i, lab in enumerate(MOS_LABELS, start=1)
            ]
        with gr.Row(visible=False, equal_height=True) as pair_row:
            b_left = gr.Button("← Left", elem_id="sr-left", min_width=40)
            b_tie = gr.Button("↓ Can't tell", elem_id="sr-tie", min_width=40)
            b_right = gr.Button("Right →", elem_id="sr-right", min_width=40)
        gr.Markdown(
            "Keys: <kbd>1</kbd>-<kbd>5</kbd> score · <kbd>←</kbd> <kbd>→</kbd> left / right · <kbd>↓</kbd> can't tell",
            elem_classes=["sr-hint"],
        )
        status = gr.Markdown("")
    outputs = [key_store, session, intro, stage, done_md, progress, stim, mos_row, pair_row, status]

    def on_start(proto, code, key):
        try:
            return _render(svc.start(key, proto or "mos", code), side)
        except RatingError as e:
            return _intro_error(str(e))
        except (OSError, ValueError) as e:  # e.g. the organiser's image folder became unreadable
            print(f"rating stimuli failed: {e!r}", flush=True)
            return _intro_error("The rating images could not be prepared; please tell the organiser.")

    def make_vote(answer):
        def on_vote(sess, key):
            try:
                if sess and not sess.get("nonce"):
                    return _error("This session is complete.")
                if not sess:  # no server-side state: the server restarted, or no session was started
                    resumed = svc.resume(key) if key else None
                    if resumed is None:
                        return _error('Press "Start / continue" first.')
                    out = _render(resumed, side)
                    return out[:-1] + (
                        "**The server was restarted, so your last answer was not saved. "
                        "Here is where you stopped - please answer again.**",
                    )
                return _render(svc.vote(sess["key"], sess["nonce"], answer), side)
            except RatingError as e:
                return _error(str(e))

        return on_vote

    def on_load(key):
        practice_upd = gr.update(visible=svc.settings.practice)
        try:
            s = svc.resume(key) if key else None
        except RatingError:
            s = None
        if s is None:
            return (gr.skip(),) * N_OUT + (practice_upd,) + ((gr.skip(),) if tabs is not None else ())
        return _render(s, side) + (practice_upd,) + ((gr.Tabs(selected=tab.id),) if tabs is not None else ())

    start.click(
        on_start, [protocol, participant, key_store], outputs, api_name="rating_start", concurrency_limit=CONCURRENCY
    ).then(None, js=SCROLL_JS)
    for i, b in enumerate(score_btns, start=1):
        b.click(
            make_vote(i),
            [session, key_store],
            outputs,
            api_name=f"rating_score_{i}",
            concurrency_limit=CONCURRENCY,
            trigger_mode="once",
        )
    for b, ans in ((b_left, "left"), (b_tie, "tie"), (b_right, "right")):
        b.click(
            make_vote(ans),
            [session, key_store],
            outputs,
            api_name=f"rating_choose_{ans}",
            concurrency_limit=CONCURRENCY,
            trigger_mode="once",
        )
    root = Context.root_block
    if root is not None:  # reopen the Rate tab where the rater was (after a reload or a restart)
        root.load(
            on_load, [key_store], outputs + [practice] + ([tabs] if tabs is not None else []), api_visibility="private"
        ).then(None, js=SCROLL_JS)
    return dict(
        rater=key_store,
        session=session,
        protocol=protocol,
        participant=participant,
        start=start,
        progress=progress,
        status=status,
        stimulus=stim,
        score_buttons=score_btns,
        choice_buttons=[b_left, b_tie, b_right],
        done=done_md,
        stage=stage,
        intro=intro,
    )


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
        fig.add_bar(
            x=[_title(m) for m in mos["model"]],
            y=mos["mos"],
            error_y=dict(
                type="data",
                symmetric=False,
                array=(mos["ci_high"] - mos["mos"]).fillna(0),
                arrayminus=(mos["mos"] - mos["ci_low"]).fillna(0),
            ),
            text=[f"n={n}" for n in mos["n"]],
            textposition="inside",
        )
    fig.update_layout(
        title="Mean opinion score (95% CI)",
        yaxis=dict(range=[0, 5.5], title="MOS (1-5)"),
        height=380,
        margin=dict(l=40, r=20, t=50, b=40),
    )
    return fig


def _win_figure(rates: pd.DataFrame, counts: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure()
    if len(rates):
        names = [_title(m) for m in rates.index]
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


def _bt_figure(bt: pd.DataFrame):
    import plotly.graph_objects as go

    fig = go.Figure()
    if len(bt):
        fig.add_scatter(
            x=bt["score"],
            y=[_title(m) for m in bt["model"]],
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


def _settings_text(s: StudySettings) -> str:
    models = "all available" if s.models is None else ", ".join(_title(m) for m in s.models)
    return (
        f"Study **{s.state}** · tasks: {', '.join(PROTOCOL_NAMES[p] for p in s.protocols)} · models: {models} · "
        f"{s.items} items per session (+1 attention check per {s.attention_every or 'none'}) · crop {s.crop} px · "
        f"practice {'on' if s.practice else 'off'} · results {'public' if s.results_public else 'private'} "
        f"after closing · speeders below {s.speeder_s:g} s per vote"
    )


def build_results_tab(svc: RatingService) -> dict:
    """Create the results components inside the current Blocks/Tab context; returns them by name.
    While the study is open, results, exports and settings need the organiser token."""
    gr.Markdown(
        "### Results of the blind assessment\nWhile the study is open, results are for the organiser "
        "only: enter the organiser token and press **Refresh**."
    )
    with gr.Row():
        token = gr.Textbox(label="Organiser token", type="password", max_lines=1, scale=2)
        exclude = gr.Checkbox(False, label="Exclude flagged raters (see quality control below)", scale=2)
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
        label="Rater quality control: attention checks, speeders, straight-liners and the "
        "known-answer anchors; each flag with its reason",
        interactive=False,
    )
    with gr.Row():
        csv_btn = gr.Button("Export all votes (CSV)")
        csv_file = gr.File(label="votes.csv", interactive=False)
    outs = [summary, mos_plot, bt_plot, mos_tbl, sens_tbl, img_tbl, win_plot, bt_tbl, sig_tbl, agree_tbl, qc_tbl]

    def on_refresh(excl, tok, request: gr.Request):
        try:
            svc.results_allowed(tok, _client(request))
        except RatingError as e:
            return (f"**{e}**",) + (None,) * (len(outs) - 1)
        from srcore.rating import stats  # scipy: imported on first use, not at app start-up

        res = stats.analyse(svc.store.votes_frame(), exclude=bool(excl), speeder_s=svc.settings.speeder_s)
        flagged = int(res.qc["flagged"].sum()) if len(res.qc) else 0
        text = (
            f"**{res.n_votes} votes from {res.n_raters} raters** "
            f"({flagged} rater(s) flagged{', excluded' if res.excluded_raters else ''}; attention checks "
            "are not counted as votes)."
        )
        qc = res.qc.copy()
        qc["rater_id"] = qc["rater_id"].str[:8] + "..."
        return (
            text,
            _mos_figure(res.mos),
            _bt_figure(res.bt),
            _fmt(res.mos),
            _fmt(res.sensitivity),
            _fmt(res.mos_images),
            _win_figure(res.win_rates, res.win_counts),
            _fmt(res.bt),
            _fmt(res.significance, 4),
            _fmt(res.agreement),
            _fmt(qc),
        )

    refresh.click(on_refresh, [exclude, token], outs, api_name="rating_results")
    exclude.change(on_refresh, [exclude, token], outs, api_visibility="private")

    def on_csv(tok, request: gr.Request):
        try:
            svc.results_allowed(tok, _client(request))
        except RatingError as e:
            gr.Warning(str(e))
            return None
        from srcore.rating import stats

        return str(stats.export_csv(svc.store.votes_frame(), _export_path("votes", ".csv")))

    csv_btn.click(on_csv, [token], csv_file, api_name="rating_export_csv")

    with gr.Accordion("Organiser", open=False):
        if not svc.organiser_enabled:
            gr.Markdown(
                "Organiser tools are off. Start the app with `SR_ADMIN_TOKEN=...` to open or close the "
                "study, change its settings, see results while it runs, or reset it."
            )
            return dict(
                token=token, refresh=refresh, exclude=exclude, summary=summary, csv_button=csv_btn, csv_file=csv_file
            )
        settings_md = gr.Markdown("Enter the organiser token above, then **Load settings**.")
        own = [k for k in _OWN_TITLES if k not in MODEL_KEYS]  # your own models (SR_MODELS) are versions too
        choices = [(_title(m), m) for m in (*MODEL_KEYS[:-1], *own, MODEL_KEYS[-1])]
        with gr.Row():
            st_state = gr.Radio(["open", "closed"], value="open", label="Study")
            st_protocols = gr.CheckboxGroup(
                [(v, k) for k, v in PROTOCOL_NAMES.items()], value=["mos", "pair"], label="Tasks"
            )
            st_models = gr.CheckboxGroup(choices, value=[m for _, m in choices], label="Versions to rate")
        with gr.Row():
            st_items = gr.Number(30, label="Items per session", precision=0, minimum=1)
            st_crop = gr.Number(128, label="Crop side (HR pixels)", precision=0, minimum=32)
            st_att = gr.Number(10, label="One attention check per N items (0: none)", precision=0, minimum=0)
            st_speed = gr.Number(1.0, label="Speeder threshold (median s per vote)", minimum=0)
        with gr.Row():
            st_practice = gr.Checkbox(True, label="Practice page with anchors")
            st_public = gr.Checkbox(False, label="Results public after closing")
        with gr.Row():
            load_btn = gr.Button("Load settings")
            save_btn = gr.Button("Save settings", variant="primary")
        with gr.Row():
            dl_btn = gr.Button("Download a copy of the database")
            raters_btn = gr.Button("Export raters (CSV: participant and completion codes)")
            db_file = gr.File(label="download", interactive=False)
        confirm = gr.Textbox(label="Type RESET to confirm deleting every vote and rater")
        reset_btn = gr.Button("Reset all ratings", variant="stop")
        admin_msg = gr.Markdown("")
        fields = [st_state, st_protocols, st_models, st_items, st_crop, st_att, st_speed, st_practice, st_public]

        def _values(s: StudySettings):
            return (
                s.state,
                list(s.protocols),
                list(s.models) if s.models is not None else [m for _, m in choices],
                s.items,
                s.crop,
                s.attention_every,
                s.speeder_s,
                s.practice,
                s.results_public,
            )

        def on_load_settings(tok, request: gr.Request):
            try:
                svc.check_admin(tok, _client(request))
            except RatingError as e:
                return (f"**{e}**",) + (gr.skip(),) * len(fields)
            s = svc.settings
            return (_settings_text(s),) + _values(s)

        def on_save(tok, state, protos, mods, items, crop, att, speed, practice, public, request: gr.Request):
            try:
                svc.check_admin(tok, _client(request))
                all_models = set(m for _, m in choices)
                models = None if set(mods or ()) >= all_models else tuple(mods or ())
                items, crop, att = (
                    int(x) if isinstance(x, (int, float)) and float(x).is_integer() else x for x in (items, crop, att)
                )
                s = svc.save_settings(
                    StudySettings(
                        state=state,
                        protocols=tuple(protos or ()),
                        models=models,
                        items=items,
                        crop=crop,
                        practice=bool(practice),
                        results_public=bool(public),
                        attention_every=att,
                        speeder_s=float(speed) if isinstance(speed, (int, float)) else speed,
                    )
                )
            except RatingError as e:
                return f"**{e}**"
            return "Saved: " + _settings_text(s)

        def on_download(tok, request: gr.Request):
            try:
                svc.check_admin(tok, _client(request))
            except RatingError as e:
                return None, f"**{e}**"
            path = svc.store.backup(_export_path("ratings", ".sqlite3"))
            return str(path), f"Copy made ({svc.store.count_votes()} votes)."

        def on_raters(tok, request: gr.Request):
            try:
                svc.check_admin(tok, _client(request))
            except RatingError as e:
                return None, f"**{e}**"
            from srcore.atomic import write_text_atomic
            from srcore.rating import stats

            qc = stats.rater_quality(svc.store.votes_frame(), speeder_s=svc.settings.speeder_s)
            df = (
                pd.DataFrame(svc.store.raters()).merge(
                    qc[["rater_id", "votes", "flagged", "reason"]], on="rater_id", how="left"
                )
                if len(qc)
                else pd.DataFrame(svc.store.raters())
            )
            path = _export_path("raters", ".csv")
            write_text_atomic(path, df.to_csv(index=False))
            return str(path), f"{len(df)} raters exported."

        def on_reset(tok, conf, request: gr.Request):
            try:
                svc.check_admin(tok, _client(request))
            except RatingError as e:
                return f"**{e}**", conf
            if (conf or "").strip() != "RESET":
                return "**Type RESET in the box to confirm.**", conf
            n = svc.store.reset()
            return f"Deleted {n} votes and all raters.", ""

        load_btn.click(
            on_load_settings,
            [token],
            [settings_md] + fields,
            api_name="rating_admin_settings",
            api_visibility="undocumented",
        )
        save_btn.click(
            on_save, [token] + fields, [settings_md], api_name="rating_admin_save", api_visibility="undocumented"
        )
        dl_btn.click(
            on_download, [token], [db_file, admin_msg], api_name="rating_admin_download", api_visibility="undocumented"
        )
        raters_btn.click(
            on_raters, [token], [db_file, admin_msg], api_name="rating_admin_raters", api_visibility="undocumented"
        )
        reset_btn.click(
            on_reset,
            [token, confirm],
            [admin_msg, confirm],
            api_name="rating_admin_reset",
            api_visibility="undocumented",
        )
    return dict(
        token=token,
        refresh=refresh,
        exclude=exclude,
        summary=summary,
        csv_button=csv_btn,
        csv_file=csv_file,
        download=dl_btn,
        reset=reset_btn,
        confirm=confirm,
        message=admin_msg,
        save=save_btn,
    )


# ------------------------------------------------------------------ standalone


def build_app(svc: RatingService) -> gr.Blocks:
    with gr.Blocks(title="SR blind assessment") as demo, gr.Tabs():
        with gr.Tab("Rate", id="rate"):
            build_rating_tab(svc)
        with gr.Tab("Results", id="results"):
            build_results_tab(svc)
    return demo


def main(argv=None) -> None:
    try:  # the settings, read once; this standalone app listens on 7861 unless GRADIO_SERVER_PORT says otherwise
        settings = Settings.from_env({"GRADIO_SERVER_PORT": "7861", **os.environ})
    except SettingsError as e:
        sys.exit(f"error: {e}")
    ap = argparse.ArgumentParser(description="Blind rating of the super-resolution models (standalone)")
    ap.add_argument("--host", default=settings.host)
    ap.add_argument("--port", type=int, default=settings.port)
    args = ap.parse_args(argv)
    t = time.time()
    svc = warm(make_service(settings))
    print(
        f"ratings database ready; stimuli ready in {time.time() - t:.1f}s "
        f"({len(svc.stimuli.image_ids)} images x {len(svc.stimuli.models)} versions)",
        flush=True,
    )
    demo = build_app(svc)
    demo.queue(default_concurrency_limit=CONCURRENCY)
    demo.launch(server_name=args.host, server_port=args.port, show_error=True, ssr_mode=False)


if __name__ == "__main__":
    main()
