"""Load test of the Compare tab: many gradio_client users comparing their own uploads at once.

Starts ``python app.py`` on a free port on 127.0.0.1 (without the rating tabs), then ``--clients``
concurrent gradio_client clients (one thread each) each run ``--requests`` compares of a 256x256 HR
upload (a crop of scikit-image's astronaut photo, a different one per client and request, so that the
app's result cache does not answer for the models; sent with ``handle_file``; all four models, the
outputs downloaded as a browser would), the whole run bounded by ``--timeout`` seconds.

Every request must either complete with a correct result (256x256 panels, scores for every model) or
be told clearly that the app is busy: the app's own "The app is busy: N compares are waiting. Please
try again in about T s." (``dashboard.serving``; counted as *busy*, not as a failure, and checked to
name N and T).  A client-side timeout (connecting, uploading, or waiting) is counted as *timeout*
and is a failure; anything else — an error, a wrong result, no answer before the deadline — is *failed*.

The overload check of issue 16 is twice the app's waiting limit (``SR_MAX_WAITING``, 40) of
clients sending one compare each, all at once: 0 timeouts, every client a result or the busy message:

    python benchmarks/load_test.py --clients 80 --requests 1 --json benchmarks/results/overload.json

Prints completed / busy / failed, latency p50 / p95 / max (submit to result, per request),
throughput (completed compares per second over the load phase), and the server's peak RSS (the app
process and its children, polled every 0.1 s from launch to shutdown) against a 4 GB budget.
The app runs one compare at a time (``dashboard.serving.ComputeGate``), so latency grows with the
queue ahead of a request: p50 ≈ half the clients × one compare.

    python -m benchmarks.load_test [--clients 16] [--requests 5] [--timeout 600] [--json benchmarks/results/load_test.json]

Each client stands for a visitor on its own address: the app trusts 127.0.0.1 as its front proxy
(``SR_TRUSTED_PROXIES``, as a Space's proxy is trusted) and each client sends its own
``X-Forwarded-For``; without that every client would be one address, and the app lets one address
have one compare waiting (issue 23).  Each busy message's retry estimate is set against the
measured wait: from that message until the app had finished every compare it had taken (the last
result), as ``retry_estimate`` (said / measured; issue 23's bar: within 2x).

``--fair`` runs issue 23's fairness check instead: one client (one address, four pages) sends four
compares of a 1024 px low-res upload, then another client a 256 px ground-truth compare; the
small one must not wait longer than its own time alone plus one large compare.  Then four clients
on four addresses send one large compare each at once (peak RSS against the 4 GB budget):

    python -m benchmarks.load_test --fair --json benchmarks/results/fair_queue.json

Exit status 1 if any request failed or the peak RSS exceeded the budget.  Other work on the CPU
inflates every latency; the load average before and after is printed with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import tempfile
import threading
import time
from pathlib import Path

from benchmarks._process import start_app, stop, wait_ready
from benchmarks._results import save
from dashboard.core import UPLOAD_HR
from dashboard.settings import Settings
from srcore.zoo import MODEL_NAMES

# the app trusts this machine as its front proxy, so each client's X-Forwarded-For is its address
APP_ENV = {"SR_RATING_TABS": "0", "SR_TRUSTED_PROXIES": "127.0.0.1"}
MAX_WAITING = Settings.from_env().max_waiting  # the app's (SR_MAX_WAITING): it inherits this environment
MODELS = list(MODEL_NAMES)
SIDE = 256
RSS_LIMIT = 4_000_000_000  # 4 GB
PANELS = 7  # lr, bicubic, four models, hr


class RssMonitor(threading.Thread):
    """Polls the RSS of a process and all its children every ``interval`` s; keeps the peak."""

    def __init__(self, pid: int, interval: float = 0.1):
        super().__init__(name="rss-monitor", daemon=True)
        import psutil

        self.proc = psutil.Process(pid)
        self.interval = interval
        self.peak = 0
        self.last = 0
        self.samples = 0
        self._halt = threading.Event()

    def rss(self) -> int:
        import psutil

        total = 0
        try:
            procs = [self.proc, *self.proc.children(recursive=True)]
        except psutil.Error:
            return 0
        for p in procs:
            with contextlib.suppress(psutil.Error):  # a child that just exited
                total += p.memory_info().rss
        return total

    def run(self) -> None:
        while not self._halt.is_set():
            self.last = self.rss()
            self.peak = max(self.peak, self.last)
            self.samples += 1
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(5)


def sample_image(folder: Path, k: int = 0) -> Path:
    """The ``k``-th 256x256 crop of scikit-image's astronaut as PNG (deterministic; distinct for k < 65536)."""
    from PIL import Image
    from skimage import data

    y, x = (k // 256) % 256, k % 256
    img = data.astronaut()[y : y + SIDE, x : x + SIDE]
    path = folder / f"astronaut_256_{k}.png"
    Image.fromarray(img).save(path)
    return path


BUSY = re.compile(r"The app is busy: (\d+) compares? (?:are|is) waiting\. Please try again in about (\d+) s\.")
# one address, one waiting compare (dashboard.serving.ComputeGate): the other pages are told when to retry
ALREADY = re.compile(r"A compare from your address is already waiting\. .* \(in about (\d+) s\)")


def is_busy(e: BaseException) -> bool:
    """The app's busy message (dashboard.serving.busy_text), naming how many wait and when to retry."""
    return BUSY.search(str(e)) is not None


def retry_said(e: BaseException) -> int | None:
    """The seconds a busy or already-waiting message says to wait, or None for another error."""
    m = BUSY.search(str(e)) or ALREADY.search(str(e))
    return int(m.groups()[-1]) if m else None


def client(url: str, address: str, **kw):
    """A gradio_client ``Client`` for a visitor on ``address`` (sent as ``X-Forwarded-For`` to an app
    that trusts 127.0.0.1 as its proxy)."""
    from gradio_client import Client

    return Client(url, verbose=False, analytics_enabled=False, headers={"X-Forwarded-For": address}, **kw)


def address(k: int, net: int = 0) -> str:
    """The ``k``-th client's address (documentation range 198.18.0.0/15, never a real host)."""
    return f"198.{18 + net}.{k // 250}.{k % 250 + 1}"


def retry_figures(busy_at: list[tuple[float, int]], ends: list[float]) -> dict:
    """Each busy message's said wait against the measured one: from the message until the last
    result of the run (the app had then done every compare it had taken)."""
    pairs = [(said, max(ends) - t) for t, said in busy_at if ends and max(ends) > t]
    ratios = sorted(said / max(real, 1e-3) for said, real in pairs)
    return {
        "n": len(pairs),
        "said_s": sorted({said for said, _ in pairs}),
        "measured_s": {"min": min(r for _, r in pairs), "max": max(r for _, r in pairs)} if pairs else None,
        "ratio_said_over_measured": {"min": ratios[0], "median": ratios[len(ratios) // 2], "max": ratios[-1]}
        if ratios
        else None,
        "within_2x": sum(0.5 <= r <= 2.0 for r in ratios),
        "bar": "each said wait within 2x of the measured one (issue 23)",
    }


def is_timeout(e: BaseException) -> bool:
    """A client-side timeout of any kind (httpx's ReadTimeout / ConnectTimeout, a TimeoutError)."""
    import httpx

    return isinstance(e, (TimeoutError, httpx.TimeoutException)) or "timeout" in type(e).__name__.lower()


def check_result(out) -> str | None:
    """None if ``out`` is a correct ``/compare`` result (named fields, files) for the 256x256 upload,
    else what is wrong."""
    if not isinstance(out, (list, tuple)) or len(out) < 2:
        return f"unexpected output ({type(out).__name__})"
    info, files = out[0], out[1]
    if not isinstance(info, dict) or info.get("hr_size") != [SIDE, SIDE] or info.get("lr_size") != [SIDE // 4] * 2:
        return f"wrong sizes in {str(info)[:200]}"
    if set(info.get("scores", {})) != {"bicubic", *MODELS}:
        return f"scores for {sorted(info.get('scores', {}))}"
    if not files or len(files) < PANELS or any(not Path(f).is_file() for f in files):
        return "a panel file is missing"
    return None


def run_load(url: str, images: list[Path], clients: int, requests: int, deadline: float) -> dict:
    """``clients`` threads, each with its own gradio_client Client on its own address, ``requests``
    compares each."""
    from gradio_client import handle_file

    lock = threading.Lock()
    latencies: list[float] = []
    busy: list[str] = []
    busy_at: list[tuple[float, int]] = []  # (when, the seconds the message said to wait)
    failed: list[str] = []
    timeouts: list[str] = []
    start = threading.Barrier(clients)
    ends: list[float] = []

    def note(kind: list, msg: str) -> None:
        with lock:
            kind.append(msg)

    def work(k: int) -> None:
        done = 0
        try:
            c = client(url, address(k))
        except Exception as e:  # noqa: BLE001 - reported as failures
            start.wait()
            for _ in range(requests):
                note(timeouts if is_timeout(e) else failed, f"client {k}: could not connect: {type(e).__name__}: {e}")
            return
        start.wait()
        for i in range(requests):
            left = deadline - time.time()
            if left <= 0:
                break
            t0 = time.time()
            image = images[(k * requests + i) % len(images)]
            job = None
            try:
                job = c.submit(handle_file(str(image)), "Astronaut", UPLOAD_HR, MODELS, api_name="/compare")
                out = job.result(timeout=left)
            except TimeoutError as e:
                if time.time() >= deadline:
                    if job is not None:
                        job.cancel()
                    note(failed, f"client {k} request {i}: no answer before the --timeout deadline")
                else:
                    note(timeouts, f"client {k} request {i}: {type(e).__name__}: {e}")
                done += 1
                break
            except Exception as e:  # noqa: BLE001 - classified below
                said = retry_said(e)
                kind = busy if said is not None else timeouts if is_timeout(e) else failed
                note(kind, f"client {k} request {i}: {type(e).__name__}: {e}")
                if said is not None:
                    with lock:
                        busy_at.append((time.time(), said))
                done += 1
                continue
            dt = time.time() - t0
            done += 1
            problem = check_result(out)
            if problem:
                note(failed, f"client {k} request {i}: wrong result: {problem}")
            else:
                with lock:
                    latencies.append(dt)
                    ends.append(time.time())
        for i in range(done, requests):
            note(failed, f"client {k} request {i}: not sent before the --timeout deadline")
        c.close()

    t0 = time.time()
    threads = [threading.Thread(target=work, args=(k,), name=f"client-{k}", daemon=True) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(1.0, deadline - time.time() + 30))
    wall = (max(ends) if ends else time.time()) - t0
    with lock:  # a client stuck outside job.result (connecting, uploading) past the deadline
        missing = clients * requests - len(latencies) - len(busy) - len(failed) - len(timeouts)
        failed += [f"a request of a stuck client: no outcome {deadline - t0:.0f} s + 30 s after the start"] * missing
    return {
        "latencies": latencies,
        "busy": busy,
        "failed": failed,
        "timeouts": timeouts,
        "wall_s": wall,
        "retry": retry_figures(busy_at, ends),
    }


LARGE = 1024  # the low-res side of the fairness check's large uploads (dashboard.core.MAX_LR_SIDE)


def large_image(folder: Path, k: int = 0) -> Path:
    """A 1024x1024 low-res upload: the astronaut enlarged, shifted by ``k`` pixels (distinct per k)."""
    import numpy as np
    from PIL import Image
    from skimage import data

    img = np.asarray(Image.fromarray(data.astronaut()).resize((LARGE, LARGE), Image.Resampling.BICUBIC))
    path = folder / f"astronaut_{LARGE}_lr_{k}.png"
    Image.fromarray(np.roll(img, 7 * k, axis=1)).save(path)
    return path


def timed_compare(c, image: Path, mode: str, lr_side: int) -> dict:
    """One ``/compare`` through client ``c``: when it was sent and answered, and its outcome."""
    from gradio_client import handle_file

    t0 = time.time()
    try:
        out = c.predict(handle_file(str(image)), "Astronaut", mode, MODELS, api_name="/compare")
    except Exception as e:  # noqa: BLE001 - classified by the caller
        return {"sent": t0, "end": time.time(), "said_s": retry_said(e), "error": f"{type(e).__name__}: {e}"[:300]}
    info = out[0] if isinstance(out, (list, tuple)) and out else {}
    ok = isinstance(info, dict) and info.get("lr_size") == [lr_side, lr_side]
    return {"sent": t0, "end": time.time(), "ok": ok, "error": None if ok else f"unexpected result {str(info)[:200]}"}


def run_fair(url: str, tmp: Path, mon: RssMonitor) -> dict:
    """Issue 23's fairness check (see the module's help); returns its figures."""
    from dashboard.core import UPLOAD_LR

    small = [sample_image(tmp, 1000 + k) for k in range(2)]
    large = [large_image(tmp, k) for k in range(8)]
    kw = {"download_files": False}  # the 4096 px panels stay on the server: the wait is what is measured

    def go(c, image, mode, side, out, name):
        out[name] = timed_compare(c, image, mode, side)

    # the small compare alone, on an idle app
    alone: dict = {}
    go(client(url, address(0, 1), **kw), small[0], UPLOAD_HR, SIDE // 4, alone, "small")
    # one address, four pages: four large compares; a second address: one small one
    a_clients = [client(url, address(1, 1), **kw) for _ in range(4)]
    b_client = client(url, address(2, 1), **kw)
    out: dict = {}
    mon.peak = 0
    threads = []
    for i, c in enumerate(a_clients):
        t = threading.Thread(target=go, args=(c, large[i], UPLOAD_LR, LARGE, out, f"A{i + 1}"), daemon=True)
        t.start()
        threads.append(t)
        time.sleep(1.0)
    t = threading.Thread(target=go, args=(b_client, small[1], UPLOAD_HR, SIDE // 4, out, "B"), daemon=True)
    t.start()
    threads.append(t)
    for t in threads:
        t.join(1800)
    peak_fair = mon.peak
    ran = {k: v for k, v in out.items() if v.get("ok")}
    large_s = (ran["A1"]["end"] - ran["A1"]["sent"]) if "A1" in ran else None
    b = out.get("B", {})
    b_s = b["end"] - b["sent"] if b.get("ok") else None
    delay = b_s - (alone["small"]["end"] - alone["small"]["sent"]) if b_s is not None else None
    # the retry estimates of the refused pages: the address's waiting compare has run when it ends
    waited = [v for k, v in ran.items() if k != "A1" and k != "B"]
    retry = []
    for v in out.values():
        if v.get("said_s") is not None and waited:
            real = max(w["end"] for w in waited) - v["end"]
            retry.append({"said_s": v["said_s"], "measured_s": round(real, 1), "ratio": round(v["said_s"] / real, 2)})
    # four addresses, one large compare each, at once: the memory of four concurrent large compares
    mon.peak = 0
    spread: dict = {}
    cs = [client(url, address(10 + k, 1), **kw) for k in range(4)]
    ts = [
        threading.Thread(target=go, args=(c, large[4 + k], UPLOAD_LR, LARGE, spread, f"C{k + 1}"), daemon=True)
        for k, c in enumerate(cs)
    ]
    for t in ts:
        t.start()
    for t in ts:
        t.join(1800)
    peak_spread = mon.peak
    for c in [*a_clients, b_client, *cs]:
        c.close()
    rel = {
        k: {kk: round(vv - alone["small"]["sent"], 2) if kk in ("sent", "end") else vv for kk, vv in v.items()}
        for k, v in {**out, **spread}.items()
    }
    return {
        "small_alone_s": alone["small"]["end"] - alone["small"]["sent"],
        "large_s": large_s,
        "small_behind_large_s": b_s,
        "small_delay_s": delay,
        "bar_small_delay_le_one_large": delay is not None and large_s is not None and delay <= large_s,
        "one_address_outcomes": {k: ("ran" if v.get("ok") else v.get("error")) for k, v in sorted(out.items())},
        "retry_estimate_already_waiting": retry,
        "four_addresses_s": {
            k: round(v["end"] - v["sent"], 1) if v.get("ok") else v.get("error") for k, v in sorted(spread.items())
        },
        "peak_rss_mb_one_address_phase": peak_fair / 1e6,
        "peak_rss_mb_four_addresses_phase": peak_spread / 1e6,
        "timeline_s": rel,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=16, help="concurrent gradio_client clients (threads)")
    ap.add_argument("--requests", type=int, default=5, help="compares per client")
    ap.add_argument("--timeout", type=float, default=600, help="bound on the whole load phase, seconds")
    ap.add_argument("--json", help="also write the figures to this JSON file")
    ap.add_argument("--fair", action="store_true", help="run the fairness check of issue 23 instead (see above)")
    args = ap.parse_args(argv)
    if args.fair:
        return main_fair(args)

    import numpy as np

    load_before = os.getloadavg()
    print(f"cpus {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in load_before)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sr-load-") as tmp:
        tmp = Path(tmp)
        images = [sample_image(tmp, k) for k in range(args.clients * args.requests)]
        log = tmp / "app.log"
        t_launch = time.time()
        proc, url = start_app(log, APP_ENV | {"SR_RATINGS_DB": str(log.parent / "ratings.sqlite3")})
        mon = RssMonitor(proc.pid)  # from launch to shutdown: start-up (model loading) counts too
        mon.start()
        try:
            wait_ready(proc, url, log)
            rss_ready = mon.last
            print(
                f"app ready in {time.time() - t_launch:.1f} s at {url} (RSS {rss_ready / 1e6:.0f} MB); "
                f"{args.clients} clients x {args.requests} compares of a {SIDE}x{SIDE} upload",
                flush=True,
            )
            r = run_load(url, images, args.clients, args.requests, time.time() + args.timeout)
            alive = proc.poll() is None
        finally:
            mon.stop()
            stop(proc)
        log_tail = log.read_text(errors="replace")[-2000:]

    lat = np.array(r["latencies"])
    total = args.clients * args.requests
    res = {
        "clients": args.clients,
        "requests_per_client": args.requests,
        "total": total,
        "completed": len(lat),
        "busy": len(r["busy"]),
        "failed": len(r["failed"]),
        "timeouts": len(r["timeouts"]),
        "max_waiting": MAX_WAITING,
        "latency_s": {
            "p50": float(np.percentile(lat, 50)) if len(lat) else None,
            "p95": float(np.percentile(lat, 95)) if len(lat) else None,
            "max": float(lat.max()) if len(lat) else None,
            "mean": float(lat.mean()) if len(lat) else None,
        },
        "wall_s": r["wall_s"],
        "throughput_per_s": len(lat) / r["wall_s"] if r["wall_s"] > 0 else None,
        "peak_rss_mb": mon.peak / 1e6,
        "rss_at_ready_mb": rss_ready / 1e6,
        "rss_limit_mb": RSS_LIMIT / 1e6,
        "rss_ok": mon.peak <= RSS_LIMIT,
        "rss_samples": mon.samples,
        "server_alive_after": alive,
        "image": f"{SIDE}x{SIDE} PNG (a distinct skimage astronaut crop per request), as ground truth, all four models",
        "queue": f"one compare at a time, at most {MAX_WAITING} waiting, busy message past that (dashboard/serving.py)",
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "retry_estimate": r["retry"],
        "busy_examples": r["busy"][:5],
        "failure_examples": r["failed"][:10],
        "timeout_examples": r["timeouts"][:10],
    }

    f = res["latency_s"]

    def fmt(v: float | None) -> str:
        return f"{v:.2f} s" if v is not None else "n/a"

    print(
        f"requests {total}: completed {res['completed']}, busy {res['busy']}, timeouts {res['timeouts']}, "
        f"failed {res['failed']} (waiting limit {MAX_WAITING})"
    )
    print(f"latency p50 {fmt(f['p50'])}, p95 {fmt(f['p95'])}, max {fmt(f['max'])}")
    print(f"throughput {res['throughput_per_s'] or 0:.2f} compares/s over {res['wall_s']:.1f} s")
    print(
        f"server peak RSS {res['peak_rss_mb']:.0f} MB (at ready {res['rss_at_ready_mb']:.0f} MB; "
        f"{res['rss_samples']} samples): {'<=' if res['rss_ok'] else '>'} 4 GB "
        f"-> {'OK' if res['rss_ok'] else 'OVER BUDGET'}"
    )
    print(f"load average after: {' '.join(f'{x:.2f}' for x in res['load_average_after'])}")
    q = r["retry"]
    if q["n"]:
        print(
            f"retry estimates: said {q['said_s']} s, measured {q['measured_s']['min']:.0f}-{q['measured_s']['max']:.0f} s; "
            f"said/measured {q['ratio_said_over_measured']['min']:.2f}-{q['ratio_said_over_measured']['max']:.2f}, "
            f"{q['within_2x']} of {q['n']} within 2x"
        )
    for m in r["busy"][:3]:
        print(f"busy: {m}")
    for m in r["failed"][:10]:
        print(f"FAILED: {m}")
    for m in r["timeouts"][:10]:
        print(f"TIMEOUT: {m}")
    if (r["failed"] or r["timeouts"]) and log_tail:
        print("--- app log (tail) ---\n" + log_tail)
    save(args.json, res)  # with the command line, date and machine (benchmarks/_results.py)
    return 0 if not r["failed"] and not r["timeouts"] and res["rss_ok"] and alive else 1


def main_fair(args) -> int:
    load_before = os.getloadavg()
    print(f"cpus {os.cpu_count()}, load average {' '.join(f'{x:.2f}' for x in load_before)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="sr-fair-") as tmp:
        tmp = Path(tmp)
        log = tmp / "app.log"
        proc, url = start_app(log, APP_ENV | {"SR_RATINGS_DB": str(tmp / "ratings.sqlite3")})
        mon = RssMonitor(proc.pid)
        mon.start()
        try:
            wait_ready(proc, url, log)
            print(f"app ready at {url}; fairness check with {LARGE} px low-res uploads", flush=True)
            res = run_fair(url, tmp, mon)
            alive = proc.poll() is None
        finally:
            mon.stop()
            stop(proc)
    res.update(
        peak_rss_mb=mon.peak / 1e6,
        rss_limit_mb=RSS_LIMIT / 1e6,
        rss_ok=max(res["peak_rss_mb_one_address_phase"], res["peak_rss_mb_four_addresses_phase"]) * 1e6 <= RSS_LIMIT,
        server_alive_after=alive,
        load_average_before=[round(x, 2) for x in load_before],
        load_average_after=[round(x, 2) for x in os.getloadavg()],
    )

    def s(v):
        return "n/a" if v is None else f"{v:.1f} s"

    print(f"small compare alone {s(res['small_alone_s'])}; one large compare {s(res['large_s'])}")
    print(
        f"small compare behind one address's 4 large ones: {s(res['small_behind_large_s'])} "
        f"(delay {s(res['small_delay_s'])}; bar <= one large compare: "
        f"{'met' if res['bar_small_delay_le_one_large'] else 'MISSED'})"
    )
    print(f"one address's pages: {res['one_address_outcomes']}")
    print(f"retry estimates (already waiting): {res['retry_estimate_already_waiting']}")
    print(f"four addresses, one large compare each: {res['four_addresses_s']}")
    print(
        f"peak RSS {res['peak_rss_mb_one_address_phase']:.0f} MB (one address) / "
        f"{res['peak_rss_mb_four_addresses_phase']:.0f} MB (four addresses): "
        f"{'<=' if res['rss_ok'] else '>'} 4 GB"
    )
    save(args.json, res)
    return 0 if res["bar_small_delay_le_one_large"] and res["rss_ok"] and alive else 1


if __name__ == "__main__":
    sys.exit(main())
