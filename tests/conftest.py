"""Shared fixtures: the app on SQLite and on the real PostgreSQL, a test client, signed requests.

PostgreSQL is the one at LEADCHAIN_TEST_PG (default postgresql://postgres@127.0.0.1:5432/test) when it
answers, else a throwaway server the session starts and removes (tests/throwaway_pg.py)."""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import uuid
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from crm import create_app
from crm.extensions import db
from crm.models.companies import Company
from crm.models.types import utcnow
from crm.secrets import EnvSecrets
from crm.tenancy.context import company_scope, operator_scope
from crm.tenancy.rls import as_owner
from crm.tenancy.testing_fallback import CONFIG_KEY as TENANCY_TEST_DEFAULT_COMPANY
from tests import throwaway_pg, werkzeug_builder_cache

# Every test builds its own app; werkzeug's URL builders compiled once per rule serve all of them.
werkzeug_builder_cache.install()

pytest_plugins = ["tests.openbao", "tests.temporal_fixtures", "tests.sandbox_fixtures", "tests.scheduling"]

# The configured server; the one in use (maybe a throwaway one) is the `pg_admin_url` fixture.
PG_ADMIN_URL = throwaway_pg.configured_url()
# Sample exports shipped with the tests (tests/data/README.md).
SHARED_DATA = Path(__file__).resolve().parent / "data"
WEBHOOK_SECRETS = [
    "whsec_" + "b2xkLXNlY3JldC1vbGQtc2VjcmV0LWZvci1yb3RhdGlvbg==",
    "whsec_" + "bmV3LXNlY3JldC1uZXctc2VjcmV0LWZvci1sZWFkY2hhaW4=",
]
API_KEY = "test-api-key-0123456789abcdef"


def make_test_secrets(**extra: str) -> EnvSecrets:
    # The chain key is required (intake refuses without it); a test's own chain key wins over this one.
    return EnvSecrets(
        {
            "LEADCHAIN_SECRET_APP_CHAIN_KEY": "test-only-chain-key",
            **extra,
            "LEADCHAIN_SECRET_WEBHOOKS_LEADS_WEBSITE": " ".join(WEBHOOK_SECRETS),
            "LEADCHAIN_SECRET_WEBHOOKS_LEADS_PARTNER": WEBHOOK_SECRETS[1],
            "LEADCHAIN_SECRET_API_KEYS": f"crm-sync:{API_KEY}, other:another-key-987",
            "LEADCHAIN_SECRET_APP_SECRET_KEY": "test-only-flask-secret",
        }
    )


def set_settings(app, part: str | None = None, **changes) -> None:
    """Change a built app's Settings (a frozen crm.config.Settings): fields of one part, or top-level fields
    with part None; e.g. the sandbox URL a test knows only once its sandbox runs. Before the app first
    builds its providers, email sender or Temporal gateway, which read the settings once."""
    settings = app.config["LEADCHAIN"]
    app.config["LEADCHAIN"] = settings.with_part(part, **changes) if part else dataclasses.replace(settings, **changes)


_PG_CHOICE: list[str] = []  # which server this session used, for the terminal summary


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


def pytest_sessionfinish(session):
    # An xdist worker hands its choice to the controller, which prints the summary.
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None and _PG_CHOICE:
        workeroutput["leadchain_pg_used"] = _PG_CHOICE[0]


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "tenancy: the test enters its own company scopes (no default company_scope(1) around it)"
    )
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "leadchain-xdist-hooks")


BROWSER_TESTS = "tests/ui/browser/"


class _XdistHooks:
    """pytest-xdist's hooks, registered only when it is installed (pytest rejects unknown hooks)."""

    def pytest_testnodedown(self, node, error):
        used = getattr(node, "workeroutput", {}).get("leadchain_pg_used")
        if used and used not in _PG_CHOICE:
            _PG_CHOICE.append(used)

    def pytest_xdist_make_scheduler(self, config, log):
        # `make test` runs `pytest -n 2 --dist loadfile`: each test module runs whole and in order on one
        # worker, as in a serial run (module-scoped fixtures are built once; test_dial_gate.py's last test
        # checks what the earlier ones saw). Here the browser package is one unit too: one Chromium, one
        # live server and one seeded demo, not one per worker. (xdist_group marks would say the same,
        # but --dist loadgroup does not group anything under pytest 9: xdist 3.8 renames the items'
        # `_nodeid`, which pytest 9 no longer reads.)
        if config.getvalue("dist") != "loadfile":
            return None
        from xdist.scheduler import LoadFileScheduling

        class ModulesAndBrowserPackage(LoadFileScheduling):
            def _split_scope(self, nodeid: str) -> str:
                return BROWSER_TESTS if nodeid.startswith(BROWSER_TESTS) else super()._split_scope(nodeid)

        return ModulesAndBrowserPackage(config, log)


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
    # A throwaway database: its commits need not wait for the WAL to reach the disk (a server crash would
    # lose the last few, which a test database never needs). Every PostgreSQL test commits several times.
    admin.execute(f'ALTER DATABASE "{name}" SET synchronous_commit TO off')
    yield name
    admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.close()


