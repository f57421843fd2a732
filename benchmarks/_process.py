"""Starting and stopping ``python app.py`` on a free local port: shared by the benchmark scripts
that run a server and by the app tests (``tests/app_helpers.py``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A free TCP port on the loopback interface."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_app(log: Path | None = None, env: dict | None = None) -> tuple[subprocess.Popen, str]:
    """``python app.py`` on a free loopback port with ``env`` added (output to ``log``, or
    discarded); returns (process, url) at once: see ``wait_ready``."""
    port = free_port()
    full = {
        **os.environ,
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "GRADIO_ANALYTICS_ENABLED": "False",
        **(env or {}),
    }
    out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - handed to the child, closed in the finally below
    try:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=full, stdout=out, stderr=subprocess.STDOUT)
    finally:
        if log:
            out.close()
    return proc, f"http://127.0.0.1:{port}/"


def wait_ready(
    proc: subprocess.Popen,
    url: str,
    log: Path | None = None,
    timeout: float = 300,
    interval: float = 0.2,
    must_contain: bytes | None = b"compare",
) -> None:
    """Poll ``url``'s API description until it answers (and lists ``must_contain``: the compare
    endpoint, so the models are loaded and the first view computed)."""

    def tail() -> str:
        return ":\n" + log.read_text(errors="replace")[-3000:] if log else ""

    t0 = time.time()
    while time.time() - t0 < timeout:
        if proc.poll() is not None:
            raise RuntimeError(f"app.py exited ({proc.returncode}){tail()}")
        try:
            with urllib.request.urlopen(url + "gradio_api/info", timeout=2) as r:
                if r.status == 200 and (must_contain is None or must_contain in r.read()):
                    return
        except OSError:
            pass
        time.sleep(interval)
    raise TimeoutError(f"app not ready in {timeout} s{tail()}")


def stop(proc: subprocess.Popen, timeout: float = 10) -> None:
    """Terminate a server process, killing it if it does not exit in ``timeout`` seconds."""
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
