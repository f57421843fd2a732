"""Tiled upscaling of a large image: time and peak memory of ``python -m srcore.upscale``.

Makes a 2048x2048 LR photo (scikit-image's astronaut, enlarged), then runs the upscale CLI on it
in a fresh process per run and samples that process's resident memory every 20 ms (psutil).
The issue-7 bar: one model, 2048x2048 LR (8192x8192 output), peak RSS <= 2.5 GB on the CPU.

    python -m benchmarks.tiled_memory [--size 2048] [--model srcnn_mse] [--runs 3] [--json PATH]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from benchmarks._results import ROOT, machine, save
from srcore.zoo import MSE_ARM

GB = 1024**3


def make_input(path: Path, size: int) -> None:
    from PIL import Image
    from skimage import data

    Image.fromarray(data.astronaut()).resize((size, size), Image.Resampling.BICUBIC).save(path)


def once(src: Path, out: Path, model: str, tile: int, threads: int) -> tuple[float, float]:
    """(seconds, peak RSS bytes) of one CLI run."""
    cmd = [
        sys.executable,
        "-m",
        "srcore.upscale",
        str(src),
        "--model",
        model,
        "--out",
        str(out),
        "--tile",
        str(tile),
        "--no-progress",
    ] + (["--threads", str(threads)] if threads else [])
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    ps, peak = psutil.Process(proc.pid), 0
    while proc.poll() is None:
        try:
            peak = max(peak, ps.memory_info().rss)
        except psutil.Error:
            break
        time.sleep(0.02)
    err = proc.stderr.read()
    proc.wait()
    if proc.returncode != 0:
        raise RuntimeError(f"upscale failed ({proc.returncode}): {err[-2000:]}")
    return time.perf_counter() - t0, peak


def main(argv=None) -> int:
    from srcore.inference import DEFAULT_TILE

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", type=int, default=2048, help="LR side in pixels")
    p.add_argument("--model", default=MSE_ARM)
    p.add_argument("--tile", type=int, default=DEFAULT_TILE, help=f"LR tile side (default {DEFAULT_TILE}, the CLI's)")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--json", default=None)
    a = p.parse_args(argv)
    print(machine())
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / f"lr_{a.size}.png"
        make_input(src, a.size)
        ts, peaks = [], []
        for i in range(a.runs):
            out_file = Path(d) / "out" / f"lr_{a.size}_{a.model}_x4.png"
            out_file.unlink(missing_ok=True)  # the CLI never overwrites: each run writes afresh
            t, peak = once(src, Path(d) / "out", a.model, a.tile, a.threads)
            ts.append(t)
            peaks.append(peak)
            print(f"run {i + 1}: {t:.1f} s, peak RSS {peak / GB:.2f} GB", flush=True)
        from PIL import Image

        with Image.open(out_file) as im:
            out_size = im.size
    ok = max(peaks) <= 2.5 * GB
    print(
        f"{a.size}x{a.size} LR -> {out_size[0]}x{out_size[1]} with {a.model} (tile {a.tile}): "
        f"median {statistics.median(ts):.1f} s (min {min(ts):.1f}, max {max(ts):.1f}), "
        f"peak RSS max {max(peaks) / GB:.2f} GB (bar 2.5 GB: {'met' if ok else 'MISSED'}), n={a.runs}"
    )
    save(
        a.json,
        {
            "size": a.size,
            "model": a.model,
            "tile": a.tile,
            "output": list(out_size),
            "runs": a.runs,
            "seconds": ts,
            "median_s": statistics.median(ts),
            "peak_rss_gb": [x / GB for x in peaks],
            "max_peak_rss_gb": max(peaks) / GB,
        },
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
