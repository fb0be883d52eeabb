"""The sales team's web UI: server-rendered Jinja2 pages with a little htmx, in German and English.

``init_ui(app)`` sets up sign-in, sessions, CSRF, security headers, rate limits and translations
(crm.ui.security) and registers one blueprint per area. Every route checks the role, and for a record
its ownership, through crm.ui.access."""

from __future__ import annotations

from flask import Flask

from crm.ui import (
    auth,
    dashboard,
    display,
    lead_actions,
    leads,
    queue,
    recordings,
    reports,
    security,
    settings,
    settings_assignment,
    tasks,
)

# One module per area, each with a blueprint `bp`, listed: a missing area (or the security module) is an
# ImportError at start-up, never a UI that silently lacks it.
AREAS = (auth, leads, lead_actions, recordings, queue, tasks, dashboard, reports, settings, settings_assignment)


def init_ui(app: Flask) -> None:
    security.init_security(app)
    # Codes and the chain's English in the page language (``shown.*`` in templates); after the
    # translations security.init_security set up.
    display.register(app)
    for area in AREAS:
        app.register_blueprint(area.bp)
