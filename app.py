"""Launch the super-resolution comparison dashboard: ``python app.py``.

Settings (``dashboard.settings.Settings``, read once here from the environment): GRADIO_SERVER_NAME /
GRADIO_SERVER_PORT (Hugging Face Spaces set them), SR_CHECKPOINTS (folder of the generator
checkpoints and perceptual-network weights), SR_MODELS (more folders of your own checkpoints),
SR_THREADS, and SR_RATING_TABS=0 (leaves out the blind-rating "Rate" / "Results" tabs).
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


def _warm_rating() -> None:
    if not SETTINGS.rating_tabs:
        return
    try:  # the blind-rating tabs' stimuli (dashboard.rating_tab)
        from dashboard.rating_tab import get_service

        get_service(warm=True)
    except Exception as e:  # noqa: BLE001 - the Rate tab reports the problem to the rater who presses Start
        print(f"rating stimuli not prepared: {e}", flush=True)


_loader = threading.Thread(target=_preload, name="preload", daemon=True)
_loader.start()

import gradio  # noqa: F401  (imported in parallel with the models)

_loader.join()

from dashboard.ui import build_demo, launch_kwargs

demo = build_demo(_pre.get("engine"), _pre.get("initial"), SETTINGS)

if __name__ == "__main__":
    print(f"dashboard built in {time.perf_counter() - T0:.1f} s", flush=True)
    for why in getattr(_pre.get("engine"), "problems", {}).values():
        print(f"warning: {why}; the app runs without that model", flush=True)
    for why in getattr(_pre.get("engine"), "refused", {}).values():
        print(f"warning: {why}", flush=True)
    demo.launch(
        server_name=SETTINGS.host,
        server_port=SETTINGS.port,
        prevent_thread_lock=True,
        **launch_kwargs(),
    )
    threading.Thread(target=_warm_rating, name="warm-rating", daemon=True).start()
    # SIGTERM (how a Space or a supervisor stops the app) exits like Ctrl-C: the server closes and
    # the atexit hooks remove the app's temporary files.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        demo.block_thread()
    finally:
        demo.close()
