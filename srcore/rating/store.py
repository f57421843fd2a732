"""The ratings database: raters, invitations, what was shown to whom, and one vote per shown stimulus.

Two back ends with one schema and one list of migrations:

- SQLite (stdlib ``sqlite3``, the embedded default) in WAL mode with a busy timeout, safe for
  many threads and processes at once.  Every write is its own ``BEGIN IMMEDIATE`` transaction,
  committed with ``synchronous=FULL`` before the caller returns, so a vote that was acknowledged
  survives a crash (kill -9) or restart.  The file (and its -wal / -shm companions) is 0600.
- PostgreSQL (``psycopg`` 3 with a ``psycopg_pool`` connection pool) when the location is a
  ``postgresql://`` URL: for studies that outgrow one disk or run on several replicas.  Each write
  is one transaction, committed before the caller returns; the rows a write depends on are locked
  (``FOR UPDATE``) so the same races are excluded as with SQLite's single writer.

Identity: a session is opened with a secret key that only the server issues (``new_session``);
only its SHA-256 is stored, so neither the database nor an export can be used to resume someone
else's session.  The rater id is internal and opens nothing.

Blindness and binding: each served stimulus gets a one-time random nonce (``assignments.token``);
which model(s), which left/right order and whether it is an attention check stays in the
``assignments`` table on the server, and ``votes.token`` is UNIQUE, so one nonce takes exactly
one vote.

Schema changes go in ``MIGRATIONS`` (append only, written in the SQL both back ends accept;
``_pg_ddl`` maps SQLite's two spellings PostgreSQL lacks); ``PRAGMA user_version`` (SQLite) or the
table ``sr_schema`` (PostgreSQL) records how many have been applied.
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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROTOCOLS = ("mos", "pair")
CHOICES = ("left", "right", "tie")
KINDS = ("test", "attention")  # a real stimulus, or a check (not in the results)
# what a check is for: "" a real stimulus or an attention check (degraded crop); "practice" the
# warm-up trial; "repeat" an earlier item shown again (consistency); "gold" original vs blurred copy
ROLES = ("", "practice", "repeat", "gold")
INVITE_KINDS = ("link", "class")
SCORE_MIN, SCORE_MAX = 1, 5
_TOKEN_RE = re.compile(r"^[A-Za-z0-9_-]{16,64}$")
_KEY_RE = re.compile(r"^[A-Za-z0-9_-]{32,64}$")
_PARTICIPANT_RE = re.compile(r"^[A-Za-z0-9 ._@+-]{0,64}$")
PG_SCHEMES = ("postgresql", "postgres")


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


def url_scheme(location: str | Path | None) -> str | None:
    """The scheme of a database URL (``postgresql``), or None for a file path."""
    if isinstance(location, str):
        m = re.match(r"^([A-Za-z][A-Za-z0-9+.-]*)://", location)
        if m:
            return m.group(1).lower()
    return None


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
    # 4: invitations (signed links and class codes with a cap), the invitation a session came
    # with, and the role of a check (practice, repeated item, gold item)
    """
    CREATE TABLE invites (
        invite_id TEXT PRIMARY KEY,
        kind TEXT NOT NULL CHECK (kind IN ('link', 'class')),
        code_hash TEXT UNIQUE,          -- class codes: SHA-256 of the code; links are signed instead
        cap INTEGER NOT NULL CHECK (cap >= 1),
        used INTEGER NOT NULL DEFAULT 0,
        expires REAL,                   -- unix time, or NULL: no expiry
        revoked INTEGER NOT NULL DEFAULT 0,
        note TEXT NOT NULL DEFAULT '',
        created REAL NOT NULL
    );
    ALTER TABLE raters ADD COLUMN invite_id TEXT REFERENCES invites(invite_id);
    ALTER TABLE assignments ADD COLUMN role TEXT NOT NULL DEFAULT '' CHECK (role IN ('', 'practice', 'repeat', 'gold'));
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)


