"""Latency of the dashboard's full compare of a 512x512 HR image (issue 16: callback <= 0.7 s and
<= 1.3x the four models' own time, on 2 CPU cores).

What is timed: ``models``, the four generators on the 128x128 LR, side by side on the compare's
workers (the yardstick); ``core``, ``dashboard.core.run_compare`` with every figure in one go
(MATLAB-bicubic /4 of the HR, bicubic x4 and the four generators, PSNR-Y / SSIM-Y / PSNR-RGB of
five SR panels and their LPIPS); ``callback``, the Compare button's own streamed callback until the
update that shows the finished panels with PSNR / SSIM (PNG writes, viewer config, table);
``callback_lpips``, the same callback to its end, when LPIPS and the downloads have followed.
``e2e`` (with --e2e) is a round trip through gradio_client against the app on a local port
(upload of the 512x512 PNG, compare, all panels back).

    python -m benchmarks.compare_latency [--runs 7] [--threads N] [--e2e]

Each run times the models, run_compare and the callback back to back; the ratio is the median of
the runs' own ratios.  Prints median / min / max in seconds, the CPU time a compare costs, and the machine's load average
(other work on the CPU inflates every wall-clock figure; compare figures only at similar load).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

from benchmarks._results import save

FIGURES: dict = {}


def stats(name: str, ts: list[float]) -> None:
    FIGURES[name] = {"median_s": statistics.median(ts), "min_s": min(ts), "max_s": max(ts), "n": len(ts), "runs_s": ts}
    print(
        f"{name:<10} median {statistics.median(ts):.3f} s   min {min(ts):.3f} s   max {max(ts):.3f} s   (n={len(ts)})",
        flush=True,
    )


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: all cores)")
    ap.add_argument("--e2e", action="store_true", help="also time a gradio_client round trip")
    ap.add_argument(
        "--json", default=None, help="write the figures here (e.g. benchmarks/results/compare_latency.json)"
    )
    args = ap.parse_args(argv)
    if args.threads:
        os.environ["SR_THREADS"] = str(args.threads)

    import torch
    from skimage import data

    from dashboard import core

    t0 = time.perf_counter()
    engine = core.Engine()
    print(
        f"models loaded in {time.perf_counter() - t0:.2f} s: {', '.join(engine.available)}"
        + (f"; missing: {', '.join(engine.problems)}" if engine.problems else "")
    )
    print(
        f"torch {torch.__version__}, threads {torch.get_num_threads()}, cpus {os.cpu_count()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    hr = data.astronaut()  # 512x512 RGB
    assert hr.shape == (512, 512, 3)
    core.run_compare(engine, hr)  # warm-up

    import gradio as gr

    from dashboard.compare_tab import VIEW_IMAGES, CompareTab
    from dashboard.core import UPLOAD_HR
    from srcore.inference import upscale

    # the Compare button's own callback (a stream of updates), as a browser session gets it:
    # ``callback`` ends with the update that shows the finished panels with PSNR / SSIM,
    # ``callback_lpips`` with the last one (LPIPS filled in, downloads ready)
    app = CompareTab(engine)
    with gr.Blocks():
        app.build()

    def callback() -> tuple[float, float]:
        app.results.clear()  # results are cached by key (dashboard.cache); time the uncached path
        t, t_first = time.perf_counter(), None
        for out in app.on_compare(None, "Astronaut", None, UPLOAD_HR, engine.available, VIEW_IMAGES, None, None):
            if t_first is None and app.c["state"] in out:
                t_first = time.perf_counter() - t
        assert t_first is not None
        return t_first, time.perf_counter() - t

    # the four generators alone, run as the compare runs them (the same pool of workers): the
    # yardstick of the callback's overhead (issue 16: callback <= 1.3x this).  Each run times the
    # yardstick, run_compare and the callback back to back, and the ratio is taken per run, so a
    # shift in the machine's speed between runs (a shared host) does not bias it.
    lr = core.prepare_input(hr, False)[0]
    gens = [engine.models[m] for m in engine.available]

    def models() -> None:
        if engine.pool is not None:
            list(engine.pool.map(lambda g: upscale(g, lr), gens))
        else:
            [upscale(g, lr) for g in gens]

    callback()  # warm-up of the callback path (the PNG writer, the viewer config)
    ts_models, ts_core, cpu_core, first, full, cpu_cb, ratios, ratios_lpips = [], [], [], [], [], [], [], []
    for _ in range(args.runs):
        t = time.perf_counter()
        models()
        ts_models.append(time.perf_counter() - t)
        c, t = time.process_time(), time.perf_counter()
        res = core.run_compare(engine, hr)
        ts_core.append(time.perf_counter() - t)
        cpu_core.append(time.process_time() - c)
        c = time.process_time()
        t_first, t_full = callback()
        cpu_cb.append(time.process_time() - c)
        first.append(t_first)
        full.append(t_full)
        ratios.append(t_first / ts_models[-1])
        ratios_lpips.append(t_full / ts_models[-1])
    assert len(res.scores) == 5 and all(s["lpips"] is not None for s in res.scores.values())
    stats("models", ts_models)
    stats("core", ts_core)
    print(
        f"core CPU time: median {statistics.median(cpu_core):.3f} core-seconds per compare over {engine.workers} "
        f"worker(s); on idle cores the wall time is about CPU time / {engine.workers} = "
        f"{statistics.median(cpu_core) / engine.workers:.3f} s"
    )
    stats("callback", first)
    stats("callback_lpips", full)
    ratio = statistics.median(ratios)
    FIGURES["callback_over_models"] = ratio
    FIGURES["callback_over_models_runs"] = ratios
    FIGURES["callback_lpips_over_models"] = statistics.median(ratios_lpips)
    print(
        f"callback (panels + PSNR/SSIM on screen) / models, median of the {len(ratios)} runs' ratios: {ratio:.2f}x "
        f"(min {min(ratios):.2f}x, max {max(ratios):.2f}x; bar 1.3x); median bar 0.7 s; "
        f"with LPIPS: {FIGURES['callback_lpips_over_models']:.2f}x"
    )
    print(
        f"callback CPU time: median {statistics.median(cpu_cb):.3f} core-seconds "
        f"(about {statistics.median(cpu_cb) / engine.workers:.3f} s on {engine.workers} idle cores)"
    )

    if args.e2e:
        import socket
        import tempfile

        import numpy as np
        from gradio_client import Client, handle_file
        from PIL import Image

        from dashboard.ui import build_demo, launch_kwargs

        demo = build_demo(engine)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        kw = launch_kwargs(engine.settings)
        kw.pop("css", None), kw.pop("theme", None)
        demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, **kw)
        folder = Path(tempfile.mkdtemp())
        # e2e: upload, compare, and the client downloading all the output files (gradio_client's
        # default); e2e_result: the same until the result arrives (a browser then loads the images
        # it shows, lazily).  Every upload is a different image (the photo shifted by a pixel more
        # each time), so the app's result cache never answers: each run computes.
        n = 0
        for key, download in (("e2e", True), ("e2e_result", False)):
            client = Client(f"http://127.0.0.1:{port}/", verbose=False, download_files=download)
            ts = []
            for _ in range(args.runs + 1):  # the first: warm-up
                n += 1
                png = folder / f"astronaut_{n}.png"
                Image.fromarray(np.ascontiguousarray(np.roll(hr, n, axis=1))).save(png)
                t = time.perf_counter()
                client.predict(handle_file(str(png)), "Astronaut", UPLOAD_HR, engine.available, api_name="/compare")
                ts.append(time.perf_counter() - t)
            stats(key, ts[1:])
        demo.close()
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    save(args.json, {"image": "astronaut 512x512 HR", "workers": engine.workers, **FIGURES})


if __name__ == "__main__":
    main()
