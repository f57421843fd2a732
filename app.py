"""Launch the super-resolution comparison dashboard: ``python app.py``.

Respects GRADIO_SERVER_NAME / GRADIO_SERVER_PORT (Hugging Face Spaces set them) and
SR_CHECKPOINTS (folder of the generator checkpoints and perceptual-network weights).
Models load once, here, at start-up.
"""

import os
import time

T0 = time.perf_counter()

from dashboard.ui import build_demo, launch_kwargs  # noqa: E402

demo = build_demo()

if __name__ == "__main__":
    print(f"dashboard built in {time.perf_counter() - T0:.1f} s", flush=True)
    demo.launch(
        server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
        **launch_kwargs(),
    )