def _pg_ddl(stmt: str) -> str:
    """A migration statement in PostgreSQL's spelling (the two SQLite-only forms mapped)."""
    stmt = stmt.replace("INTEGER PRIMARY KEY AUTOINCREMENT", "BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY")
    return re.sub(r"\bREAL\b", "DOUBLE PRECISION", stmt)


def _pg_sql(sql: str) -> str:
    """A query in psycopg's placeholder style (``?`` -> ``%s``; no query here holds a literal ? or %)."""
    return sql.replace("?", "%s")


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
    role: str = ""


def stim_key(image_id: str, models: Sequence[str], role: str = "") -> str:
    """Image and models, order-free: a rater sees each such stimulus at most once per protocol
    (a repeated, practice or gold item has its own key)."""
    return image_id + "|" + "|".join(sorted(models)) + (f"#{role}" if role else "")


def key_hash(key: str) -> str:
    """What is stored for a session key: its SHA-256 (the key itself never touches the disk)."""
    return hashlib.sha256(key.encode()).hexdigest()


def clean_participant(code: str | None) -> str:
    """An optional participant/class code: up to 64 letters, digits, spaces and ``._@+-``."""
    code = (code or "").strip() if isinstance(code, str) or code is None else None
    if code is None or not _PARTICIPANT_RE.match(code):
        raise RatingError("the participant code may only hold up to 64 letters, digits, spaces and . _ @ + -")
    return code


def _private_file(path: Path) -> None:
    """Create ``path`` (if absent) readable by its owner only, and make it so if it exists.

    An existing database file is never opened here: closing any descriptor of a file drops the
    process's POSIX locks on it, which SQLite's other connections in this process rely on."""
    if not path.exists():
        with contextlib.suppress(FileExistsError):
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_RDWR, 0o600))
    with contextlib.suppress(OSError):  # not ours (a shared read-only copy): leave it
        os.chmod(path, 0o600)


def connect(path: str | Path, timeout: float = 30.0) -> sqlite3.Connection:
    """A connection in autocommit mode (transactions are explicit), WAL, busy timeout, FULL sync.
    The database and its -wal / -shm files are created 0600 (SQLite gives the companions the
    database file's permissions)."""
    _private_file(Path(path))
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
    for suffix in ("-wal", "-shm"):
        with contextlib.suppress(OSError):
            os.chmod(str(path) + suffix, 0o600)
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


_PG_LOCK = 7_240_211  # advisory lock id: one migration at a time across processes


def migrate_pg(conn: Any, target: int = SCHEMA_VERSION) -> int:
    """The PostgreSQL twin of ``migrate`` (``conn``: a psycopg connection): the same statements,
    the version in ``sr_schema``, under an advisory lock so concurrent starts apply each once."""
    with conn.transaction():
        conn.execute(f"SELECT pg_advisory_xact_lock({_PG_LOCK})")
        conn.execute("CREATE TABLE IF NOT EXISTS sr_schema (version INTEGER NOT NULL)")
        row = conn.execute("SELECT version FROM sr_schema").fetchone()
        if row is None:
            conn.execute("INSERT INTO sr_schema (version) VALUES (0)")
            version = 0
        else:
            version = row[0]
        if version > SCHEMA_VERSION:
            raise RatingError(
                f"the ratings database has schema version {version}, newer than this program knows "
                f"({SCHEMA_VERSION}); update the program"
            )
        for i in range(version, target):
            for stmt in split_sql(MIGRATIONS[i]):
                conn.execute(_pg_ddl(stmt))
            conn.execute("UPDATE sr_schema SET version = %s", (i + 1,))
            version = i + 1
    return version


class _Fetched:
    """Rows already read from a PostgreSQL cursor (the connection went back to the pool)."""

    def __init__(self, cur: Any):
        self.description = cur.description
        self.rowcount = cur.rowcount
        self._rows = cur.fetchall() if cur.description is not None else []

    def fetchone(self):
        return self._rows[0] if self._rows else None

    def fetchall(self):
        return list(self._rows)

    def __iter__(self):
        return iter(self._rows)


