"""What a Bland inbound call does in the CRM while it runs and when it ends (issue 17). Bland's agent runs at Bland:
it reaches the CRM through the number's custom tools (crm.inbound.bland_config.tools), one HTTP request per
tool use, and reports the finished call with its post-call webhook. Each function here is one tool's work, in
the call's company's scope, for a call our own dynamic_data answer recorded (crm.inbound.calls): the caller's
lead and number come from that row, never from the request. Every answer is a flat JSON object whose
`message` is the sentence the agent is told to say (Bland extracts it with the tool's `response` mapping).

The appointment changes go through crm.services.appointments like every other entrance: one .ics SEQUENCE
step, one timeline entry and one queued email per change. A caller changes only their own appointments."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from crm.extensions import db
from crm.inbound import calls, chain_notice, knowledge, messages
from crm.inbound.numbers import NumberRoute
from crm.inbound.recognition import company_zone
from crm.models import Appointment, InboundCall, Lead, LeadStatus
from crm.services import appointments, audit

PROVIDER = "bland"
LENGTH = timedelta(minutes=30)  # a new appointment's length: the phone bridge's (voice/bridge/availability.py)
OFFERED = 3  # free times offered per answer
Answer = dict[str, Any]


def actor(call_ref: str) -> str:
    return f"bland-inbound:{call_ref}"[:100]


@dataclass(frozen=True)
class Call:
    """One Bland inbound call as the CRM recorded it, with the number it came in on."""

    row: InboundCall
    route: NumberRoute

    @property
    def zone(self) -> ZoneInfo:
        return company_zone(self.route.company_timezone)

    @property
    def lead(self) -> Lead | None:
        return db.session.get(Lead, self.row.lead_id) if self.row.lead_id is not None else None

    def spoken(self, moment: datetime) -> str:
        """How the agent names a time (the format of the `upcoming_appointments` variable)."""
        return f"{appointments.as_utc(moment).astimezone(self.zone):%Y-%m-%d %H:%M}"


def find_call(route: NumberRoute, call_ref: str) -> Call | None:
    row = calls.find(PROVIDER, call_ref)
    if row is None or row.phone_number_id != route.number_id:
        return None
    return Call(row, route)


def _outcome(call: Call, outcome: str, *, callback_requested: bool = False) -> None:
    calls.set_outcome(call.row, outcome, callback_requested=callback_requested)
    db.session.commit()


def _parse_time(raw: object, call: Call) -> datetime | None:
    """An ISO 8601 time as the free_times answer gave it (`start`), or "YYYY-MM-DD HH:MM" in the number's zone."""
    if not isinstance(raw, str) or not raw.strip():
        return None
    try:
        moment = datetime.fromisoformat(raw.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return appointments.as_utc(moment if moment.tzinfo else moment.replace(tzinfo=call.zone))


def _choose(call: Call, named: object, now: datetime) -> Appointment | Answer:
    """The caller's own upcoming appointment they named (its start as listed, or "next"), or the only one."""
    found = appointments.upcoming(call.row.lead_id, now) if call.row.lead_id is not None else []
    if not found:
        return {"ok": False, "result": "no_appointment", "message": "There is no upcoming appointment to change."}
    if str(named or "").strip().lower() == "next":
        found = found[:1]
    elif (wanted := _parse_time(named, call)) is not None:
        found = [a for a in found if appointments.as_utc(a.starts_at) == wanted]
    if len(found) == 1:
        return found[0]
    listed = "; ".join(call.spoken(a.starts_at) for a in found)
    return {"ok": False, "result": "which", "message": f"Ask which appointment: {listed}."}


def _offer(slots: list[datetime], call: Call, lead: str) -> Answer:
    if not slots:
        return {"ok": False, "result": "none_free", "message": "No free time in the next two weeks.", "slots": []}
    items = [{"start": s.isoformat(), "spoken": call.spoken(s)} for s in slots[:OFFERED]]
    return {
        "ok": True,
        "result": "free",
        "slots": items,
        "first_start": items[0]["start"],
        "message": f"{lead} {' or '.join(i['spoken'] for i in items)}.",
    }


def free_times(call: Call, appointment: object, after: object, now: datetime) -> Answer:
    """Free times: for a move, the caller's appointment's owner's (its length); else a new appointment's."""
    earliest = _parse_time(after, call)
    if appointment not in (None, ""):
        chosen = _choose(call, appointment, now)
        if not isinstance(chosen, Appointment):
            return chosen
        slots = appointments.free_slots(chosen, now, count=400)
    else:
        owner = _owner(call)
        if owner is None:
            return {"ok": False, "result": "no_owner", "message": "Nobody to book with: take a message."}
        slots = appointments.free_times(owner, LENGTH, now, count=400)
    if earliest is not None:
        slots = [s for s in slots if s >= earliest]
    return _offer(slots, call, "Free times:")


def _owner(call: Call) -> int | None:
    lead = call.lead
    return (lead.owner_id if lead is not None else None) or call.route.default_owner_id


def book(call: Call, start_raw: object, now: datetime) -> Answer:
    """A new appointment for the known caller at a free time the free_times answer offered; one per call and
    start (a retried tool request answers the same appointment)."""
    lead, owner, start = call.lead, _owner(call), _parse_time(start_raw, call)
    if lead is None or owner is None:
        return {"ok": False, "result": "unknown_caller", "message": "Take their name and a message instead."}
    if start is None or start not in appointments.free_times(owner, LENGTH, now, count=400):
        return {"ok": False, "result": "taken", "message": "That time is not free: offer the free times again."}
    key = f"inbound:bland:{call.row.call_ref}:{start.isoformat()}"[:200]
    title = f"Termin ({call.route.greeting_name or call.route.company_name})"
    result = appointments.book(lead.id, owner, start, start + LENGTH, actor=actor(call.row.call_ref), key=key,
                               title=title)  # fmt: skip
    if result.outcome not in ("changed", "stale") or result.appointment is None:
        return {"ok": False, "result": result.outcome, "message": "That time is not free: offer the others."}
    appointment_id = result.appointment.id
    _mark_booked(lead.id, result.appointment, call.row.call_ref)
    _outcome(call, "booked")
    # As the bridge does for a Retell or Vapi call: "stale" (this call booked it already) too, the signal is
    # recorded once per call.
    chain_notice.tell_booking(lead.id, call.row.call_ref, appointment_id)
    return {"ok": True, "result": "booked", "appointment": call.spoken(start),
            "message": f"Booked for {call.spoken(start)}; a confirmation email is on its way."}  # fmt: skip


def _mark_booked(lead_id: int, appt: Appointment, call_ref: str) -> None:
    lead = db.session.get(Lead, lead_id)
    if lead is None or lead.status == LeadStatus.BOOKED:
        return
    before = audit.snapshot(lead)
    lead.status = LeadStatus.BOOKED
    lead.owner_id = lead.owner_id or appt.owner_id
    audit.record(actor(call_ref), "lead.booked", "lead", lead.id, before=before, after=audit.snapshot(lead))
    db.session.commit()


def move(call: Call, appointment: object, start_raw: object, now: datetime) -> Answer:
    chosen = _choose(call, appointment, now)
    if not isinstance(chosen, Appointment):
        return chosen
    start = _parse_time(start_raw, call)
    if start is None:
        return {"ok": False, "result": "invalid", "message": "Ask for the new time."}
    sequence, appointment_id = chosen.ics_sequence, chosen.id
    db.session.rollback()  # appointments opens its own writing transaction
    result = appointments.reschedule(appointment_id, start, actor=actor(call.row.call_ref), expected_sequence=sequence)
    if not result.changed:
        return {"ok": False, "result": result.outcome, "message": "That time is not free: offer the free times."}
    _outcome(call, "rescheduled")
    return {"ok": True, "result": "rescheduled", "appointment": call.spoken(start),
            "message": f"Moved to {call.spoken(start)}; an updated invitation is on its way."}  # fmt: skip


def cancel(call: Call, appointment: object, now: datetime) -> Answer:
    chosen = _choose(call, appointment, now)
    if not isinstance(chosen, Appointment):
        return chosen
    sequence, appointment_id, when = chosen.ics_sequence, chosen.id, call.spoken(chosen.starts_at)
    db.session.rollback()
    result = appointments.cancel(appointment_id, actor=actor(call.row.call_ref), expected_sequence=sequence)
    if not result.changed:
        return {"ok": False, "result": result.outcome, "message": "It could not be cancelled: take a message."}
    _outcome(call, "cancelled")
    return {"ok": True, "result": "cancelled", "message": f"The appointment on {when} is cancelled."}


def question(call: Call, text: object, now: datetime) -> Answer:
    """The knowledge base's answer; when nothing fits well, a task for a colleague with the caller's words."""
    asked = str(text or "")[:2000]
    found = knowledge.answer(call.route.number_id, asked) if asked.strip() else None
    if found is not None:
        _outcome(call, "question")
        return {"ok": True, "result": "answered", "message": found.answer}
    leave_task(call, "question", asked, now)
    _outcome(call, "message")
    return {"ok": True, "result": "asked_colleague", "message": "A colleague will answer and get back to them."}


def message(call: Call, text: object, callback: object, now: datetime) -> Answer:
    """A message for a person; a callback only when the caller asked for one in this call."""
    wants = str(callback or "").strip().lower() in ("true", "yes", "ja", "1", "oui")
    leave_task(call, "callback" if wants else "message", str(text or "")[:2000], now)
    _outcome(call, "message", callback_requested=wants)
    promise = " We will call them back." if wants else ""
    return {"ok": True, "result": "message", "callback": wants, "message": f"The message is passed on.{promise}"}


def leave_task(call: Call, kind: str, text: str, now: datetime) -> int:
    """A task for a person, once per call and kind, and a note on the caller's timeline (crm.inbound.messages)."""
    lead = call.lead
    return messages.leave_task(
        PROVIDER,
        call.row.call_ref,
        lead_id=lead.id if lead is not None else None,
        owner_id=_owner(call),
        kind=kind,
        text=text,
        actor=actor(call.row.call_ref),
        now=now,
    )
