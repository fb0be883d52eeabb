"""Non-secret email settings: the company imprint, sender addresses, the public base URL.

Each value comes from the app's Settings (crm.config.Settings.email, read from LEADCHAIN_EMAIL_*,
LEADCHAIN_COMPANY_*, LEADCHAIN_PUBLIC_URL and LEADCHAIN_UNSUBSCRIBE_SCOPE); outside an app, the defaults.
The defaults are placeholders for development; production sets the real imprint (German business email
must name the company, its legal form, seat, register court and number and the managing directors:
§ 35a GmbHG, § 37a HGB, § 5 DDG).
"""

from __future__ import annotations

from flask import Flask, current_app, has_app_context

from crm.config import CompanySettings, EmailSettings

Company = CompanySettings  # the imprint as templates see it (company.name, company.address...)


def email_settings(app: Flask | None = None) -> EmailSettings:
    """The email part of `app`'s (else the current app's) Settings; the defaults outside any app."""
    app = app or (current_app if has_app_context() else None)
    if app is None:
        return EmailSettings()
    found: EmailSettings = app.config["LEADCHAIN"].email
    return found


def company(app: Flask | None = None) -> Company:
    return email_settings(app).company


def public_url(app: Flask | None = None) -> str:
    return email_settings(app).public_url.rstrip("/")


def sender_address(app: Flask | None = None) -> tuple[str, str]:
    settings = email_settings(app)
    return settings.from_address, settings.from_name or settings.company.name


def reply_to(app: Flask | None = None) -> str:
    return email_settings(app).reply_to


def unsubscribe_scope(app: Flask | None = None) -> str:
    return email_settings(app).unsubscribe_scope
