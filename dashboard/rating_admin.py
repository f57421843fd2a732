"""The organiser's tools of the blind study: settings, invitations, downloads and reset (issue 23).

Every action needs the organiser token (``SR_ADMIN_TOKEN``), checked in constant time and
throttled by ``srcore.rating.service.Throttle``.  Downloads are written 0600 into this run's own
temp folder (``dashboard.rating_common.exports_dir``), removed at stop and by the next start's
sweep; the database copy leaves out the server secret and every key and code hash.
"""

from __future__ import annotations

import gradio as gr
import pandas as pd

from dashboard.rating_common import _OWN_TITLES, CONCURRENCY, client_of, export_path, title
from srcore.rating.service import ACCESS, PROTOCOL_NAMES, RatingService, StudySettings
from srcore.rating.stimuli import MODEL_KEYS
from srcore.rating.store import RatingError

ADMIN = dict(api_visibility="undocumented", concurrency_limit=CONCURRENCY)


def settings_text(s: StudySettings) -> str:
    models = "all available" if s.models is None else ", ".join(title(m) for m in s.models)
    access = (
        "by invitation only"
        if s.access == "invited"
        else f"open to anyone ({s.open_sessions_per_min} new sessions a minute per address)"
    )
    return (
        f"Study **{s.state}**, {access} · tasks: {', '.join(PROTOCOL_NAMES[p] for p in s.protocols)} · "
        f"models: {models} · {s.items} items per session (+1 attention check per {s.attention_every or 'none'}, "
        f"1 repeat per {s.repeat_every or 'none'}, 1 gold item per {s.gold_every or 'none'}) · crop {s.crop} px · "
        f"practice {'on' if s.practice else 'off'} · results {'public' if s.results_public else 'private'} "
        f"after closing · speeders below {s.speeder_s:g} s per vote"
    )


def _int(x):
    return int(x) if isinstance(x, (int, float)) and float(x).is_integer() else x


def _base_url(request: gr.Request | None, path: str) -> str:
    """The address raters open: this server's, from the request (the organiser's own view of it)."""
    headers = getattr(request, "headers", None) or {}
    host = headers.get("x-forwarded-host") or headers.get("host") or "localhost"
    proto = headers.get("x-forwarded-proto") or "http"
    return f"{proto}://{host}{path}"


def build_admin(svc: RatingService, token: gr.Textbox, study_path: str = "/") -> dict:
    """The organiser accordion, using the results view's ``token`` box; ``study_path``: the page
    raters open (the full app's ``/study``, the standalone app's ``/``)."""
    with gr.Accordion("Organiser", open=False):
        if not svc.organiser_enabled:
            gr.Markdown(
                "Organiser tools are off. Start the app with `SR_ADMIN_TOKEN=...` to invite raters, open or "
                "close the study, change its settings, see results while it runs, or reset it."
            )
            return {}
        out = _settings_block(svc, token)
        out.update(_invitations_block(svc, token, study_path))
        out.update(_files_block(svc, token))
    return out


def _settings_block(svc: RatingService, token: gr.Textbox) -> dict:
    settings_md = gr.Markdown("Enter the organiser token above, then **Load settings**.")
    own = [k for k in _OWN_TITLES if k not in MODEL_KEYS]  # your own models (SR_MODELS) are versions too
    choices = [(title(m), m) for m in (*MODEL_KEYS[:-1], *own, MODEL_KEYS[-1])]
    with gr.Row():
        st_state = gr.Radio(["open", "closed"], value="open", label="Study")
        st_access = gr.Radio(
            [("By invitation only", "invited"), ("Open to anyone", "open")], value="invited", label="Who may rate"
        )
        st_protocols = gr.CheckboxGroup(
            [(v, k) for k, v in PROTOCOL_NAMES.items()], value=["mos", "pair"], label="Tasks"
        )
        st_models = gr.CheckboxGroup(choices, value=[m for _, m in choices], label="Versions to rate")
    with gr.Row():
        st_items = gr.Number(30, label="Items per session", precision=0, minimum=1)
        st_crop = gr.Number(128, label="Crop side (HR pixels)", precision=0, minimum=32)
        st_att = gr.Number(10, label="One attention check per N items (0: none)", precision=0, minimum=0)
        st_rep = gr.Number(10, label="One repeated item per N items (0: none)", precision=0, minimum=0)
        st_gold = gr.Number(10, label="One gold item per N items (0: none)", precision=0, minimum=0)
    with gr.Row():
        st_speed = gr.Number(1.0, label="Speeder threshold (median s per vote)", minimum=0)
        st_open = gr.Number(5, label="Open study: new sessions a minute per address", precision=0, minimum=1)
        st_practice = gr.Checkbox(True, label="Practice page and practice trial")
        st_public = gr.Checkbox(False, label="Results public after closing")
    with gr.Row():
        load_btn = gr.Button("Load settings")
        save_btn = gr.Button("Save settings", variant="primary")
    fields = [
        st_state,
        st_protocols,
        st_models,
        st_items,
        st_crop,
        st_att,
        st_speed,
        st_practice,
        st_public,
        st_access,
        st_open,
        st_rep,
        st_gold,
    ]
    all_models = [m for _, m in choices]

    def on_load(tok, request: gr.Request):
        try:
            svc.check_admin(tok, client_of(request))
        except RatingError as e:
            return (f"**{e}**",) + (gr.skip(),) * len(fields)
        s = svc.settings
        models = list(s.models) if s.models is not None else all_models
        return (
            settings_text(s),
            s.state,
            list(s.protocols),
            models,
            s.items,
            s.crop,
            s.attention_every,
            s.speeder_s,
            s.practice,
            s.results_public,
            s.access,
            s.open_sessions_per_min,
            s.repeat_every,
            s.gold_every,
        )

    def on_save(
        tok,
        state,
        protos,
        mods,
        items,
        crop,
        att,
        speed,
        practice,
        public,
        access,
        per_min,
        rep,
        gold,
        request: gr.Request,
    ):
        try:
            svc.check_admin(tok, client_of(request))
            models = None if set(mods or ()) >= set(all_models) else tuple(mods or ())
            s = svc.save_settings(
                StudySettings(
                    state=state,
                    protocols=tuple(protos or ()),
                    models=models,
                    items=_int(items),
                    crop=_int(crop),
                    practice=bool(practice),
                    results_public=bool(public),
                    attention_every=_int(att),
                    speeder_s=float(speed) if isinstance(speed, (int, float)) else speed,
                    access=access if access in ACCESS else "invited",
                    open_sessions_per_min=_int(per_min),
                    repeat_every=_int(rep),
                    gold_every=_int(gold),
                )
            )
        except RatingError as e:
            return f"**{e}**"
        return "Saved: " + settings_text(s)

    load_btn.click(on_load, [token], [settings_md] + fields, api_name="rating_admin_settings", **ADMIN)
    save_btn.click(on_save, [token] + fields, [settings_md], api_name="rating_admin_save", **ADMIN)
    return dict(save=save_btn, settings=settings_md)


