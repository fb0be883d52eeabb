"""An appointment of the lead (crm.ui.appointments): the page, move, cancel and no-show, for a user who may see
the lead (else 404); the appointment is the lead owner's, so the rep on their own lead may change it."""

from datetime import UTC, datetime, timedelta

from crm.extensions import db
from crm.models import Appointment, Lead
from crm.services import appointments as service
from tests.ui.route_expectations import Route

LENGTH = timedelta(minutes=30)


def _appointment(s, *, past: bool = False) -> dict:
    """A confirmed appointment of the subject's lead with its owner: ahead (a free slot) or begun an hour ago."""
    lead = db.session.get(Lead, s.lead)
    now = datetime.now(UTC)
    if past:
        start = (now - timedelta(hours=1)).replace(microsecond=0)
    else:
        start = service.free_times(lead.owner_id, LENGTH, now + timedelta(days=2), 1)[0]
    appt = Appointment(
        lead_id=lead.id, owner_id=lead.owner_id, starts_at=start, ends_at=start + LENGTH, title="Beratung"
    )
    db.session.add(appt)
    db.session.commit()
    target = service.free_slots(appt, now, 1)
    return {"appointment_id": appt.id, "start": target[0].isoformat() if target else ""}


def _past(s) -> dict:
    return _appointment(s, past=True)


def _state(s):
    appt = db.session.get(Appointment, s.extra["appointment_id"])
    return (appt.starts_at, appt.status, appt.ics_sequence, appt.no_show_at)


def _args(s) -> dict:
    return {"lead_id": s.lead, "appointment_id": s.extra["appointment_id"]}


CHANGED = {"anonymous": 302, "sales_own": 303, "sales_foreign": 404, "manager": 303, "admin": 303}

ROUTES = {
    "appointments.show": Route(
        setup=_appointment,
        url_args=_args,
        expect={"anonymous": 302, "sales_own": 200, "sales_foreign": 404, "manager": 200, "admin": 200},
    ),
    "appointments.reschedule": Route(
        method="POST",
        setup=_appointment,
        url_args=_args,
        data=lambda s: {"start": s.extra["start"], "sequence": "0"},
        snapshot=_state,
        isolated=True,
        expect=CHANGED,
    ),
    "appointments.cancel": Route(
        method="POST",
        setup=_appointment,
        url_args=_args,
        data=lambda s: {"sequence": "0"},
        snapshot=_state,
        isolated=True,
        expect=CHANGED,
    ),
    "appointments.no_show": Route(
        method="POST", setup=_past, url_args=_args, snapshot=_state, isolated=True, expect=CHANGED
    ),
}
