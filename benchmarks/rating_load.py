"""Load test of the blind rating app: many gradio_client sessions voting at once.

Launches the standalone rating app (``python -m dashboard.rating_tab``) on a free localhost
port with a fresh ratings database (untrained generators unless ``--checkpoints`` is given; a
``--db postgresql://...`` URL runs it on PostgreSQL), makes a class code as the organiser (the
study is by invitation), lets ``--raters`` concurrent clients each give ``--votes`` answers (each
answer echoes the nonce of the item it answers), then checks the database:
every acknowledged vote stored exactly once.  Prints raters, votes, votes/s and lost votes.
``--kills N`` kills the server with SIGKILL N times while the raters vote (each rater resumes
with its secret session key after the restart) and checks that no acknowledged vote was lost.

    python -m benchmarks.rating_load --raters 16 --votes 10
    python -m benchmarks.rating_load --raters 12 --votes 12 --kills 3
    python -m benchmarks.rating_load --url http://127.0.0.1:7861/ --db /path/ratings.sqlite3
    python -m benchmarks.rating_load --throwaway-postgres --raters 12 --votes 8 --kills 3
"""

from __future__ import annotations

import argparse
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

from benchmarks._process import free_port, stop
from srcore.zoo import MODEL_NAMES

REPO = Path(__file__).resolve().parent.parent

GENERATORS = MODEL_NAMES
ADMIN_TOKEN = "rating-load-organiser-token"  # the organiser token of the apps launched here (unless given)
PERCEPTUAL = ("vgg16_relu3_3", "alexnet_features", "lpips_alex_lin")


def make_untrained_checkpoints(folder: str | Path) -> Path:
    """Untrained generator checkpoints (plus the perceptual weights) for tests and load runs."""
    import torch

    from srcore.checkpoint import save_generator
    from srcore.models.generator import Generator
    from srcore.zoo import GENERATOR

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for i, n in enumerate(GENERATORS):
        torch.manual_seed(i)
        save_generator(Generator(GENERATOR), folder / f"{n}.safetensors", name=n)
    for n in PERCEPTUAL:
        src = REPO / "checkpoints" / f"{n}.safetensors"
        if src.exists():
            shutil.copy(src, folder / src.name)
    return folder


