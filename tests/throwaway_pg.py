"""The PostgreSQL the tests use: the configured one when it answers, else a throwaway server.

`LEADCHAIN_TEST_PG` (default postgresql://postgres@127.0.0.1:5432/test) names the configured server.
When nothing listens at its address -- a fresh laptop or CI runner -- the tests start their own
PostgreSQL from Debian's binaries (package `postgresql`, installed by scripts/system-deps.sh) through
pytest-postgresql's PostgreSQLExecutor (initdb, pg_ctl start/stop) in a temporary directory, and remove
it at the end. A LEADCHAIN_TEST_PG set on purpose whose server listens but refuses the connection (wrong
user, password, database) is a configuration error and fails the run: silently testing against another
server would hide it. With it unset, a refusing default address (Debian's freshly installed cluster wants
a password over TCP) gets a throwaway server too.

initdb and pg_ctl refuse to run as root, and CI runs as root: then they run as the unprivileged
`postgres` system user (created by Debian's package) through util-linux's `runuser`.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import stat
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/test"
UNPRIVILEGED_USER = "postgres"
START_TIMEOUT_S = 60


class PostgresUnavailable(RuntimeError):
    """Neither the configured server nor a throwaway one can be used; the message says why."""


def configured_url() -> str:
    return os.environ.get("LEADCHAIN_TEST_PG", DEFAULT_PG)


def answers(conninfo: str, timeout_s: float = 2.0) -> bool:
    """Whether anything accepts TCP connections at the conninfo's host and port."""
    params = conninfo_to_dict(conninfo)
    host = str(params.get("host") or "127.0.0.1")
    port = int(params.get("port") or 5432)
    if host.startswith("/"):
        return Path(host, f".s.PGSQL.{port}").exists()  # a Unix socket directory
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def describe(conninfo: str) -> str:
    """host:port/dbname for messages: never the password a URL may carry."""
    params = conninfo_to_dict(conninfo)
    return f"{params.get('host') or 'localhost'}:{params.get('port') or 5432}/{params.get('dbname') or ''}"


def sqlalchemy_url(admin_conninfo: str, dbname: str) -> str:
    """The SQLAlchemy (psycopg 3) URL of database `dbname` on the admin connection's server."""
    params = conninfo_to_dict(admin_conninfo)
    params["dbname"] = dbname
    from sqlalchemy.engine import URL

    url = URL.create(
        "postgresql+psycopg",
        username=params.pop("user", None),
        password=params.pop("password", None),
        host=params.pop("host", None),
        port=int(params.pop("port")) if params.get("port") else None,
        database=params.pop("dbname"),
        query={k: str(v) for k, v in params.items()},
    )
    return url.render_as_string(hide_password=False)


