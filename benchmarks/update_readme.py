"""Regenerate the figures in README.md and checkpoints/README.md from what the code measured.

Reads ``checkpoints/benchmark.json`` (written by ``python -m srcore.evaluate``) and the metadata
of the shipped checkpoints, and rewrites the blocks between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers.  ``--check`` exits 1 if a file is out of date (used by a test).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from srcore.checkpoint import CheckpointError, read_metadata  # noqa: E402
from srcore.evaluate import markdown_table  # noqa: E402
from srcore.paths import CHECKPOINTS, MODEL_NAMES  # noqa: E402
from srcore.zoo import DESCRIPTIONS, TITLES  # noqa: E402


def results_block(bench: dict) -> str:
    env = bench.get("environment", {})
    missing = bench.get("unavailable_sets", {})
    note = "".join(f"\n{k}: {v}." for k, v in missing.items())
    return (f"Generated from `checkpoints/benchmark.json` (`python -m srcore.evaluate`, {env.get('device', '?')}, "
            f"commit {env.get('git_commit', '?')}) by `python benchmarks/update_readme.py`. "
            "Y channel and RGB, border 4; LPIPS AlexNet (lower is better).\n\n" + markdown_table(bench) + "\n" + note)


def _fmt_secs(s) -> str:
    if not s:
        return "?"
    s = float(s)
    return f"{s / 3600:.1f} h" if s >= 3600 else f"{s / 60:.0f} min"


def model_cards(bench: dict | None) -> str:
    out = []
    for name in MODEL_NAMES:
        path = CHECKPOINTS / f"{name}.safetensors"
        out.append(f"### {TITLES[name]} (`{path.name}`)\n")
        try:
            md = read_metadata(path)
        except CheckpointError as e:
            out.append(f"Not available: {e}\n")
            continue
        r = md.get("recipe", {})
        init = md.get("init") or {}
        data = md.get("data", {})
        out.append(f"- Loss: {DESCRIPTIONS[name]}; `{r.get('loss')}`" + (f", adversarial weight {r.get('adv_weight')}" if "adv" in str(r.get("loss")) else ""))
        out.append(f"- Recipe: {md.get('steps')} steps (iterations) of batch {r.get('batch')}, HR crops {r.get('patch')} px, "
                   f"Adam lr {r.get('lr')} betas {r.get('betas')}, {r.get('schedule')} schedule, EMA {r.get('ema_decay')}"
                   + (f"; fine-tuned from `{init.get('init_from')}` ({init.get('init_steps')} steps)" if init else ""))
        out.append(f"- Data: {data.get('train_images')} HR images from {', '.join(data.get('train_dirs', []))}, "
                   f"{data.get('degradation')}; validation on {', '.join(data.get('val_dirs', []))}")
        out.append(f"- Hardware: {md.get('hardware')}; training time {_fmt_secs(md.get('train_seconds'))}; "
                   f"median {md.get('images_per_s')} images/s; commit {md.get('git_commit')}")
        if bench:
            rows = ["| set | Y-PSNR | Y-SSIM | RGB-PSNR | LPIPS |", "|---|---:|---:|---:|---:|"]
            for s, e in bench["sets"].items():
                if name in e["models"]:
                    m = e["models"][name]["mean"]
                    rows.append(f"| {s} | {m['psnr_y']:.2f} | {m['ssim_y']:.4f} | {m['psnr_rgb']:.2f} | {m['lpips']:.4f} |")
            out.append("\n" + "\n".join(rows))
        out.append("")
    return "\n".join(out)


def replace_block(text: str, name: str, body: str) -> str:
    pat = re.compile(rf"(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)", re.S)
    if not pat.search(text):
        raise SystemExit(f"marker <!-- {name}:start --> not found")
    return pat.sub(lambda m: m.group(1) + body.rstrip() + "\n" + m.group(2), text)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--check", action="store_true", help="only check that the files are up to date")
    a = p.parse_args(argv)
    bench_path = CHECKPOINTS / "benchmark.json"
    bench = json.loads(bench_path.read_text()) if bench_path.is_file() else None
    stale = []
    targets = [(ROOT / "README.md", "results", results_block(bench) if bench else "No benchmark yet.")]
    targets.append((CHECKPOINTS / "README.md", "cards", model_cards(bench)))
    for path, marker, body in targets:
        old = path.read_text(encoding="utf-8")
        new = replace_block(old, marker, body)
        if new != old:
            stale.append(str(path.relative_to(ROOT)))
            if not a.check:
                path.write_text(new, encoding="utf-8")
    if a.check and stale:
        print("out of date: " + ", ".join(stale) + " (run python benchmarks/update_readme.py)")
        return 1
    print("updated: " + (", ".join(stale) or "nothing to change"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
