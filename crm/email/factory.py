"""Build the email sender from configuration: the real SendGrid with a key, else the provider sandbox.

Wire it with ``app.config["LEADCHAIN_EMAIL_FACTORY"] = build_sender`` (workers/main.py calls it).

* Key: secret ``providers/sendgrid-api-key`` → host ``LEADCHAIN_SENDGRID_HOST`` (or
  ``app.config["SENDGRID_HOST"]``), default https://api.sendgrid.com (EU data residency:
  https://api.eu.sendgrid.com).
* No key, ``LEADCHAIN_SANDBOX_URL`` / ``app.config["SANDBOX_URL"]`` set → ``<sandbox>/sendgrid``
  with the sandbox's key.
* Neither → None (the chain records "no email sender configured" refusals).
"""

from __future__ import annotations

import logging
import os

from flask import Flask

from crm.email.sendgrid_sender import REAL_HOST, SendGridSender
from crm.email.settings import public_url

SANDBOX_KEY = "SG.sandbox-key"
log = logging.getLogger(__name__)


def sandbox_url(app: Flask) -> str | None:
    url = os.environ.get("LEADCHAIN_SANDBOX_URL") or app.config.get("SANDBOX_URL")
    return url.rstrip("/") if url else None


def sendgrid_settings(app: Flask) -> tuple[str, str] | None:
    """(api_key, host), or None when no SendGrid is available at all."""
    key = app.extensions["leadchain.secrets"].get("providers/sendgrid-api-key")
    host = os.environ.get("LEADCHAIN_SENDGRID_HOST") or app.config.get("SENDGRID_HOST")
    if key:
        return key, host or REAL_HOST
    sandbox = sandbox_url(app)
    if sandbox:
        return SANDBOX_KEY, host or f"{sandbox}/sendgrid"
    return None


def build_sender(app: Flask) -> SendGridSender | None:
    settings = sendgrid_settings(app)
    if settings is None:
        return None
    key, host = settings

    if not uses_sandbox(app) and not public_url(app).startswith("https://"):
        # Mailbox providers only honour https one-click unsubscribe links (RFC 8058).
        log.warning("LEADCHAIN_PUBLIC_URL is not https: unsubscribe links in real mail will not work one-click")
    return SendGridSender(key, host, app=app)


def uses_sandbox(app: Flask) -> bool:
    return not app.extensions["leadchain.secrets"].get("providers/sendgrid-api-key") and bool(sandbox_url(app))
