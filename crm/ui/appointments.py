"""An appointment on the lead page: move it to a free slot, cancel it, or mark a no-show.

GET  /leads/<id>/appointments/<appointment id>              the appointment and its owner's free slots
POST /leads/<id>/appointments/<appointment id>/reschedule   move to a free slot (form: start, sequence)
POST /leads/<id>/appointments/<appointment id>/cancel       cancel (form: sequence)
POST /leads/<id>/appointments/<appointment id>/no-show      the lead did not come (after the start)

Managers and admins, and the rep whose appointment it is (else 403); a lead the user may not see, or an
appointment not of this lead, is 404 (another company's is not there at all). Every change goes through
crm.services.appointments (the one path: once per change, the .ics sequence, the timeline, one mail). The
forms carry the sequence the page showed, so a double submit or a page left open over a change is refused
("the appointment has changed") rather than applied twice. CSRF-protected like every UI form.
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for

from crm.extensions import db
from crm.models import Appointment, Lead, User
from crm.models.calendars import CalendarConnection, CalendarEvent
from crm.services import appointments as service
from crm.ui.access import MANAGERS, any_role, lead_or_404, user
from crm.ui.i18n import _
from crm.ui.leads import actor, helpers

bp = Blueprint("appointments", __name__)
bp.context_processor(helpers)

REFUSED = {
    "stale": lambda: _("The appointment has changed meanwhile; nothing was changed. Please check it again."),
    "taken": lambda: _("This time is no longer free. Please choose another."),
    "closed": lambda: _("The appointment is cancelled or closed; it cannot be changed."),
    "past": lambda: _("The appointment has begun; it can no longer be moved or cancelled."),
    "invalid": lambda: _("This cannot be done with the appointment now."),
    "not_found": lambda: _("The appointment has changed meanwhile; nothing was changed. Please check it again."),
}


def _appointment_or_404(lead: Lead, appointment_id: int) -> Appointment:
    appt = db.session.get(Appointment, appointment_id)
    if appt is None or appt.lead_id != lead.id:
        abort(404)
    who = user()
    if who.role not in MANAGERS and appt.owner_id != who.id:
        abort(403)
    return appt


def _sequence() -> int | None:
    raw = (request.form.get("sequence") or "").strip()
    return int(raw) if raw.isdigit() and len(raw) < 9 else None


def _back(lead: Lead, appt: Appointment):
    return redirect(url_for("appointments.show", lead_id=lead.id, appointment_id=appt.id), code=303)


def _result(lead: Lead, appt: Appointment, result: service.ChangeResult, done: str):
    if result.changed:
        flash(done, "success")
        return redirect(url_for("leads.show", lead_id=lead.id), code=303)
    flash(REFUSED[result.outcome](), "error")
    return _back(lead, appt)


def placements(appointment_id: int) -> list[tuple[CalendarEvent, CalendarConnection]]:
    """Where the appointment's event lives: each connected calendar it was written to (issue 18)."""
    rows = db.session.execute(
        sa.select(CalendarEvent, CalendarConnection)
        .join(CalendarConnection, CalendarConnection.id == CalendarEvent.connection_id)
        .where(CalendarEvent.appointment_id == appointment_id)
        .order_by(CalendarEvent.id)
    ).all()
    return [(event, connection) for event, connection in rows]


@bp.get("/leads/<int:lead_id>/appointments/<int:appointment_id>")
@any_role
def show(lead_id: int, appointment_id: int):
    lead = lead_or_404(lead_id)
    appt = _appointment_or_404(lead, appointment_id)
    now = datetime.now(UTC)
    owner = db.session.get(User, appt.owner_id)
    changeable = service.is_open(appt, now)
    return render_template(
        "ui/leads/appointment.html",
        lead=lead,
        appt=appt,
        owner=owner,
        changeable=changeable,
        slots=service.free_slots(appt, now) if changeable else [],
        can_mark_no_show=(
            appt.no_show_at is None and appt.status.value == "confirmed" and service.as_utc(appt.starts_at) <= now
        ),
        calendar_events=placements(appt.id),
    )


@bp.post("/leads/<int:lead_id>/appointments/<int:appointment_id>/reschedule")
@any_role
def reschedule(lead_id: int, appointment_id: int):
    lead = lead_or_404(lead_id)
    appt = _appointment_or_404(lead, appointment_id)
    try:
        start = datetime.fromisoformat((request.form.get("start") or "").strip()[:40])
    except ValueError:
        flash(_("Please choose one of the free times."), "error")
        return _back(lead, appt)
    result = service.reschedule(appt.id, start, actor=actor(), expected_sequence=_sequence())
    return _result(lead, appt, result, _("The appointment was moved; the lead gets an updated invitation."))


@bp.post("/leads/<int:lead_id>/appointments/<int:appointment_id>/cancel")
@any_role
def cancel(lead_id: int, appointment_id: int):
    lead = lead_or_404(lead_id)
    appt = _appointment_or_404(lead, appointment_id)
    result = service.cancel(appt.id, actor=actor(), expected_sequence=_sequence())
    return _result(lead, appt, result, _("The appointment was cancelled; the lead is told by email."))


@bp.post("/leads/<int:lead_id>/appointments/<int:appointment_id>/no-show")
@any_role
def no_show(lead_id: int, appointment_id: int):
    lead = lead_or_404(lead_id)
    appt = _appointment_or_404(lead, appointment_id)
    result = service.mark_no_show(appt.id, actor=actor())
    return _result(lead, appt, result, _("Marked as a no-show; a callback task was created."))
