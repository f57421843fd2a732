"""Time the loss slider's blend panel added to a 512x512 compare (issue 22: <= 0.5 s on 2 CPU cores).

What is timed, each run on a new α (so every run blends the weights, runs the blended network on
the 128x128 LR, writes its PNG and scores PSNR / SSIM / LPIPS against the ground truth):

* ``compare``: the Compare button's callback to its end (panels, PSNR / SSIM, LPIPS, downloads)
  for the astronaut without the blend panel;
* ``compare_blend``: the same with the loss slider on; ``added`` = the per-run difference;
* ``slider``: moving α on a finished compare (``on_view``: blend, run, score, viewer config).

    python -m benchmarks.blend_latency [--runs 7] [--json benchmarks/results/blend_latency.json]
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

from benchmarks._results import save

FIGURES: dict = {}


def stats(name: str, ts: list[float]) -> None:
    FIGURES[name] = {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts), "n": len(ts), "runs_s": ts}
    print(
        f"{name:<14} median {statistics.median(ts):.3f} s   min {min(ts):.3f} s   max {max(ts):.3f} s   (n={len(ts)})"
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--json", default=None, help="write the figures here (benchmarks/results/blend_latency.json)")
    args = ap.parse_args(argv)

    import gradio as gr

    from dashboard import core
    from dashboard.compare_layout import BLEND_A, BLEND_B
    from dashboard.compare_tab import VIEW_IMAGES, CompareTab
    from dashboard.core import UPLOAD_HR

    engine = core.Engine()
    a, b = BLEND_A, BLEND_B
    if not {a, b} <= set(engine.models):
        raise SystemExit(f"error: the {a} and {b} checkpoints are needed ({engine.problems})")
    tab = CompareTab(engine)
    with gr.Blocks():
        tab.build()
    print(f"cpus {os.cpu_count()}, workers {engine.workers}, load {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    alphas = iter([round(0.05 * i, 2) for i in range(1, 20)] * 4)

    def compare(blend: bool) -> float:
        tab.results.clear()
        t = time.perf_counter()
        out: dict = {}
        for o in tab.on_compare(
            None, "Astronaut", None, UPLOAD_HR, engine.available, VIEW_IMAGES, None, None, blend, a, b, next(alphas)
        ):
            out.update(o)
        dt = time.perf_counter() - t
        assert ('"key": "blend"' in out[tab.c["viewer"]]) == blend
        return dt

    compare(False), compare(True)  # warm-up
    plain, blended, added, slider = [], [], [], []
    for _ in range(args.runs):
        t0 = compare(False)
        t1 = compare(True)
        plain.append(t0)
        blended.append(t1)
        added.append(t1 - t0)
        state = tab.compute("Astronaut", None, UPLOAD_HR, engine.available).key  # the compare just run (cached)
        t = time.perf_counter()
        tab.on_view(state, VIEW_IMAGES, None, None, True, a, b, next(alphas))
        slider.append(time.perf_counter() - t)
    stats("compare", plain)
    stats("compare_blend", blended)
    stats("added", added)
    stats("slider", slider)
    print(f"blend panel added to a 512x512 compare: median {statistics.median(added):.3f} s (bar 0.5 s)")
    save(args.json, FIGURES)


if __name__ == "__main__":
    main()
