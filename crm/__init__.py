"""leadchain CRM: the Flask application factory."""

from __future__ import annotations

import logging
from pathlib import Path
from secrets import token_urlsafe  # by name: the package's own crm.secrets module binds `secrets` here
from typing import Any

import sqlalchemy as sa
from flask import Flask

from crm import models  # noqa: F401  (registers the tables before the engine is bound)
from crm.config import Config
from crm.extensions import api as openapi
from crm.extensions import db, migrate
from crm.secrets import secrets_from_env

MIGRATIONS_DIR = str(Path(__file__).resolve().parent / "migrations")


def create_app(config: Config | dict[str, Any] | None = None) -> Flask:
    """Build the web app. `config` is a Config, or a mapping of Flask settings for tests."""
    app = Flask(__name__)
    base = config if isinstance(config, Config) else Config()
    app.config.from_mapping(base.flask_mapping())
    app.config.update(
        API_TITLE="leadchain API",
        API_VERSION="v1",
        OPENAPI_VERSION="3.0.3",
        OPENAPI_URL_PREFIX="/api",
        OPENAPI_JSON_PATH="openapi.json",
        JSON_SORT_KEYS=False,
    )
    if isinstance(config, dict):
        app.config.update(config)
        if "SQLALCHEMY_DATABASE_URI" in config:
            base.database_url = config["SQLALCHEMY_DATABASE_URI"]
    app.config.setdefault("SQLALCHEMY_ENGINE_OPTIONS", _engine_options(app.config["SQLALCHEMY_DATABASE_URI"]))

    app.extensions["leadchain.secrets"] = app.config.get("SECRETS") or secrets_from_env()
    app.secret_key = app.extensions["leadchain.secrets"].get("app/secret-key") or _ephemeral_key(app)

    db.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        _sqlite_wal(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    openapi.init_app(app)

    _register_parts(app)
    return app


def _register_parts(app: Flask) -> None:
    """Error handlers and every blueprint, each module named here: a missing one is an ImportError when
    the app is built, never a route that silently answers 404.

    Imported here rather than at the top of the package: every ``crm.*`` module imports this package
    first, and the web parts pull in the UI, pandas and matplotlib (seconds), which the CLI (its container
    health check runs under a 10 s timeout), the voice bridge and the workflow code do not need until
    they build an app."""
    from crm import health
    from crm.api import chains as api_chains
    from crm.api import leads as api_leads
    from crm.email import unsubscribe
    from crm.errors import register_error_handlers
    from crm.ui import init_ui
    from crm.webhooks import bland, leads, retell, sendgrid, vapi

    register_error_handlers(app)
    for api_module in (api_leads, api_chains, leads):
        openapi.register_blueprint(api_module.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(unsubscribe.bp)
    # One module per provider's webhook (one module per vendor).
    for provider_webhook in (retell, vapi, bland, sendgrid):
        openapi.register_blueprint(provider_webhook.bp)
    init_ui(app)


def _engine_options(url: str) -> dict[str, Any]:
    if url.startswith("sqlite"):
        # Writers wait instead of failing at once; gunicorn runs several processes on one file.
        return {"connect_args": {"timeout": 30}}
    return {"pool_pre_ping": True, "pool_size": 10, "max_overflow": 10}


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
        "app/secret-key is not set: using a random key, sessions end when the process restarts"
    )
    return token_urlsafe(32)
