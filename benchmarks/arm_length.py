"""How far each loss moves away from SRCNN-MSE as its arm grows: the arm-length curve.

Reads the validation records (held-out training images, never a benchmark set) of every seed's
history (``checkpoints/history/KEY.jsonl`` and ``history/seeds/KEY_seedN.jsonl``, or a run folder's
``arms/KEY/seedN/history.jsonl``) and prints, per validation step, each arm's Y-PSNR and LPIPS
minus SRCNN-MSE's at the same step, as mean ± sd over seeds::

    python -m benchmarks.arm_length                 # the published histories
    python -m benchmarks.arm_length --run runs/exp  # a run folder, while it trains
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from srcore import history
from srcore.paths import CHECKPOINTS
from srcore.zoo import MODEL_NAMES, MSE_ARM, TITLES

REFERENCE = MSE_ARM
FIGURES = (("psnr_y", "PSNR-Y (dB)", ".2f"), ("lpips", "LPIPS", ".4f"))


def _histories(run: Path | None) -> dict[str, list[Path]]:
    """Each arm's history files, one per seed."""
    out: dict[str, list[Path]] = {}
    for key in MODEL_NAMES:
        if run is not None:
            files = sorted((run / "arms" / key).glob("seed*/history.jsonl"))
        else:
            files = [CHECKPOINTS / "history" / f"{key}.jsonl"]
            files += sorted((CHECKPOINTS / "history" / "seeds").glob(f"{key}_seed*.jsonl"))
        out[key] = [f for f in files if f.is_file()]
    return out


def curves(run: Path | None = None) -> dict[str, dict[int, list[dict[str, float]]]]:
    """{arm: {step: [validation record per seed]}}, seeds in file order."""
    out: dict[str, dict[int, list[dict[str, float]]]] = {}
    for key, files in _histories(run).items():
        for f in files:
            for r in history.read(f):
                if r.get("kind") == "val" and all(r.get(k) is not None for k, _, _ in FIGURES):
                    out.setdefault(key, {}).setdefault(int(r["step"]), []).append(r)
    return out


def table(run: Path | None = None) -> str:
    """Markdown: per step, each arm's figure minus SRCNN-MSE's (paired by seed), mean ± sd over seeds."""
    data = curves(run)
    ref = data.get(REFERENCE, {})
    arms = [k for k in MODEL_NAMES if k != REFERENCE and k in data]
    if not ref or not arms:
        return "No validation records found."
    head = ["step"] + [f"{TITLES[a]} − {TITLES[REFERENCE]}: {label}" for a in arms for _, label, _ in FIGURES]
    lines = ["| " + " | ".join(head) + " |", "|---:|" + "---:|" * (len(head) - 1)]
    for step in sorted(ref):
        cells = []
        for a in arms:
            rows = data[a].get(step, [])
            n = min(len(rows), len(ref[step]))
            for key, _, fmt in FIGURES:
                d = np.array([rows[i][key] - ref[step][i][key] for i in range(n)])
                cells.append(f"{d.mean():+{fmt}} ± {d.std(ddof=1) if n > 1 else 0:{fmt}}" if n else "–")
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.arm_length",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--run", default=None, help="an experiment's run folder (default: the published histories)")
    a = p.parse_args(argv)
    print(table(Path(a.run) if a.run else None))
    return 0


if __name__ == "__main__":
    sys.exit(main())
