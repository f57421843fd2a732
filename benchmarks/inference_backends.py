"""Eager PyTorch against channels-last, ``torch.compile`` and ONNX Runtime for the four generators, side by
side in one run, on this CPU (issue 16: adopt only what beats eager by more than 15 %).

For each backend and each shipped generator (its inference copy, ``Generator.for_inference``, as the
app runs it): the whole-image x4 of a 128x128 LR input (the 512x512
compare) and of a 384x384 one (the largest LR upload), ``--runs`` timed runs after a warm-up; the
figure per backend is the sum over the four models of each model's median.  Every backend's output is
checked against eager's (max abs difference, in [0, 1] units): a backend that computes something else
does not count.  A backend that cannot run here (ONNX Runtime not installed, no C++ compiler for
``torch.compile``, an operator the exporter does not know) is reported with its reason, not hidden.

    python benchmarks/inference_backends.py [--runs 5] [--threads 1] [--sizes 128,384] [--json benchmarks/results/inference_backends.json]

ONNX Runtime is not a dependency of the app; to include it in the comparison install ``onnx`` and
``onnxruntime`` first (the script says so when they are missing).  Other work on the CPU inflates
every figure; the load average is printed with them.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks._results import save

ADOPT_GAIN = 0.15


def _time(fn: Callable[[], object], runs: int) -> tuple[float, list[float]]:
    """(the first call's time, with any compilation; then ``runs`` timed calls)."""
    t = time.perf_counter()
    fn()
    first = time.perf_counter() - t
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return first, ts


def backends(threads: int) -> dict[str, Callable]:
    """name -> make(model, example input) -> callable(input) returning an NCHW float tensor."""
    import torch

    def eager(model, _x):
        return model

    def channels_last(model, _x):
        m = model.to(memory_format=torch.channels_last)
        return lambda t: m(t.contiguous(memory_format=torch.channels_last))

    def compiled(model, _x):
        return torch.compile(model, dynamic=False)

    def onnxruntime(model, x):
        try:
            import onnxruntime as ort
        except ImportError:
            raise RuntimeError("onnxruntime is not installed (pip install onnx onnxruntime)") from None
        path = Path(tempfile.mkdtemp(prefix="sr-onnx-")) / "g.onnx"
        torch.onnx.export(
            model, (x,), str(path), input_names=["lr"], output_names=["sr"], dynamo=False, opset_version=17
        )
        so = ort.SessionOptions()
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
        sess = ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])

        def run(t):
            return torch.from_numpy(sess.run(None, {"lr": t.numpy()})[0])

        return run

    return {"eager": eager, "channels_last": channels_last, "torch_compile": compiled, "onnxruntime": onnxruntime}


