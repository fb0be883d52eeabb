"""The tests' PostgreSQL: the configured server when it answers, else a throwaway one (tests/throwaway_pg.py).

The fallback is proven for real: a pytest run in a subprocess, pointed at a port where nothing listens,
runs a database test against a server it starts itself and removes afterwards.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from crm.tenancy.context import operator_scope
from crm.tenancy.rls import as_owner
from tests import throwaway_pg

ROOT = Path(__file__).resolve().parents[1]
INNER_TEST = "tests/test_throwaway_services.py::test_the_session_database_is_migrated_on_the_server_in_use"


def test_the_session_database_is_migrated_on_the_server_in_use(pg_admin_url, migrated_urls):
    """Also the test the subprocess below runs: the migrated database lives on pg_admin_url's server."""
    engine = sa.create_engine(migrated_urls["postgresql"])
    try:
        # As the owner: an app connection takes the tenant role (crm/tenancy/rls.py), which may not read
        # data_directory.
        with engine.connect() as conn, as_owner(conn):
            assert conn.execute(sa.text("SELECT count(*) FROM alembic_version")).scalar() == 1
            port = conn.execute(sa.text("SELECT inet_server_port()")).scalar()
            datadir = conn.execute(sa.text("SHOW data_directory")).scalar()
    finally:
        engine.dispose()
    assert port == int(conninfo_to_dict(pg_admin_url).get("port") or 5432)
    print(f"\nINNER-SERVER port={port} data_directory={datadir}")


def _closed_port() -> socket.socket:
    """A loopback port bound but not listening: connecting to it is refused for as long as we hold it."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def test_with_nothing_at_the_configured_address_a_throwaway_server_runs_the_tests():
    closed = _closed_port()
    try:
        port = closed.getsockname()[1]
        # The outer run's own options (PYTEST_ADDOPTS may ask for xdist workers) stay out of the inner run.
        env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
        env["LEADCHAIN_TEST_PG"] = f"postgresql://postgres@127.0.0.1:{port}/test"
        run = subprocess.run(
            [sys.executable, "-m", "pytest", INNER_TEST, "-q", "-s", "-p", "no:cacheprovider"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
    finally:
        closed.close()
    out = run.stdout + run.stderr
    assert run.returncode == 0, out[-3000:]
    assert re.search(r"\b1 passed\b", out), out[-3000:]
    used = re.search(
        r"PostgreSQL used: a throwaway server at 127\.0\.0\.1:(\d+)/test: "
        rf"nothing answered at 127\.0\.0\.1:{port}/test",
        out,
    )
    assert used, out[-3000:]
    inner = re.search(r"INNER-SERVER port=(\d+) data_directory=(\S+)", out)
    assert inner, out[-3000:]
    throwaway_port, datadir = int(inner.group(1)), Path(inner.group(2))
    assert throwaway_port == int(used.group(1)) != port
    # The data directory was a temporary one of our own, not a system cluster, and it is gone again,
    # as is the server.
    assert datadir.name == "data" and datadir.parent.parent.name.startswith("leadchain-test-pg-")
    assert not datadir.parent.parent.exists()
    assert not throwaway_pg.answers(f"host=127.0.0.1 port={throwaway_port}")


@pytest.fixture(scope="module")
def throwaway():
    server = throwaway_pg.ThrowawayPostgres.start()
    yield server
    server.stop()


def test_a_configured_server_that_answers_is_used_as_it_is(throwaway, monkeypatch):
    monkeypatch.setenv("LEADCHAIN_TEST_PG", throwaway.conninfo)
    choice = throwaway_pg.resolve()
    assert choice.throwaway is None
    assert choice.conninfo == throwaway.conninfo
    assert "configured server" in choice.reason


def test_a_configured_server_that_refuses_fails_instead_of_being_replaced(throwaway, monkeypatch):
    params = conninfo_to_dict(throwaway.conninfo)
    monkeypatch.setenv("LEADCHAIN_TEST_PG", make_conninfo(throwaway.conninfo, user="no_such_role"))
    with pytest.raises(throwaway_pg.PostgresUnavailable) as refused:
        throwaway_pg.resolve()
    assert f"127.0.0.1:{params['port']}/test (LEADCHAIN_TEST_PG) answers but refuses" in str(refused.value)
    assert "no_such_role" in str(refused.value)


def test_the_default_address_refusing_us_gets_a_throwaway_server(throwaway, monkeypatch):
    """A fresh Debian `postgresql` install listens on 5432 but wants a password over TCP: with
    LEADCHAIN_TEST_PG unset, that is no reason to fail the run."""
    monkeypatch.delenv("LEADCHAIN_TEST_PG", raising=False)
    monkeypatch.setattr(throwaway_pg, "DEFAULT_PG", make_conninfo(throwaway.conninfo, user="no_such_role"))
    choice = throwaway_pg.resolve()
    try:
        assert choice.throwaway is not None and choice.conninfo != throwaway.conninfo
        assert "refused the connection" in choice.reason and "no_such_role" in choice.reason
        with psycopg.connect(choice.conninfo) as conn:
            assert conn.execute("SELECT inet_server_port()").fetchone()[0] != int(
                conninfo_to_dict(throwaway.conninfo)["port"]
            )
    finally:
        if choice.throwaway is not None:
            choice.throwaway.stop()


def test_the_throwaway_server_is_a_real_postgresql_with_the_test_database(throwaway):
    with psycopg.connect(throwaway.conninfo) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("test",)
        assert int(conn.execute("SHOW server_version_num").fetchone()[0]) >= 140000
        # CREATE DATABASE is what pg_database does on it.
        assert conn.execute("SELECT rolcreatedb OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone() == (
            True,
        )


def test_sqlalchemy_urls_keep_the_servers_address_and_credentials():
    url = throwaway_pg.sqlalchemy_url("postgresql://app:s3cret@db.internal:6543/test?sslmode=disable", "other")
    assert sa.engine.make_url(url).render_as_string(hide_password=False) == (
        "postgresql+psycopg://app:s3cret@db.internal:6543/other?sslmode=disable"
    )
    assert throwaway_pg.describe("postgresql://app:s3cret@db.internal:6543/test") == "db.internal:6543/test"


def test_wiping_empties_every_table_and_restarts_the_ids(app, backend):
    """_wipe (run around every `app` test) deletes rather than truncates: the result must be the same."""
    from crm.extensions import db
    from crm.models import Campaign
    from tests.conftest import _wipe

    def add(name: str) -> int:
        with app.app_context():
            row = Campaign(name=name, provider="retell", agent_id="agent_test", from_number="+4930555000")
            db.session.add(row)
            db.session.commit()
            row_id = row.id
            db.session.remove()
            return row_id

    assert add("first") == 1
    assert add("second") == 2
    _wipe(app)
    # Every company's rows, as the owner (the tenant role sees only the scope's company).
    with app.app_context(), operator_scope("tests", "count every table"):
        with db.engine.connect() as conn, as_owner(conn):
            counts = {
                t.name: conn.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                for t in db.metadata.sorted_tables
            }
        db.engine.dispose()
    assert counts.pop("companies") == 1, counts  # the test company, which _wipe creates again
    assert set(counts.values()) == {0}, counts
    assert add("after the wipe") == 1
