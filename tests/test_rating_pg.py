"""The ratings store on a real PostgreSQL server (issue 23): the same schema and migrations as
SQLite, votes stored once under races, replays refused, concurrent starts migrate once.  The
server is a throwaway cluster (``tests/pg_helpers.py``); without the PostgreSQL binaries these
tests skip with the reason."""

from __future__ import annotations

import threading

import pytest

from srcore.rating.store import SCHEMA_VERSION, DuplicateVoteError, RatingError, RatingStore

pytestmark = pytest.mark.timeout(120)
PLAN = [(f"img{i}", (m,)) for i in range(3) for m in ("bicubic", "srgan_pl", "hr")]


@pytest.fixture
def pg():
    from pg_helpers import postgres_url

    s = RatingStore(postgres_url("store"))
    yield s
    s.close()


def _columns_pg(store) -> dict[str, list[str]]:
    rows = store._conn().execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = 'public' "
        "AND table_name <> 'sr_schema' ORDER BY table_name, ordinal_position"
    )
    out: dict[str, list[str]] = {}
    for t, c in rows:
        out.setdefault(t, []).append(c)
    return out


def test_same_schema_as_sqlite(pg, tmp_path):
    lite = RatingStore(tmp_path / "x.sqlite3")
    tables = [r[0] for r in lite._conn().execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
    expected = {
        t: [r[1] for r in lite._conn().execute(f"PRAGMA table_info({t})")]
        for t in tables
        if not t.startswith("sqlite_")
    }
    lite.close()
    assert _columns_pg(pg) == expected
    assert pg.schema_version() == SCHEMA_VERSION and pg.journal_mode() == "postgresql"
    assert pg.integrity_check() == "ok"


def test_votes_stored_once_and_replays_refused(pg):
    rid = pg.new_rater()
    a = pg.next_assignment(rid, "mos", PLAN)
    assert pg.next_assignment(rid, "mos", PLAN).token == a.token  # unanswered: the same again
    with pytest.raises(RatingError, match="from 1 to 5"):
        pg.record_vote(rid, a.token, score=7)
    vid = pg.record_vote(rid, a.token, score=4)
    assert isinstance(vid, int)
    with pytest.raises(DuplicateVoteError):
        pg.record_vote(rid, a.token, score=1)
    other = pg.new_rater()
    with pytest.raises(RatingError, match="unknown stimulus"):
        pg.record_vote(other, pg.next_assignment(rid, "mos", PLAN).token, score=3)
    assert [v["score"] for v in pg.votes()] == [4] and pg.progress(rid, "mos") == 1


def test_racing_tabs_and_parallel_votes(pg):
    rid = pg.new_rater()
    tokens, errors, saved = [], [], []

    def grab():
        try:
            tokens.append(pg.next_assignment(rid, "mos", PLAN).token)
        except Exception as e:  # noqa: BLE001 - a worker thread: reported below
            errors.append(e)

    ts = [threading.Thread(target=grab) for _ in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors and len(set(tokens)) == 1

    def vote(k):
        try:
            pg.record_vote(rid, tokens[0], score=1 + k % 5)
            saved.append(k)
        except DuplicateVoteError:
            pass
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=vote, args=(k,)) for k in range(8)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors and len(saved) == 1 and pg.count_votes() == 1


def test_concurrent_starts_migrate_once_and_meta_default_race_free():
    from pg_helpers import postgres_url

    url = postgres_url("mig")
    stores, errors = [], []

    def open_one():
        try:
            stores.append(RatingStore(url, pool_size=2))
        except Exception as e:  # noqa: BLE001
            errors.append(e)

    ts = [threading.Thread(target=open_one) for _ in range(4)]
    [t.start() for t in ts]
    [t.join() for t in ts]
    assert not errors and len(stores) == 4
    values = {s.meta_default("server_secret", lambda: __import__("secrets").token_hex(8)) for s in stores}
    assert len(values) == 1
    for s in stores:
        s.close()


def test_unreachable_server_is_a_clear_error():
    from pg_helpers import server_url

    server_url()  # skips without PostgreSQL
    with pytest.raises(RatingError, match="could not connect"):
        RatingStore("postgresql://nobody@127.0.0.1:1/none", timeout=2)
