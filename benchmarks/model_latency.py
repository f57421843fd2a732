"""Inference time of the four generators on the CPU: ``python -m benchmarks.model_latency``.

Prints, per model and in total, the median (and min-max) time to upscale a random LR image of
each size (default 128x128, the issue-4 bar: all four models <= 1.0 s in total on 2 cores).
Also prints the load average, since a busy machine inflates the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch

from benchmarks._results import save
from srcore.inference import upscale
from srcore.zoo import MODEL_NAMES, TITLES, load_available


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--sizes", type=int, nargs="+", default=[128])
    p.add_argument("--runs", type=int, default=7)
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    p.add_argument("--json", default=None, help="write the figures here (e.g. benchmarks/results/model_latency.json)")
    a = p.parse_args(argv)
    if a.threads:
        torch.set_num_threads(a.threads)
    models, problems = load_available(MODEL_NAMES)
    for n, why in problems.items():
        print(f"skipped {n}: {why}")
    rng = np.random.default_rng(0)
    figures: dict = {}
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.2f}"
    )
    for size in a.sizes:
        lr = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        totals = []
        per: dict[str, list[float]] = {n: [] for n in models}
        for m in models.values():  # warm-up
            upscale(m, lr)
        for _ in range(a.runs):
            t_all = 0.0
            for n, m in models.items():
                t0 = time.perf_counter()
                upscale(m, lr)
                dt = time.perf_counter() - t0
                per[n].append(dt)
                t_all += dt
            totals.append(t_all)
        print(f"\nLR {size}x{size} -> SR {4 * size}x{4 * size}, {a.runs} runs")
        for n, ts in per.items():
            print(f"  {TITLES[n]:10s} median {statistics.median(ts):.3f} s  (min {min(ts):.3f}, max {max(ts):.3f})")
        print(
            f"  all {len(models)} models: median {statistics.median(totals):.3f} s  (min {min(totals):.3f}, max {max(totals):.3f})"
        )
        figures[str(size)] = {
            "models": {
                n: {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts)} for n, ts in per.items()
            },
            "all_median_s": statistics.median(totals),
            "all_min_s": min(totals),
            "all_max_s": max(totals),
            "runs": a.runs,
        }
    save(a.json, {"sizes": figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
