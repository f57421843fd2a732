"""A throwaway PostgreSQL server for the tests (issue 23): ``initdb`` + ``pg_ctl`` on a free
localhost port, in a temp folder, as a non-root user (``postgres`` when the tests run as root,
since PostgreSQL refuses to run as root), trust authentication, stopped and removed at exit.

``postgres_url(name)`` gives the URL of a fresh database ``name`` on the one
server of the test session; it skips the test, with the reason, when the PostgreSQL binaries
(Debian's ``postgresql`` package; ``.ci/run`` installs it), a non-root user or psycopg is missing.
"""

from __future__ import annotations

import atexit
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

_server: dict = {}


def _bin(name: str) -> str | None:
    found = shutil.which(name)
    if found:
        return found
    hits = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    return hits[-1] if hits else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_user(cmd: list[str], user: str | None) -> list[str]:
    if user is None:
        return cmd
    runuser = shutil.which("runuser")
    return [runuser, "-u", user, "--", *cmd] if runuser else ["su", user, "-s", "/bin/sh", "-c", " ".join(cmd)]


def server_url() -> str:
    """The base URL (no database) of the session's server, started on first use."""
    if "url" in _server:
        return _server["url"]
    if "skip" in _server:
        pytest.skip(_server["skip"])
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        _server["skip"] = "psycopg / psycopg_pool not installed (pip install 'psycopg[binary]' psycopg_pool)"
        pytest.skip(_server["skip"])
    initdb, pg_ctl = _bin("initdb"), _bin("pg_ctl")
    if not initdb or not pg_ctl:
        _server["skip"] = "PostgreSQL binaries (initdb, pg_ctl) not found: apt-get install -y postgresql"
        pytest.skip(_server["skip"])
    user = None
    if os.geteuid() == 0:
        try:
            pw = pwd.getpwnam("postgres")
        except KeyError:
            _server["skip"] = "running as root and there is no 'postgres' user to run PostgreSQL as"
            pytest.skip(_server["skip"])
        user = "postgres"
    base = tempfile.mkdtemp(prefix="sr-test-pg-")
    data = os.path.join(base, "data")
    if user is not None:
        os.chown(base, pw.pw_uid, pw.pw_gid)
    port = _free_port()
    log = os.path.join(base, "log.txt")
    run = dict(capture_output=True, text=True, timeout=120)
    r = subprocess.run(_as_user([initdb, "-D", data, "-A", "trust", "-U", "postgres", "--no-sync"], user), **run)
    if r.returncode != 0:
        _server["skip"] = f"initdb failed: {r.stderr[-300:]}"
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(_server["skip"])
    opts = f"-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={base} -c max_connections=200"
    r = subprocess.run(_as_user([pg_ctl, "-D", data, "-l", log, "-o", opts, "-w", "start"], user), **run)
    if r.returncode != 0:
        tail = Path(log).read_text()[-300:] if os.path.exists(log) else ""
        _server["skip"] = f"pg_ctl start failed: {r.stderr[-300:]} {tail}"
        shutil.rmtree(base, ignore_errors=True)
        pytest.skip(_server["skip"])

    def stop() -> None:
        subprocess.run(_as_user([pg_ctl, "-D", data, "-m", "immediate", "stop"], user), capture_output=True, timeout=60)
        shutil.rmtree(base, ignore_errors=True)

    atexit.register(stop)
    _server["url"] = f"postgresql://postgres@127.0.0.1:{port}"
    _server["stop"] = stop
    return _server["url"]


def postgres_url(name: str = "sr_test") -> str:
    """A fresh, empty database on the session's server: its URL."""
    import psycopg

    base = server_url()
    name = f"{name}_{int(time.time() * 1000) % 10**9}"
    with psycopg.connect(base + "/postgres", autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    return f"{base}/{name}"
