"""Settings → company: the signed-in admin's own company profile (name, time zone, Bundesland, language),
its sender and imprint for email, and its branding (colour, logo) in mail, PDF reports and this header.

Every page of a company shows its name, logo and colour in the header (`company_brand`, a context processor
for every template; the colour through /settings/brand.css, since the pages' CSP allows no inline style).
The profile is the row crm.models.Company of the current company; nothing here reads a company id from
the form or the URL, so an admin can only ever edit their own."""

from __future__ import annotations

import re
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import abort, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user

from crm.email.settings import DEFAULT_BRAND_COLOR
from crm.extensions import db
from crm.languages import NAMES as LANGUAGE_NAMES
from crm.models.companies import STATES
from crm.services import audit, settings_store
from crm.ui.access import admin_only
from crm.ui.i18n import _
from crm.ui.settings.blueprint import actor, bp

FIELDS = ("name", "timezone", "state", "language", "brand_color", "logo_url", "sender_email", "sender_name", "imprint")
COLOR = re.compile(r"#[0-9a-fA-F]{6}")
# An https logo (emails load it; the UI header and PDFs do not fetch foreign URLs) or an inline image.
LOGO = re.compile(r"https://[^\s\"'<>]+|data:image/(png|jpeg|gif|svg\+xml|webp)(;base64)?,[A-Za-z0-9+/=%._~:;,!*()'-]+")
EMAIL = re.compile(r"[^\s@<>\"',;:]+@[^\s@<>\"',;:]+\.[A-Za-z]{2,}")
LIMITS = {"name": 200, "logo_url": 500, "sender_email": 254, "sender_name": 200, "imprint": 2000}


class ProfileError(ValueError):
    def __init__(self, problems: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in problems.items()))
        self.problems = problems


def validate(form: Any) -> dict[str, Any]:
    """The form's values as the company row stores them; ProfileError names every field it refuses."""
    values: dict[str, Any] = {}
    problems: dict[str, str] = {}
    for field in FIELDS:
        raw = form.get(field, "")
        raw = raw.strip() if isinstance(raw, str) else ""
        if field == "imprint":
            raw = "\n".join(line.rstrip() for line in raw.replace("\r\n", "\n").split("\n")).strip()
        if field in LIMITS and len(raw) > LIMITS[field]:
            problems[field] = _("at most %(num)d characters", num=LIMITS[field])
        values[field] = raw or None
    if not values["name"]:
        problems["name"] = _("the company needs a name")
    zone = values["timezone"]
    try:
        if not zone or zone not in available_timezones():
            raise ZoneInfoNotFoundError(zone)
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        problems["timezone"] = _("not a time zone (e.g. Europe/Berlin)")
    if values["state"] is not None and values["state"] not in STATES:
        problems["state"] = _("not a German state")
    if values["language"] not in LANGUAGE_NAMES:
        problems["language"] = _("not a language of leadchain")
    if values["brand_color"] is not None and not COLOR.fullmatch(values["brand_color"]):
        problems["brand_color"] = _("a colour as #rrggbb")
    if values["logo_url"] is not None and not LOGO.fullmatch(values["logo_url"]):
        problems["logo_url"] = _("an https:// address or a data:image/ URI")
    if values["sender_email"] is not None and not EMAIL.fullmatch(values["sender_email"]):
        problems["sender_email"] = _("not an email address")
    if values["sender_name"] is not None and re.search(r"[\r\n<>\"]", values["sender_name"]):
        problems["sender_name"] = _("no line breaks, quotes or angle brackets")
    if problems:
        raise ProfileError(problems)
    return values


def _profile(row) -> dict[str, Any]:
    return {field: getattr(row, field) for field in FIELDS}


def _page(row, values: dict[str, Any], problems: dict[str, str] | None = None, status: int = 200):
    return render_template(
        "ui/settings/company.html",
        company=row,
        values={k: v or "" for k, v in values.items()},
        problems=problems or {},
        states=STATES,
        languages=LANGUAGE_NAMES,
        default_color=DEFAULT_BRAND_COLOR,
    ), status


def _company_or_404():
    row = settings_store.company()
    if row is None:  # an operator outside any company: there is no profile to show
        abort(404)
    return row


@bp.get("/company")
@admin_only
def company():
    """The company's profile, sender, imprint and branding."""
    row = _company_or_404()
    return _page(row, _profile(row))


@bp.post("/company")
@admin_only
def save_company():
    """Store the profile (audited as company.update); a bad field is refused with 422 naming it."""
    row = _company_or_404()
    try:
        values = validate(request.form)
    except ProfileError as e:
        return _page(row, {f: request.form.get(f, "") for f in FIELDS}, e.problems, 422)
    before = _profile(row)
    changed = {k: v for k, v in values.items() if before[k] != v}
    if changed:
        for key, value in changed.items():
            setattr(row, key, value)
        audit.record(
            actor(),
            "company.update",
            "company",
            row.id,
            before={k: before[k] for k in changed},
            after=changed,
        )
        db.session.commit()
    flash(_("Company profile saved."), "success")
    return redirect(url_for("settings.company"))


# ---------------------------------------------------------------- the header of every page


def _header_logo(url: str | None) -> str | None:
    # The pages' CSP loads images from this site and data: URIs only; an https logo shows in mail.
    return url if url and url.startswith("data:image/") else None


@bp.app_context_processor
def _company_brand() -> dict[str, Any]:
    def company_brand() -> dict[str, Any] | None:
        row = settings_store.company()
        if row is None:
            return None
        color = row.brand_color if row.brand_color and COLOR.fullmatch(row.brand_color) else None
        return {
            "name": row.name,
            "logo": _header_logo(row.logo_url),
            "css": url_for("settings.brand_css", v=color.lstrip("#")) if color else None,
        }

    return {"company_brand": company_brand}


@bp.get("/brand.css")
def brand_css():
    """The current company's colour as a stylesheet (empty without a company or a colour)."""
    # Asking for the user is what signs the session's user in and binds its company (crm.tenancy.web):
    # this route needs no sign-in, so nothing else here would.
    row = settings_store.company() if current_user.is_authenticated else None
    color = row.brand_color if row is not None and row.brand_color and COLOR.fullmatch(row.brand_color) else None
    css = ""
    if color:
        css = (
            f":root {{ --brand-color: {color}; }}\n"
            f".site-header {{ border-top: 4px solid {color}; }}\n"
            f".site-header .brand {{ color: {color}; }}\n"
        )
    response = make_response(css)
    response.headers["Content-Type"] = "text/css; charset=utf-8"
    # One company's colour: kept by this browser only, re-read when the URL's version (the colour) changes.
    response.headers["Cache-Control"] = "private, max-age=3600"
    return response
