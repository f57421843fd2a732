"""The MATLAB-bicubic resize of ``srcore.resize`` both ways, side by side: the dense weight
matrices against the banded convolutions that whole-number factors allow, x4 and /4, forward and
forward + backward (training), over image sides; the crossovers set ``BANDED_MIN_SIDE`` and
``BANDED_MIN_SIDE_GRAD``.

    python -m benchmarks.resize_speed [--runs 15] [--batch 1] [--json benchmarks/results/resize_speed.json]

Each figure is the median of ``--runs`` calls on a (batch, 3, side, side) float32 input (for /4,
side is the LR side and the input 4x larger), with the torch threads of the app (all cores).
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks._results import save

SIDES = (16, 32, 64, 96, 128, 192, 277, 384)


def _median_ms(fn, runs: int) -> float:
    fn()
    ts = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t)
    return 1000 * statistics.median(ts)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--json")
    args = ap.parse_args(argv)

    import torch

    from srcore.resize import BANDED_MIN_SIDE, BANDED_MIN_SIDE_GRAD, _banded, _dense, _output_size

    def dense(x, scale):
        return _dense(x, *_output_size(x.shape[-2], x.shape[-1], scale, None))

    rows = []
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads; "
        f"BANDED_MIN_SIDE = {BANDED_MIN_SIDE}, BANDED_MIN_SIDE_GRAD = {BANDED_MIN_SIDE_GRAD}"
    )
    print(f"{'LR side':>7} {'op':>4} {'pass':>8} {'dense ms':>9} {'banded ms':>9} {'max diff':>9}")
    for side in SIDES:
        for scale, hw in ((4.0, side), (0.25, 4 * side)):
            x = torch.rand(args.batch, 3, hw, hw)
            ref, got = dense(x, scale), _banded(x, scale)
            assert got is not None
            diff = float((ref - got).abs().max())
            for kind in ("forward", "backward"):
                if kind == "forward":

                    def run(f, x=x, scale=scale):
                        with torch.inference_mode():
                            f(x, scale)
                else:
                    xg = x.clone().requires_grad_(True)

                    def run(f, xg=xg, scale=scale):
                        f(xg, scale).sum().backward()

                d, b = _median_ms(lambda: run(dense), args.runs), _median_ms(lambda: run(_banded), args.runs)
                op = "x4" if scale > 1 else "/4"
                rows.append(dict(lr_side=side, op=op, kind=kind, dense_ms=d, banded_ms=b, max_abs_diff=diff))
                print(f"{side:>7} {op:>4} {kind:>8} {d:>9.2f} {b:>9.2f} {diff:>9.1e}", flush=True)
    save(
        args.json,
        {
            "batch": args.batch,
            "banded_min_side": BANDED_MIN_SIDE,
            "banded_min_side_grad": BANDED_MIN_SIDE_GRAD,
            "rows": rows,
        },
    )


if __name__ == "__main__":
    main()