def decide(sizes: dict[str, dict[str, dict]], names: list[str]) -> dict[str, str]:
    """The verdict per backend.  ``names`` are in order of what each costs the app (eager; a memory
    format; a compiler; a new dependency), so a later backend must beat the one adopted before it,
    not only eager, by more than ``ADOPT_GAIN`` at every size, with the same output; and what it
    costs the first time it meets an input size (export, session, compilation) must pay back on
    that first image: uploads come in every size, so a per-size set-up is paid on most of them."""
    verdict, best = {}, "eager"

    def first_extra(per: dict) -> float:  # what the first image of a size costs beyond the later ones
        return per.get("setup_s", 0.0) + per.get("first_call_s", per["four_models_s"]) - per["four_models_s"]

    for name in names:
        if name == "eager":
            verdict[name] = "baseline"
            continue
        there = [s for s in sizes if name in sizes[s]]
        if not there:
            verdict[name] = "not measured"
            continue
        same = all(sizes[s][name]["max_abs_diff"] < 1e-3 for s in there)
        gains = [1 - sizes[s][name]["four_models_s"] / sizes[s][best]["four_models_s"] for s in there]
        payback = []  # images of one size before the faster runs repay the first one's set-up
        for s in there:
            saving = sizes[s][best]["four_models_s"] - sizes[s][name]["four_models_s"]
            extra = first_extra(sizes[s][name]) - first_extra(sizes[s][best])
            payback.append(max(0.0, extra) / saving if saving > 0 else float("inf"))
        if len(there) == len(sizes) and same and all(g > ADOPT_GAIN for g in gains) and max(payback) <= 1:
            verdict[name], best = "adopt", name
        else:
            why = f"+{min(gains):.0%} over it at worst"
            if all(g > ADOPT_GAIN for g in gains) and max(payback) > 1:
                why += f"; its set-up for each new input size takes {max(payback):.1f} images of that size to pay back"
            verdict[name] = f"keep {best} ({why})"
    return verdict


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch / ORT threads per model (default 1: the compare runs one model per core, single-threaded; 0 = all cores)",
    )
    ap.add_argument("--sizes", default="128,384", help="LR sides to time")
    ap.add_argument("--only", default="", help="comma-separated backends (default: all)")
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    import numpy as np
    import torch
    from skimage import data

    from srcore.data import to_tensor
    from srcore.zoo import load_available

    threads = args.threads or os.cpu_count() or 1
    torch.set_num_threads(threads)
    loaded, problems = load_available()
    # each backend runs the inference copy the app runs (srcore.inference.prepare: upsampling as
    # sub-pixel convs), so eager here is that copy in NCHW and channels_last is the app's own path
    models = {k: m.for_inference() for k, m in loaded.items()}
    print(
        f"torch {torch.__version__}, threads {threads}, cpus {os.cpu_count()}, load average "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; models {', '.join(models)}"
        + (f"; missing {', '.join(problems)}" if problems else ""),
        flush=True,
    )
    img = data.astronaut()
    chosen = [b for b in backends(threads) if not args.only or b in args.only.split(",")]
    if "eager" not in chosen:
        chosen.insert(0, "eager")
    figures: dict = {"sizes": {}, "errors": {}}
    for side in (int(s) for s in args.sizes.split(",")):
        lr = np.ascontiguousarray(np.resize(img, (side, side, 3)) if side > 512 else img[:side, :side])
        x = to_tensor(lr).unsqueeze(0)
        per: dict[str, dict] = {}
        for name in chosen:
            make = backends(threads)[name]
            total, first_total, setup_total, diffs, runs = 0.0, 0.0, 0.0, [], {}
            try:
                for m, model in models.items():
                    model = model.eval()
                    with torch.inference_mode():
                        ref = model(x)
                    t_setup = time.perf_counter()
                    fn = make(model, x)
                    setup_total += time.perf_counter() - t_setup
                    with torch.inference_mode():
                        first, ts = _time(lambda fn=fn, x=x: fn(x), args.runs)
                        out = fn(x)
                    diffs.append(float((out - ref).abs().max()))
                    runs[m] = statistics.median(ts)
                    total += runs[m]
                    first_total += first
                    model.to(memory_format=torch.contiguous_format)
            except Exception as e:  # noqa: BLE001 - a backend that cannot run here is reported, not fatal
                figures["errors"][name] = f"{type(e).__name__}: {str(e).splitlines()[0][:300]}"
                print(f"{side:>4} px  {name:<14} not available: {figures['errors'][name]}", flush=True)
                continue
            per[name] = {
                "four_models_s": total,
                "first_call_s": first_total,
                "setup_s": setup_total,
                "per_model_s": runs,
                "max_abs_diff": max(diffs),
            }
            gain = 1 - total / per["eager"]["four_models_s"]
            per[name]["gain_vs_eager"] = gain
            print(
                f"{side:>4} px  {name:<14} four models {total:.3f} s  ({gain:+.0%} vs eager; max |diff| "
                f"{max(diffs):.1e}; setup (export, session) {setup_total:.1f} s and first calls (with any "
                f"compilation) {first_total:.1f} s, four models in all)",
                flush=True,
            )
        figures["sizes"][str(side)] = per
    figures["verdict"] = verdict = decide(figures["sizes"], chosen)
    print(
        "verdict (in order of what each costs the app: a backend is adopted only if it is > 15 % faster "
        "than what is adopted before it, at every size, with the same output, and its per-size set-up "
        "pays back on the first image): " + ", ".join(f"{k}: {v}" for k, v in verdict.items())
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    save(args.json, {"threads": threads, **figures})
    return 0


if __name__ == "__main__":
    sys.exit(main())
