"""Launch the super-resolution comparison dashboard: ``python app.py``.

Settings (``dashboard.settings.Settings``, read once here from the environment and passed down as
values; the README lists them all): GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (Hugging Face Spaces
set them), SR_CHECKPOINTS (folder of the generator checkpoints and perceptual-network weights),
SR_MODELS (more folders of your own checkpoints), SR_THREADS, SR_MAX_WAITING, SR_RESULT_CACHE_MB,
SR_SESSION_TTL_S / SR_SESSION_CAPACITY, SR_TEMP_BASE, SR_RATING_TABS=0 (leaves out the
blind-rating "Rate" / "Results" tabs) and the rating tabs' SR_RATINGS_DB, SR_RATING_IMAGES,
SR_RATING_CROP / SR_RATING_ITEMS / SR_RATING_ZOOM / SR_RATING_ACCESS, SR_ADMIN_TOKEN and
SR_RATING_SECRET, and SR_TRUSTED_PROXIES (whose X-Forwarded-For is believed).
A malformed value stops the start with a message naming the variable.
Models load once, here, at start-up; the first example's comparison is computed while Gradio
imports (a second thread), so the first view is ready as soon as the server is.  The rating
tabs' stimuli are computed in the background once the server is up (a rater pressing Start
before that waits for them).
"""

import signal
import sys
import threading
import time

from dashboard.settings import Settings, SettingsError

T0 = time.perf_counter()
try:
    SETTINGS = Settings.from_env()
except SettingsError as e:
    sys.exit(f"error: {e}")
_pre: dict = {}

# before Gradio is imported: its cache goes into this run's marked temp folder, and the folders of
# runs that died without cleaning up (kill -9, out of memory) are removed (dashboard.tempfiles)
from dashboard.tempfiles import run_root  # noqa: E402

run_root(SETTINGS.temp_base)


def _preload() -> None:
    try:
        from skimage import data

        from dashboard.core import EXAMPLE_LOADERS, Engine, run_compare

        engine = Engine(SETTINGS)
        _pre["engine"] = engine
        name, loader = next(iter(EXAMPLE_LOADERS.items()))  # the opening view of build_demo
        _pre["initial"] = run_compare(engine, getattr(data, loader)(), source=name)
    except Exception as e:  # noqa: BLE001 - build_demo below redoes the work and reports the error itself
        _pre["error"] = e


def _warm_rating(service) -> None:
    try:  # the blind-rating tabs' stimuli (dashboard.rating_tab)
        from dashboard.rating_tab import warm

        warm(service)
    except Exception as e:  # noqa: BLE001 - the Rate tab reports the problem to the rater who presses Start
        print(f"rating stimuli not prepared: {e}", flush=True)


_loader = threading.Thread(target=_preload, name="preload", daemon=True)
_loader.start()

import gradio  # noqa: F401  (imported in parallel with the models)

_loader.join()

from dashboard.ui import build_app, launch_kwargs

APP = build_app(_pre.get("engine"), _pre.get("initial"), SETTINGS)
demo = APP.demo

if __name__ == "__main__":
    print(f"dashboard built in {time.perf_counter() - T0:.1f} s", flush=True)
    for why in getattr(_pre.get("engine"), "problems", {}).values():
        print(f"warning: {why}; the app runs without that model", flush=True)
    for why in getattr(_pre.get("engine"), "refused", {}).values():
        print(f"warning: {why}", flush=True)
    from dashboard.serving import trust_proxies

    trust_proxies(SETTINGS.trusted_proxies)  # X-Forwarded-For only from SR_TRUSTED_PROXIES
    demo.launch(
        server_name=SETTINGS.host,
        server_port=SETTINGS.port,
        prevent_thread_lock=True,
        **launch_kwargs(SETTINGS),
    )
    if APP.rating is not None:
        threading.Thread(target=_warm_rating, args=(APP.rating,), name="warm-rating", daemon=True).start()
    from dashboard.serving import start_session_reaper

    # idle sessions are forgotten (SR_SESSION_TTL_S), not kept for an hour
    start_session_reaper(demo, idle_s=SETTINGS.session_ttl_s)
    # SIGTERM (how a Space or a supervisor stops the app) exits like Ctrl-C: the server closes and
    # the atexit hooks remove the app's temporary files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        demo.block_thread()
    finally:
        demo.close()
