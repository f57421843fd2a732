"""The blind human-rating study (issues 6, 14 and 23): its service, its pages, and a standalone app.

Split by role (issue 23): ``dashboard.rating_rate`` is the rater's page, ``rating_results`` the
results view, ``rating_admin`` the organiser's tools, ``rating_common`` what they share.  Here:

    from dashboard.rating_tab import build_tabs, build_study_page
    service = build_tabs(settings)     # the full app: a "Results" tab (organiser); None if unusable
    build_study_page(service)           # ... and, in a page of its own (``/study``), the rater's study

The full app (``dashboard.ui``) puts the rater's study on its own page, ``/study``, with nothing
else on it (no Compare tab, no labelled images); the organiser's participant links point there.
The standalone app, ``python -m dashboard.rating_tab [--port 7861] [--host 127.0.0.1]``, serves
the study at ``/`` with a Results tab beside it.

Settings (read once, into ``Settings``, by ``app.py`` or this module's ``main``, and passed down to
``make_service``): ``SR_RATINGS_DB`` (a database file, or a ``postgresql://`` URL),
``SR_RATING_IMAGES`` (an organiser's image folder instead of the bundled Kodak crops),
``SR_RATING_CROP`` / ``SR_RATING_ITEMS`` / ``SR_RATING_ACCESS`` (defaults of the crop side, the
items per session and who may rate - ``invited`` or ``open`` - until the organiser saves
settings), ``SR_RATING_ZOOM`` (display enlargement, 3), ``SR_ADMIN_TOKEN`` (the organiser's
token; without it nobody can invite raters or see results while the study is open),
``SR_RATING_SECRET`` (server secret for plans, invitations and browser storage; by default a
random one kept in the database), ``SR_TRUSTED_PROXIES`` (whose ``X-Forwarded-For`` counts);
``GRADIO_SERVER_NAME`` / ``GRADIO_SERVER_PORT`` for the standalone app (default port 7861).

Gradio is imported only inside the functions, so that ``main`` can place Gradio's cache in this
run's private temp folder first (``dashboard.tempfiles.run_root``).
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from typing import TYPE_CHECKING

from dashboard.rating_common import CONCURRENCY, note_own_titles
from dashboard.settings import Settings, SettingsError
from srcore.rating.service import RatingService, StudySettings
from srcore.rating.store import RatingStore

if TYPE_CHECKING:
    import gradio as gr

STUDY_PATH = "/study"  # the full app's page for raters


def make_service(
    settings: Settings, models: dict | None = None, missing: dict[str, str] | None = None
) -> RatingService:
    """The rating service of one app, from its settings: the store at ``settings.ratings_db`` (a
    file or a ``postgresql://`` URL; else ``srcore.rating.default_db_path()``), the organiser
    token, the server secret, the image folder and the study's defaults.  ``models`` /
    ``missing``: the app's loaded generators and what is wrong with the others.  The stimuli are
    computed on first use, or by ``warm``."""
    note_own_titles(settings.checkpoints, settings.model_dirs)
    return RatingService(
        RatingStore(settings.ratings_db),
        models=models,
        missing=missing,
        admin_token=settings.admin_token,
        secret=settings.rating_secret,
        defaults=StudySettings(items=settings.rating_items, crop=settings.rating_crop, access=settings.rating_access),
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
    import gradio as gr

    print(f"{what} unavailable: {e!r}", flush=True)  # details (paths) go to the server log only
    gr.Markdown(f"**The {what} is unavailable** ({type(e).__name__}); the server log says why.")
    return {}


def build_results_tab(svc: RatingService, study_path: str = "/") -> dict:
    """The results view and the organiser's tools in the current Blocks/Tab context."""
    from dashboard.rating_admin import build_admin
    from dashboard.rating_results import build_results_view

    out = build_results_view(svc)
    out.update(build_admin(svc, out["token"], study_path))
    return out


def build_rating_tab(svc: RatingService) -> dict:
    """The rater's study in the current Blocks/Tab/page context (``rating_rate.build_rating_page``)."""
    from dashboard.rating_rate import build_rating_page

    return build_rating_page(svc)


def build_tabs(
    settings: Settings, models: dict | None = None, missing: dict[str, str] | None = None
) -> RatingService | None:
    """The full app's "Results" tab (results and the organiser's tools), inside the current
    Blocks/Tabs context, on one service made from ``settings``; returns the service, or None (the
    tab saying that it is unavailable) when it cannot be set up (an unwritable database, say).
    The raters' study goes on its own page: ``build_study_page``."""
    import gradio as gr

    svc: RatingService | None = None
    problem: Exception = RuntimeError("no rating service")
    try:
        svc = make_service(settings, models=models, missing=missing)
    except Exception as e:  # noqa: BLE001 - an unusable database must not take the app down
        problem = e
    with gr.Tab("Results", id="results"):
        if svc is not None:
            gr.Markdown(
                f"Raters take part on the study page, [`{STUDY_PATH}`]({STUDY_PATH.lstrip('/')}), which shows "
                "nothing but the study; invite them with the participant links or a class code below."
            )
            build_results_tab(svc, STUDY_PATH)
        else:
            _unavailable("results view", problem)
    return svc


def build_study_page(demo: gr.Blocks, svc: RatingService | None) -> None:
    """The raters' page of the full app at ``/study`` (not in the navigation bar): the study and
    nothing else."""
    import gradio as gr

    with demo.route("Study", STUDY_PATH, show_in_navbar=False):
        gr.Markdown("# Blind image quality study")
        if svc is None:
            _unavailable("rating mode", RuntimeError("no rating service"))
        else:
            build_rating_tab(svc)


def build_app(svc: RatingService) -> gr.Blocks:
    """The standalone app: the study at ``/`` and a Results tab for the organiser."""
    import gradio as gr

    with gr.Blocks(title="SR blind assessment") as demo, gr.Tabs():
        with gr.Tab("Rate", id="rate"):
            build_rating_tab(svc)
        with gr.Tab("Results", id="results"):
            build_results_tab(svc, "/")
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
    from dashboard import serving, tempfiles

    tempfiles.run_root(settings.temp_base)  # before Gradio is imported: its cache and the exports go in there
    serving.trust_proxies(settings.trusted_proxies)
    t = time.time()
    try:
        svc = warm(make_service(settings))
    except Exception as e:  # noqa: BLE001 - a database that cannot be opened: say so, no traceback
        sys.exit(f"error: the ratings database could not be opened: {e}")
    print(
        f"ratings database ready; stimuli ready in {time.time() - t:.1f}s "
        f"({len(svc.stimuli.image_ids)} images x {len(svc.stimuli.models)} versions)",
        flush=True,
    )
    demo = build_app(svc)
    # SIGTERM (how a supervisor stops the app) exits like Ctrl-C: the atexit hooks remove this run's
    # temp folder, exports included
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    demo.queue(default_concurrency_limit=CONCURRENCY)
    demo.launch(server_name=args.host, server_port=args.port, show_error=True, ssr_mode=False)


if __name__ == "__main__":
    main()
