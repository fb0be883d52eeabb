"""Render the chain's emails: one Jinja2 template per email, HTML (autoescaped) and plain text, in the
lead's language, with the current company's branding, imprint and sender (crm.email.settings.company) and its
own templates where an operator put some (company_template_dir).

``render(template, lead, context, language)`` returns ``Rendered(subject, html, text)``. Every mail
carries the company imprint (from settings) and the lead's unsubscribe link; lead data is escaped in
the HTML part. Templates live in crm/email/templates/<name>.{html,txt} and write English msgids
(``{{ _("...") }}``, ``{% trans %}...{% endtrans %}``); the words come from the ``email`` catalogue of
crm.catalogs (crm/locales/<language>/LC_MESSAGES/email.po), one Jinja environment per language. The
subject is the ``subject`` block of the .txt template.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple, TypedDict
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_date, format_datetime
from flask import has_app_context
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from crm import catalogs
from crm.catalogs import N_
from crm.config import var_dir
from crm.email import settings as email_settings
from crm.email.tokens import unsubscribe_url
from crm.extensions import db
from crm.languages import DEFAULT_LANGUAGE, LANGUAGES, locale_for
from crm.models import Appointment, AppointmentStatus
from crm.services import settings_store

TEMPLATE_DIR = Path(__file__).resolve().parent / "templates"
# The templates the chain sends (workflows/lead_chain.py) plus the manager report (reports issue).
TEMPLATES = ("follow_up", "booking_confirmation", "callback_confirmation", "nurture", "manager_report")
# Mails about a booked appointment's changes and reminders (crm/services/appointment_mail.py); context
# "change" says which: booked | moved | cancelled | reminder_24h | reminder_2h.
APPOINTMENT_TEMPLATES = ("appointment_update",)
NURTURE_STEPS = 3
DEFAULT_TIMEZONE = "Europe/Berlin"
DOMAIN = "email"
# Languages whose greeting names the reader in full (see greeting()).
FULL_NAME_GREETING = frozenset({"de", "fr"})


class Rendered(NamedTuple):
    subject: str
    html: str
    text: str


class UnknownTemplate(LookupError):
    pass


class Signer(TypedDict):
    """Who signs the mail and organises its invites: the lead's owner, or the company (`person` False)."""

    name: str
    email: str
    person: bool
    timezone: str


@dataclass(frozen=True)
class Person:
    """Who the mail is about or from, as the templates see it (also for leads not in the database)."""

    first_name: str
    last_name: str
    company: str
    email: str
    display_name: str


def company_template_dir(slug: str) -> Path:
    """Where an operator puts a company's own templates (same names as crm/email/templates, e.g.
    follow_up.html): <var>/companies/<slug>/email. A file there replaces the shipped one for that company
    only; the others stay the shipped ones. Files, not database rows: a template is code (Jinja), so only
    whoever runs the installation writes one, never a company admin through a form."""
    return var_dir() / "companies" / slug / "email"


def _override_dir() -> str | None:
    slug = email_settings.company().slug
    if slug is None:
        return None
    folder = company_template_dir(slug)
    return str(folder) if folder.is_dir() else None