def _invitations_block(svc: RatingService, token: gr.Textbox, study_path: str) -> dict:
    gr.Markdown(
        "**Invitations.** Participant links are signed and open a study-only page; each is good for the "
        "number of sessions you set (1: single use) until it expires. A class code opens up to its cap of "
        "sessions for a group that types it in. Only invited sessions count and get a completion code "
        "(unless you open the study to anyone)."
    )
    with gr.Row():
        inv_n = gr.Number(10, label="Links to make", precision=0, minimum=1, maximum=1000)
        inv_cap = gr.Number(1, label="Sessions per link / per class code", precision=0, minimum=1)
        inv_hours = gr.Number(0, label="Expire after (hours; 0: never)", minimum=0)
    with gr.Row():
        links_btn = gr.Button("Make participant links")
        class_btn = gr.Button("Make a class code")
    inv_out = gr.Textbox(label="New invitations (shown once; copy them now)", lines=4, max_lines=12)

    def _expiry(hours):
        return float(hours) * 3600 if isinstance(hours, (int, float)) and hours > 0 else None

    def on_links(tok, n, cap, hours, request: gr.Request):
        try:
            svc.check_admin(tok, client_of(request))
            tokens = svc.create_links(_int(n), cap=_int(cap), expires_s=_expiry(hours))
        except RatingError as e:
            return f"{e}"
        base = _base_url(request, study_path)
        return "\n".join(f"{base}?invite={t}" for t in tokens)

    def on_class(tok, cap, hours, request: gr.Request):
        try:
            svc.check_admin(tok, client_of(request))
            code = svc.create_class_code(_int(cap), expires_s=_expiry(hours))
        except RatingError as e:
            return f"{e}"
        return f"{code}  (raters type it in 'Invitation or class code' at {_base_url(request, study_path)})"

    links_btn.click(on_links, [token, inv_n, inv_cap, inv_hours], [inv_out], api_name="rating_admin_links", **ADMIN)
    class_btn.click(on_class, [token, inv_cap, inv_hours], [inv_out], api_name="rating_admin_class_code", **ADMIN)
    return dict(invitations=inv_out)


def _files_block(svc: RatingService, token: gr.Textbox) -> dict:
    with gr.Row():
        dl_btn = gr.Button("Download a copy of the database")
        raters_btn = gr.Button("Export raters (CSV: participant and completion codes)")
        db_file = gr.File(label="download", interactive=False)
    confirm = gr.Textbox(label="Type RESET to confirm deleting every vote and rater")
    reset_btn = gr.Button("Reset all ratings", variant="stop")
    admin_msg = gr.Markdown("")

    def on_download(tok, request: gr.Request):
        try:
            svc.check_admin(tok, client_of(request))
        except RatingError as e:
            return None, f"**{e}**"
        path = svc.store.backup(export_path("ratings", ".sqlite3"))
        return str(path), f"Copy made ({svc.store.count_votes()} votes; no server secret, no key hashes)."

    def on_raters(tok, request: gr.Request):
        try:
            svc.check_admin(tok, client_of(request))
        except RatingError as e:
            return None, f"**{e}**"
        from srcore.atomic import write_text_atomic
        from srcore.rating import stats

        qc = stats.rater_quality(svc.store.votes_frame(), speeder_s=svc.settings.speeder_s)
        df = pd.DataFrame(svc.store.raters())
        if len(qc):
            df = df.merge(qc[["rater_id", "votes", "flagged", "reason"]], on="rater_id", how="left")
        path = export_path("raters", ".csv")
        write_text_atomic(path, df.to_csv(index=False), mode=0o600)
        return str(path), f"{len(df)} raters exported."

    def on_reset(tok, conf, request: gr.Request):
        try:
            svc.check_admin(tok, client_of(request))
        except RatingError as e:
            return f"**{e}**", conf
        if (conf or "").strip() != "RESET":
            return "**Type RESET in the box to confirm.**", conf
        n = svc.store.reset()
        return f"Deleted {n} votes and all raters.", ""

    dl_btn.click(on_download, [token], [db_file, admin_msg], api_name="rating_admin_download", **ADMIN)
    raters_btn.click(on_raters, [token], [db_file, admin_msg], api_name="rating_admin_raters", **ADMIN)
    reset_btn.click(on_reset, [token, confirm], [admin_msg, confirm], api_name="rating_admin_reset", **ADMIN)
    return dict(download=dl_btn, reset=reset_btn, confirm=confirm, message=admin_msg)
