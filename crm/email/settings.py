"""Non-secret email settings: the company imprint, sender addresses, the public base URL.

Each value comes from ``app.config[NAME]``, else the environment variable of the same name, else a
default. The defaults are placeholders for development; production sets the real imprint (German
business email must name the company, its legal form, seat, register court and number and the
managing directors: § 35a GmbHG, § 37a HGB, § 5 DDG).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from flask import Flask, current_app, has_app_context

DEFAULTS = {
    "LEADCHAIN_COMPANY_NAME": "Leadchain GmbH",
    "LEADCHAIN_COMPANY_ADDRESS": "Friedrichstraße 100, 10117 Berlin, Deutschland",
    "LEADCHAIN_COMPANY_REGISTER": "Amtsgericht Charlottenburg, HRB 000000 B",
    "LEADCHAIN_COMPANY_DIRECTORS": "Max Mustermann",
    "LEADCHAIN_COMPANY_VAT_ID": "DE000000000",
    "LEADCHAIN_COMPANY_PHONE": "+49 30 000000",
    "LEADCHAIN_COMPANY_EMAIL": "kontakt@leadchain.example",
    "LEADCHAIN_COMPANY_WEBSITE": "https://leadchain.example",
    "LEADCHAIN_EMAIL_FROM": "vertrieb@leadchain.example",
    "LEADCHAIN_EMAIL_FROM_NAME": "",  # empty: the company name
    # Replies land here: an Inbound Parse host (MX to mx.sendgrid.net) posting to /webhooks/sendgrid/inbound.
    "LEADCHAIN_EMAIL_REPLY_TO": "antwort@reply.leadchain.example",
    # Where recipients reach the CRM (unsubscribe links); the web app's public https URL in production.
    "LEADCHAIN_PUBLIC_URL": "http://127.0.0.1:5000",
    # What an email unsubscribe means. "all" (default, docs/compliance.md §P5: an objection to direct marketing
    # is absolute and holds on every channel): also do-not-contact. "email": email only.
    "LEADCHAIN_UNSUBSCRIBE_SCOPE": "all",
}


def setting(name: str, app: Flask | None = None) -> str:
    app = app or (current_app if has_app_context() else None)
    value = app.config.get(name) if app is not None else None
    if value is None or value == "":
        value = os.environ.get(name) or DEFAULTS.get(name, "")
    return str(value)


@dataclass(frozen=True)
class Company:
    name: str
    address: str
    register: str
    directors: str
    vat_id: str
    phone: str
    email: str
    website: str


def company(app: Flask | None = None) -> Company:
    return Company(**{f: setting(f"LEADCHAIN_COMPANY_{f.upper()}", app) for f in Company.__dataclass_fields__})


def public_url(app: Flask | None = None) -> str:
    return setting("LEADCHAIN_PUBLIC_URL", app).rstrip("/")


def sender_address(app: Flask | None = None) -> tuple[str, str]:
    return setting("LEADCHAIN_EMAIL_FROM", app), setting("LEADCHAIN_EMAIL_FROM_NAME", app) or company(app).name


def reply_to(app: Flask | None = None) -> str:
    return setting("LEADCHAIN_EMAIL_REPLY_TO", app)


def unsubscribe_scope(app: Flask | None = None) -> str:
    scope = setting("LEADCHAIN_UNSUBSCRIBE_SCOPE", app).strip().lower()
    return scope if scope in ("all", "email") else "all"
