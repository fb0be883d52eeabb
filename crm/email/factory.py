"""Build the email sender from the settings and the SendGrid key handed in: the real SendGrid with a key,
else the provider sandbox.

* Key (secret ``providers/sendgrid-api-key``) → host ``LEADCHAIN_SENDGRID_HOST`` (Settings.email), default
  https://api.sendgrid.com (EU data residency: https://api.eu.sendgrid.com).
* No key, ``LEADCHAIN_SANDBOX_URL`` set (Settings.providers) → ``<sandbox>/sendgrid`` with the sandbox's key.
* Neither → None (the chain records "no email sender configured" refusals).

``new_sender`` needs no Flask app to decide; ``build_sender(app)`` is the app's sender: the one handed to
``create_app(email_sender=...)``, else one built from the app's settings and secrets.
"""

from __future__ import annotations

import logging

from flask import Flask

from crm import secret_names
from crm.config import Settings
from crm.email.sendgrid_sender import REAL_HOST, SendGridSender

SANDBOX_KEY = "SG.sandbox-key"
SENDER_EXTENSION = "leadchain.email_sender"
log = logging.getLogger(__name__)


def _settings(app: Flask) -> Settings:
    found: Settings = app.config["LEADCHAIN"]
    return found


def _api_key(app: Flask) -> str | None:
    key: str | None = app.extensions["leadchain.secrets"].get(secret_names.SENDGRID_API_KEY)
    return key


def sandbox_url(app: Flask) -> str | None:
    return _settings(app).providers.sandbox()


def sendgrid_endpoint(*, settings: Settings, api_key: str | None) -> tuple[str, str] | None:
    """(api_key, host), or None when no SendGrid is available at all."""
    host = settings.email.sendgrid_host
    if api_key:
        return api_key, host or REAL_HOST
    sandbox = settings.providers.sandbox()
    if sandbox:
        return SANDBOX_KEY, host or f"{sandbox}/sendgrid"
    return None


def new_sender(*, settings: Settings, api_key: str | None, app: Flask | None = None) -> SendGridSender | None:
    """A SendGrid sender for `settings` and the key given (None: the sandbox's, if there is a sandbox)."""
    endpoint = sendgrid_endpoint(settings=settings, api_key=api_key)
    if endpoint is None:
        return None
    key, host = endpoint
    if api_key and not settings.email.public_url.startswith("https://"):
        # Mailbox providers only honour https one-click unsubscribe links (RFC 8058).
        log.warning("LEADCHAIN_PUBLIC_URL is not https: unsubscribe links in real mail will not work one-click")
    return SendGridSender(api_key=key, host=host, app=app)


def build_sender(app: Flask) -> SendGridSender | None:
    """The app's email sender: create_app(email_sender=...)'s, else built once from its settings."""
    found: SendGridSender | None = app.extensions.get(SENDER_EXTENSION)
    if found is None:
        found = new_sender(settings=_settings(app), api_key=_api_key(app), app=app)
        if found is not None:
            app.extensions[SENDER_EXTENSION] = found
    return found


def uses_sandbox(app: Flask) -> bool:
    return not _api_key(app) and bool(sandbox_url(app))
