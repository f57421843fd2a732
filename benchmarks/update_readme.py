"""Regenerate the figures in README.md and checkpoints/README.md from what the code measured.

Reads ``checkpoints/benchmark.json`` (written by ``python -m srcore.evaluate``), the metadata
of the shipped checkpoints and ``benchmarks/results/*.json`` (the benchmark scripts' ``--json``), and rewrites the blocks between ``<!-- NAME:start -->`` and
``<!-- NAME:end -->`` markers.  ``--check`` exits 1 if a file is out of date (used by a test).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import textwrap
from pathlib import Path

from benchmarks import arm_length
from srcore.checkpoint import CheckpointError, read_metadata
from srcore.evaluate import markdown_table
from srcore.experiment import describe
from srcore.losses_table import format_loss
from srcore.paths import CHECKPOINTS
from srcore.uncertainty import orderings_markdown, signatures_markdown
from srcore.zoo import DESCRIPTIONS, MODEL_NAMES, TITLES

ROOT = Path(__file__).resolve().parent.parent


def results_block(bench: dict) -> str:
    env = bench.get("environment", {})
    missing = bench.get("unavailable_sets", {})
    note = "".join(f"\n{k}: {v}." for k, v in missing.items())
    return (
        f"Generated from `checkpoints/benchmark.json` (`python -m srcore.evaluate`, {env.get('device', '?')}, "
        f"commit {env.get('git_commit', '?')}) by `python -m benchmarks.update_readme`. "
        "Y channel and RGB, border 4; LPIPS AlexNet (lower is better).\n\n" + markdown_table(bench) + "\n" + note
    )


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
        loss = r.get("loss")
        out.append(
            f"- Loss: {DESCRIPTIONS[name]}; objective `{format_loss(loss) if isinstance(loss, dict) else loss}`"
            + (f", VGG features x {r.get('vgg_feature_scale'):.4g}" if isinstance(loss, dict) and "vgg" in loss else "")
        )
        arch = md.get("arch", {})
        out.append(
            f"- Network: SRCNN body {arch.get('n1')}-{arch.get('n2')}-{arch.get('n3')}, upsampler "
            f"`{arch.get('upsampler')}`, residual over bicubic, LR-consistency step: {arch.get('lr_consistency', False)}"
        )
        out.append(
            f"- Recipe: {md.get('steps')} steps (iterations) of batch {r.get('batch')}, HR crops {r.get('patch')} px, "
            f"Adam lr {r.get('lr')} betas {r.get('betas')}, {r.get('schedule')} schedule, EMA {r.get('ema_decay')}"
            + (f"; fine-tuned from the shared MSE pre-training ({init.get('init_steps')} steps)" if init else "")
        )
        held = md.get("held_out") or []
        out.append(
            f"- Data: {data.get('train_images')} HR images from {', '.join(data.get('train_dirs', []))}, "
            f"{data.get('degradation')}; validation on "
            + (
                f"{len(held)} images held out of the training folders ({', '.join(held)})"
                if held
                else ", ".join(data.get("val_dirs", []))
            )
        )
        out.append(
            f"- Hardware: {md.get('hardware')}; training time {_fmt_secs(md.get('train_seconds'))}; "
            f"median {md.get('images_per_s')} images/s; commit {md.get('git_commit')}"
        )
        if bench:
            rows = [
                "| set | Y-PSNR | Y-SSIM | RGB-PSNR | LPIPS | phase range | colour bias R, G, B | HF energy |",
                "|---|---:|---:|---:|---:|---:|---:|---:|",
            ]
            for s, e in bench["sets"].items():
                if name in e["models"]:
                    m = e["models"][name]["mean"]
                    rows.append(
                        f"| {s} | {m['psnr_y']:.2f} | {m['ssim_y']:.4f} | {m['psnr_rgb']:.2f} | {m['lpips']:.4f} | "
                        f"{m.get('phase_range', float('nan')):.2f} | {m.get('bias_r', float('nan')):+.2f}, "
                        f"{m.get('bias_g', float('nan')):+.2f}, {m.get('bias_b', float('nan')):+.2f} | "
                        f"{m.get('hf_energy', float('nan')):.2f} |"
                    )
            out.append("\n" + "\n".join(rows))
        out.append("")
    return "\n".join(out)


def _load(name: str) -> dict | None:
    path = ROOT / "benchmarks" / "results" / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _src(rec: dict) -> str:
    m = rec.get("machine", {})
    load = m.get("load_average") or rec.get("load_average_before") or ["?"]
    cpu = ", ".join(str(m[k]) for k in ("cpu_model", "cpu_capability") if m.get(k))
    commit = f", commit {rec['git_commit']}" if rec.get("git_commit") else ""
    return (
        f"`{rec.get('command')}`, {rec.get('date')}{commit}, {m.get('cpus')} CPUs{f' ({cpu})' if cpu else ''}, "
        f"load {load[0]}"
    )


def _spread(f: dict, digits: int, n: int | None = None) -> str:
    return (
        f"median {f['median_s']:.{digits}f} s (min {f['min_s']:.{digits}f}, max {f['max_s']:.{digits}f}, "
        f"n={f['n'] if n is None else n})"
    )


def performance_block() -> str:
    """Figures of the scripts in benchmarks/ (their --json output in benchmarks/results/)."""
    rows = ["| what | figure | bar | measured with |", "|---|---|---|---|"]

    def row(what: str, figure: str, bar: str, rec: dict) -> None:
        rows.append(f"| {what} | {figure} | {bar} | {_src(rec)} |")

    r = _load("app_startup")
    if r:
        row("app ready after `python app.py`", _spread(r, 1, len(r["runs_s"])), "≤ 15 s", r)
    r = _load("compare_latency")
    if r:
        for key, what in (
            (
                "callback",
                "compare of a 512×512 HR image, Compare button's callback: 4 models, bicubic, "
                "PSNR / SSIM, panels on screen",
            ),
            ("callback_lpips", "the same callback until LPIPS (6 AlexNet passes) and the downloads have followed"),
            ("core", "every figure in one go (LPIPS included), compare pipeline only"),
            ("e2e_result", "the same through gradio_client's `/compare` (all figures): upload to result"),
            ("e2e", "the same through gradio_client, all output images downloaded"),
        ):
            if key in r:
                row(what, _spread(r[key], 2), "≤ 0.7 s when quiet" if key == "callback" else "", r)
        if "models" in r:
            row(
                "the four generators alone in the same run (the compare's own model time)",
                _spread(r["models"], 2),
                "",
                r,
            )
        if "callback_over_models" in r:
            row(
                "compare callback (panels and PSNR / SSIM on screen) ÷ the four models' own time",
                f"{r['callback_over_models']:.2f}×"
                + (
                    f" ({r['callback_lpips_over_models']:.2f}× until LPIPS has followed)"
                    if "callback_lpips_over_models" in r
                    else ""
                ),
                "≤ 1.3×",
                r,
            )
    r = _load("blend_latency")
    if r and "added" in r:
        row(
            "loss slider: the blend panel added to a 512×512 compare (blend the weights, run, PNG, PSNR / SSIM / "
            f"LPIPS); moving α on a finished compare: {_spread(r['slider'], 2)}",
            _spread(r["added"], 2),
            "≤ 0.5 s",
            r,
        )
    r = _load("first_panel")
    if r:
        m = r["median"]
        row(
            f"first learned panel on screen, {r['image']}",
            f"median {m['first_model_s']:.2f} s of {m['total_s']:.2f} s for the whole compare ({100 * m['ratio']:.0f} %)",
            "≤ 40 % of the whole compare",
            r,
        )
    r = _load("model_latency")
    if r:
        for size, f in r["sizes"].items():
            per = ", ".join(f"{TITLES.get(n, n)} {v['median_s']:.2f} s" for n, v in f["models"].items())
            row(
                f"all four models on a {size}×{size} LR image",
                f"median {f['all_median_s']:.2f} s in total ({per})",
                {"128": "≤ 1.0 s", "384": "≤ 6 s when quiet"}.get(size, ""),
                r,
            )
    r = _load("tiled_memory")
    if r:
        row(
            f"tiled upscale of a {r['size']}×{r['size']} LR image ({r['model']}, tile {r['tile']})",
            f"median {r['median_s']:.0f} s, peak RSS {r['max_peak_rss_gb']:.2f} GB (n={r['runs']})",
            "≤ 2.5 GB",
            r,
        )
    for name in ("train_speed", "train_speed_gpu"):
        r = _load(name)
        if r and "images_per_s" in next(iter(r["models"].values()), {}):
            per = ", ".join(
                f"{TITLES.get(n, n)} {v['images_per_s']:.1f} img/s (batch {v['batch']}×{v['patch']} px, "
                f"{100 * v['share_outside_compute']:.0f} % outside compute)"
                for n, v in r["models"].items()
            )
            row(
                f"training speed on the {r['device'].upper()} ({r['workers']} data workers)",
                per,
                "≤ 10 % outside compute (SRCNN-MSE)" if r["device"] == "cpu" else "",
                r,
            )
    r = _load("load_test")
    if r:
        row(
            f"load: {r['clients']} clients × {r['requests_per_client']} compares of a 256×256 HR upload",
            f"{r['completed']} completed, {r['busy']} busy, {r.get('timeouts', 0)} timeouts, {r['failed']} failed; latency p50 "
            f"{r['latency_s']['p50']:.1f} s, p95 {r['latency_s']['p95']:.1f} s (one compare at a time, so mostly "
            f"queueing); peak RSS {r['peak_rss_mb']:.0f} MB",
            "none failed, RSS ≤ 4 GB",
            r,
        )
    r = _load("overload")
    if r:
        row(
            f"overload: {r['clients']} clients at once, one compare each (twice the app's limit of "
            f"{r.get('max_waiting', '?')} waiting)",
            f"{r['completed']} completed, {r['busy']} told busy (N waiting, retry time), {r.get('timeouts', '?')} "
            f"timeouts, {r['failed']} failed",
            "0 timeouts, 0 failed",
            r,
        )
        q = r.get("retry_estimate") or {}
        if q.get("n"):
            row(
                "overload: the busy message's retry time against the measured wait (until the app had done "
                "every compare it took)",
                f"said {', '.join(map(str, q['said_s']))} s, measured {q['measured_s']['min']:.0f}–"
                f"{q['measured_s']['max']:.0f} s (said/measured {q['ratio_said_over_measured']['min']:.2f}–"
                f"{q['ratio_said_over_measured']['max']:.2f}); {q['within_2x']} of {q['n']} within 2×",
                "within 2×",
                r,
            )
    r = _load("fair_queue")
    if r:
        row(
            "fair queue: one address's 4 compares of a 1024 px LR upload, then another address's 256 px compare",
            f"the small compare took {r['small_behind_large_s']:.1f} s ({r['small_alone_s']:.1f} s alone; one large "
            f"compare {r['large_s']:.1f} s); 4 addresses × one large compare at once: peak RSS "
            f"{r['peak_rss_mb_four_addresses_phase']:.0f} MB",
            "delay ≤ one large compare; RSS ≤ 4 GB",
            r,
        )
    rating_rows = (  # (result files, what, figure, bar): the study's load and kill -9 runs on each backend
        (
            ("rating_load", "rating_load_postgresql"),
            lambda r: (
                f"blind rating on {r['backend']}: {r['raters']} raters at once, "
                f"{r['votes'] // max(r['raters'], 1)} answers each"
            ),
            lambda r: (
                f"{r['votes']} votes acknowledged, {r['votes_per_s']:.1f} votes/s; {r['lost']} lost, "
                f"{r['duplicates']} duplicates"
            ),
            "0 lost, 0 duplicates",
        ),
        (
            ("rating_kill_sqlite", "rating_kill_postgresql"),
            lambda r: (
                f"blind rating on {r['backend']}: the server killed (SIGKILL) {r['kills']} times under "
                f"{r['raters']} raters"
            ),
            lambda r: (
                f"{r['votes']} votes acknowledged, {r['lost']} lost, {r['duplicates']} duplicates "
                f"({r['reconnects']} reconnects)"
            ),
            "0 acknowledged votes lost",
        ),
    )
    for names, what, figure, bar in rating_rows:
        for name in names:
            r = _load(name)
            if r:
                row(what(r), figure(r), bar, r)
    r = _load("session_memory")
    if r:
        row(
            f"server RSS after {r['sessions']} closed sessions ({r.get('work', 'compare + region move each')})",
            f"+{r['growth_mb']:.0f} MB over a fresh server that did the work once ({r['rss_fresh_after_work_once_mb']:.0f} "
            f"→ {r['rss_after_sessions_mb']:.0f} MB; {r['rss_after_expiry_mb']:.0f} MB after the idle sessions "
            f"expired)",
            "≤ +200 MB",
            r,
        )
    r = _load("inference_backends")
    if r:
        for size, per in r.get("sizes", {}).items():
            figs = ", ".join(
                f"{n} {v['four_models_s']:.2f} s ({v['gain_vs_eager']:+.0%}"
                + (f"; set-up {v['setup_s']:.1f} s per input size" if v.get("setup_s", 0) >= 0.05 else "")
                + ")"
                for n, v in per.items()
            )
            row(
                f"four generators on a {size}×{size} LR image by backend (vs eager)",
                figs,
                "adopt only > 15 % over eager and over what is adopted before it, set-up repaid on the first image",
                r,
            )
        if r.get("verdict"):
            row(
                "backend verdict",
                "; ".join(f"{n}: {v}" for n, v in r["verdict"].items()),
                "",
                r,
            )
    if len(rows) == 2:
        return "No benchmark figures yet (run the scripts in benchmarks/ with --json benchmarks/results/NAME.json)."
    return (
        "Generated from `benchmarks/results/*.json` by `python -m benchmarks.update_readme`; each row names "
        "the script that measured it. Latencies rise with other work on the CPU (the load average is given).\n\n"
        + "\n".join(rows)
    )


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
    targets.append(
        (
            ROOT / "README.md",
            "orderings",
            orderings_markdown(bench, {"bicubic": "Bicubic", **TITLES}) if bench else "No benchmark yet.",
        )
    )
    targets.append(
        (
            ROOT / "README.md",
            "signatures",
            signatures_markdown(bench, {"bicubic": "Bicubic", **TITLES}) if bench else "No benchmark yet.",
        )
    )
    targets.append((ROOT / "README.md", "armlength", arm_length.table()))
    targets.append((ROOT / "README.md", "performance", performance_block()))
    targets.append((CHECKPOINTS / "README.md", "cards", model_cards(bench)))
    proto = (bench or {}).get("protocol")
    targets.append(
        (
            CHECKPOINTS / "README.md",
            "protocol",
            textwrap.fill(describe(proto), 100, break_on_hyphens=False, break_long_words=False)
            if isinstance(proto, dict) and "preset" in proto
            else "No protocol record.",
        )
    )
    for path, marker, body in targets:
        old = path.read_text(encoding="utf-8")
        new = replace_block(old, marker, body)
        if new != old:
            stale.append(str(path.relative_to(ROOT)))
            if not a.check:
                path.write_text(new, encoding="utf-8")
    if a.check and stale:
        print("out of date: " + ", ".join(stale) + " (run python -m benchmarks.update_readme)")
        return 1
    print("updated: " + (", ".join(stale) or "nothing to change"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
