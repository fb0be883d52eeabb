"""The sales team's web UI: server-rendered Jinja2 pages with a little htmx, in German and English.

``init_ui(app)`` sets up sign-in, sessions, CSRF, security headers, rate limits and translations
(crm.ui.security) and registers one blueprint per area. Every route checks the role, and for a record
its ownership, through crm.ui.access."""

from __future__ import annotations

import importlib
import logging

from flask import Flask

log = logging.getLogger(__name__)

# One module per area, each with a blueprint `bp`.
AREAS = (
    "auth",
    "leads",
    "lead_actions",
    "recordings",
    "queue",
    "tasks",
    "dashboard",
    "reports",
    "settings",
    "settings_assignment",
)


def init_ui(app: Flask) -> None:
    try:
        security = importlib.import_module("crm.ui.security")
    except ModuleNotFoundError:
        security = None
    if security is not None:
        security.init_security(app)
    for name in AREAS:
        try:
            module = importlib.import_module(f"crm.ui.{name}")
        except ModuleNotFoundError as e:
            if e.name != f"crm.ui.{name}":
                raise
            continue
        app.register_blueprint(module.bp)
