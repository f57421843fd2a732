"""The rater's page: a blind study with nothing else on it (issues 6, 14 and 23).

``build_rating_page(svc)`` lays out the study inside the current Blocks / Tab / page context.  A
rater opens it from the organiser's participant link (``?invite=<token>``, read on page load) or
types a class code; without an invitation it opens only when the organiser has made the study
open.  The browser receives PNG bytes (inline, fresh bytes every time, no names, neutral alt
text), the progress and the nonce of the item it shows; an answer echoes that nonce, so an answer
can only land on the item that was delivered and shown.  The secret session key lives in the
browser (``gr.BrowserState``, encrypted), so a reload or a server restart continues where the
rater stopped.  All computation lives in ``srcore.rating``; this module lays out and relays.
"""

from __future__ import annotations

import hashlib
import hmac

import gradio as gr

from dashboard.rating_common import CONCURRENCY, client_of, data_uri
from srcore.rating.service import RatingService, Served
from srcore.rating.stimuli import practice_anchors
from srcore.rating.store import RatingError

MOS_LABELS = ("bad", "poor", "fair", "good", "excellent")
PROTOCOL_CHOICES = [
    ("Score single images (1 = bad ... 5 = excellent)", "mos"),
    ("Compare two images side by side", "pair"),
]
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
INTRO = (
    "### Blind quality assessment\n"
    "You will see zoomed-in crops of photos, some super-resolved from a 4x smaller version, some "
    "original. Nothing tells you which method made which image. Judge the image quality (sharpness, "
    "natural detail, artefacts). The first item is a practice trial; it is not counted. Your answers are "
    "anonymous; you can stop at any time and come back later in the same browser to continue.{missing}\n\n"
    "Keys: <kbd>1</kbd>-<kbd>5</kbd> give a score, <kbd>←</kbd> / <kbd>→</kbd> choose the left or "
    "right image, <kbd>↓</kbd> means you can't tell."
)


def stim_html(s: Served, side: int) -> str:
    """The images of a stimulus, inline (no URL or file name), with neutral alt text."""
    if s.protocol == "mos":
        imgs = f'<img alt="Image to rate" src="{data_uri(s.images[0])}">'
        cls = "sr-mos"
    else:
        imgs = (
            f'<img alt="Left image" src="{data_uri(s.images[0])}"><img alt="Right image" src="{data_uri(s.images[1])}">'
        )
        cls = "sr-pair"
    return f'<div class="sr-stim {cls}" style="--sr-side: {side}px">{imgs}</div>'


def progress_html(s: Served) -> str:
    pct = 100 * s.done / s.total if s.total else 100
    label = "Practice trial (not counted)" if s.practice else f"Progress: {s.done} of {s.total} answered"
    return (
        f'<div class="sr-bar" role="progressbar" aria-label="Rating progress" aria-valuemin="0" '
        f'aria-valuemax="{s.total}" aria-valuenow="{s.done}" aria-valuetext="{label}">'
        f'<div style="width:{pct:.1f}%"></div></div>'
        f'<div class="sr-progress-text">Progress: {s.progress}{" - practice trial" if s.practice else ""}</div>'
    )


N_OUT = 11  # key, nonce, session, intro, stage, done, progress, stimulus, mos_row, pair_row, status


def render(s: Served, side: int) -> tuple:
    """Outputs in the order of N_OUT."""
    session = {"key": s.key, "protocol": s.protocol}
    if s.finished:
        if s.completion_code:
            done = (
                f"### {s.message}\n\nYour completion code: **`{s.completion_code}`**\n\n"
                "Give this code to the organiser if they asked for it. You may now close the page."
            )
        else:
            done = f"### {s.message}\n\nYou may now close the page."
        return (
            s.key,
            "",
            session,
            gr.update(visible=True),
            gr.update(visible=False),
            gr.update(visible=True, value=done),
            progress_html(s),
            "",
            gr.update(),
            gr.update(),
            "",
        )
    mos = s.protocol == "mos"
    return (
        s.key,
        s.nonce,
        session,
        gr.update(visible=False),
        gr.update(visible=True),
        gr.update(visible=False),
        progress_html(s),
        stim_html(s, side),
        gr.update(visible=mos),
        gr.update(visible=not mos),
        s.message,
    )


def _error(msg: str) -> tuple:
    return (gr.skip(),) * (N_OUT - 1) + (f"**{msg}**",)


def _intro_error(msg: str) -> tuple:
    """An error while the intro is shown: say it there, change nothing else."""
    return (gr.skip(),) * 5 + (gr.update(visible=True, value=f"**{msg}**"),) + (gr.skip(),) * 5


