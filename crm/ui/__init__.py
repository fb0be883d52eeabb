"""The sales team's web UI: server-rendered Jinja2 pages with a little htmx, in German and English.

``init_ui(app)`` sets up sign-in, sessions, CSRF, security headers, rate limits and translations
(crm.ui.security) and registers one blueprint per area. Every route checks the role, and for a record
its ownership, through crm.ui.access."""

from __future__ import annotations

from types import ModuleType

from flask import Flask


def areas() -> tuple[ModuleType, ...]:
    """One module per area, each with a blueprint `bp`, named here: a missing area is an ImportError
    when the app is built, never a UI that silently lacks it.

    Imported when the app is built, not with the package: the CLI imports single modules of it
    (crm.ui.auth's password hasher, crm.ui.cli) and must not load every page's dependencies (pandas and
    matplotlib for the dashboard, seconds) to do so."""
    from crm.ui import (
        auth,
        dashboard,
        lead_actions,
        leads,
        queue,
        recordings,
        reports,
        settings,
        settings_assignment,
        tasks,
    )

    return (auth, leads, lead_actions, recordings, queue, tasks, dashboard, reports, settings, settings_assignment)


def init_ui(app: Flask) -> None:
    from crm.ui import display, security  # with the areas, for the same reason (see areas())

    security.init_security(app)
    # Codes and the chain's English in the page language (``shown.*`` in templates); after the
    # translations security.init_security set up.
    display.register(app)
    for area in areas():
        app.register_blueprint(area.bp)
