"""Time from ``python app.py`` to a ready app (target: <= 15 s on 2 CPU cores).

Starts the app in a subprocess on a free port and polls until the page answers and the compare
API is listed (the models are loaded and the first comparison is computed at build time, so
"ready" means a visitor sees a finished comparison).  Repeats ``--runs`` times.

    python -m benchmarks.app_startup [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

from benchmarks._process import start_app, stop, wait_ready
from benchmarks._results import save


def once(timeout: float = 120.0) -> float:
    t0 = time.perf_counter()
    proc, url = start_app()
    try:
        wait_ready(proc, url, timeout=timeout, interval=0.1)
        return time.perf_counter() - t0
    finally:
        stop(proc)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--json", default=None, help="write the figures here (e.g. benchmarks/results/app_startup.json)")
    args = ap.parse_args(argv)
    print(f"cpus {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    ts = []
    for i in range(args.runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        ts.append(once())
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        print(f"run {i + 1}: ready in {ts[-1]:.2f} s (the app process used {cpu:.1f} CPU-seconds in all)", flush=True)
    print(
        f"startup    median {statistics.median(ts):.2f} s   min {min(ts):.2f} s   max {max(ts):.2f} s   (n={len(ts)})"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    save(
        args.json,
        {
            "median_s": statistics.median(ts),
            "min_s": min(ts),
            "max_s": max(ts),
            "runs_s": ts,
            "rating_tabs": os.environ.get("SR_RATING_TABS", "1") != "0",
        },
    )


if __name__ == "__main__":
    main()