def _migrate(url: str) -> None:
    from flask_migrate import upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": url}, secrets=make_test_secrets())
    with app.app_context():
        upgrade()
        db.engine.dispose()


@pytest.fixture(scope="session")
def sqlite_dir(tmp_path_factory):
    """Where the tests' SQLite database lives: in memory-backed /dev/shm where the machine has it (each
    commit's fsync, and the checkpoint when the last connection closes, cost 10-15 ms each on disk: the
    migration took 8.9 s there and 2.2 s here, a test's two wipes 150 ms and 55 ms), else the tmp folder.
    The file and its locking are the same; only durability after a power cut differs, which no test needs."""
    shm = Path("/dev/shm")
    if not (shm.is_dir() and os.access(shm, os.W_OK)):
        yield tmp_path_factory.mktemp("db")
        return
    folder = Path(tempfile.mkdtemp(prefix="leadchain-test-db-", dir=shm))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def migrated_urls(pg_admin_url, pg_database, sqlite_dir) -> dict[str, str]:
    urls = {
        "sqlite": f"sqlite:///{sqlite_dir / 'leadchain.db'}",
        "postgresql": pg_url(pg_admin_url, pg_database),
    }
    for url in urls.values():
        _migrate(url)
    return urls


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request) -> str:
    return request.param


# Restarts the sequences owned by the tables' id columns: what TRUNCATE ... RESTART IDENTITY does.
_RESTART_OWNED_SEQUENCES = sa.text("""
    SELECT count(setval(s.oid::regclass, 1, false))
    FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace
    JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
    JOIN pg_class t ON t.oid = d.refobjid
    WHERE s.relkind = 'S' AND t.relname = ANY(:tables) AND n.nspname = current_schema()""")


def _wipe(app) -> None:
    """Empty every table and restart the ids, as a fresh database would have them; then create the test
    company (id 1, "Testfirma") that the default company scope (the autouse `_company_scope`) names.

    DELETE in reverse dependency order, not TRUNCATE: a test's few rows are gone in milliseconds,
    where TRUNCATE of all tables replaces and fsyncs every table's files (0.1-0.8 s, twice per
    PostgreSQL test, minutes over the suite). In an operator context (every company's rows) and, on
    PostgreSQL, as the owner: the tenant role the app's connections take is held by row-level security."""
    with app.app_context(), operator_scope("tests", "wipe between tests"):
        tables = [t.name for t in reversed(db.metadata.sorted_tables)]
        try:
            with db.engine.connect() as owner, as_owner(owner), owner.begin():
                if owner.dialect.name == "postgresql":
                    # All the DELETEs in one round trip (one statement each took 20-35 ms a wipe, two wipes
                    # a test): a text without parameters goes to PostgreSQL as one simple query.
                    owner.exec_driver_sql("; ".join(f"DELETE FROM {table}" for table in tables))
                    owner.execute(_RESTART_OWNED_SEQUENCES, {"tables": tables})
                else:
                    for table in tables:
                        owner.execute(sa.text(f"DELETE FROM {table}"))
                _create_test_company(owner)
        except sa.exc.IntegrityError:
            # A reference the dependency order cannot untangle (a cycle): TRUNCATE does not care.
            with db.engine.connect() as owner, as_owner(owner), owner.begin():
                if owner.dialect.name != "postgresql":
                    raise
                owner.execute(sa.text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
                _create_test_company(owner)
        db.engine.dispose()


TEST_COMPANY_ID = 1


def _create_test_company(conn: sa.Connection) -> None:
    # Numbered by the database (its sequence was just restarted), so the next company a test adds is 2.
    company_id = conn.execute(
        sa.insert(Company.__table__)
        .values(slug="test", name="Testfirma", timezone="Europe/Berlin", language="de", active=True)
        .values(created_at=utcnow())
        .returning(Company.__table__.c.id)
    ).scalar_one()
    assert company_id == TEST_COMPANY_ID


@pytest.fixture
def app(backend, migrated_urls, request):
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[backend]}
    if request.node.get_closest_marker("tenancy") is None:
        # TEMPORARY (crm/tenancy/testing_fallback.py): a request or activity that binds no company runs in the
        # test company, until every entrance binds the company it verified. Tenancy tests run without it.
        config[TENANCY_TEST_DEFAULT_COMPANY] = TEST_COMPANY_ID
    app = create_app(config, secrets=make_test_secrets())
    _wipe(app)
    yield app
    with app.app_context():
        db.session.remove()
    _wipe(app)


@pytest.fixture(autouse=True)
def _company_scope(request):
    """Every test's main thread runs in the test company's scope, as a unit of work bound to it would; a test
    marked `tenancy` enters its own scopes. Web requests and activities start their own unit of work."""
    if request.node.get_closest_marker("tenancy") is not None:
        yield
        return
    with company_scope(TEST_COMPANY_ID):
        yield


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
    # Not in an xdist worker: it reports to the controller through execnet, which a hard exit could cut off.
    result = yield
    if result.get_result() == 0 and not hasattr(config, "workerinput"):
        os._exit(0)
