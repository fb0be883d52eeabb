"""One JSON error shape for every API failure: {"code", "status", "message", "errors"}.

`errors` names each bad field, so API clients and lead sources can fix their payloads. The UI's pages
(everything outside /api/, /webhooks/, /healthz, /readyz and /metrics) answer the same status with an HTML
error page in the user's language instead.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any

import sqlalchemy as sa
from flask import Flask, current_app, g, jsonify, render_template, request
from werkzeug.exceptions import HTTPException

from crm.extensions import db

log = logging.getLogger(__name__)


class Unavailable(RuntimeError):
    """A dependency (the database, Temporal...) did not answer in time: a 503 with Retry-After, so that
    senders retry later instead of losing the request to a 500 or holding a web worker."""

    retry_after_s = 5
    message = "a dependency is unavailable, retry later"


class ApiError(Exception):
    """Raised by views and services to answer a 4xx with field errors."""

    def __init__(
        self, code: int, message: str, errors: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors
        self.headers = headers or {}


def error_body(code: int, message: str, errors: dict[str, Any] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "status": HTTPStatus(code).phrase, "message": message}
    if errors:
        body["errors"] = errors
    return body


JSON_PREFIXES = ("/api/", "/webhooks/", "/healthz", "/readyz", "/metrics")


def wants_html() -> bool:
    """A browser page, not an API, webhook or health client."""
    if request.path.startswith(JSON_PREFIXES) or request.path == "/api":
        return False
    return request.accept_mimetypes.best_match(["text/html", "application/json"], "text/html") == "text/html"


def html_error(code: int, headers: dict[str, str] | None = None):
    try:
        body = render_template("ui/error.html", code=code)
    except Exception:  # noqa: BLE001 (the error page itself must never fail)
        log.exception("error page failed")
        body = f"<!doctype html><title>{code}</title><h1>{code}</h1>"
    return body, code, {"Content-Type": "text/html; charset=utf-8", **(headers or {})}


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ApiError)
    def _api_error(e: ApiError):
        return jsonify(error_body(e.code, e.message, e.errors)), e.code, e.headers

    @app.errorhandler(HTTPException)
    def _http_error(e: HTTPException):
        code = e.code or 500
        if wants_html() and "ui" in app.blueprints:  # the UI's templates are registered
            headers = dict(e.get_response().headers)
            headers.pop("Content-Type", None)
            headers.pop("Content-Length", None)
            return html_error(code, headers)
        errors = None
        # flask-smorest puts marshmallow messages here
        data = getattr(e, "data", None)
        if isinstance(data, dict) and "messages" in data:
            errors = data["messages"]
        message = e.description if isinstance(e.description, str) else e.name
        return jsonify(error_body(code, message, errors)), code

    @app.errorhandler(sa.exc.OperationalError)
    @app.errorhandler(sa.exc.TimeoutError)
    def _db_down(e: sa.exc.OperationalError | sa.exc.TimeoutError):
        # A database that is down, hangs (crm.BoundedConnection's deadline), is locked (SQLite's busy
        # timeout) or has no free pooled connection: senders retry later instead of losing the request.
        log.error("database unavailable: %s", type(e).__name__)
        db.session.rollback()
        return unavailable(503, "database unavailable, retry later", DB_RETRY_AFTER_S)

    @app.errorhandler(Unavailable)
    def _dependency_down(e: Unavailable):
        log.error("dependency unavailable: %s: %s", type(e).__name__, e)
        return unavailable(503, e.message, e.retry_after_s)


DB_RETRY_AFTER_S = 5


def unavailable(code: int, message: str, retry_after_s: int):
    """A 503: JSON for clients, the error page for browsers; never a second wait on the database (the
    page is drawn for an anonymous user when the request's user was not loaded yet)."""
    headers = {"Retry-After": str(retry_after_s)}
    if wants_html():
        if "_login_user" not in g and hasattr(current_app, "login_manager"):
            g._login_user = current_app.login_manager.anonymous_user()
        return html_error(code, headers)
    return jsonify(error_body(code, message)), code, headers
