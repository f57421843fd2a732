"""The ratings database: raters, what was shown to whom, and one vote per shown stimulus.

SQLite (stdlib ``sqlite3``) in WAL mode with a busy timeout, safe for many threads and
processes at once.  Every write is its own ``BEGIN IMMEDIATE`` transaction, committed with
``synchronous=FULL`` before the caller returns, so a vote that was acknowledged survives a
crash (kill -9) or restart.

Identity: a session is opened with a secret key that only the server issues (``new_session``);
only its SHA-256 is stored, so neither the database nor an export can be used to resume someone
else's session.  The rater id is internal and opens nothing.

Blindness and binding: each served stimulus gets a one-time random nonce (``assignments.token``);
which model(s), which left/right order and whether it is an attention check stays in the
``assignments`` table on the server, and ``votes.token`` is UNIQUE, so one nonce takes exactly
one vote.

Schema changes go in ``MIGRATIONS`` (append only); ``PRAGMA user_version`` records how many
have been applied.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import numbers
import os
import re
import secrets
import sqlite3
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

PROTOCOLS = ("mos", "pair")
CHOICES = ("left", "right", "tie")
KINDS = ("test", "attention")  # a real stimulus, or an attention check with a known answer
SCORE_MIN, SCORE_MAX = 1, 5
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_PARTICIPANT_RE = re.compile(r"^[A-Za-z0-9 ._@+-]{0,64}$")


class RatingError(ValueError):
    """A submission or request the store refuses; the message is meant for the user."""


class DuplicateVoteError(RatingError):
    """A second vote for a stimulus that already has one (a replay or a double click)."""


def default_db_path() -> Path:
    """Where the ratings live unless the caller names a file (the app's ``SR_RATINGS_DB``):
    ``/data/sr_ratings.sqlite3`` on a Space with persistent storage; else ``$XDG_DATA_HOME`` (or
    ``~/.local/share``) ``/sr-dashboard/ratings.sqlite3``."""
    data = Path("/data")
    if data.is_dir() and os.access(data, os.W_OK):
        return data / "sr_ratings.sqlite3"
    base = Path(os.environ.get("XDG_DATA_HOME") or Path.home() / ".local" / "share")
    return base / "sr-dashboard" / "ratings.sqlite3"


# ------------------------------------------------------------------------- migrations
# Each entry upgrades the schema from version i to i+1.  Never edit one that has shipped.

MIGRATIONS: list[str] = [
    # 1: the base schema
    """
    CREATE TABLE raters (
        rater_id TEXT PRIMARY KEY,
        created REAL NOT NULL,
        flags TEXT NOT NULL DEFAULT ''
    );
    CREATE TABLE assignments (
        token TEXT PRIMARY KEY,
        rater_id TEXT NOT NULL REFERENCES raters(rater_id),
        protocol TEXT NOT NULL CHECK (protocol IN ('mos', 'pair')),
        image_id TEXT NOT NULL,
        model_a TEXT NOT NULL,          -- the model (MOS) or the left model (pair)
        model_b TEXT,                   -- the right model (pair); NULL for MOS
        stim_key TEXT NOT NULL,         -- image and models, order-free: one per rater and protocol
        created REAL NOT NULL,
        UNIQUE (rater_id, protocol, stim_key)
    );
    CREATE TABLE votes (
        vote_id INTEGER PRIMARY KEY AUTOINCREMENT,
        token TEXT NOT NULL UNIQUE REFERENCES assignments(token),
        rater_id TEXT NOT NULL REFERENCES raters(rater_id),
        score INTEGER CHECK (score IS NULL OR score BETWEEN 1 AND 5),
        choice TEXT CHECK (choice IS NULL OR choice IN ('left', 'right', 'tie')),
        created REAL NOT NULL,
        CHECK ((score IS NULL) <> (choice IS NULL))
    );
    CREATE INDEX assignments_rater ON assignments (rater_id, protocol);
    """,
    # 2: response time, key/value settings, vote lookups by rater
    """
    ALTER TABLE votes ADD COLUMN elapsed_s REAL;
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
    CREATE INDEX votes_rater ON votes (rater_id);
    """,
    # 3: secret session keys (hashed), participant and completion codes, attention checks
    """
    ALTER TABLE raters ADD COLUMN key_hash TEXT;
    ALTER TABLE raters ADD COLUMN participant TEXT NOT NULL DEFAULT '';
    ALTER TABLE raters ADD COLUMN completion_code TEXT;
    CREATE UNIQUE INDEX raters_key ON raters (key_hash);
    ALTER TABLE assignments ADD COLUMN kind TEXT NOT NULL DEFAULT 'test' CHECK (kind IN ('test', 'attention'));
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


@dataclass(frozen=True)
class Assignment:
    """One stimulus shown to one rater.  ``models`` is in display order (left, right)."""

    token: str
    rater_id: str
    protocol: str
    image_id: str
    models: tuple[str, ...]
    created: float
    kind: str = "test"


def stim_key(image_id: str, models: Sequence[str]) -> str:
    """Image and models, order-free: a rater sees each such stimulus at most once per protocol."""
    return image_id + "|" + "|".join(sorted(models))


def key_hash(key: str) -> str:
    """What is stored for a session key: its SHA-256 (the key itself never touches the disk)."""
    return hashlib.sha256(key.encode()).hexdigest()


def clean_participant(code: str | None) -> str:
    """An optional participant/class code: up to 64 letters, digits, spaces and ``._@+-``."""
    code = (code or "").strip() if isinstance(code, str) or code is None else None
    if code is None or not _PARTICIPANT_RE.match(code):
        raise RatingError("the participant code may only hold up to 64 letters, digits, spaces and . _ @ + -")
    return code


def connect(path: str | Path, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, busy timeout, FULL sync."""
    conn = sqlite3.connect(str(path), timeout=timeout, isolation_level=None, check_same_thread=False)
    conn.execute(f"PRAGMA busy_timeout = {int(timeout * 1000)}")
    for _ in range(50):  # switching to WAL needs a moment without other writers
        try:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            break
        except sqlite3.OperationalError:
            time.sleep(0.05)
    else:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    if str(mode).lower() != "wal":
        raise RatingError(f"could not put the ratings database {path} in WAL mode (got {mode!r})")
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("PRAGMA foreign_keys = ON")
    return conn


def split_sql(script: str) -> list[str]:
    """Statements of an SQL script (semicolons inside comments or strings are kept)."""
    out, buf = [], ""
    for part in script.split(";"):
        buf += part + ";"
        if sqlite3.complete_statement(buf):
            if buf.strip(" \n\t;"):
                out.append(buf)
            buf = ""
    return out


def migrate(conn: sqlite3.Connection, target: int = SCHEMA_VERSION) -> int:
    """Apply the missing migrations up to ``target`` in one transaction; return the version."""
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise RatingError(
            f"the ratings database has schema version {version}, newer than this program knows "
            f"({SCHEMA_VERSION}); update the program"
        )
    if version >= target:
        return version
    conn.execute("BEGIN IMMEDIATE")
    try:
        version = conn.execute("PRAGMA user_version").fetchone()[0]  # another process may have won
        for i in range(version, target):
            for stmt in split_sql(MIGRATIONS[i]):
                conn.execute(stmt)
            conn.execute(f"PRAGMA user_version = {i + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    return conn.execute("PRAGMA user_version").fetchone()[0]


class RatingStore:
    """Thread- and process-safe access to the ratings database (one connection per thread)."""

    def __init__(self, path: str | Path | None = None, timeout: float = 30.0):
        self.path = Path(path) if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        migrate(self._conn())

    # ------------------------------------------------------------ connections
    def _conn(self) -> sqlite3.Connection:
        c = getattr(self._local, "conn", None)
        if c is None or getattr(self._local, "pid", None) != os.getpid():
            c = connect(self.path, self.timeout)
            self._local.conn, self._local.pid = c, os.getpid()
            with self._lock:
                self._conns.append(c)
        return c

    def _write(self, fn):
        """Run ``fn(conn)`` inside BEGIN IMMEDIATE ... COMMIT; roll back on any error."""
        c = self._conn()
        c.execute("BEGIN IMMEDIATE")
        try:
            out = fn(c)
            c.execute("COMMIT")
            return out
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                c.execute("ROLLBACK")
            raise

    def close(self) -> None:
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    c.close()
            self._conns.clear()
        self._local = threading.local()

    def schema_version(self) -> int:
        return self._conn().execute("PRAGMA user_version").fetchone()[0]

    def journal_mode(self) -> str:
        return self._conn().execute("PRAGMA journal_mode").fetchone()[0]

    def integrity_check(self) -> str:
        return self._conn().execute("PRAGMA integrity_check").fetchone()[0]

    # ------------------------------------------------------------ meta
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._conn().execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return row[0] if row else default

    def set_meta(self, key: str, value: str) -> None:
        """Store ``value`` under ``key`` (committed before returning)."""
        self._write(
            lambda c: c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, value),
            )
        )

    def get_json(self, key: str, default=None):
        """A JSON value from ``meta`` (``default`` when absent or unreadable)."""
        raw = self.get_meta(key)
        try:
            return json.loads(raw) if raw is not None else default
        except ValueError:
            return default

    def meta_default(self, key: str, make) -> str:
        """The stored value of ``key``, storing ``make()`` first if there is none (race-free)."""

        def fn(c):
            c.execute("INSERT OR IGNORE INTO meta (key, value) VALUES (?, ?)", (key, make()))
            return c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

        return self._write(fn)

    # ------------------------------------------------------------ raters
    def new_rater(self, flags: str = "") -> str:
        rid = "r" + secrets.token_urlsafe(12)
        self._write(
            lambda c: c.execute(
                "INSERT INTO raters (rater_id, created, flags) VALUES (?, ?, ?)", (rid, time.time(), flags)
            )
        )
        return rid

    def new_session(self, participant: str | None = "") -> tuple[str, str]:
        """A new rater with a secret session key: returns ``(rater_id, key)``.  Only the key
        resumes the session; the server keeps just its hash."""
        participant = clean_participant(participant)
        rid, key = "r" + secrets.token_urlsafe(12), secrets.token_urlsafe(32)
        self._write(
            lambda c: c.execute(
                "INSERT INTO raters (rater_id, created, key_hash, participant) VALUES (?, ?, ?, ?)",
                (rid, time.time(), key_hash(key), participant),
            )
        )
        return rid, key

    def rater_for_key(self, key: str | None) -> str | None:
        """The rater a session key belongs to, or None (malformed, unknown, or deleted by a reset)."""
        if not isinstance(key, str) or not _KEY_RE.match(key):
            return None
        row = self._conn().execute("SELECT rater_id FROM raters WHERE key_hash = ?", (key_hash(key),)).fetchone()
        return row[0] if row else None

    def rater(self, rater_id: str) -> dict | None:
        """One rater's row (without the key hash)."""
        r = (
            self._conn()
            .execute(
                "SELECT rater_id, created, flags, participant, completion_code FROM raters WHERE rater_id = ?",
                (rater_id,),
            )
            .fetchone()
        )
        return dict(zip(("rater_id", "created", "flags", "participant", "completion_code"), r)) if r else None

    def completion_code(self, rater_id: str) -> str:
        """The rater's completion code (made once, then the same): proof of a finished session
        that the organiser can match against the export."""

        def fn(c):
            row = c.execute("SELECT completion_code FROM raters WHERE rater_id = ?", (rater_id,)).fetchone()
            if row is None:
                raise RatingError("unknown session; start a new one")
            if row[0]:
                return row[0]
            raw = secrets.token_hex(4).upper()
            code = f"SR-{raw[:4]}-{raw[4:]}"
            c.execute("UPDATE raters SET completion_code = ? WHERE rater_id = ?", (code, rater_id))
            return code

        return self._write(fn)

    def set_rater_flags(self, rater_id: str, flags: str) -> None:
        def fn(c):
            if c.execute("UPDATE raters SET flags = ? WHERE rater_id = ?", (flags, rater_id)).rowcount != 1:
                raise RatingError(f"unknown rater {rater_id!r}")

        self._write(fn)

    def raters(self) -> list[dict]:
        rows = (
            self._conn()
            .execute("SELECT rater_id, created, flags, participant, completion_code FROM raters ORDER BY created")
            .fetchall()
        )
        return [dict(rater_id=r[0], created=r[1], flags=r[2], participant=r[3], completion_code=r[4]) for r in rows]

    # ------------------------------------------------------------ stimuli
    def _row_to_assignment(self, r) -> Assignment:
        models = (r[4],) if r[5] is None else (r[4], r[5])
        return Assignment(
            token=r[0], rater_id=r[1], protocol=r[2], image_id=r[3], models=models, created=r[6], kind=r[7]
        )

    def next_assignment(
        self, rater_id: str, protocol: str, plan: Sequence[tuple], rng: secrets.SystemRandom | None = None
    ) -> Assignment | None:
        """The stimulus to show ``rater_id`` now: the one shown but not yet voted on, if any
        (so parallel or repeated requests get the same nonce), else the first item of ``plan``
        ((image_id, models) or (image_id, models, kind)) this rater has not been shown; None when
        the plan is done.  Pair order (left/right) is drawn at random here."""
        if protocol not in PROTOCOLS:
            raise RatingError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
        rng = rng or secrets.SystemRandom()
        cols = "a.token, a.rater_id, a.protocol, a.image_id, a.model_a, a.model_b, a.created, a.kind"

        def fn(c):
            if c.execute("SELECT 1 FROM raters WHERE rater_id = ?", (rater_id,)).fetchone() is None:
                raise RatingError("unknown rater id; start a new session")
            pending = c.execute(
                f"SELECT {cols} FROM assignments a LEFT JOIN votes v ON v.token = a.token "
                "WHERE a.rater_id = ? AND a.protocol = ? AND v.token IS NULL ORDER BY a.created LIMIT 1",
                (rater_id, protocol),
            ).fetchone()
            if pending:
                return self._row_to_assignment(pending)
            shown = {
                r[0]
                for r in c.execute(
                    "SELECT stim_key FROM assignments WHERE rater_id = ? AND protocol = ?", (rater_id, protocol)
                )
            }
            for item in plan:
                image_id, models = item[0], tuple(item[1])
                kind = item[2] if len(item) > 2 else "test"
                if kind not in KINDS:
                    raise RatingError(f"unknown stimulus kind {kind!r}")
                if len(models) != (1 if protocol == "mos" else 2):
                    raise RatingError(
                        f"a {protocol} stimulus needs {1 if protocol == 'mos' else 2} model(s), got {models}"
                    )
                key = stim_key(image_id, models)
                if key in shown:
                    continue
                if protocol == "pair" and rng.random() < 0.5:
                    models = models[::-1]
                token = secrets.token_urlsafe(18)
                now = time.time()
                c.execute(
                    "INSERT INTO assignments (token, rater_id, protocol, image_id, model_a, model_b, stim_key, created, "
                    "kind) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        token,
                        rater_id,
                        protocol,
                        image_id,
                        models[0],
                        models[1] if len(models) > 1 else None,
                        key,
                        now,
                        kind,
                    ),
                )
                return Assignment(token, rater_id, protocol, image_id, models, now, kind)
            return None

        return self._write(fn)

    def assignment(self, token: str) -> Assignment | None:
        r = (
            self._conn()
            .execute(
                "SELECT token, rater_id, protocol, image_id, model_a, model_b, created, kind FROM assignments WHERE token = ?",
                (token,),
            )
            .fetchone()
        )
        return self._row_to_assignment(r) if r else None

    def progress(self, rater_id: str, protocol: str) -> int:
        """How many votes ``rater_id`` has given in ``protocol``."""
        return (
            self._conn()
            .execute(
                "SELECT COUNT(*) FROM votes v JOIN assignments a ON a.token = v.token WHERE v.rater_id = ? AND a.protocol = ?",
                (rater_id, protocol),
            )
            .fetchone()[0]
        )

    # ------------------------------------------------------------ votes
    def record_vote(self, rater_id: str, token: str, score: int | None = None, choice: str | None = None) -> int:
        """Store one vote, committed before returning; return its id.

        Raises RatingError for an unknown token, a token shown to another rater, a score outside
        1..5, a choice not in left/right/tie or an answer of the wrong kind, and
        DuplicateVoteError when the stimulus already has a vote.
        """
        if not isinstance(token, str) or not _TOKEN_RE.match(token):
            raise RatingError("unknown stimulus id")
        if score is not None and choice is not None:
            raise RatingError("give either a score or a choice, not both")
        if score is not None:
            if (
                isinstance(score, bool)
                or not isinstance(score, numbers.Real)
                or not math.isfinite(score)
                or score != int(score)
                or not SCORE_MIN <= int(score) <= SCORE_MAX
            ):
                raise RatingError(f"score must be a whole number from {SCORE_MIN} to {SCORE_MAX}, got {score!r}")
            score = int(score)
        if choice is not None and choice not in CHOICES:
            raise RatingError(f"choice must be one of {', '.join(CHOICES)}, got {choice!r}")
        if score is None and choice is None:
            raise RatingError("the vote has no score and no choice")

        def fn(c):
            a = c.execute("SELECT rater_id, protocol, created FROM assignments WHERE token = ?", (token,)).fetchone()
            if a is None:
                raise RatingError("unknown stimulus id")
            if a[0] != rater_id:
                raise RatingError("unknown stimulus id")  # same answer as for a made-up nonce: reveals nothing
            if a[1] == "mos" and score is None:
                raise RatingError("this stimulus needs a score from 1 to 5")
            if a[1] == "pair" and choice is None:
                raise RatingError("this stimulus needs a choice: left, right or tie")
            now = time.time()
            try:
                cur = c.execute(
                    "INSERT INTO votes (token, rater_id, score, choice, created, elapsed_s) VALUES (?, ?, ?, ?, ?, ?)",
                    (token, rater_id, score, choice, now, now - a[2]),
                )
            except sqlite3.IntegrityError as e:
                if "UNIQUE" in str(e):
                    raise DuplicateVoteError("this stimulus already has a vote; replays are not counted") from None
                raise RatingError(f"vote rejected ({e})") from None
            return cur.lastrowid

        return self._write(fn)

    def count_votes(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM votes").fetchone()[0]

    def votes(self) -> list[dict]:
        """Every vote joined with what was shown: the rows for stats and CSV export."""
        cur = self._conn().execute(
            "SELECT v.vote_id, v.rater_id, a.protocol, a.image_id, a.model_a, a.model_b, v.score, v.choice, "
            "v.created, v.elapsed_s, a.token, r.flags, a.kind, r.participant "
            "FROM votes v JOIN assignments a ON a.token = v.token "
            "JOIN raters r ON r.rater_id = v.rater_id ORDER BY v.vote_id"
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def votes_frame(self):
        import pandas as pd

        from srcore.rating.stats import VOTE_COLUMNS

        return pd.DataFrame(self.votes(), columns=VOTE_COLUMNS)

    # ------------------------------------------------------------ organiser
    def reset(self) -> int:
        """Delete every vote, assignment and rater (settings kept); return the votes deleted."""

        def fn(c):
            n = c.execute("SELECT COUNT(*) FROM votes").fetchone()[0]
            c.execute("DELETE FROM votes")
            c.execute("DELETE FROM assignments")
            c.execute("DELETE FROM raters")
            return n

        return self._write(fn)

    def backup(self, dest: str | Path) -> Path:
        """A consistent copy of the database (sqlite backup API), safe while others write."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest.unlink()
        target = sqlite3.connect(str(dest))
        try:
            self._conn().backup(target)
        finally:
            target.close()
        return dest


__all__ = [
    "RatingStore",
    "RatingError",
    "DuplicateVoteError",
    "Assignment",
    "default_db_path",
    "connect",
    "migrate",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "PROTOCOLS",
    "CHOICES",
    "KINDS",
    "stim_key",
    "key_hash",
    "clean_participant",
]
