"""Shared fixtures: the app on SQLite and on the real PostgreSQL, a test client, signed requests.

PostgreSQL is the one at LEADCHAIN_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test) when it
answers, else a throwaway server the session starts and removes (tests/throwaway_pg.py)."""
from __future__ import annotations

import os
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from crm import create_app
from crm.extensions import db
from crm.secrets import EnvSecrets
from tests import throwaway_pg

pytest_plugins = ["tests.openbao", "tests.temporal_fixtures", "tests.sandbox_fixtures"]

# The configured server; the one in use (maybe a throwaway one) is the `pg_admin_url` fixture.
PG_ADMIN_URL = throwaway_pg.configured_url()
# Sample exports shipped with the tests (tests/data/README.md).
SHARED_DATA = Path(__file__).resolve().parent / "data"
WEBHOOK_SECRETS = ["whsec_" + "b2xkLXNlY3JldC1vbGQtc2VjcmV0LWZvci1yb3RhdGlvbg==",
                   "whsec_" + "bmV3LXNlY3JldC1uZXctc2VjcmV0LWZvci1sZWFkY2hhaW4="]
API_KEY = "test-api-key-0123456789abcdef"


def make_test_secrets(**extra: str) -> EnvSecrets:
    # The chain key is required (intake refuses without it); a test's own chain key wins over this one.
    return EnvSecrets({"LEADCHAIN_SECRET_APP_CHAIN_KEY": "test-only-chain-key", **extra,
        "LEADCHAIN_SECRET_WEBHOOKS_LEADS_WEBSITE": " ".join(WEBHOOK_SECRETS),
        "LEADCHAIN_SECRET_WEBHOOKS_LEADS_PARTNER": WEBHOOK_SECRETS[1],
        "LEADCHAIN_SECRET_API_KEYS": f"crm-sync:{API_KEY}, other:another-key-987",
        "LEADCHAIN_SECRET_APP_SECRET_KEY": "test-only-flask-secret",
    })


_PG_CHOICE: list[str] = []      # which server this session used, for the terminal summary


@pytest.fixture(scope="session")
def pg_admin_url():
    """The admin connection (libpq URL or conninfo) of the PostgreSQL this session uses."""
    try:
        choice = throwaway_pg.resolve()
    except throwaway_pg.PostgresUnavailable as e:
        pytest.fail(f"PostgreSQL is required for the database tests: {e}", pytrace=False)
    _PG_CHOICE.append(choice.reason)
    yield choice.conninfo
    if choice.throwaway is not None:
        choice.throwaway.stop()


def pytest_terminal_summary(terminalreporter):
    for reason in _PG_CHOICE:
        terminalreporter.write_line(f"PostgreSQL used: {reason}")


def pg_url(admin_url: str, dbname: str) -> str:
    """The SQLAlchemy URL of database `dbname` on the server of `admin_url` (pg_admin_url)."""
    return throwaway_pg.sqlalchemy_url(admin_url, dbname)


@pytest.fixture(scope="session")
def pg_database(pg_admin_url):
    """A fresh, empty PostgreSQL database for this session. No PostgreSQL at all fails the run."""
    name = f"leadchain_test_{uuid.uuid4().hex[:10]}"
    try:
        admin = psycopg.connect(pg_admin_url, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        pytest.fail(f"PostgreSQL at {throwaway_pg.describe(pg_admin_url)} is required for the database tests: {e}")
    admin.execute(f'CREATE DATABASE "{name}"')
    yield name
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _migrate(url: str) -> None:
    from flask_migrate import upgrade
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRETS": make_test_secrets()})
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def migrated_urls(pg_admin_url, pg_database, tmp_path_factory) -> dict[str, str]:
    urls = {"sqlite": f"sqlite:///{tmp_path_factory.mktemp('db') / 'leadchain.db'}",
            "postgresql": pg_url(pg_admin_url, pg_database)}
    for url in urls.values():
        _migrate(url)
    return urls


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


def _wipe(app) -> None:
    with app.app_context():
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        with db.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
            else:
                for table in tables:
                    conn.execute(sa.text(f"DELETE FROM {table}"))
        db.engine.dispose()


@pytest.fixture
def app(backend, migrated_urls):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[backend],
                      "SECRETS": make_test_secrets()})
    _wipe(app)
    yield app
    with app.app_context():
        db.session.remove()
    _wipe(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        db.session.rollback()


@pytest.hookimpl(hookwrapper=True, trylast=True)
def pytest_cmdline_main(config):
    # temporalio's core threads can abort interpreter shutdown (sdk-python#300); a green run exits 0 now.
    result = yield
    if result.get_result() == 0:
        os._exit(0)