def find_pg_ctl() -> str:
    """Debian keeps the server binaries in /usr/lib/postgresql/<major>/bin, off PATH."""
    explicit = os.environ.get("LEADCHAIN_TEST_PG_CTL")
    if explicit:
        return explicit
    candidates = []
    try:
        bindir = subprocess.run(
            ["pg_config", "--bindir"], capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()
        candidates.append(os.path.join(bindir, "pg_ctl"))
    except (OSError, subprocess.SubprocessError):
        pass  # pg_config is in a dev package; the server may be installed without it
    candidates += sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parts[-3]) if Path(p).parts[-3].isdigit() else 0,
        reverse=True,
    )
    candidates.append(shutil.which("pg_ctl") or "")
    for candidate in candidates:
        if candidate and os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise PostgresUnavailable(
        "no pg_ctl found: install Debian's `postgresql` package "
        "(bash scripts/system-deps.sh does) or set LEADCHAIN_TEST_PG_CTL"
    )


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class ThrowawayPostgres:
    """A PostgreSQL server of our own in a temporary directory; `conninfo` is its admin connection."""

    workdir: Path
    executor: object
    conninfo: str

    @classmethod
    def start(cls) -> ThrowawayPostgres:
        from pytest_postgresql.executors import PostgreSQLExecutor

        pg_ctl = find_pg_ctl()
        workdir = Path(tempfile.mkdtemp(prefix="leadchain-test-pg-"))
        cluster = workdir / "cluster"  # data directory, socket and log
        cluster.mkdir()
        executable = pg_ctl
        if os.geteuid() == 0:
            executable = _unprivileged_wrapper(pg_ctl, workdir, cluster)
        port = _free_port()
        # Session-scoped and thrown away: no fsync, so migrations and TRUNCATEs do not wait on the disk.
        executor = PostgreSQLExecutor(
            executable=executable,
            host="127.0.0.1",
            port=port,
            datadir=str(cluster / "data"),
            unixsocketdir=str(cluster),
            logfile=str(cluster / "postgresql.log"),
            startparams="-w",
            dbname="test",
            user="postgres",
            timeout=START_TIMEOUT_S,
            postgres_options="-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200",
        )
        try:
            executor.start()
        except Exception as e:  # noqa: BLE001 - say where the server's own log is
            log = cluster / "postgresql.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else "<no log>"
            shutil.rmtree(workdir, ignore_errors=True)
            raise PostgresUnavailable(f"the throwaway PostgreSQL ({pg_ctl}) did not start: {e}\n{tail}") from e
        conninfo = make_conninfo(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
        server = cls(workdir, executor, make_conninfo(conninfo, dbname="test"))
        try:
            with _first_connection(conninfo) as conn:
                conn.execute('CREATE DATABASE "test"')  # the configured server's database name, for parity
        except Exception:
            server.stop()
            raise
        return server

    def stop(self) -> None:
        try:
            self.executor.stop()
        finally:
            shutil.rmtree(self.workdir, ignore_errors=True)


def _first_connection(conninfo: str) -> psycopg.Connection:
    """A connection once the server takes them: its port opens (which is all the executor waits for)
    before it has finished starting up ("the database system is starting up")."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            return psycopg.connect(conninfo, autocommit=True, connect_timeout=5)
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _unprivileged_wrapper(pg_ctl: str, workdir: Path, cluster: Path) -> str:
    """A pg_ctl (in root's `workdir`) that runs as the `postgres` user, who gets `cluster`."""
    try:
        user = pwd.getpwnam(UNPRIVILEGED_USER)
    except KeyError:
        raise PostgresUnavailable(
            f"running as root, initdb needs an unprivileged user: no `{UNPRIVILEGED_USER}` user "
            "(Debian's postgresql package creates it; bash scripts/system-deps.sh installs it)"
        ) from None
    runuser = shutil.which("runuser") or "/usr/sbin/runuser"
    workdir.chmod(0o711)  # that user may pass through, not list or write
    os.chown(cluster, user.pw_uid, user.pw_gid)
    cluster.chmod(0o700)
    wrapper = workdir / "pg_ctl"
    # cd /: the caller's working directory may be closed to that user.
    wrapper.write_text(f'#!/bin/sh\ncd /\nexec "{runuser}" -u {UNPRIVILEGED_USER} -- "{pg_ctl}" "$@"\n')
    wrapper.chmod(stat.S_IRWXU)
    return str(wrapper)


@dataclass
class Choice:
    """The server a session uses and why; `throwaway` is None for the configured server."""

    conninfo: str
    throwaway: ThrowawayPostgres | None
    reason: str


def resolve() -> Choice:
    """The configured server when it answers; else (or when the default address refuses us) a throwaway."""
    url = configured_url()
    if not answers(url):
        reason = f"nothing answered at {describe(url)}"
    else:
        try:
            psycopg.connect(url, connect_timeout=5).close()
            return Choice(url, None, f"the configured server at {describe(url)}")
        except psycopg.OperationalError as e:
            if "LEADCHAIN_TEST_PG" in os.environ:
                # Set on purpose and refusing: a configuration error to fix, not to test around.
                raise PostgresUnavailable(f"{describe(url)} (LEADCHAIN_TEST_PG) answers but refuses: {e}") from e
            # Unset: e.g. Debian's freshly installed cluster on 5432, which wants a password over TCP.
            reason = f"the default {describe(url)} refused the connection ({str(e).strip().splitlines()[-1]})"
    server = ThrowawayPostgres.start()
    return Choice(server.conninfo, server, f"a throwaway server at {describe(server.conninfo)}: {reason}")