def _practice_html(anchors: tuple[bytes, bytes]) -> str:
    return (
        '<div style="display:flex;gap:12px;flex-wrap:wrap;justify-content:center">'
        f'<figure style="margin:0;text-align:center"><img alt="Example of score 1" src="{data_uri(anchors[0])}" '
        'style="image-rendering:pixelated;width:min(220px,42vw)"><figcaption>This is a <b>1 (bad)</b>: '
        "blocky, noisy, no detail.</figcaption></figure>"
        f'<figure style="margin:0;text-align:center"><img alt="Example of score 5" src="{data_uri(anchors[1])}" '
        'style="image-rendering:pixelated;width:min(220px,42vw)"><figcaption>This is a <b>5 (excellent)</b>: '
        "sharp, natural detail.</figcaption></figure></div>"
        "<p>Most images fall in between. Some items check that you are paying attention.</p>"
    )


def _unavailable(e: Exception) -> dict:
    print(f"rating mode unavailable: {e!r}", flush=True)  # details (paths) go to the server log only
    gr.Markdown(f"**The rating mode is unavailable** ({type(e).__name__}); the server log says why.")
    return {}


def build_rating_page(svc: RatingService) -> dict:
    """Create the rater's components inside the current Blocks / Tab / page context; returns them
    by name (an empty dict, with the reason shown, when the stimuli cannot be set up)."""
    try:
        plan = svc.plan()  # cheap: the crops are computed on first use / in the background
        anchors = practice_anchors()
    except Exception as e:  # noqa: BLE001 - a bad image folder or an unwritable database must not take the app down
        return _unavailable(e)
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
        gr.Markdown(INTRO.format(missing=n_missing))
        with gr.Accordion("Practice: what a 1 and a 5 look like", open=True, visible=svc.settings.practice) as practice:
            gr.HTML(_practice_html(anchors))
        with gr.Row():
            protocol = gr.Radio(PROTOCOL_CHOICES, value="mos", label="Task", scale=3)
            invite = gr.Textbox(label="Invitation or class code", max_lines=1, max_length=80, scale=2)
            participant = gr.Textbox(label="Participant code (optional)", max_lines=1, max_length=64, scale=2)
        start = gr.Button("Start / continue", variant="primary")
    done_md = gr.Markdown("", visible=False)
    with gr.Column(visible=False, elem_id=STAGE_ID) as stage:
        progress = gr.HTML("")
        stim = gr.HTML("")
        nonce = gr.Textbox("", visible="hidden", elem_id="sr-nonce", label="item")  # echoed with the answer
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
    outputs = [key_store, nonce, session, intro, stage, done_md, progress, stim, mos_row, pair_row, status]

    def on_start(proto, code, inv, key, request: gr.Request):
        try:
            return render(svc.start(key, proto or "mos", code, invite=inv, client=client_of(request)), side)
        except RatingError as e:
            return _intro_error(str(e))
        except (OSError, ValueError) as e:  # e.g. the organiser's image folder became unreadable
            print(f"rating stimuli failed: {e!r}", flush=True)
            return _intro_error("The rating images could not be prepared; please tell the organiser.")

    def make_vote(answer):
        def on_vote(key, shown):
            try:
                if not key:
                    return _error('Press "Start / continue" first.')
                if not shown:  # no item on this page (a new tab, or after a finished session)
                    resumed = svc.resume(key)
                    if resumed is None:
                        return _error('Press "Start / continue" first.')
                    out = render(resumed, side)
                    return out[:-1] + ("**Here is where you stopped - please answer this item.**",)
                return render(svc.vote(key, shown, answer), side)
            except RatingError as e:
                return _error(str(e))

        return on_vote

    def on_load(key, request: gr.Request):
        practice_upd = gr.update(visible=svc.settings.practice)
        inv = (getattr(request, "query_params", None) or {}).get("invite", "") if request is not None else ""
        inv_upd = gr.update(value=inv[:80]) if inv else gr.skip()
        try:
            s = svc.resume(key) if key else None
        except RatingError:
            s = None
        if s is None:
            return (gr.skip(),) * N_OUT + (practice_upd, inv_upd) + ((gr.skip(),) if tabs is not None else ())
        out = render(s, side)
        return out + (practice_upd, inv_upd) + ((gr.Tabs(selected=tab.id),) if tabs is not None else ())

    start.click(
        on_start,
        [protocol, participant, invite, key_store],
        outputs,
        api_name="rating_start",
        concurrency_limit=CONCURRENCY,
    ).then(None, js=SCROLL_JS)
    votes = [(b, i, f"rating_score_{i}") for i, b in enumerate(score_btns, start=1)]
    votes += [(b, a, f"rating_choose_{a}") for b, a in ((b_left, "left"), (b_tie, "tie"), (b_right, "right"))]
    for b, ans, api in votes:
        b.click(
            make_vote(ans),
            [key_store, nonce],
            outputs,
            api_name=api,
            concurrency_limit=CONCURRENCY,
            trigger_mode="once",
        )
    root = Context.root_block
    if root is not None:  # reopen the page where the rater was (after a reload or a restart)
        root.load(
            on_load,
            [key_store],
            outputs + [practice, invite] + ([tabs] if tabs is not None else []),
            api_visibility="private",
        ).then(None, js=SCROLL_JS)
    return dict(
        rater=key_store,
        nonce=nonce,
        session=session,
        protocol=protocol,
        participant=participant,
        invite=invite,
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
