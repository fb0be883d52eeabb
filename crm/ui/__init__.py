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
        account_security,
        appointments,
        auth,
        billing,
        calendar_feed,
        calendar_settings,
        dashboard,
        deal_settings,
        deals,
        lead_actions,
        leads,
        oidc,
        onboarding,
        platform,
        platform_billing,
        privacy,
        queue,
        recordings,
        reports,
        settings,
        settings_assignment,
        tasks,
    )

    return (
        auth,
        account_security,  # two-factor sign-in
        oidc,  # sign-in through a company's OpenID Connect provider
        leads,
        lead_actions,
        appointments,
        recordings,
        queue,
        tasks,
        deals,  # the pipeline board and deal pages (issue 23)
        deal_settings,  # the board's stages and reasons (managers, admins)
        dashboard,
        reports,
        settings,
        settings_assignment,
        calendar_settings,  # Settings → calendars (issue 18)
        privacy,  # data-subject requests and retention (admins)
        platform,  # the operator's companies
        platform_billing,  # the operator's usage, cost, billed and margin per company (issue 20)
        billing,  # the admin's usage, limits and invoices (issue 20)
        onboarding,  # the setup wizard (issue 20)
        calendar_feed,  # public: a rep's secret subscription feed (the token is the credential)
    )


def init_ui(app: Flask) -> None:
    from crm.ui import display, security  # with the areas, for the same reason (see areas())

    security.init_security(app)
    # Codes and the chain's English in the page language (``shown.*`` in templates); after the
    # translations security.init_security set up.
    display.register(app)
    for area in areas():
        app.register_blueprint(area.bp)
    # The page behind the signed links in an appointment's mail: public (no sign-in), like /unsubscribe/, and
    # rendered with the UI's assets, so it is registered with them.
    from crm.email import appointment_page

    app.register_blueprint(appointment_page.bp)