class _PgConn:
    """A connection-like view of the pool for reads (``execute`` borrows a connection, reads
    every row and gives it back); inside a write, of the one transaction's connection."""

    dialect = "postgres"

    def __init__(self, pool: Any = None, conn: Any = None):
        self._pool, self._c = pool, conn

    def execute(self, sql: str, params: Sequence = ()):
        if self._c is not None:
            return self._c.execute(_pg_sql(sql), tuple(params))
        with self._pool.connection() as c:
            return _Fetched(c.execute(_pg_sql(sql), tuple(params)))


def _is_unique_violation(e: BaseException) -> bool:
    if isinstance(e, sqlite3.IntegrityError):
        return "UNIQUE" in str(e)
    return type(e).__name__ == "UniqueViolation"


def _integrity_errors() -> tuple[type[BaseException], ...]:
    errs: list[type[BaseException]] = [sqlite3.IntegrityError]
    with contextlib.suppress(ImportError):
        import psycopg

        errs.append(psycopg.IntegrityError)
    return tuple(errs)


class RatingStore:
    """Thread- and process-safe access to the ratings database: a SQLite file (one connection per
    thread), or a PostgreSQL server when ``path`` is a ``postgresql://`` URL (a connection pool).
    ``clock``: where times come from (tests replay a session with simulated time)."""

    def __init__(
        self,
        path: str | Path | None = None,
        timeout: float = 30.0,
        clock: Callable[[], float] = time.time,
        pool_size: int = 8,
    ):
        scheme = url_scheme(path)
        self.clock = clock
        self.timeout = timeout
        self._local = threading.local()
        self._lock = threading.Lock()
        self._conns: list[sqlite3.Connection] = []
        self._pool: Any = None
        if scheme is not None:
            if scheme not in PG_SCHEMES:
                raise RatingError(
                    f"unsupported database URL scheme {scheme!r}: use a file path (SQLite) or a postgresql:// URL"
                )
            self.dialect = "postgres"
            self.url = str(path)
            self.path = None
            self._open_pg(pool_size)
            return
        self.dialect = "sqlite"
        self.url = ""
        self.path = Path(path) if path is not None else default_db_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        migrate(self._conn())

    def _open_pg(self, pool_size: int) -> None:
        try:
            import psycopg  # noqa: F401
            from psycopg_pool import ConnectionPool
        except ImportError as e:
            raise RatingError(
                "a postgresql:// ratings database needs psycopg 3 and psycopg_pool "
                "(pip install 'psycopg[binary]' psycopg_pool)"
            ) from e
        self._pool = ConnectionPool(
            self.url, min_size=1, max_size=pool_size, timeout=self.timeout, open=False, kwargs={"autocommit": True}
        )
        try:
            self._pool.open(wait=True, timeout=self.timeout)
        except Exception as e:  # noqa: BLE001 - psycopg_pool.PoolTimeout and friends: no server there
            self._pool.close()
            raise RatingError(f"could not connect to the PostgreSQL ratings database ({type(e).__name__})") from None
        with self._pool.connection() as c:
            migrate_pg(c)

    # ------------------------------------------------------------ connections
    def _conn(self) -> Any:
        if self._pool is not None:
            return _PgConn(self._pool)
        c = getattr(self._local, "conn", None)
        if c is None or getattr(self._local, "pid", None) != os.getpid():
            c = connect(self.path, self.timeout)  # type: ignore[arg-type]
            self._local.conn, self._local.pid = c, os.getpid()
            with self._lock:
                self._conns.append(c)
        return c

    def _write(self, fn):
        """Run ``fn(conn)`` in one transaction (SQLite: BEGIN IMMEDIATE ... COMMIT); roll back on any error."""
        if self._pool is not None:
            with self._pool.connection() as pc, pc.transaction():
                return fn(_PgConn(conn=pc))
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

    def _lock_rater(self, c: Any, rater_id: str) -> bool:
        """Serialise the writes of one rater (PostgreSQL: a row lock; SQLite's writer is already
        alone); False when the rater does not exist."""
        sql = "SELECT 1 FROM raters WHERE rater_id = ?" + (" FOR UPDATE" if self.dialect == "postgres" else "")
        return c.execute(sql, (rater_id,)).fetchone() is not None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.close()
            return
        with self._lock:
            for c in self._conns:
                with contextlib.suppress(sqlite3.Error):
                    c.close()
            self._conns.clear()
        self._local = threading.local()

    def schema_version(self) -> int:
        if self._pool is not None:
            return self._conn().execute("SELECT version FROM sr_schema").fetchone()[0]
        return self._conn().execute("PRAGMA user_version").fetchone()[0]

    def journal_mode(self) -> str:
        if self._pool is not None:
            return "postgresql"
        return self._conn().execute("PRAGMA journal_mode").fetchone()[0]

    def integrity_check(self) -> str:
        """ "ok", or what is wrong (SQLite's integrity check; on PostgreSQL, votes and assignments
        without their parent rows)."""
        if self._pool is not None:
            n = (
                self._conn()
                .execute(
                    "SELECT (SELECT COUNT(*) FROM votes v LEFT JOIN assignments a ON a.token = v.token WHERE a.token IS NULL)"
                    " + (SELECT COUNT(*) FROM assignments a LEFT JOIN raters r ON r.rater_id = a.rater_id "
                    "WHERE r.rater_id IS NULL)"
                )
                .fetchone()[0]
            )
            return "ok" if n == 0 else f"{n} orphaned rows"
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
            c.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, make()))
            return c.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()[0]

        return self._write(fn)

    # ------------------------------------------------------------ invitations
    def new_invite(
        self, kind: str, cap: int, expires: float | None = None, note: str = "", code: str | None = None
    ) -> str:
        """A new invitation: ``kind`` "link" (signed by the caller with the server secret) or
        "class" (``code``: the class code, stored hashed); ``cap`` sessions at most; ``expires``
        (unix time) or None.  Returns its id."""
        if kind not in INVITE_KINDS:
            raise RatingError(f"unknown invitation kind {kind!r}")
        if isinstance(cap, bool) or not isinstance(cap, int) or not 1 <= cap <= 100_000:
            raise RatingError(f"the cap must be a whole number from 1 to 100000, got {cap!r}")
        if expires is not None and (not math.isfinite(expires) or expires <= self.clock()):
            raise RatingError("the expiry must lie in the future")
        if (kind == "class") != (code is not None):
            raise RatingError("a class code invitation needs its code (and only it)")
        iid = "i" + secrets.token_urlsafe(9)
        self._write(
            lambda c: c.execute(
                "INSERT INTO invites (invite_id, kind, code_hash, cap, expires, note, created) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (iid, kind, key_hash(code) if code is not None else None, cap, expires, note[:200], self.clock()),
            )
        )
        return iid

    def invite_for_code(self, code: str) -> str | None:
        """The class-code invitation ``code`` belongs to, or None."""
        row = self._conn().execute("SELECT invite_id FROM invites WHERE code_hash = ?", (key_hash(code),)).fetchone()
        return row[0] if row else None

    def invites(self) -> list[dict]:
        cols = ("invite_id", "kind", "cap", "used", "expires", "revoked", "note", "created")
        rows = self._conn().execute(f"SELECT {', '.join(cols)} FROM invites ORDER BY created").fetchall()
        return [dict(zip(cols, r)) for r in rows]

    def revoke_invite(self, invite_id: str) -> None:
        def fn(c):
            if c.execute("UPDATE invites SET revoked = 1 WHERE invite_id = ?", (invite_id,)).rowcount != 1:
                raise RatingError("unknown invitation")

        self._write(fn)

    # ------------------------------------------------------------ raters
    def new_rater(self, flags: str = "") -> str:
        rid = "r" + secrets.token_urlsafe(12)
        self._write(
            lambda c: c.execute(
                "INSERT INTO raters (rater_id, created, flags) VALUES (?, ?, ?)", (rid, self.clock(), flags)
            )
        )
        return rid

    def new_session(self, participant: str | None = "", invite_id: str | None = None) -> tuple[str, str]:
        """A new rater with a secret session key: returns ``(rater_id, key)``.  Only the key
        resumes the session; the server keeps just its hash.  With ``invite_id``, one use of that
        invitation is taken in the same transaction (refused when it is used up, expired or revoked)."""
        participant = clean_participant(participant)
        rid, key = "r" + secrets.token_urlsafe(12), secrets.token_urlsafe(32)

        def fn(c):
            now = self.clock()
            if invite_id is not None:
                lock = " FOR UPDATE" if self.dialect == "postgres" else ""
                row = c.execute(
                    f"SELECT cap, used, expires, revoked FROM invites WHERE invite_id = ?{lock}", (invite_id,)
                ).fetchone()
                if row is None or row[3]:
                    raise RatingError("This invitation is not valid; ask the organiser for a new one.")
                if row[2] is not None and row[2] <= now:
                    raise RatingError("This invitation has expired; ask the organiser for a new one.")
                if row[1] >= row[0]:
                    raise RatingError("This invitation has been used as often as it allows; ask the organiser.")
                c.execute("UPDATE invites SET used = used + 1 WHERE invite_id = ?", (invite_id,))
            c.execute(
                "INSERT INTO raters (rater_id, created, key_hash, participant, invite_id) VALUES (?, ?, ?, ?, ?)",
                (rid, now, key_hash(key), participant, invite_id),
            )

        self._write(fn)
        return rid, key

    def rater_for_key(self, key: str | None) -> str | None:
        """The rater a session key belongs to, or None (malformed, unknown, or deleted by a reset)."""
        if not isinstance(key, str) or not _KEY_RE.match(key):
            return None
        row = self._conn().execute("SELECT rater_id FROM raters WHERE key_hash = ?", (key_hash(key),)).fetchone()
        return row[0] if row else None

    _RATER_COLS = ("rater_id", "created", "flags", "participant", "completion_code", "invite_id")

    def rater(self, rater_id: str) -> dict | None:
        """One rater's row (without the key hash)."""
        r = (
            self._conn()
            .execute(f"SELECT {', '.join(self._RATER_COLS)} FROM raters WHERE rater_id = ?", (rater_id,))
            .fetchone()
        )
        return dict(zip(self._RATER_COLS, r)) if r else None

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
        rows = self._conn().execute(f"SELECT {', '.join(self._RATER_COLS)} FROM raters ORDER BY created").fetchall()
        return [dict(zip(self._RATER_COLS, r)) for r in rows]

    # ------------------------------------------------------------ stimuli
    _ASSIGN_COLS = "a.token, a.rater_id, a.protocol, a.image_id, a.model_a, a.model_b, a.created, a.kind, a.role"

    def _row_to_assignment(self, r) -> Assignment:
        models = (r[4],) if r[5] is None else (r[4], r[5])
        return Assignment(
            token=r[0], rater_id=r[1], protocol=r[2], image_id=r[3], models=models, created=r[6], kind=r[7], role=r[8]
        )

    def next_assignment(
        self, rater_id: str, protocol: str, plan: Sequence[tuple], rng: secrets.SystemRandom | None = None
    ) -> Assignment | None:
        """The stimulus to show ``rater_id`` now: the one shown but not yet voted on, if any
        (so parallel or repeated requests get the same nonce), else the first item of ``plan``
        ((image_id, models), (image_id, models, kind) or (image_id, models, kind, role)) this
        rater has not been shown; None when the plan is done.  Pair order (left/right) is drawn
        at random here."""
        if protocol not in PROTOCOLS:
            raise RatingError(f"unknown protocol {protocol!r}; choose from {', '.join(PROTOCOLS)}")
        rng = rng or secrets.SystemRandom()
        cols = self._ASSIGN_COLS

        def fn(c):
            if not self._lock_rater(c, rater_id):
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
                role = item[3] if len(item) > 3 else ""
                if kind not in KINDS:
                    raise RatingError(f"unknown stimulus kind {kind!r}")
                if role not in ROLES:
                    raise RatingError(f"unknown stimulus role {role!r}")
                if len(models) != (1 if protocol == "mos" else 2):
                    raise RatingError(
                        f"a {protocol} stimulus needs {1 if protocol == 'mos' else 2} model(s), got {models}"
                    )
                key = stim_key(image_id, models, role)
                if key in shown:
                    continue
                if protocol == "pair" and rng.random() < 0.5:
                    models = models[::-1]
                token = secrets.token_urlsafe(18)
                now = self.clock()
                c.execute(
                    "INSERT INTO assignments (token, rater_id, protocol, image_id, model_a, model_b, stim_key, created, "
                    "kind, role) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                        role,
                    ),
                )
                return Assignment(token, rater_id, protocol, image_id, models, now, kind, role)
            return None

        return self._write(fn)

    def assignment(self, token: str) -> Assignment | None:
        r = (
            self._conn()
            .execute(
                f"SELECT {self._ASSIGN_COLS} FROM assignments a WHERE a.token = ?",
                (token,),
            )
            .fetchone()
        )
        return self._row_to_assignment(r) if r else None

    def progress(self, rater_id: str, protocol: str) -> int:
        """How many votes ``rater_id`` has given in ``protocol`` (the practice trial not counted)."""
        return (
            self._conn()
            .execute(
                "SELECT COUNT(*) FROM votes v JOIN assignments a ON a.token = v.token "
                "WHERE v.rater_id = ? AND a.protocol = ? AND a.role <> 'practice'",
                (rater_id, protocol),
            )
            .fetchone()[0]
        )

    def last_protocol(self, rater_id: str) -> str | None:
        """The task with an unanswered stimulus, else the one used last (for resuming), or None."""
        row = (
            self._conn()
            .execute(
                "SELECT a.protocol FROM assignments a LEFT JOIN votes v ON v.token = a.token WHERE a.rater_id = ? "
                "ORDER BY (CASE WHEN v.token IS NULL THEN 1 ELSE 0 END) DESC, a.created DESC LIMIT 1",
                (rater_id,),
            )
            .fetchone()
        )
        return row[0] if row else None

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
            if not self._lock_rater(c, rater_id):
                raise RatingError("unknown stimulus id")
            a = c.execute("SELECT rater_id, protocol, created FROM assignments WHERE token = ?", (token,)).fetchone()
            if a is None:
                raise RatingError("unknown stimulus id")
            if a[0] != rater_id:
                raise RatingError("unknown stimulus id")  # same answer as for a made-up nonce: reveals nothing
            if a[1] == "mos" and score is None:
                raise RatingError("this stimulus needs a score from 1 to 5")
            if a[1] == "pair" and choice is None:
                raise RatingError("this stimulus needs a choice: left, right or tie")
            if c.execute("SELECT 1 FROM votes WHERE token = ?", (token,)).fetchone() is not None:
                raise DuplicateVoteError("this stimulus already has a vote; replays are not counted")
            now = self.clock()
            try:
                cur = c.execute(
                    "INSERT INTO votes (token, rater_id, score, choice, created, elapsed_s) VALUES (?, ?, ?, ?, ?, ?) "
                    "RETURNING vote_id",
                    (token, rater_id, score, choice, now, now - a[2]),
                )
                return cur.fetchall()[0][0]  # read to the end: SQLite finishes a RETURNING statement only then
            except _integrity_errors() as e:
                if _is_unique_violation(e):
                    raise DuplicateVoteError("this stimulus already has a vote; replays are not counted") from None
                raise RatingError(f"vote rejected ({type(e).__name__})") from None

        return self._write(fn)

    def count_votes(self) -> int:
        return self._conn().execute("SELECT COUNT(*) FROM votes").fetchone()[0]

    def votes(self) -> list[dict]:
        """Every vote joined with what was shown: the rows for stats and CSV export.  ``kind`` is
        "test" for a real stimulus, else the check it was: "attention", "practice", "repeat", "gold";
        ``invited`` whether the session came with an invitation."""
        cur = self._conn().execute(
            "SELECT v.vote_id, v.rater_id, a.protocol, a.image_id, a.model_a, a.model_b, v.score, v.choice, "
            "v.created, v.elapsed_s, a.token, r.flags, "
            "(CASE WHEN a.role = '' THEN a.kind ELSE a.role END) AS kind, r.participant, "
            "(CASE WHEN r.invite_id IS NULL THEN 0 ELSE 1 END) AS invited "
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
        """Delete every vote, assignment and rater (settings and invitations kept, their uses set
        back to 0); return the votes deleted."""

        def fn(c):
            n = c.execute("SELECT COUNT(*) FROM votes").fetchone()[0]
            c.execute("DELETE FROM votes")
            c.execute("DELETE FROM assignments")
            c.execute("DELETE FROM raters")
            c.execute("UPDATE invites SET used = 0")
            return n

        return self._write(fn)

    # tables and columns of a shared copy: no session key hashes, no class code hashes, no server secret
    _EXPORT = (
        ("meta", "key, value", "WHERE key NOT IN ('server_secret')"),
        (
            "invites",
            "invite_id, kind, NULL, cap, used, expires, revoked, note, created",
            "",
        ),
        (
            "raters",
            "rater_id, created, flags, NULL, participant, completion_code, invite_id",
            "",
        ),
        (
            "assignments",
            "token, rater_id, protocol, image_id, model_a, model_b, stim_key, created, kind, role",
            "",
        ),
        ("votes", "vote_id, token, rater_id, score, choice, created, elapsed_s", ""),
    )
    _EXPORT_INTO = {
        "meta": "key, value",
        "invites": "invite_id, kind, code_hash, cap, used, expires, revoked, note, created",
        "raters": "rater_id, created, flags, key_hash, participant, completion_code, invite_id",
        "assignments": "token, rater_id, protocol, image_id, model_a, model_b, stim_key, created, kind, role",
        "votes": "vote_id, token, rater_id, score, choice, created, elapsed_s",
    }

    def backup(self, dest: str | Path) -> Path:
        """A consistent copy of the ratings as a new SQLite file (0600), safe while others write:
        the same schema, every vote, but neither the server secret nor any key or code hash, so
        the copy can be shared without opening anyone's session or forging plans."""
        dest = Path(dest)
        dest.parent.mkdir(parents=True, exist_ok=True)
        if dest.exists():
            dest.unlink()
        tmp = dest.with_name(dest.name + ".part")
        tmp.unlink(missing_ok=True)
        _private_file(tmp)
        out = sqlite3.connect(str(tmp), isolation_level=None)
        try:
            migrate(out)
            rows: dict[str, list] = {}

            def read(c):  # one transaction: a consistent snapshot
                for table, cols, where in self._EXPORT:
                    rows[table] = list(c.execute(f"SELECT {cols} FROM {table} {where}").fetchall())

            self._write(read)
            out.execute("BEGIN")
            for table, _cols, _where in self._EXPORT:
                into = self._EXPORT_INTO[table]
                marks = ", ".join("?" * len(into.split(",")))
                out.executemany(f"INSERT INTO {table} ({into}) VALUES ({marks})", [tuple(r) for r in rows[table]])
            out.execute("COMMIT")
        finally:
            out.close()
        os.replace(tmp, dest)
        os.chmod(dest, 0o600)
        return dest


__all__ = [
    "RatingStore",
    "RatingError",
    "DuplicateVoteError",
    "Assignment",
    "default_db_path",
    "url_scheme",
    "connect",
    "migrate",
    "migrate_pg",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "PROTOCOLS",
    "CHOICES",
    "KINDS",
    "ROLES",
    "stim_key",
    "key_hash",
    "clean_participant",
]
