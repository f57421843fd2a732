"""Server memory after many closed sessions against a fresh server that did the same work once (issue 16).

Starts ``python app.py`` on a free loopback port (without the rating tabs), and with one gradio_client
client plays ``--sessions`` visitors one after another: each gets a new session (gradio_client's
``reset_session``: the previous session's heartbeat stream closes, as when a tab is closed), uploads the
same 256x256 photo for a compare of all four models, then asks for its downloads (which read the
session's state).  The app holds each result once, by key, in its bounded cache (``dashboard.cache``);
a session holds only the key.

RSS of the app process is read (after a settling pause) once the first session has done its work:
that is a fresh server that did the work once; then after all the sessions; then, with
``--ttl`` (the app's ``SR_SESSION_TTL_S``), after the idle sessions have expired.  The bar: the RSS after
the sessions is within ``--limit-mb`` (200) of the fresh one.

    python benchmarks/session_memory.py [--sessions 1000] [--ttl 30] [--json benchmarks/results/session_memory.json]

Exit status 1 if the bar is missed or a session failed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from benchmarks._process import start_app, stop, wait_ready
from benchmarks._results import save
from dashboard.core import UPLOAD_HR
from srcore.zoo import MODEL_NAMES

SIDE = 256


def rss_mb(pid: int, settle_s: float = 3.0) -> float:
    """The process's resident memory (MB), read after ``settle_s`` so that freed buffers are returned."""
    import psutil

    time.sleep(settle_s)
    return psutil.Process(pid).memory_info().rss / 1e6


def visit(client, image: Path) -> None:
    """One visitor: a new session, a compare of the upload (``/compare``), then the session's downloads
    (``/downloads``, which reads the session's state: the key of its result in the app's cache)."""
    from gradio_client import handle_file

    client.reset_session()
    info, files = client.predict(
        handle_file(str(image)), "Astronaut", UPLOAD_HR, list(MODEL_NAMES), api_name="/compare"
    )[:2]
    if info.get("hr_size") != [SIDE, SIDE] or len(files) < 7:  # (file references: the client downloads none)
        raise RuntimeError(f"wrong compare result: {str(info)[:200]}")
    files = client.predict(api_name="/downloads")
    names = [str(f.get("path") if isinstance(f, dict) else f) for f in files or []]
    if not any(n.endswith(".zip") for n in names):
        raise RuntimeError(f"the session's downloads went wrong: {str(files)[:200]}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", type=int, default=1000)
    ap.add_argument("--ttl", type=float, default=30.0, help="the app's idle-session lifetime (SR_SESSION_TTL_S), s")
    ap.add_argument("--limit-mb", type=float, default=200.0)
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)

    from gradio_client import Client
    from PIL import Image
    from skimage import data

    print(f"cpus {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sr-mem-") as tmp:
        tmp = Path(tmp)
        image = tmp / "astronaut_256.png"
        Image.fromarray(data.astronaut()[40 : 40 + SIDE, 140 : 140 + SIDE]).save(image)
        log = tmp / "app.log"
        proc, url = start_app(
            log,
            {
                "SR_RATING_TABS": "0",
                "SR_RATINGS_DB": str(tmp / "ratings.sqlite3"),
                "SR_SESSION_TTL_S": str(args.ttl),
                "SR_TEMP_BASE": str(tmp),
            },
        )
        failures: list[str] = []
        try:
            wait_ready(proc, url, log)
            rss_ready = rss_mb(proc.pid)
            client = Client(url, verbose=False, download_files=False)  # the server's memory is measured, not ours
            t0 = time.time()
            visit(client, image)
            rss_once = rss_mb(proc.pid)
            print(f"RSS at ready {rss_ready:.0f} MB; fresh server after the work once {rss_once:.0f} MB", flush=True)
            for i in range(1, args.sessions):
                try:
                    visit(client, image)
                except Exception as e:  # noqa: BLE001 - counted and reported
                    failures.append(f"session {i}: {type(e).__name__}: {e}")
                if (i + 1) % 100 == 0:
                    print(f"{i + 1} sessions in {time.time() - t0:.0f} s, RSS {rss_mb(proc.pid, 0):.0f} MB", flush=True)
            client.reset_session()  # the last visitor leaves too
            client.close()
            wall = time.time() - t0
            rss_after = rss_mb(proc.pid)
            time.sleep(max(0.0, args.ttl * 1.5))  # idle sessions expire (the app's reaper runs every ttl/4)
            rss_expired = rss_mb(proc.pid)
        finally:
            stop(proc)

    growth = rss_after - rss_once
    res = {
        "sessions": args.sessions,
        "failed": len(failures),
        "failure_examples": failures[:5],
        "rss_at_ready_mb": round(rss_ready, 1),
        "rss_fresh_after_work_once_mb": round(rss_once, 1),
        "rss_after_sessions_mb": round(rss_after, 1),
        "rss_after_expiry_mb": round(rss_expired, 1),
        "growth_mb": round(growth, 1),
        "growth_after_expiry_mb": round(rss_expired - rss_once, 1),
        "per_session_kb": round(1000 * growth / max(args.sessions - 1, 1), 1),
        "limit_mb": args.limit_mb,
        "ok": growth <= args.limit_mb and not failures,
        "session_ttl_s": args.ttl,
        "wall_s": round(wall, 1),
        "work": f"per session: compare of a {SIDE}x{SIDE} upload (all four models) + its downloads",
    }
    print(
        f"{args.sessions} sessions in {wall:.0f} s ({len(failures)} failed): RSS fresh {rss_once:.0f} MB, after "
        f"{rss_after:.0f} MB (+{growth:.0f} MB, {res['per_session_kb']:.0f} kB per session), after expiry "
        f"{rss_expired:.0f} MB; limit +{args.limit_mb:.0f} MB -> {'OK' if res['ok'] else 'OVER'}"
    )
    save(args.json, res)
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
