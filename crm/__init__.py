"""leadchain CRM: the Flask application factory."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from secrets import token_urlsafe  # by name: the package's own crm.secrets module binds `secrets` here
from typing import TYPE_CHECKING, Any

import psycopg
import sqlalchemy as sa
from flask import Flask

from crm import (
    models,  # noqa: F401  (registers the tables before the engine is bound)
    secret_names,
)
from crm.config import DatabaseSettings, Settings
from crm.extensions import api as openapi
from crm.extensions import db, migrate
from crm.routing import RowIdConverter
from crm.secrets import Secrets, secrets_from_env
from crm.tenancy.context import current_company_id
from providers.base import ProviderRegistry
from providers.factory import COMPANY_OF_EXTENSION, TWILIO_CALLS_EXTENSION

if TYPE_CHECKING:  # only a type here; the compliance module is imported with the web parts
    from crm.services.compliance import GatePolicy

MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")


def create_app(
    flask_config: Mapping[str, Any] | None = None,
    *,
    settings: Settings | None = None,
    secrets: Secrets | None = None,
    providers: ProviderRegistry | None = None,
    email_sender: Any = None,
    report_mailer: Any = None,
    gate_policy: GatePolicy | None = None,
) -> Flask:
    """Build the web app from `settings` (default: Settings.from_env(), the process environment) and
    `secrets` (default: crm.secrets.secrets_from_env()).

    `flask_config` holds plain Flask keys only (SQLALCHEMY_DATABASE_URI, TESTING, WTF_CSRF_ENABLED...).
    The other keyword arguments replace what the app would build itself: the voice provider registry,
    the email sender (crm.email.factory), the report mailer (crm.reports.mail) and the compliance gate's
    policy; tests hand in theirs here. They are kept in app.extensions."""
    app = Flask(__name__)
    base = settings if settings is not None else Settings.from_env()
    flask_config = dict(flask_config or {})
    _refuse_hooks_as_config(flask_config)
    if "SQLALCHEMY_DATABASE_URI" in flask_config:
        base = replace(base, database_url=flask_config["SQLALCHEMY_DATABASE_URI"])
    app.config.from_mapping(base.flask_mapping())
    app.config.update(
        API_TITLE="leadchain API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
    )
    app.config.update(flask_config)
    app.config.setdefault(
        "SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config["SQLALCHEMY_DATABASE_URI"], base.database)
    )

    app.extensions["leadchain.secrets"] = secrets if secrets is not None else secrets_from_env()
    # providers.factory.registry(app) answers with the current company's provider accounts (providers/ does
    # not import crm, so the scope's reader is handed in here).
    app.extensions[COMPANY_OF_EXTENSION] = current_company_id
    # Twilio has no idempotency key: its provider asks the CRM which call our key made.
    app.extensions[TWILIO_CALLS_EXTENSION] = _twilio_call_for_key
    for name, part in (
        ("leadchain.providers", providers),
        ("leadchain.email_sender", email_sender),
        ("leadchain.report_mailer", report_mailer),
        ("leadchain.gate_policy", gate_policy),
    ):
        if part is not None:
            app.extensions[name] = part
    app.secret_key = app.extensions["leadchain.secrets"].get(secret_names.APP_SECRET_KEY) or _ephemeral_key(app)

    # Before any blueprint: every `<int:...>` in a route is a row id (ASCII digits, 1 .. 2**31-1).
    app.url_map.converters["int"] = RowIdConverter
    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        _sqlite_wal(app)
    elif app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        _bound_postgres(app, base.database)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    openapi.init_app(app)

    from crm.tenancy.web import init_web

    init_web(app)  # every request a unit of work with no company until its entrance binds one
    _register_parts(app)
    return app


_NOT_FLASK = {
    "SECRETS",
    "SANDBOX_URL",
    "SENDGRID_HOST",
    "PUBLIC_URL",
    "RETELL_BASE_URL",
    "VAPI_BASE_URL",
    "BLAND_BASE_URL",
}
_NOT_FLASK_PREFIXES = ("LEADCHAIN", "TEMPORAL_")


def _refuse_hooks_as_config(flask_config: Mapping[str, Any]) -> None:
    """Secrets, factories and LEADCHAIN settings are create_app's arguments, never Flask config keys: a
    caller still using the old keys gets told which argument replaces each, instead of a silent no-op."""
    stale = sorted(
        k for k in flask_config if k in _NOT_FLASK or k.startswith(_NOT_FLASK_PREFIXES) or k.endswith("_FACTORY")
    )
    if stale:
        raise TypeError(
            f"create_app: {', '.join(stale)} are not Flask settings; pass secrets=, providers=, email_sender=, "
            "report_mailer=, gate_policy= or settings= (crm.config.Settings) instead"
        )


def _register_parts(app: Flask) -> None:
    """Error handlers and every blueprint, each module named here: a missing one is an ImportError when
    the app is built, never a route that silently answers 404.

    Imported here rather than at the top of the package: every ``crm.*`` module imports this package
    first, and the web parts pull in the UI, pandas and matplotlib (seconds), which the CLI (its container
    health check runs under a 10 s timeout), the voice bridge and the workflow code do not need until
    they build an app."""
    from crm import health
    from crm.api import chains as api_chains
    from crm.api import deals as api_deals
    from crm.api import leads as api_leads
    from crm.email import unsubscribe
    from crm.errors import register_error_handlers
    from crm.observability import install_web
    from crm.ui import init_ui
    from crm.webhooks import bland, bland_inbound, leads, retell, retell_inbound, sendgrid, vapi, vapi_assistant_request
    from crm.webhooks import calcom as calcom_webhook
    from crm.webhooks import stripe as stripe_webhook
    from crm.webhooks import twilio as twilio_webhook

    register_error_handlers(app)
    for api_module in (api_leads, api_chains, api_deals, leads):
        openapi.register_blueprint(api_module.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(unsubscribe.bp)
    # One module per provider's webhook (one module per vendor).
    for provider_webhook in (retell, vapi, bland, sendgrid, retell_inbound, vapi_assistant_request, bland_inbound):
        openapi.register_blueprint(provider_webhook.bp)
    openapi.register_blueprint(twilio_webhook.bp)  # issue 22: Twilio's status and inbound voice webhooks
    openapi.register_blueprint(calcom_webhook.bp)  # issue 18: Cal.com's booking webhooks
    openapi.register_blueprint(stripe_webhook.bp)  # issue 20: Stripe's billing events
    init_ui(app)  # the UI's areas, the operator's companies (crm.ui.platform) among them
    install_web(app)  # GET /metrics, a span per request, JSON logs (docs/observability.md)


def _twilio_call_for_key(call_key: str) -> str | None:
    # Imported when first asked: the services import the models, which this module must register first.
    from crm.services.twilio_calls import call_for_key

    return call_for_key(call_key)


# Connections a PostgreSQL pool keeps open once used (see _engine_options).
POOL_SIZE = 20


def _engine_options(url: str, bounds: DatabaseSettings) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Writers wait for the file lock (gunicorn runs several processes on one file), but not for ever:
        # past the busy timeout "database is locked" is an OperationalError, a 503 (crm.errors).
        return {"connect_args": {"timeout": bounds.sqlite_busy_timeout_s}}
    # Connect and statement timeouts are set per connection by _bound_postgres; pool_timeout bounds the
    # wait for a free connection (sqlalchemy.exc.TimeoutError, also a 503). The pre-ping is asked on every
    # checkout, but _bound_postgres's ping sends it only to a connection that idled or failed (issue 21).
    # The pool keeps POOL_SIZE connections open once used: the voice bridge's 16 CRM threads must fit in it, not
    # in the overflow, which closes each connection on return (a pool of 10 opened 139 connections in one
    # 500-session bench run). A process that uses fewer (a sync gunicorn worker: one) never opens more.
    return {
        "pool_pre_ping": True,
        "pool_size": POOL_SIZE,
        "max_overflow": 10,
        "pool_timeout": bounds.pool_timeout_s,
    }


# A pooled connection that did I/O this recently, without an error since, is not pinged when checked out:
# the BEGIN of its next transaction is bounded as the ping was (BoundedConnection._start_query). One that
# idled longer (a firewall or a server restart may have dropped it meanwhile) is pinged, and replaced
# without the request noticing when the ping fails.
IDLE_PING_S = 5.0


class BoundedConnection(psycopg.Connection):
    """A psycopg connection that stops waiting for the server after `io_timeout` seconds.

    PostgreSQL's statement_timeout ends a slow query on the server; it does nothing when the server (or
    something between) accepts TCP and never answers: psycopg would wait for ever. Here every wait on the
    socket has a deadline; past it the connection is closed (SQLAlchemy sees it closed and throws it
    away) and the caller gets an OperationalError."""

    io_timeout: float | None = None
    # The bound of a transaction's BEGIN (the ping plus the connect timeout): a server that accepts TCP and
    # never answers is found within it, by the first round trip of every transaction, with no ping (issue 21).
    begin_timeout: float | None = None
    # When the last round trip ended well, and whether one failed since (then the next checkout pings).
    last_io: float = 0.0
    failed: bool = False

    def wait(self, gen: Any, interval: float = 0.1, timeout: float | None = None) -> Any:
        try:
            if timeout is not None or self.io_timeout is None:
                result = super().wait(gen, interval, timeout)  # psycopg's own bounded waits (cancel, notifies)
            else:
                result = super().wait(gen, interval, self.io_timeout)
        except psycopg.errors._WaitTimeout:
            self.failed = True
            self.pgconn.finish()  # its state is unknown: never reused
            raise psycopg.OperationalError(f"the database did not answer within {self.io_timeout:g} s") from None
        except BaseException:
            self.failed = True
            raise
        self.last_io = time.monotonic()
        return result

    def _start_query(self) -> Any:
        # psycopg begins a transaction with its own round trip (BEGIN) inside the first statement's wait.
        # Here that BEGIN runs first, in a wait of its own bounded by begin_timeout; the statement's wait
        # then has nothing to begin. Not in pipeline mode, where BEGIN is queued with the statements.
        if (
            self.begin_timeout is None
            or self.autocommit
            or self._pipeline is not None
            or self.pgconn.transaction_status != psycopg.pq.TransactionStatus.IDLE
        ):
            return super()._start_query()
        with self.limited(self.begin_timeout):
            self.wait(super()._start_query())
        return iter(())

    def recently_well(self) -> bool:
        """Did a round trip end well within IDLE_PING_S, with no failure since?"""
        return not self.failed and time.monotonic() - self.last_io < IDLE_PING_S

    @contextmanager
    def limited(self, seconds: float) -> Iterator[None]:
        before, self.io_timeout = self.io_timeout, seconds
        try:
            yield
        finally:
            self.io_timeout = before


def _close_late(future: Future[BoundedConnection]) -> None:
    if future.exception() is None:
        future.result().close()


def connect_within(cargs: Any, cparams: dict[str, Any], bounds: DatabaseSettings) -> BoundedConnection:
    """Open a connection within bounds.connect_timeout_s, with PostgreSQL's statement_timeout set.

    psycopg's own connect_timeout is whole seconds and at least 2 (libpq's rule), longer than a web
    request may wait, so the connect runs in a thread and the caller stops waiting at the bound; a
    connection that arrives after that is closed."""
    params = dict(cparams)
    params["connect_timeout"] = max(2, math.ceil(bounds.connect_timeout_s))
    if bounds.statement_timeout_ms:  # 0: no statement timeout (migrations)
        options = f"-c statement_timeout={bounds.statement_timeout_ms}"
        params["options"] = f"{params['options']} {options}" if params.get("options") else options
    future: Future[BoundedConnection] = Future()

    def run() -> None:
        try:
            conn = BoundedConnection.connect(*cargs, **params)
        except BaseException as e:  # noqa: BLE001 (handed to the waiting request)
            future.set_exception(e)
            return
        if bounds.statement_timeout_ms:
            conn.io_timeout = bounds.statement_timeout_ms / 1000 + 1.0  # the server's timeout answers first
        # As long as the old path could take before it gave up (a ping, then a new connection): a BEGIN that a
        # loaded but live server answers late is not a 503 (seen in CI at 0.5 s), a stalled one still is.
        conn.begin_timeout = bounds.ping_timeout_s + bounds.connect_timeout_s
        future.set_result(conn)

    threading.Thread(target=run, name="db-connect", daemon=True).start()
    try:
        return future.result(bounds.connect_timeout_s)
    except FutureTimeout:
        future.add_done_callback(_close_late)
        raise psycopg.OperationalError(
            f"could not connect to the database within {bounds.connect_timeout_s:g} s"
        ) from None


def _bound_postgres(app: Flask, bounds: DatabaseSettings) -> None:
    """Every PostgreSQL wait of this app bounded (issue 14 item 2): connect, statement, the pre-ping, and
    each transaction's BEGIN, which stands in for the pre-ping on a connection in use (issue 21)."""
    with app.app_context():
        engine = db.engine

        @sa.event.listens_for(engine, "do_connect")
        def _connect(_dialect, _record, cargs, cparams):
            return connect_within(cargs, cparams, bounds)

        plain_ping = engine.dialect.do_ping

        def bounded_ping(dbapi_connection: Any) -> bool:
            bounded = dbapi_connection if isinstance(dbapi_connection, BoundedConnection) else None
            if bounded is None:
                return plain_ping(dbapi_connection)
            if bounded.recently_well():
                return True  # no round trip: its next BEGIN is bounded as this ping would be
            with bounded.limited(bounds.ping_timeout_s):
                alive = plain_ping(dbapi_connection)
            bounded.failed = not alive
            return alive

        engine.dialect.do_ping = bounded_ping  # type: ignore[method-assign]


def _sqlite_wal(app: Flask) -> None:
    # The local stack has several processes on one file: WAL lets readers and one writer overlap.
    with app.app_context():

        @sa.event.listens_for(db.engine, "connect")
        def _pragma(dbapi_connection, _record):
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()


def _ephemeral_key(app: Flask) -> str:
    logging.getLogger(__name__).warning(
        "%s is not set: using a random key, sessions end when the process restarts", secret_names.APP_SECRET_KEY
    )
    return token_urlsafe(32)
