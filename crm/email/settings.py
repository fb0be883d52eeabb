"""Non-secret email settings: the company imprint and branding, sender addresses, the public base URL.

Each value comes from the app's Settings (crm.config.Settings.email, read from LEADCHAIN_EMAIL_*,
LEADCHAIN_COMPANY_*, LEADCHAIN_PUBLIC_URL and LEADCHAIN_UNSUBSCRIBE_SCOPE); outside an app, the defaults.
The defaults are placeholders for development; production sets the real imprint (German business email
must name the company, its legal form, seat, register court and number and the managing directors:
§ 35a GmbHG, § 37a HGB, § 5 DDG).

Inside a company scope the company's own row (crm.models.Company, crm.services.settings_store.company)
goes over them: its sender address and name where set, its brand colour and logo, and, once it has an
imprint of its own, its name and that imprint in its own words. A company without an imprint signs with the
installation's (the configured one above): one company's mail never carries half of another's imprint.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from flask import Flask, current_app, has_app_context

from crm.config import CompanySettings, EmailSettings
from crm.services import settings_store

DEFAULT_BRAND_COLOR = "#0b5cab"  # the shipped layout's blue
_COLOR = re.compile(r"#[0-9a-fA-F]{6}")
_URL = re.compile(r"https?://[^\s<>\"']+")
_EMAIL = re.compile(r"[^\s<>\"'@,;:]+@[^\s<>\"'@,;:]+\.[a-z]{2,}", re.IGNORECASE)


@dataclass(frozen=True)
class Company(CompanySettings):
    """The imprint as templates see it (company.name, company.address, ...) plus the company's branding.

    `imprint` holds the company's own imprint, one line each; empty: the structured fields (the
    installation's configured imprint). `color` is a "#rrggbb", `logo_url` an https: or data: URL or None."""

    imprint: tuple[str, ...] = ()
    color: str = DEFAULT_BRAND_COLOR
    logo_url: str | None = None
    slug: str | None = None


def email_settings(app: Flask | None = None) -> EmailSettings:
    """The email part of `app`'s (else the current app's) Settings; the defaults outside any app."""
    app = app or (current_app if has_app_context() else None)
    if app is None:
        return EmailSettings()
    found: EmailSettings = app.config["LEADCHAIN"].email
    return found


def _current_company():
    """The current company's row, when there is an app context with a company scope (rendering outside a
    database, e.g. a template test, has neither)."""
    return settings_store.company() if has_app_context() else None


def company(app: Flask | None = None) -> Company:
    configured = email_settings(app).company
    base = Company(**{name: getattr(configured, name) for name in CompanySettings.__dataclass_fields__})
    row = _current_company()
    if row is None:
        return base
    # The colour goes into CSS and style attributes: only the exact "#rrggbb" form, whatever the row holds.
    color = row.brand_color if row.brand_color and _COLOR.fullmatch(row.brand_color) else DEFAULT_BRAND_COLOR
    values: dict = {"color": color, "logo_url": row.logo_url, "slug": row.slug}
    lines = tuple(line.strip() for line in (row.imprint or "").splitlines() if line.strip())
    if lines:
        # The company's own imprint replaces the installation's entirely; the website and address the
        # templates link to are read from it (or the company's sender), never left as the installation's.
        text = "\n".join(lines)
        url, mail = _URL.search(text), _EMAIL.search(text)
        values.update(
            name=row.name,
            imprint=lines,
            address="",
            register="",
            directors="",
            vat_id="",
            phone="",
            email=mail.group(0) if mail else (row.sender_email or ""),
            website=url.group(0).rstrip(".,);") if url else "",
        )
    return Company(**{**base.__dict__, **values})


def public_url(app: Flask | None = None) -> str:
    return email_settings(app).public_url.rstrip("/")


def sender_address(app: Flask | None = None) -> tuple[str, str]:
    """(address, name) mail is sent from: the company's sender where it set one, else the configured."""
    settings = email_settings(app)
    row = _current_company()
    address = (row.sender_email if row is not None else None) or settings.from_address
    name = (row.sender_name if row is not None else None) or settings.from_name or company(app).name
    return address, name


def reply_to(app: Flask | None = None) -> str:
    return email_settings(app).reply_to


def unsubscribe_scope(app: Flask | None = None) -> str:
    return email_settings(app).unsubscribe_scope
