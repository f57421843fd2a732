"""The README's results table and the model cards are the ones generated from benchmark.json."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_generated_tables_are_up_to_date():
    r = subprocess.run(
        [sys.executable, "-m", "benchmarks.update_readme", "--check"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stdout + r.stderr
