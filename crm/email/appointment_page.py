"""The page behind the link in an appointment's mail: see it, move it to a free slot, or cancel it. No login.

GET  /appointment/<token>              the appointment and its owner's free slots; changes nothing (link
                                       scanners and prefetchers open links)
POST /appointment/<token>/reschedule   move to a free slot (form: start)
POST /appointment/<token>/cancel       cancel

The token (crm/email/appointment_links.py) is signed and names the appointment, its company and the
sequence it was sent with; it expires at the appointment's start. It works once per change: the change goes
through crm.services.appointments with that sequence, which refuses it once the appointment has changed
(a replay, a second click, an older mail's link). A bad request is a clear page, never a 500: forged or
unknown 404, used or out of date 409, expired or closed 410, a slot taken meanwhile 409 with the page again.

No CSRF token on these forms (the path is in crm.ui.security.CSRF_EXEMPT_PREFIXES): CSRF abuses a
browser's ambient credentials, and these routes use none (no session, no cookie): the signed token in the
URL is the whole authorisation, and a page that can forge the POST must already know the token.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Blueprint, make_response, render_template, request

from crm import catalogs
from crm.catalogs import N_
from crm.email.appointment_links import LinkClaim, read_token
from crm.email.render import format_when
from crm.email.settings import company
from crm.extensions import db
from crm.languages import DEFAULT_LANGUAGE, LANGUAGES
from crm.models import Appointment, AppointmentStatus, Lead, User
from crm.models import Company as CompanyRow
from crm.services import appointments as service
from crm.tenancy.web import bind_request_company

log = logging.getLogger(__name__)
bp = Blueprint("appointment_page", __name__)
ACTOR = "recipient:appointment_link"

TEXT = {
    "title": N_("Your appointment"),
    "when": N_("Your appointment with %(name)s: %(when)s"),
    "move": N_("Move to another time"),
    "move_button": N_("Move the appointment"),
    "no_slots": N_("There is no free time in the next two weeks. Please reply to the email."),
    "cancel": N_("Cancel the appointment"),
    "cancel_button": N_("Cancel the appointment"),
    "moved": N_("Your appointment is moved to %(when)s. An updated calendar invitation is on its way."),
    "cancelled": N_("Your appointment is cancelled. A cancellation for your calendar is on its way."),
    "invalid_title": N_("Invalid link"),
    "invalid": N_("This link is not valid. Please use the link from the email."),
    "used_title": N_("This link has been used"),
    "used": N_("The appointment has changed since this link was sent. Please use the link in the latest email."),
    "expired_title": N_("This link has expired"),
    "expired": N_("The appointment has begun or is over, so it can no longer be changed here."),
    "closed": N_("The appointment is cancelled; there is nothing left to change."),
    "taken": N_("This time is no longer free. Please choose another."),
    "choose": N_("Please choose one of the free times."),
}


def _t(lang: str, key: str, **values: str) -> str:
    return catalogs.gettext(lang, "email", TEXT[key], **values)


def _page(status: int, lang: str, title: str, lines: list[str], token: str | None = None, slots=None, tz=None):
    html = render_template(
        "ui/appointment_link.html",
        lang=lang,
        title=_t(lang, title),
        lines=lines,
        token=token,
        slots=[(s.isoformat(), format_when(s, tz, lang)) for s in (slots or [])],
        t={key: _t(lang, key) for key in ("move", "move_button", "no_slots", "cancel", "cancel_button")},
        company=company(),
    )
    response = make_response(html, status)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
    response.headers["X-Robots-Tag"] = "noindex"
    return response


def _guess_language() -> str:
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT_LANGUAGE


def _open(token: str):
    """(claim, appointment, lead, language) of a usable link, or the refusal page to answer."""
    claim: LinkClaim | None = read_token(token)
    if claim is None:
        return None, _page(404, _guess_language(), "invalid_title", [_t(_guess_language(), "invalid")])
    # The signature proves the token is ours; it names the company the appointment belongs to.
    bind_request_company(claim.company_id)
    appt = db.session.get(Appointment, claim.appointment_id)
    lead = db.session.get(Lead, appt.lead_id) if appt is not None and appt.lead_id else None
    if appt is None or lead is None:
        return None, _page(404, _guess_language(), "invalid_title", [_t(_guess_language(), "invalid")])
    lang = lead.language if lead.language in LANGUAGES else DEFAULT_LANGUAGE
    if claim.expired(datetime.now(UTC)):
        return None, _page(410, lang, "expired_title", [_t(lang, "expired")])
    if appt.ics_sequence != claim.sequence:
        return None, _page(409, lang, "used_title", [_t(lang, "used")])
    if appt.status != AppointmentStatus.CONFIRMED or appt.no_show_at is not None:
        return None, _page(410, lang, "expired_title", [_t(lang, "closed")])
    return (claim, appt, lead, lang), None


def _zone(appt: Appointment) -> str:
    owner = db.session.get(User, appt.owner_id)
    row = db.session.get(CompanyRow, appt.company_id)
    return (owner.timezone if owner else None) or (row.timezone if row else None) or "Europe/Berlin"


def _overview(token: str, appt: Appointment, lang: str, status: int = 200, note: str | None = None):
    owner = db.session.get(User, appt.owner_id)
    tz = _zone(appt)
    lines = [_t(lang, "when", name=owner.name if owner else company().name, when=format_when(appt.starts_at, tz, lang))]
    if note:
        lines.insert(0, _t(lang, note))
    return _page(status, lang, "title", lines, token=token, slots=service.free_slots(appt), tz=tz)


def _refused(token: str, result: service.ChangeResult, lang: str):
    if result.outcome == "taken" and result.appointment is not None:
        return _overview(token, result.appointment, lang, status=409, note="taken")
    if result.outcome == "stale":
        return _page(409, lang, "used_title", [_t(lang, "used")])
    if result.outcome == "not_found":
        return _page(404, lang, "invalid_title", [_t(lang, "invalid")])
    if result.outcome == "invalid" and result.appointment is not None:
        return _overview(token, result.appointment, lang, status=422, note="choose")
    return _page(410, lang, "expired_title", [_t(lang, "closed" if result.outcome == "closed" else "expired")])


@bp.get("/appointment/<token>")
def show(token: str):
    opened, refusal = _open(token)
    if refusal is not None:
        return refusal
    _, appt, _, lang = opened
    return _overview(token, appt, lang)


@bp.post("/appointment/<token>/reschedule")
def reschedule(token: str):
    opened, refusal = _open(token)
    if refusal is not None:
        return refusal
    claim, appt, _, lang = opened
    try:
        start = datetime.fromisoformat((request.form.get("start") or "").strip()[:40])
    except ValueError:
        return _overview(token, appt, lang, status=422, note="choose")
    result = service.reschedule(appt.id, start, actor=ACTOR, expected_sequence=claim.sequence)
    if not result.changed or result.appointment is None:
        return _refused(token, result, lang)
    when = format_when(result.appointment.starts_at, _zone(result.appointment), lang)
    return _page(200, lang, "title", [_t(lang, "moved", when=when)])


@bp.post("/appointment/<token>/cancel")
def cancel(token: str):
    opened, refusal = _open(token)
    if refusal is not None:
        return refusal
    claim, appt, _, lang = opened
    result = service.cancel(appt.id, actor=ACTOR, expected_sequence=claim.sequence)
    if not result.changed:
        return _refused(token, result, lang)
    return _page(200, lang, "title", [_t(lang, "cancelled")])