@cache
def environment(language: str, override_dir: str | None = None) -> Environment:
    """The templates with `language`'s ``email`` catalogue installed (one environment per language and
    company template folder); `override_dir`'s files go over the shipped ones."""
    folders = [override_dir, str(TEMPLATE_DIR)] if override_dir else [str(TEMPLATE_DIR)]
    env = Environment(
        loader=FileSystemLoader(folders),
        # HTML escaped, plain text not (escaping would show "&amp;" to the reader).
        autoescape=select_autoescape(
            enabled_extensions=("html",), disabled_extensions=("txt",), default_for_string=True, default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        extensions=["jinja2.ext.i18n"],
    )
    # The i18n extension adds install_gettext_translations to the environment at run time (no stub knows it).
    env.install_gettext_translations(catalogs.translations(language, DOMAIN), newstyle=True)  # type: ignore[attr-defined]
    return env


def language_for(lead: Any, language: str | None = None) -> str:
    """The language asked for, else the lead's, else its company's (Company.language), else the default."""
    for candidate in (language, getattr(lead, "language", None)):
        if candidate in LANGUAGES:
            return candidate
    row = settings_store.company() if has_app_context() else None
    return row.language if row is not None and row.language in LANGUAGES else DEFAULT_LANGUAGE


def template_file(template: str, step: int | None = None) -> str:
    """The template's file stem: "nurture" with step n is nurture_<n> (steps past the last repeat it)."""
    if template == "nurture":
        return f"nurture_{min(max(int(step or 1), 1), NURTURE_STEPS)}"
    if re.fullmatch(r"nurture_[1-9]", template) or template in TEMPLATES or template in APPOINTMENT_TEMPLATES:
        return template
    raise UnknownTemplate(f"unknown email template {template!r}")


def format_when(moment: datetime, tz_name: str, language: str) -> str:
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    tz = ZoneInfo(tz_name)
    locale = locale_for(language)
    # The locale's full date ("Donnerstag, 3. Dezember 2026", "Thursday, 3 December 2026", "jeudi 3 décembre
    # 2026"), in the signer's zone.
    date_part = format_date(moment.astimezone(tz), "full", locale=locale)
    time_part = format_datetime(moment, "HH:mm", tzinfo=tz, locale=locale)
    zone = format_datetime(moment, "z", tzinfo=tz, locale=locale)
    if zone[:1] in "+-":  # no short name in this locale (fr: "+0100"): "UTC+01:00" as its readers write it
        zone = format_datetime(moment, "ZZZZ", tzinfo=tz, locale=locale)
    return catalogs.gettext(
        language, DOMAIN, N_("%(date)s at %(time)s (%(zone)s)"), date=date_part, time=time_part, zone=zone
    )


def _person(lead: Any) -> Person | None:
    if lead is None:
        return None
    first = (getattr(lead, "first_name", None) or "").strip()
    last = (getattr(lead, "last_name", None) or "").strip()
    company = (getattr(lead, "company", None) or "").strip()
    email = getattr(lead, "email", None) or ""
    display = " ".join(p for p in (first, last) if p) or company or email
    return Person(first, last, company, email, display)


def _pairs(metrics: Any) -> list[tuple[Any, Any]]:
    if not metrics:
        return []
    return list(metrics.items()) if isinstance(metrics, dict) else [tuple(m) for m in metrics]


def greeting(person: Person | None, language: str) -> str:
    """The salutation. German and French mails address the reader formally (first and last name), English
    ones by the first name: a convention of the language, like its date format; the words are the catalogue's."""
    if person is None:
        name = ""
    elif language in FULL_NAME_GREETING:
        name = " ".join(p for p in (person.first_name, person.last_name) if p)
    else:
        name = person.first_name
    if not name:
        return catalogs.gettext(language, DOMAIN, N_("Hello,"))
    return catalogs.gettext(language, DOMAIN, N_("Hello %(name)s,"), name=name)


def _owner(lead: Any) -> Signer:
    owner = getattr(lead, "owner", None) if lead is not None else None
    if owner is not None and getattr(owner, "email", None):
        return {
            "name": owner.name,
            "email": owner.email,
            "person": True,
            "timezone": getattr(owner, "timezone", None) or _company_timezone(),
        }
    # No owner yet: the company signs, and the company's sender address organises invites in its zone.
    address, name = email_settings.sender_address()
    return {"name": name, "email": address, "person": False, "timezone": _company_timezone()}


def _company_timezone() -> str:
    row = settings_store.company() if has_app_context() else None
    return (row.timezone if row is not None else None) or DEFAULT_TIMEZONE


def _appointment(lead: Any, context: dict[str, Any], owner: Signer, language: str) -> dict | None:
    appt = context.get("appointment", "lookup")
    if appt == "lookup":
        appt = latest_appointment(getattr(lead, "id", None))
    if appt is None:
        return None
    tz_name = owner["timezone"] or DEFAULT_TIMEZONE
    return {
        "id": appt.id,
        "when": format_when(appt.starts_at, tz_name, language),
        "ends": format_when(appt.ends_at, tz_name, language),
        "minutes": int((appt.ends_at - appt.starts_at).total_seconds() // 60),
        "title": appt.title or "",
        "location": appt.location or "",
        "timezone": tz_name,
    }


def latest_appointment(lead_id: int | None):
    """The lead's most recently booked confirmed appointment, or None (also outside a database)."""
    if not lead_id:
        return None

    return db.session.scalar(
        sa.select(Appointment)
        .where(Appointment.lead_id == lead_id, Appointment.status == AppointmentStatus.CONFIRMED)
        .order_by(Appointment.created_at.desc(), Appointment.id.desc())
        .limit(1)
    )


def render(template: str, lead: Any, context: dict[str, Any] | None = None, language: str | None = None) -> Rendered:
    """Render one email. `lead` is a Lead (or anything with its name/email attributes; None for the
    manager report, whose recipient comes in context["recipient"]). Context keys the templates use:
    step (nurture), appointment (booking; looked up when absent), material_url, unsubscribe_url
    (overrides the lead's link; the manager report's opt-out page), period, metrics, rows, report_url.
    """
    context = dict(context or {})
    language = language_for(lead, language)
    name = template_file(template, context.get("step"))
    env = environment(language, _override_dir())
    owner = _owner(lead)
    values: dict[str, Any] = {
        "lang": language,
        "company": email_settings.company(),
        "lead": _person(lead),
        "owner": owner,
        "step": context.get("step") or 1,
        "material_url": context.get("material_url") or email_settings.company().website,
        "appointment": None,
        "recipient": _person(context.get("recipient")),
        "period": context.get("period", ""),
        "metrics": _pairs(context.get("metrics")),
        "rows": context.get("rows") or [],
        "report_url": context.get("report_url") or "",
        "is_report": name == "manager_report",
    }
    values["greeting"] = greeting(values["lead"] or values["recipient"], language)
    if name == "booking_confirmation" or name in APPOINTMENT_TEMPLATES:
        values["appointment"] = _appointment(lead, context, owner, language)
    # The signed link to move or cancel the appointment (crm/email/appointment_links.py), and which change a
    # mail about the appointment reports.
    values["manage_url"] = context.get("manage_url") or ""
    values["change"] = context.get("change") or ""
    values["unsubscribe_url"] = context.get("unsubscribe_url") or (
        unsubscribe_url(getattr(lead, "id", None))
        if lead is not None
        else f"{email_settings.public_url()}/settings/reports"
    )
    try:
        text_template = env.get_template(f"{name}.txt")
        html_template = env.get_template(f"{name}.html")
    except Exception as e:  # TemplateNotFound
        raise UnknownTemplate(f"no template {name!r}") from e
    subject_block = text_template.blocks.get("subject")
    if subject_block is None:
        raise UnknownTemplate(f"template {name}.txt has no subject block")
    subject = "".join(subject_block(text_template.new_context(values)))
    # A subject is one line: lead data must not be able to add headers or lines.
    subject = re.sub(r"\s+", " ", subject).strip()[:250]
    return Rendered(subject, html_template.render(values), text_template.render(values))
