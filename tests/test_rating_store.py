"""The ratings store: validation, replays, migrations, WAL, concurrency, restart and kill -9."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from srcore.rating import store as store_mod
from srcore.rating.store import (
    MIGRATIONS,
    SCHEMA_VERSION,
    DuplicateVoteError,
    RatingError,
    RatingStore,
    connect,
    default_db_path,
    migrate,
)

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(120)

MOS_PLAN = [(f"img{i}", (m,)) for i in range(3) for m in ("bicubic", "srgan_pl", "hr")]
PAIR_PLAN = [(f"img{i}", ("bicubic", "hr")) for i in range(3)] + [
    (f"img{i}", ("srcnn_mse", "srgan_pl")) for i in range(3)
]


@pytest.fixture
def store(tmp_path):
    s = RatingStore(tmp_path / "r.sqlite3")
    yield s
    s.close()


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


# ------------------------------------------------------------------ paths and schema


def test_default_path_env_and_user_folder(monkeypatch, tmp_path):
    from dashboard.settings import Settings

    # SR_RATINGS_DB is the app's setting, passed to the store; the store's own default ignores it
    assert Settings.from_env({"SR_RATINGS_DB": str(tmp_path / "x.sqlite3")}).ratings_db == tmp_path / "x.sqlite3"
    s = RatingStore(tmp_path / "x.sqlite3")
    assert s.path == tmp_path / "x.sqlite3"
    s.close()
    monkeypatch.setenv("SR_RATINGS_DB", str(tmp_path / "ignored.sqlite3"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    if Path("/data").is_dir() and os.access("/data", os.W_OK):
        assert default_db_path() == Path("/data/sr_ratings.sqlite3")
    else:
        assert default_db_path() == tmp_path / "xdg" / "sr-dashboard" / "ratings.sqlite3"
    monkeypatch.setattr(store_mod.os, "access", lambda *_a: False)  # /data present but read-only
    assert default_db_path() == tmp_path / "xdg" / "sr-dashboard" / "ratings.sqlite3"


def test_wal_busy_timeout_and_version(store):
    assert store.journal_mode().lower() == "wal"
    assert store.schema_version() == SCHEMA_VERSION == len(MIGRATIONS)
    c = store._conn()
    assert c.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000
    assert c.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
    assert store.integrity_check() == "ok"


def test_migration_from_v1_keeps_data(tmp_path):
    path = tmp_path / "old.sqlite3"
    c = connect(path)
    assert migrate(c, target=1) == 1
    c.execute("INSERT INTO raters (rater_id, created) VALUES ('rOLDRATER1', 1.0)")
    c.execute(
        "INSERT INTO assignments VALUES ('tok_old_aaaaaaaaaaaaaaa', 'rOLDRATER1', 'mos', 'img', 'hr', NULL, 'img|hr', 1.0)"
    )
    c.execute(
        "INSERT INTO votes (token, rater_id, score, created) VALUES ('tok_old_aaaaaaaaaaaaaaa', 'rOLDRATER1', 4, 2.0)"
    )
    c.close()
    s = RatingStore(path)
    assert s.schema_version() == SCHEMA_VERSION
    v = s.votes()
    assert len(v) == 1 and v[0]["score"] == 4 and v[0]["elapsed_s"] is None
    assert s.get_meta("nothing", "d") == "d"  # the v2 table exists
    assert s.meta_default("k", lambda: "v1") == "v1" and s.meta_default("k", lambda: "v2") == "v1"
    assert v[0]["kind"] == "test" and v[0]["participant"] == ""  # v3 defaults for old rows
    assert s.rater_for_key("k" * 43) is None  # an old rater has no key: nobody can resume it
    s.close()


def test_newer_schema_refused(tmp_path):
    path = tmp_path / "new.sqlite3"
    RatingStore(path).close()
    c = sqlite3.connect(path)
    c.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    c.close()
    with pytest.raises(RatingError, match="newer"):
        RatingStore(path)


# ------------------------------------------------------------------ validation


def test_vote_validation_messages(store):
    r1, r2 = store.new_rater(), store.new_rater()
    a = store.next_assignment(r1, "mos", MOS_PLAN)
    p = store.next_assignment(r1, "pair", PAIR_PLAN)
    cases = [
        (dict(rater_id=r1, token="no-such-token-xxxxxxxx", score=3), "unknown stimulus"),
        (dict(rater_id=r1, token="../../etc", score=3), "unknown stimulus"),
        (dict(rater_id=r1, token=None, score=3), "unknown stimulus"),
        (dict(rater_id=r1, token=a.token, score=0), "from 1 to 5"),
        (dict(rater_id=r1, token=a.token, score=6), "from 1 to 5"),
        (dict(rater_id=r1, token=a.token, score=2.5), "from 1 to 5"),
        (dict(rater_id=r1, token=a.token, score=True), "from 1 to 5"),
        (dict(rater_id=r1, token=a.token, score="3"), "from 1 to 5"),
        (dict(rater_id=r1, token=a.token, score=float("nan")), "from 1 to 5"),
        (dict(rater_id=r1, token=a.token), "no score"),
        (dict(rater_id=r1, token=a.token, score=3, choice="left"), "not both"),
        (dict(rater_id=r1, token=a.token, choice="left"), "needs a score"),
        (dict(rater_id=r1, token=p.token, choice="up"), "left, right, tie"),
        (dict(rater_id=r1, token=p.token, score=3), "needs a choice"),
        (dict(rater_id=r2, token=a.token, score=3), "unknown stimulus id"),  # another rater's nonce
        (dict(rater_id=r2, token=p.token, choice="left"), "unknown stimulus id"),
    ]
    for kw, msg in cases:
        with pytest.raises(RatingError, match=msg) as ei:
            store.record_vote(**kw)
        assert isinstance(ei.value, ValueError)
    assert store.count_votes() == 0
    store.record_vote(r1, a.token, score=5)
    store.record_vote(r1, p.token, choice="tie")
    with pytest.raises(DuplicateVoteError, match="already has a vote"):
        store.record_vote(r1, a.token, score=1)  # replay with another answer
    with pytest.raises(DuplicateVoteError):
        store.record_vote(r1, p.token, choice="tie")
    assert store.count_votes() == 2
    assert [v["score"] for v in store.votes() if v["protocol"] == "mos"] == [5]
    with pytest.raises(RatingError, match="unknown protocol"):
        store.next_assignment(r1, "abx", MOS_PLAN)
    with pytest.raises(RatingError, match="unknown rater"):
        store.next_assignment("rNOBODY0000", "mos", MOS_PLAN)


def test_assignment_flow_no_repeats(store):
    rid = store.new_rater()
    seen = []
    for _ in range(len(PAIR_PLAN)):
        a = store.next_assignment(rid, "pair", PAIR_PLAN)
        assert store.next_assignment(rid, "pair", PAIR_PLAN).token == a.token  # unanswered: same one again
        store.record_vote(rid, a.token, choice="left")
        seen.append((a.image_id, tuple(sorted(a.models))))
    assert store.next_assignment(rid, "pair", PAIR_PLAN) is None
    assert len(set(seen)) == len(PAIR_PLAN) and store.progress(rid, "pair") == len(PAIR_PLAN)
    # left/right order is stored server-side and varies
    orders = {tuple(v["model_a"] for v in store.votes() if v["image_id"] == f"img{i}") for i in range(3)}
    assert orders
    # a well-formed id is kept (come back after a reset); a malformed one is replaced


def test_session_keys_are_secret_and_only_their_hash_is_stored(store):
    rid, key = store.new_session("class 7b")
    assert store.rater_for_key(key) == rid
    for guess in (rid, None, "", key[:-1] + ("A" if key[-1] != "A" else "B"), "x" * 40, 12, "bad key!" * 5):
        assert store.rater_for_key(guess) is None, guess
    raw = store.path.read_bytes() + Path(str(store.path) + "-wal").read_bytes()
    assert key.encode() not in raw  # only the SHA-256 touches the disk
    assert store.rater(rid)["participant"] == "class 7b"
    code = store.completion_code(rid)
    assert re.fullmatch(r"SR-[0-9A-F]{4}-[0-9A-F]{4}", code) and store.completion_code(rid) == code
    with pytest.raises(RatingError, match="participant code"):
        store.new_session("<script>")
    store.reset()
    assert store.rater_for_key(key) is None  # a reset forgets every key


def test_same_rater_racing_tabs_get_one_stimulus(store):
    rid = store.new_rater()
    tokens, errors = [], []

    def grab():
        try:
            tokens.append(store.next_assignment(rid, "mos", MOS_PLAN).token)
        except Exception as e:  # noqa: BLE001  # pragma: no cover - a worker thread: any failure is reported below
            errors.append(e)

    ts = [threading.Thread(target=grab) for _ in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors and len(set(tokens)) == 1


def test_reset_and_backup(store, tmp_path):
    rid = store.new_rater()
    a = store.next_assignment(rid, "mos", MOS_PLAN)
    store.record_vote(rid, a.token, score=2)
    copy = store.backup(tmp_path / "copy" / "b.sqlite3")
    c = sqlite3.connect(copy)
    assert c.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 1
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    c.close()
    assert store.reset() == 1 and store.count_votes() == 0 and store.raters() == []


# ------------------------------------------------------------------ concurrency and crashes

WRITER = textwrap.dedent(
    """
    import sys, threading
    from srcore.rating.store import RatingStore
    db, threads, votes, tag = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    s = RatingStore(db)
    lock = threading.Lock()
    def work(k):
        rid = s.new_rater()
        plan = [(f"{tag}-{k}-{i}", ("bicubic",)) for i in range(votes if votes > 0 else 10**6)]
        n = 0
        while votes <= 0 or n < votes:
            a = s.next_assignment(rid, "mos", plan)
            s.record_vote(rid, a.token, score=1 + n % 5)
            n += 1
            with lock:
                sys.stdout.write("ACK " + a.token + "\\n")
                sys.stdout.flush()
    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    """
)


def _writer(tmp_path, db, threads, votes, tag):
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    return subprocess.Popen(
        [sys.executable, str(script), str(db), str(threads), str(votes), tag],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
        cwd=REPO,
    )


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_many_threads_and_processes_every_vote_once(tmp_path, backend):
    if backend == "postgresql":
        from pg_helpers import postgres_url

        db = postgres_url("c")
    else:
        db = tmp_path / "c.sqlite3"
    procs = [_writer(tmp_path, db, threads=3, votes=15, tag=f"p{i}") for i in range(3)]
    local = RatingStore(db)
    acks: list[str] = []
    lock = threading.Lock()

    def work(k):
        rid = local.new_rater()
        plan = [(f"main-{k}-{i}", ("hr",)) for i in range(15)]
        for _ in range(15):
            a = local.next_assignment(rid, "mos", plan)
            local.record_vote(rid, a.token, score=5)
            with pytest.raises(DuplicateVoteError):
                local.record_vote(rid, a.token, score=4)  # a replay in the middle of the load
            with lock:
                acks.append(a.token)

    t0 = time.time()
    ts = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    for p in procs:
        out, err = p.communicate(timeout=90)
        assert p.returncode == 0, err
        acks += [line.split()[1] for line in out.splitlines() if line.startswith("ACK ")]
    dt = time.time() - t0
    expected = 3 * 3 * 15 + 4 * 15
    assert len(acks) == expected == len(set(acks))
    votes = local.votes()
    assert len(votes) == expected
    assert {v["token"] for v in votes} == set(acks)
    assert len(local.raters()) == 3 * 3 + 4
    local.close()
    print(f"\n{expected} votes from 13 raters in 3 processes + 4 threads: {expected / dt:.0f} votes/s")

    # restart: a fresh store on the same file sees everything
    again = RatingStore(db)
    assert again.count_votes() == expected and again.integrity_check() == "ok"
    again.close()


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_kill_9_under_load_loses_no_acknowledged_vote(tmp_path, backend):
    if backend == "postgresql":
        from pg_helpers import postgres_url

        db = postgres_url("k")
    else:
        db = tmp_path / "k.sqlite3"
    RatingStore(db).close()
    victim = _writer(tmp_path, db, threads=2, votes=0, tag="victim")  # votes forever
    survivor = _writer(tmp_path, db, threads=1, votes=40, tag="survivor")
    acked: list[str] = []
    deadline = time.time() + 60
    while len(acked) < 60 and time.time() < deadline:
        line = victim.stdout.readline()
        if not line:
            break
        if line.startswith("ACK "):
            acked.append(line.split()[1])
    assert len(acked) >= 60, victim.stderr.read()
    os.kill(victim.pid, signal.SIGKILL)
    rest, _ = victim.communicate(timeout=30)
    acked += [line.split()[1] for line in rest.splitlines() if line.startswith("ACK ")]
    assert victim.returncode == -signal.SIGKILL
    out, err = survivor.communicate(timeout=90)
    assert survivor.returncode == 0, err
    acked += [line.split()[1] for line in out.splitlines() if line.startswith("ACK ")]

    s = RatingStore(db)
    assert s.integrity_check() == "ok"
    stored = {v["token"] for v in s.votes()}
    missing = set(acked) - stored
    assert not missing, f"{len(missing)} acknowledged votes lost"
    assert len(stored) >= len(acked)  # at most the one in flight was committed but not acknowledged
    assert len(stored) - len(acked) <= 2
    s.close()