def start_app(
    db: str | Path,
    checkpoints: str | Path,
    port: int,
    crop: int = 64,
    zoom: int = 1,
    timeout: float = 300,
    extra_env: dict | None = None,
):
    """Start the standalone rating app in a subprocess and wait until it answers; returns
    ``(process, url, log file)``."""
    env = dict(os.environ)
    env.update(
        SR_ADMIN_TOKEN=ADMIN_TOKEN,
        SR_RATINGS_DB=str(db),
        SR_CHECKPOINTS=str(checkpoints),
        SR_RATING_CROP=str(crop),
        SR_RATING_ZOOM=str(zoom),
        GRADIO_ANALYTICS_ENABLED="False",
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""),
    )
    env.update(extra_env or {})
    log = tempfile.NamedTemporaryFile("w+", prefix="rating-app-", suffix=".log", delete=False)  # noqa: SIM115 - returned to the caller, who closes it
    proc = subprocess.Popen(
        [sys.executable, "-m", "dashboard.rating_tab", "--port", str(port)],
        cwd=REPO,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_up(proc, url, log, timeout)
    except BaseException:
        stop(proc)
        log.close()
        os.unlink(log.name)
        raise
    return proc, url, log


def _wait_up(proc, url, log, timeout):
    if True:
        t0 = time.time()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the rating app exited ({proc.returncode}):\n{Path(log.name).read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url + "config", timeout=2).read()
                break
            except OSError as e:
                if time.time() - t0 > timeout:
                    raise RuntimeError(
                        f"the rating app did not start in {timeout}s:\n{Path(log.name).read_text()[-3000:]}"
                    ) from e
                time.sleep(0.5)


@contextmanager
def launch_app(
    db: str | Path,
    checkpoints: str | Path,
    port: int | None = None,
    crop: int = 64,
    zoom: int = 1,
    timeout: float = 300,
    extra_env: dict | None = None,
):
    """Run the standalone rating app in a subprocess; yield its URL; stop it afterwards."""
    proc, url, log = start_app(db, checkpoints, port or free_port(), crop, zoom, timeout, extra_env)
    try:
        yield url
    finally:
        stop(proc)
        log.close()
        os.unlink(log.name)


_PROGRESS = re.compile(r"Progress: (\d+) / (\d+)")


def progress_of(html: str | None) -> tuple[int, int] | None:
    """(done, total) from the progress bar's HTML."""
    m = _PROGRESS.search(html or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def parse(out) -> dict:
    """The client-visible outputs of /rating_start and the vote endpoints, by name."""
    # an update (visibility, or "unchanged") carries the value, if any, under "value"
    key, nonce, done, progress, stimulus, status = (x.get("value") if isinstance(x, dict) else x for x in out)
    return {
        "key": key,
        "nonce": nonce or "",
        "done": done or "",
        "progress": progress_of(progress),
        "stimulus": stimulus or "",
        "status": status or "",
    }


def class_code(url: str, token: str = ADMIN_TOKEN, cap: int = 10_000) -> str:
    """A class code for ``cap`` sessions, made through the organiser's API (the study is by invitation)."""
    from gradio_client import Client

    c = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    text = c.predict(token, cap, 0, api_name="/rating_admin_class_code")
    c.close()
    m = re.search(r"CLASS-[0-9A-F]{4}-[0-9A-F]{4}", str(text))
    if not m:
        raise RuntimeError(f"no class code made: {text}")
    return m.group(0)


def start(client, protocol: str, invite: str = "", key: str | None = None, participant: str = "") -> dict:
    """``/rating_start`` through a gradio_client ``Client``: parsed outputs."""
    return parse(client.predict(protocol, participant, invite, key, api_name="/rating_start"))


def answer(client, key: str, nonce: str, api: str) -> dict:
    """One answer to the item of ``nonce`` (``api``: /rating_score_N or /rating_choose_X)."""
    return parse(client.predict(key, nonce, api_name=api))


def rater_session(
    url: str,
    protocol: str,
    votes: int,
    key: str | None = None,
    seed: int = 0,
    participant: str = "",
    invite: str = "",
) -> dict:
    """One gradio_client session: start (or resume with ``key``; ``invite``: a class code or link
    token), then ``votes`` answers.  Returns what the server acknowledged: the session key, the
    "Saved." count (the practice trial not counted) and the last progress."""
    from gradio_client import Client

    rng = random.Random(seed)
    c = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    out = start(c, protocol, invite, key, participant)
    key, progress = out["key"], out["progress"]
    acked = 0
    for _ in range(votes + 2):  # + the practice trial (answered, not counted)
        if acked >= votes or "complete" in out["done"]:
            break
        practice = "Practice" in out["status"]
        out = answer(c, key, out["nonce"], vote_api(protocol, rng))
        if out["status"].startswith("Saved") and not practice:
            acked += 1
        progress = out["progress"] or progress
    c.close()
    return {"key": key, "protocol": protocol, "acked": acked, "progress": progress}


def vote_api(protocol: str, rng: random.Random) -> str:
    if protocol == "mos":
        return f"/rating_score_{rng.randint(1, 5)}"
    return f"/rating_choose_{rng.choice(['left', 'right', 'tie'])}"


def _stored_per_key(db, results) -> tuple[dict, int, int]:
    """Votes stored per session key, all votes, and (rater, stimulus) pairs voted twice."""
    from srcore.rating.store import RatingStore

    s = RatingStore(db)
    rows = [v for v in s.votes() if v["kind"] != "practice"]  # the practice trial is stored, not counted
    per_rater: dict[str, int] = {}
    for v in rows:
        per_rater[v["rater_id"]] = per_rater.get(v["rater_id"], 0) + 1
    per_key = {r["key"]: per_rater.get(s.rater_for_key(r["key"]), 0) for r in results}
    twice = (
        s._conn()
        .execute(
            "SELECT COUNT(*) FROM (SELECT a.rater_id, a.protocol, a.stim_key FROM votes v JOIN assignments a "
            "ON a.token = v.token GROUP BY 1, 2, 3 HAVING COUNT(*) > 1) AS twice"
        )
        .fetchone()[0]
    )
    s.close()
    return per_key, len(rows), twice + len(rows) - len({v["token"] for v in rows})


def run_load(url: str, raters: int, votes: int, db: str | Path | None = None, token: str = ADMIN_TOKEN) -> dict:
    """``raters`` concurrent sessions (half MOS, half pairwise) on a class code made with the
    organiser ``token``; checks the database when given."""
    results: list[dict] = []
    errors: list[BaseException] = []
    lock = threading.Lock()
    code = class_code(url, token)

    def work(k):
        try:
            r = rater_session(url, "mos" if k % 2 == 0 else "pair", votes, seed=k, invite=code)
            with lock:
                results.append(r)
        except BaseException as e:  # noqa: BLE001 - a worker thread: any failure is collected and reported below
            with lock:
                errors.append(e)

    t0 = time.time()
    threads = [threading.Thread(target=work, args=(k,)) for k in range(raters)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.time() - t0
    if errors:
        raise errors[0]
    acked = sum(r["acked"] for r in results)
    out = {
        "raters": len(results),
        "votes": acked,
        "seconds": dt,
        "votes_per_s": acked / dt,
        "lost": None,
        "duplicates": None,
        "results": results,
    }
    if db is not None:
        per, stored, twice = _stored_per_key(db, results)
        out["stored"] = stored
        out["lost"] = sum(max(0, r["acked"] - per[r["key"]]) for r in results)
        out["duplicates"] = twice + sum(max(0, per[r["key"]] - r["acked"]) for r in results)
    return out


def run_kill_test(
    db: str | Path,
    checkpoints: str | Path,
    raters: int = 12,
    votes: int = 12,
    kills: int = 3,
    every_s: float = 4.0,
    extra_env: dict | None = None,
    log=print,
) -> dict:
    """``raters`` concurrent raters (half MOS, half pairs) give ``votes`` answers each while the
    server is killed with SIGKILL ``kills`` times (every ``every_s`` seconds of voting) and
    restarted on the same port.  A rater whose call fails waits for the server, opens a new
    client and resumes with its session key.  Acknowledged = the server answered "Saved."."""
    from gradio_client import Client

    port = free_port()
    state = {"proc": None, "log": None, "url": None}
    up = threading.Event()
    proc, url, lf = start_app(db, checkpoints, port, extra_env=extra_env)
    state.update(proc=proc, url=url, log=lf)
    up.set()
    code = class_code(url, (extra_env or {}).get("SR_ADMIN_TOKEN", ADMIN_TOKEN))
    results: list[dict] = []
    lock = threading.Lock()

    def work(k):
        rng = random.Random(k)
        protocol = "mos" if k % 2 == 0 else "pair"
        key, acked, reconnects, last = None, 0, 0, None
        deadline = time.time() + 600
        while acked < votes and time.time() < deadline:
            up.wait(120)
            try:
                c = Client(state["url"], verbose=False, download_files=False, analytics_enabled=False)
                out = start(c, protocol, code, key)
                key = out["key"]
                while acked < votes:
                    practice = "Practice" in out["status"]
                    out = answer(c, key, out["nonce"], vote_api(protocol, rng))
                    if out["status"].startswith("Saved") and not practice:
                        acked += 1
                    last = out["progress"]
                c.close()
            except Exception as e:  # noqa: BLE001 - the server was killed under us (any client error): wait for it, resume with the key
                reconnects += 1
                last = repr(e)[:200]
                time.sleep(0.5)
        with lock:
            results.append(
                {"key": key, "protocol": protocol, "acked": acked, "reconnects": reconnects, "progress": last}
            )

    t0 = time.time()
    threads = [threading.Thread(target=work, args=(k,), daemon=True) for k in range(raters)]
    for t in threads:
        t.start()
    try:
        for n in range(kills):
            time.sleep(every_s)
            up.clear()
            os.kill(state["proc"].pid, signal.SIGKILL)
            state["proc"].wait(30)
            state["log"].close()
            os.unlink(state["log"].name)
            log(f"kill -9 #{n + 1} at {time.time() - t0:.1f}s")
            proc, url, lf = start_app(db, checkpoints, port, extra_env=extra_env)
            state.update(proc=proc, url=url, log=lf)
            up.set()
        for t in threads:
            t.join(600)
    finally:
        stop(state["proc"])
        state["log"].close()
        os.unlink(state["log"].name)
    dt = time.time() - t0
    per, stored, twice = _stored_per_key(db, results)
    acked = sum(r["acked"] for r in results)
    return {
        "raters": len(results),
        "votes": acked,
        "stored": stored,
        "seconds": dt,
        "kills": kills,
        "lost": sum(max(0, r["acked"] - per[r["key"]]) for r in results),
        "unacknowledged_commits": sum(max(0, per[r["key"]] - r["acked"]) for r in results),
        "duplicates": twice,
        "reconnects": sum(r["reconnects"] for r in results),
        "results": results,
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raters", type=int, default=16)
    ap.add_argument("--votes", type=int, default=10, help="answers per rater")
    ap.add_argument("--url", help="an app already running (else one is launched)")
    ap.add_argument(
        "--db", help="its ratings database, to count lost votes (a postgresql:// URL: the app launched here uses it)"
    )
    ap.add_argument("--checkpoints", help="generator checkpoints (default: untrained ones in a temp folder)")
    ap.add_argument("--kills", type=int, default=0, help="kill -9 the server this many times during the run")
    ap.add_argument(
        "--throwaway-postgres",
        action="store_true",
        help="run on a fresh database of a throwaway PostgreSQL server (tests/pg_helpers.py: initdb + pg_ctl "
        "on a free port, removed at exit; needs Debian's postgresql package)",
    )
    ap.add_argument("--json", help="also write the figures to this JSON file")
    args = ap.parse_args(argv)
    if args.throwaway_postgres:
        sys.path.insert(0, str(REPO / "tests"))
        import pytest
        from pg_helpers import postgres_url

        try:
            args.db = postgres_url("rating_load")
        except pytest.skip.Exception as e:
            sys.exit(f"error: no throwaway PostgreSQL server: {e}")

    def saved(r: dict) -> dict:
        from benchmarks._results import save

        db = args.db or "sqlite"
        backend = "postgresql" if str(db).startswith(("postgresql://", "postgres://")) else "sqlite"
        save(args.json, {"backend": backend, **{k: v for k, v in r.items() if k != "results"}})
        return r

    def report(r):
        saved(r)
        print(
            f"raters {r['raters']}  votes {r['votes']}  time {r['seconds']:.1f}s  votes/s {r['votes_per_s']:.1f}  "
            f"lost {r['lost'] if r['lost'] is not None else 'n/a (no --db)'}  duplicates {r['duplicates']}"
        )
        return 0 if not r["lost"] and not r["duplicates"] else 1

    if args.url:
        return report(
            run_load(args.url, args.raters, args.votes, args.db, os.environ.get("SR_ADMIN_TOKEN", ADMIN_TOKEN))
        )
    with tempfile.TemporaryDirectory() as tmp:
        ck = args.checkpoints or make_untrained_checkpoints(Path(tmp) / "checkpoints")
        db: str | Path = args.db if args.db and "://" in args.db else Path(tmp) / "ratings.sqlite3"
        if args.kills:
            r = saved(run_kill_test(db, ck, args.raters, args.votes, args.kills))
            print(
                f"raters {r['raters']}  votes {r['votes']}  kills {r['kills']}  reconnects {r['reconnects']}  "
                f"time {r['seconds']:.1f}s  lost {r['lost']}  duplicates {r['duplicates']}  "
                f"committed-unacknowledged {r['unacknowledged_commits']}"
            )
            return 0 if not r["lost"] and not r["duplicates"] else 1
        with launch_app(db, ck) as url:
            return report(run_load(url, args.raters, args.votes, db))


if __name__ == "__main__":
    sys.exit(main())
