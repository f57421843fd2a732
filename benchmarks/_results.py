"""Benchmark figures as JSON (``--json PATH``), so the README's performance section is generated
from what the scripts measured (``benchmarks/update_readme.py``), never typed by hand."""

from __future__ import annotations

import json
import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"


def _cpu_model() -> str:
    """The CPU's model name (Linux), so figures from different hosts are not mistaken for each other."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    import torch

    return {
        "cpus": os.cpu_count(),
        "cpu": platform.processor() or platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),  # the widest SIMD torch uses: AVX2, AVX512
        "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": platform.python_version(),
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def git_commit() -> str:
    """The checkout's commit (short), with ``+changes`` when the code the figures depend on
    (srcore/, dashboard/, app.py) differs from it: which code a figure measured."""
    import subprocess

    def git(*args: str) -> str:
        try:
            r = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10)
        except (OSError, subprocess.SubprocessError):
            return ""
        return r.stdout.strip() if r.returncode == 0 else ""

    head = git("rev-parse", "--short", "HEAD")
    if not head:
        return "?"
    return head + ("+changes" if git("status", "--porcelain", "--", "srcore", "dashboard", "app.py") else "")


def command_name() -> str:
    """How this script was started, as the README shows it: ``python -m benchmarks.NAME``."""
    script = Path(sys.argv[0]).resolve()
    if script.parent == ROOT / "benchmarks" and script.suffix == ".py":
        return f"python -m benchmarks.{script.stem}"
    return f"python {sys.argv[0]}"


def save(path: str | Path | None, figures: dict) -> None:
    """Write ``figures`` with the command line, date and machine to ``path`` (atomically)."""
    if not path:
        return
    from srcore.atomic import write_text_atomic

    rec = {
        "command": " ".join([command_name(), *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "git_commit": git_commit(),
        **figures,
    }
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    write_text_atomic(path, json.dumps(rec, indent=1) + "\n")
    print(f"wrote {path}")
