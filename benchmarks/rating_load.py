"""Load test of the blind rating app: many gradio_client sessions voting at once.

Launches the standalone rating app (``python -m dashboard.rating_tab``) on a free localhost
port with a fresh ratings database (untrained generators unless ``--checkpoints`` is given),
lets ``--raters`` concurrent clients each give ``--votes`` answers, then checks the database:
every acknowledged vote stored exactly once.  Prints raters, votes, votes/s and lost votes.

    python -m benchmarks.rating_load --raters 16 --votes 10
    python -m benchmarks.rating_load --url http://127.0.0.1:7861/ --db /path/ratings.sqlite3
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
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


@contextmanager
def launch_app(db: str | Path, checkpoints: str | Path, port: int | None = None, crop: int = 64, zoom: int = 1,
               timeout: float = 120, extra_env: dict | None = None):
    """Run the standalone rating app in a subprocess; yield its URL; stop it afterwards."""
    port = port or free_port()
    env = dict(os.environ)
    env.update(SR_RATINGS_DB=str(db), SR_CHECKPOINTS=str(checkpoints), SR_RATING_CROP=str(crop),
               SR_RATING_ZOOM=str(zoom), GRADIO_ANALYTICS_ENABLED="False", OMP_NUM_THREADS="1",
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    env.update(extra_env or {})
    log = tempfile.NamedTemporaryFile("w+", prefix="rating-app-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "dashboard.rating_tab", "--port", str(port)], cwd=REPO, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        t0 = time.time()
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"the rating app exited ({proc.returncode}):\n{Path(log.name).read_text()[-3000:]}")
            try:
                urllib.request.urlopen(url + "config", timeout=2).read()
                break
            except OSError:
                if time.time() - t0 > timeout:
                    raise RuntimeError(f"the rating app did not start in {timeout}s:\n{Path(log.name).read_text()[-3000:]}")
                time.sleep(0.5)
        yield url
    finally:
        stop(proc)
        log.close()
        os.unlink(log.name)


def rater_session(url: str, protocol: str, votes: int, rater_id: str | None = None, seed: int = 0) -> dict:
    """One gradio_client session: start (or resume), then ``votes`` answers.  Returns what the
    server acknowledged: rater id, the "Saved." count and the last progress text."""
    from gradio_client import Client

    rng = random.Random(seed)
    c = Client(url, verbose=False, download_files=False, analytics_enabled=False)
    out = c.predict(protocol, rater_id, api_name="/rating_start")
    rid, progress = out[0], out[1]
    acked = 0
    for _ in range(votes):
        if protocol == "mos":
            out = c.predict(api_name=f"/rating_score_{rng.randint(1, 5)}")
        else:
            out = c.predict(api_name=f"/rating_choose_{rng.choice(['left', 'right', 'tie'])}")
        status = out[2] or ""
        if status.startswith("Saved"):
            acked += 1
        progress = out[1]
        if "complete" in status:
            break
    c.close()
    return {"rater_id": rid, "protocol": protocol, "acked": acked, "progress": progress}


def run_load(url: str, raters: int, votes: int, db: str | Path | None = None) -> dict:
    """``raters`` concurrent sessions (half MOS, half pairwise); checks the database when given."""
    results: list[dict] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def work(k):
        try:
            r = rater_session(url, "mos" if k % 2 == 0 else "pair", votes, seed=k)
            with lock:
                results.append(r)
        except BaseException as e:  # reported below
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
    out = {"raters": len(results), "votes": acked, "seconds": dt, "votes_per_s": acked / dt, "lost": None,
           "duplicates": None, "results": results}
    if db is not None:
        from srcore.rating.store import RatingStore

        s = RatingStore(db)
        rows = s.votes()
        s.close()
        per = {}
        for v in rows:
            per[v["rater_id"]] = per.get(v["rater_id"], 0) + 1
        out["stored"] = len(rows)
        out["lost"] = sum(max(0, r["acked"] - per.get(r["rater_id"], 0)) for r in results)
        out["duplicates"] = len(rows) - len({v["token"] for v in rows}) + sum(
            max(0, per.get(r["rater_id"], 0) - r["acked"]) for r in results)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--raters", type=int, default=16)
    ap.add_argument("--votes", type=int, default=10, help="answers per rater")
    ap.add_argument("--url", help="an app already running (else one is launched)")
    ap.add_argument("--db", help="its ratings database, to count lost votes")
    ap.add_argument("--checkpoints", help="generator checkpoints (default: untrained ones in a temp folder)")
    args = ap.parse_args(argv)

    def report(r):
        print(f"raters {r['raters']}  votes {r['votes']}  time {r['seconds']:.1f}s  votes/s {r['votes_per_s']:.1f}  "
              f"lost {r['lost'] if r['lost'] is not None else 'n/a (no --db)'}  duplicates {r['duplicates']}")
        return 0 if not r["lost"] and not r["duplicates"] else 1

    if args.url:
        return report(run_load(args.url, args.raters, args.votes, args.db))
    with tempfile.TemporaryDirectory() as tmp:
        ck = args.checkpoints or make_untrained_checkpoints(Path(tmp) / "checkpoints")
        db = Path(tmp) / "ratings.sqlite3"
        with launch_app(db, ck) as url:
            return report(run_load(url, args.raters, args.votes, db))


if __name__ == "__main__":
    sys.exit(main())
