"""The inbound dialog's CRM access (issue 17): which company and number a call to one of the company's
numbers belongs to, what the dialog knows about the caller, and the changes it makes (move or cancel an
appointment through crm.services.appointments, answer from the knowledge base, take a message, record
the call's outcome).

Synchronous functions for a Flask app context, run by the CRM tools in worker threads
(voice.bridge.inbound_tools): `company_for_inbound` in a short operator context, the others in the call's
company's unit of work. Everything a change writes is keyed by the call id, so a replayed turn changes once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.inbound import calls, knowledge, messages
from crm.inbound.numbers import route_number
from crm.inbound.recognition import UPCOMING_APPOINTMENTS, within_hours
from crm.models import Appointment, AppointmentStatus, PhoneNumber
from crm.services import appointments
from voice.bridge.dialog.types import CallerAppointment, InboundCaller
from voice.bridge.lead_records import as_int, call_actor, live_lead
from voice.bridge.offers import SlotChoice, SlotOffer, satisfies
from voice.bridge.timeprefs.constraint import TimeConstraint


def is_inbound(metadata: dict[str, Any] | None) -> bool:
    return (metadata or {}).get("direction") == "inbound" and as_int((metadata or {}).get("inbound_number")) is not None


def company_for_inbound(metadata: dict[str, Any] | None) -> int | None:
    """The company of the number the metadata names: the metadata is what our own inbound webhook answered
    the provider (crm.inbound.recognition.CallerContext.metadata), echoed on the provider's authenticated
    connection. Reads across companies: run it in a short operator context."""
    number_id = as_int((metadata or {}).get("inbound_number"))
    if number_id is None:
        return None
    return db.session.scalar(sa.select(PhoneNumber.company_id).where(PhoneNumber.id == number_id))


@dataclass(frozen=True)
class Opened:
    caller: InboundCaller
    lead_id: int | None
    language: str  # the number's: what the agent speaks to a caller whose own language is not known


def open_call(call_id: str, provider: str, metadata: dict[str, Any], now: datetime) -> Opened | None:
    """The inbound caller of a call (in its company's scope) and the call's record, made once per call id.
    None: the number is gone (the dialog then speaks as if outbound facts were missing)."""
    number = db.session.get(PhoneNumber, as_int(metadata.get("inbound_number")))
    if number is None:
        return None
    route = route_number(number.e164, number.provider)
    lead = live_lead(as_int(metadata.get("lead_id")))
    rows = []
    if lead is not None:
        rows = list(
            db.session.scalars(
                sa.select(Appointment)
                .where(
                    Appointment.lead_id == lead.id,
                    Appointment.status == AppointmentStatus.CONFIRMED,
                    Appointment.starts_at > now.astimezone(UTC),
                )
                .order_by(Appointment.starts_at)
                .limit(UPCOMING_APPOINTMENTS)
            )
        )
    hours = within_hours(route, now) if route is not None else False
    calls.record(provider, call_id, number_id=number.id, lead_id=lead.id if lead else None, within_hours=hours, now=now)
    db.session.commit()
    status = str(metadata.get("caller_status") or ("known" if lead is not None else "withheld"))
    caller = InboundCaller(
        number_id=number.id,
        greeting_name=(route.greeting_name or route.company_name) if route else (number.greeting_name or ""),
        status=status,
        within_hours=hours,
        transfer_target=number.transfer_e164,
        appointments=tuple(
            CallerAppointment(a.id, appointments.as_utc(a.starts_at), appointments.as_utc(a.ends_at), a.ics_sequence)
            for a in rows
        ),
        objected_to_calls=bool(lead is not None and lead.do_not_contact),
    )
    return Opened(caller, lead.id if lead is not None else None, number.language)


def _owned(appointment_id: int, lead_id: int | None) -> Appointment | None:
    """The appointment, when it is the caller's own (a caller changes only their own)."""
    appt = db.session.get(Appointment, appointment_id)
    if appt is None or lead_id is None:
        return None
    lead = live_lead(appt.lead_id)
    return appt if lead is not None and lead.id == lead_id else None


def move_slots(appointment_id: int, lead_id: int | None, constraint: TimeConstraint, now: datetime) -> SlotOffer:
    """Where the caller's appointment can move (its owner's free times, crm.services.appointments), the
    first that satisfies the wish as `wished`, else the earliest two as alternatives."""
    appt = _owned(appointment_id, lead_id)
    if appt is None:
        raise LookupError("not the caller's appointment")
    length = appointments.as_utc(appt.ends_at) - appointments.as_utc(appt.starts_at)
    free = [SlotChoice(s, s + length, appt.owner_id) for s in appointments.free_slots(appt, now, count=400)]
    matching = [s for s in free if satisfies(constraint, s.start, s.end)]
    if matching:
        return SlotOffer(wished=matching[0], alternatives=tuple(matching[1:2]), wish_free=True, owner_id=appt.owner_id)
    return SlotOffer(
        wished=None,
        alternatives=tuple(free[:2]),
        owner_id=appt.owner_id,
        no_match_reason="full" if free else "unavailable",
    )


def move(appointment_id: int, lead_id: int | None, sequence: int, start: datetime, call_id: str) -> str:
    """Move the caller's appointment (the .ics sequence it was read at: a replay is "stale", never a second
    change); crm.services.appointments' outcome."""
    if _owned(appointment_id, lead_id) is None:
        return "not_found"
    db.session.rollback()  # appointments opens its own writing transaction
    result = appointments.reschedule(appointment_id, start, actor=call_actor(call_id), expected_sequence=sequence)
    return result.outcome


def cancel(appointment_id: int, lead_id: int | None, sequence: int, call_id: str) -> str:
    if _owned(appointment_id, lead_id) is None:
        return "not_found"
    db.session.rollback()
    result = appointments.cancel(appointment_id, actor=call_actor(call_id), expected_sequence=sequence)
    return result.outcome


def confirm_booking(appointment_id: int, lead_id: int | None) -> bool:
    """Queue the confirmation of an appointment the caller booked in this call (crm.services.appointments'
    ledger: one mail per appointment and state, whatever the retries). An outbound call's booking is
    confirmed by its chain's follow-up; an inbound call is none of the chain's calls, so it is queued here."""
    appt = _owned(appointment_id, lead_id)
    if appt is None:
        return False
    appointments.queue_mail(appt, "booked")
    db.session.commit()
    return True


def answer(number_id: int, question: str) -> str | None:
    found = knowledge.answer(number_id, question)
    return found.answer if found is not None else None


def leave_task(
    call_id: str, provider: str, number_id: int, lead_id: int | None, kind: str, text: str, now: datetime
) -> int:
    """A task for a person (kind: question | message | callback) with what the caller said, and a note on
    the lead's timeline; once per call and kind (crm.inbound.messages, shared with Bland's tools)."""
    lead = live_lead(lead_id)
    number = db.session.get(PhoneNumber, number_id)
    owner = (lead.owner_id if lead is not None else None) or (number.default_owner_id if number else None)
    return messages.leave_task(
        provider,
        call_id,
        lead_id=lead.id if lead is not None else None,
        owner_id=owner,
        kind=kind,
        text=text,
        actor=call_actor(call_id),
        now=now,
    )


def set_outcome(
    call_id: str, provider: str, outcome: str, *, needed_person: bool = False, callback_requested: bool = False
) -> None:
    row = calls.find(provider, call_id)
    if row is None:
        return
    calls.set_outcome(row, outcome, needed_person=needed_person, callback_requested=callback_requested)
    db.session.commit()
