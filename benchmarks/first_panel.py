"""How soon the first model's panel appears in a compare, against the whole compare (bar: ≤ 40 %).

Starts ``python app.py`` on a free local port and, through gradio_client, uploads a 384x384 image
as a *low-resolution input* (so each model upscales it to 1536x1536) to the Compare button's
streaming endpoint (``/compare_live``, the same generator the browser runs).  Each update it
streams is time-stamped on arrival; the first update whose viewer config holds a model's finished
(not stale) panel is "first model panel", the last update is "whole compare".

    python -m benchmarks.first_panel [--runs 3] [--size 384] [--json benchmarks/results/first_panel.json]

Prints per run: first bicubic panel, first model panel, whole compare (s) and the ratio; then
the medians.  Wall-clock figures depend on the load of the machine (printed too).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks import _process
from benchmarks._results import save


def _viewer_cfg(outputs) -> dict | None:
    for v in outputs if isinstance(outputs, (list, tuple)) else [outputs]:
        if isinstance(v, str) and v.startswith("{") and '"panels"' in v:
            return json.loads(v)
    return None


def one_run(client, png: Path, models: list[str]) -> dict:
    from gradio_client import handle_file

    from dashboard.compare_layout import BLEND_A, BLEND_B
    from dashboard.core import UPLOAD_LR

    t0 = time.perf_counter()
    blend = (False, BLEND_A, BLEND_B, 0.5)  # the loss slider off, as a visitor first finds it
    job = client.submit(
        "Astronaut",
        handle_file(str(png)),
        UPLOAD_LR,
        models,
        "Images",
        "bicubic",
        models[-1],
        *blend,
        api_name="/compare_live",
    )
    seen, first_bicubic, first_model = 0, None, None
    while True:
        outs = job.outputs()
        now = time.perf_counter() - t0
        for o in outs[seen:]:
            cfg = _viewer_cfg(o)
            if not cfg:
                continue
            ready = {p["key"] for p in cfg["panels"] if p.get("url") and not p.get("stale")}
            if first_bicubic is None and "bicubic" in ready:
                first_bicubic = now
            if first_model is None and ready & set(models):
                first_model = now
        seen = len(outs)
        if job.done():
            break
        time.sleep(0.01)
    job.result()  # raises if the compare failed
    total = time.perf_counter() - t0
    return {
        "first_bicubic_s": first_bicubic,
        "first_model_s": first_model,
        "total_s": total,
        "ratio": None if first_model is None else first_model / total,
    }


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--size", type=int, default=384, help="side of the square LR upload")
    ap.add_argument("--json", default=None, help="write the figures here")
    args = ap.parse_args(argv)

    from gradio_client import Client
    from PIL import Image
    from skimage import data

    d = Path(tempfile.mkdtemp(prefix="first-panel-"))
    img = np.asarray(Image.fromarray(data.astronaut()).resize((args.size, args.size), Image.LANCZOS))
    # one file per run, each shifted by a pixel more: the app's result cache (dashboard.cache)
    # would answer a second upload of the same image at once
    pngs = []
    for i in range(args.runs):
        pngs.append(d / f"astronaut_{args.size}_{i}.png")
        Image.fromarray(np.ascontiguousarray(np.roll(img, i, axis=1))).save(pngs[-1])
    proc, url = _process.start_app(d / "app.log", {"SR_RATING_TABS": "0"})
    try:
        _process.wait_ready(proc, url, d / "app.log", timeout=900, interval=0.5, must_contain=None)
        client = Client(url, verbose=False, download_files=False)
        models = [m["key"] for m in client.predict(api_name="/models")["models"] if m["key"] != "bicubic"]
        print(f"models: {', '.join(models)}; load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
        runs = []
        for i in range(args.runs):
            r = one_run(client, pngs[i], models)
            runs.append(r)
            print(
                f"run {i + 1}: first bicubic {r['first_bicubic_s']:.2f} s, first model {r['first_model_s']:.2f} s, "
                f"whole compare {r['total_s']:.2f} s, ratio {r['ratio']:.1%}",
                flush=True,
            )
    finally:
        _process.stop(proc, 15)
    med = {k: statistics.median(r[k] for r in runs) for k in ("first_bicubic_s", "first_model_s", "total_s", "ratio")}
    print(
        f"median: first model panel {med['first_model_s']:.2f} s of {med['total_s']:.2f} s = {med['ratio']:.1%} "
        f"(bar ≤ 40 %); load average after {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    save(
        args.json,
        {
            "image": f"{args.size}x{args.size} LR upload (astronaut, Lanczos), {len(models)} models",
            "bar": "first model panel within 40 % of the whole compare",
            "median": med,
            "runs": runs,
        },
    )


if __name__ == "__main__":
    main()
