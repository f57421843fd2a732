"""Who may rate, who may organise, and what leaves the server (issue 23), in-process.

Invitations (signed links, class codes with a cap, expiry), the open study's per-client session
limit, answers bound to the delivered item's nonce, the organiser-token throttle (simulated time),
the proxy-header rule, private files and the database copy without secrets."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from srcore.rating.service import RateLimit, RatingService, StudySettings, Throttle
from srcore.rating.stimuli import BLURRED, DEGRADED, StimulusSet
from srcore.rating.store import RatingError, RatingStore

REPO = Path(__file__).resolve().parent.parent
pytestmark = pytest.mark.timeout(120)
MODELS = ("bicubic", "srgan_pl", "hr")


class Clock:
    def __init__(self, t: float = 1_000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t

    def sleep(self, dt: float) -> None:
        self.t += dt


def _stimuli() -> StimulusSet:
    rng = np.random.default_rng(1)
    crops = {
        f"im{i}": {m: rng.integers(0, 255, (8, 8, 3), dtype=np.uint8) for m in (*MODELS, DEGRADED, BLURRED)}
        for i in range(3)
    }
    return StimulusSet(crops=crops, models=MODELS, crop=8)


@pytest.fixture
def svc(tmp_path):
    clock = Clock(1_800_000_000.0)
    s = RatingService(
        RatingStore(tmp_path / "a.sqlite3", clock=clock),
        _stimuli(),
        admin_token="the-organiser-token",
        secret="k" * 32,
        session_limit=RateLimit(clock=clock),
    )
    s.clock = clock  # type: ignore[attr-defined]
    yield s
    s.store.close()


# ------------------------------------------------------------------ invitations


def test_sessions_need_an_invitation_by_default(svc):
    with pytest.raises(RatingError, match="by invitation"):
        svc.start(None, "mos")
    for bad in ("nonsense", "i123.abc", "CLASS-0000-0000", "x" * 200):
        with pytest.raises(RatingError, match="not valid"):
            svc.start(None, "mos", invite=bad)
    link = svc.create_links(1, cap=2)[0]
    iid, sig = link.split(".")
    with pytest.raises(RatingError, match="not valid"):  # a forged signature
        svc.start(None, "mos", invite=f"{iid}.{sig[:-2]}AA")
    a = svc.start(None, "mos", invite=link)
    b = svc.start(None, "mos", invite=link)
    assert a.key != b.key
    with pytest.raises(RatingError, match="used as often"):  # the cap
        svc.start(None, "mos", invite=link)
    assert svc.start(a.key, "mos").key == a.key  # resuming does not use the invitation again


def test_class_code_cap_and_expiry(svc):
    code = svc.create_class_code(cap=3, expires_s=3600)
    keys = {svc.start(None, "pair", invite=code.lower()).key for _ in range(3)}  # case does not matter
    assert len(keys) == 3
    with pytest.raises(RatingError, match="used as often"):
        svc.start(None, "pair", invite=code)
    later = svc.create_class_code(cap=5, expires_s=60)
    svc.clock.t += 61
    with pytest.raises(RatingError, match="expired"):
        svc.start(None, "mos", invite=later)
    with pytest.raises(RatingError, match="future"):
        svc.create_class_code(cap=5, expires_s=-1)


def test_uninvited_sessions_do_not_count_and_get_no_code(svc):
    svc.save_settings(
        StudySettings(access="open", items=2, attention_every=0, repeat_every=0, gold_every=0, practice=False)
    )
    s = svc.start(None, "mos", client="10.1.1.1")
    while not s.finished:
        s = svc.vote(s.key, s.nonce, 3)
    assert s.completion_code.startswith("SR-")  # open study: every session counts
    svc.save_settings(StudySettings(access="invited", items=2, attention_every=0, repeat_every=0, gold_every=0))
    with pytest.raises(RatingError, match="by invitation"):  # an uninvited session cannot go on
        svc.start(s.key, "pair")
    from srcore.rating import stats

    res = stats.analyse(svc.store.votes_frame(), n_boot=5, invited_only=True)
    assert res.n_votes == 0 and res.uninvited == 1


def test_open_study_limits_new_sessions_per_client(svc):
    svc.save_settings(StudySettings(access="open", open_sessions_per_min=5))
    for _ in range(5):
        svc.start(None, "mos", client="203.0.113.7")
    with pytest.raises(RatingError, match="Too many new sessions"):
        svc.start(None, "mos", client="203.0.113.7")
    svc.start(None, "mos", client="203.0.113.8")  # another client is not affected
    svc.clock.t += 61
    svc.start(None, "mos", client="203.0.113.7")  # a minute later it may again


# ------------------------------------------------------------------ votes bound to what was shown


def test_answers_echo_the_delivered_nonce(svc):
    link = svc.create_links(2)
    s = svc.start(None, "mos", invite=link[0])
    first = s.nonce
    # pipelined answers all echo the item the page showed: one vote, on that item
    outs = [svc.vote(s.key, first, k) for k in (5, 4, 3)]
    assert outs[0].message.endswith("Saved.") or outs[0].message.startswith("Saved")
    assert all("already answered" in o.message for o in outs[1:])
    votes = svc.store.votes()
    assert [v["token"] for v in votes] == [first]
    nxt = outs[-1].nonce
    assert nxt != first and svc.store.assignment(nxt) is not None
    for bad in (None, "", "A" * 24, nxt[:-1] + ("A" if nxt[-1] != "A" else "B")):
        with pytest.raises(RatingError, match="unknown stimulus"):
            svc.vote(s.key, bad, 3)
    other = svc.start(None, "mos", invite=link[1])
    with pytest.raises(RatingError, match="unknown stimulus"):  # an item delivered to someone else
        svc.vote(other.key, nxt, 3)
    assert svc.store.count_votes() == 1


# ------------------------------------------------------------------ organiser token


def _attempt(svc, token, client):
    try:
        svc.check_admin(token, client)
        return "ok"
    except RatingError as e:
        return "wrong" if "Wrong" in str(e) else "refused"


def test_throttle_spaces_guesses_and_never_locks_out_the_organiser(svc):
    clock = Clock()
    svc.throttle = Throttle(clock=clock, sleep=clock.sleep)
    # 60 guesses from one address, one after the other: 5 at once, then one per 12 s
    t0 = clock.t
    answers = [_attempt(svc, f"guess-{i}", "198.51.100.9") for i in range(60)]
    assert answers.count("wrong") == 60  # each waited its turn, none was refused
    assert clock.t - t0 == pytest.approx(55 * 12, abs=1)  # 60 guesses take 11 minutes, not 1.3 s
    # the organiser from another address gets in at once, while the guessing goes on
    before = clock.t
    assert _attempt(svc, "the-organiser-token", "192.0.2.1") == "ok" and clock.t == before
    # from the guesser's own address the right token is slowed (one turn), not refused
    assert _attempt(svc, "the-organiser-token", "198.51.100.9") == "ok" and clock.t - before <= 12.01


def test_throttle_burst_of_parallel_guesses_counted_before_answers():
    """60 guesses arriving together: each is counted when it is admitted, so 5 are checked at
    once, 2 wait their turn (12 s, 24 s) and 53 are refused without being checked."""
    clock = Clock()
    th = Throttle(clock=clock, sleep=clock.sleep)
    waits = []
    for _ in range(60):
        try:
            waits.append(th.reserve("198.51.100.9"))
        except RatingError:
            waits.append(None)
    assert waits[:5] == [0.0] * 5 and waits[5:7] == [12.0, 24.0] and waits[7:] == [None] * 53
    # globally: past 30 wrong tokens a minute, clients with a wrong token share one clock too
    th2 = Throttle(clock=clock, sleep=clock.sleep, global_limit=30)
    for k in range(30):
        th2.reserve(f"10.0.0.{k}")
    assert th2.reserve("10.0.0.1") > 0 and th2.reserve("10.9.9.9") == 0.0  # a fresh address: at once


def test_proxy_headers_believed_only_from_trusted_proxies(monkeypatch):
    import asyncio

    from uvicorn.config import Config

    from dashboard import serving

    async def app(scope, _receive, _send):
        seen.append(scope["client"][0])

    def client_seen(peer: str, xff: str) -> str:
        cfg = Config(app)  # what Gradio's launch builds
        cfg.load()
        scope = {"type": "http", "client": (peer, 5000), "headers": [(b"x-forwarded-for", xff.encode())]}
        asyncio.run(cfg.loaded_app(scope, None, None))
        return seen[-1]

    seen: list[str] = []
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    serving.trust_proxies(())  # the default: no proxy trusted
    assert client_seen("127.0.0.1", "6.6.6.6") == "127.0.0.1"
    serving.trust_proxies(("10.0.0.0/8",))  # a Space's front proxy
    assert client_seen("10.1.2.3", "203.0.113.5") == "203.0.113.5"
    assert client_seen("127.0.0.1", "6.6.6.6") == "127.0.0.1"  # not a trusted peer
    assert client_seen("10.1.2.3", "6.6.6.6, 203.0.113.5") == "203.0.113.5"  # the right-most untrusted


# ------------------------------------------------------------------ files


def test_database_and_copy_are_private_and_hold_no_secrets(tmp_path):
    db = tmp_path / "p.sqlite3"
    s = RatingStore(db)
    svc = RatingService(s, _stimuli(), admin_token="t")
    link = svc.create_links(1)[0]
    code = svc.create_class_code(cap=2)
    r = svc.start(None, "mos", invite=link)
    svc.vote(r.key, r.nonce, 4)
    for f in (db, Path(str(db) + "-wal"), Path(str(db) + "-shm")):
        assert stat.S_IMODE(f.stat().st_mode) == 0o600, f
    copy = s.backup(tmp_path / "out" / "copy.sqlite3")
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    raw = copy.read_bytes()
    secret = s.get_meta("server_secret")
    hashes = [row[0] for row in s._conn().execute("SELECT key_hash FROM raters")]
    hashes += [row[0] for row in s._conn().execute("SELECT code_hash FROM invites WHERE code_hash IS NOT NULL")]
    assert secret and len(hashes) == 2
    for bad in [secret, *hashes, r.key, code]:
        assert bad.encode() not in raw
    c = sqlite3.connect(copy)
    assert c.execute("SELECT COUNT(*) FROM votes").fetchone()[0] == 1
    assert c.execute("SELECT COUNT(*) FROM raters WHERE key_hash IS NOT NULL").fetchone()[0] == 0
    assert c.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    c.close()
    s.close()


def test_exports_live_in_the_run_folder_and_go_with_it(tmp_path):
    """A child process makes an export (0600, in its run folder, 0700) and exits: the folder is
    gone; one killed with SIGKILL leaves it for the next start's sweep, which removes it."""
    script = (
        "import os, sys, stat\n"
        "from dashboard import tempfiles\n"
        "tempfiles.run_root(sys.argv[1])\n"
        "from dashboard.rating_common import export_path\n"
        "from srcore.atomic import write_text_atomic\n"
        "p = export_path('votes', '.csv')\n"
        "write_text_atomic(p, 'a,b\\n', mode=0o600)\n"
        "print(p, oct(stat.S_IMODE(p.stat().st_mode)), oct(stat.S_IMODE(p.parent.stat().st_mode)), flush=True)\n"
        "if sys.argv[2] == 'kill': os.kill(os.getpid(), 9)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), "exit"], capture_output=True, text=True, env=env, cwd=REPO
    )
    path, mode, dmode = out.stdout.split()
    assert mode == "0o600" and dmode == "0o700" and str(tmp_path) in path
    assert not Path(path).exists() and not list(tmp_path.glob("sr-loss-lab-*"))  # removed at stop
    out = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path), "kill"], capture_output=True, text=True, env=env, cwd=REPO
    )
    path = out.stdout.split()[0]
    assert Path(path).exists()  # a crash leaves it ...
    from dashboard import tempfiles

    assert tempfiles.clean_stale(tmp_path) and not Path(path).exists()  # ... until the next start's sweep


# ------------------------------------------------------------------ the database setting


def test_unknown_database_url_scheme_stops_the_app(tmp_path):
    from dashboard.settings import Settings, SettingsError

    with pytest.raises(SettingsError, match="SR_RATINGS_DB"):
        Settings.from_env({"SR_RATINGS_DB": "foo://x"})
    assert Settings.from_env({"SR_RATINGS_DB": "postgresql://u@h:5/db"}).ratings_db == "postgresql://u@h:5/db"
    with pytest.raises(RatingError, match="scheme"):
        RatingStore("mysql://x/y")
    env = {**os.environ, "PYTHONPATH": str(REPO), "SR_RATINGS_DB": "foo://x", "SR_TEMP_BASE": str(tmp_path)}
    for cmd in ([sys.executable, "-m", "dashboard.rating_tab"], [sys.executable, "app.py"]):
        p = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=REPO, timeout=120)
        assert p.returncode != 0 and "SR_RATINGS_DB" in p.stderr and "Traceback" not in p.stderr, p.stderr[-500:]
    assert not Path("foo:").exists()  # no relative SQLite file was made
