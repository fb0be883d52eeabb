"""Apply normalised call events to the CRM: one call interaction per provider call, moved forward only.

Duplicated or reordered webhooks end in the same record as a clean run: each field takes the value of the
furthest-along event that carries it, and nothing an earlier stage knows overwrites a later one.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Direction, Interaction, InteractionKind, Lead, SideEffect
from crm.models.types import utcnow
from crm.services import call_outbox
from providers.events import STATUS_RANK, CallEvent, call_result
from workflows.payloads import CallResult
from workflows.vocabulary import CALL_END_STATUSES, CallOutcome, CallStatus


def _find_lead(event: CallEvent) -> int | None:
    if event.lead_id and db.session.get(Lead, event.lead_id) is not None:
        return event.lead_id
    if event.idempotency_key:
        return db.session.scalar(sa.select(SideEffect.lead_id).where(SideEffect.key == event.idempotency_key))
    return None


def has_booking(call: Interaction) -> bool:
    """True when the voice bridge booked a (still confirmed) appointment on this call: its id is in the
    call's data, or its key is "<call id>:<slot>". Such a call stays "booked" whatever the provider's
    post-call analysis says."""
    if not call.provider_ref:
        return False
    prefix = call.provider_ref.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + ":%"
    which: sa.ColumnElement[bool] = Appointment.idempotency_key.like(prefix, escape="\\")
    appointment_id = (call.data or {}).get("appointment_id")
    if isinstance(appointment_id, int):
        which = sa.or_(which, Appointment.id == appointment_id)
    return (
        db.session.scalar(
            sa.select(Appointment.id).where(which, Appointment.status == AppointmentStatus.CONFIRMED).limit(1)
        )
        is not None
    )


def apply_event(event: CallEvent) -> Interaction | None:
    """Upsert the call's interaction from `event`. Returns None for a call we do not know (not ours).
    The caller commits."""
    call = _locked_call(event)
    if call is None:
        return None
    data = dict(call.data or {})
    stage_now = data.get("stage", CallStatus.QUEUED)
    forward = STATUS_RANK[event.stage] >= STATUS_RANK.get(stage_now, 0)
    if forward:
        data["stage"] = event.stage
    _merge_fields(call, data, event, forward)
    if event.terminal:
        _merge_ending(call, data, event, forward)
    else:
        if event.classification:
            # A classification that comes apart from the end (the voice bridge's record of a twilio_realtime
            # call, which may arrive before or after Twilio's end status).
            _merge_classification(call, event.classification, forward)
        if STATUS_RANK[event.stage] > STATUS_RANK.get(stage_now, 0) and call.status != CallStatus.ENDED:
            call.status = event.stage
    if event.final:
        data["final"] = True
    if event.chain_id and "chain_id" not in data:
        data["chain_id"] = event.chain_id
    data.setdefault("events", [])
    if event.event_id not in data["events"]:
        data["events"] = (data["events"] + [event.event_id])[-20:]
    call.data = data
    call.updated_at = utcnow()
    return call


def _locked_call(event: CallEvent) -> Interaction | None:
    """The call's interaction, locked for update; inserted for a known lead when it is new. None: not ours."""
    call = db.session.scalar(
        sa.select(Interaction)
        .where(Interaction.provider == event.provider, Interaction.provider_ref == event.call_id)
        .with_for_update()
    )
    if call is not None:
        return call
    lead_id = _find_lead(event)
    if lead_id is None:
        return None
    call = Interaction(
        lead_id=lead_id,
        kind=InteractionKind.CALL,
        direction=Direction.OUTBOUND,
        provider=event.provider,
        provider_ref=event.call_id,
        status=CallStatus.QUEUED,
        created_by="provider",
    )
    try:
        with db.session.begin_nested():
            db.session.add(call)
    except sa.exc.IntegrityError:
        # A concurrent delivery inserted the call first: update that row.
        existing = db.session.scalar(
            sa.select(Interaction)
            .where(Interaction.provider == event.provider, Interaction.provider_ref == event.call_id)
            .with_for_update()
        )
        if existing is None:
            raise  # the row we collided with is gone again: the provider's retry starts over
        call = existing
    return call


def _merge_fields(call: Interaction, data: dict[str, Any], event: CallEvent, forward: bool) -> None:
    """Fill each field from the event unless a later stage already set it."""
    fields = {
        "started_at": event.started_at,
        "ended_at": event.ended_at,
        "duration_s": event.duration_s,
        "summary": event.summary,
        "sentiment": event.sentiment,
        "recording_url": event.recording_url,
        "cost_cents": event.cost_cents,
    }
    for name, value in fields.items():
        if value is not None and (forward or getattr(call, name) is None):
            setattr(call, name, value)
    if event.cost_cents is not None and (forward or call.currency is None):
        call.currency = event.currency
    if event.transcript is not None and (forward or not call.transcript):
        call.transcript = [asdict(t) for t in event.transcript]
    if event.analysis is not None and (forward or "analysis" not in data):
        data["analysis"] = event.analysis


def _merge_ending(call: Interaction, data: dict[str, Any], event: CallEvent, forward: bool) -> None:
    """An ended call: end status, answered and outcome (a classification beats a bare end status; a
    confirmed appointment makes it booked)."""
    if event.end_status and (forward or "end_status" not in data):
        data["end_status"] = event.end_status
    if event.answered is not None and (forward or "answered" not in data):
        data["answered"] = event.answered
    if event.classification:
        _merge_classification(call, event.classification, forward)
    elif event.end_status and (not call.outcome or (forward and call.outcome in CALL_END_STATUSES)):
        # Still only an end status: a later stage may correct it (e.g. completed → no_answer).
        call.outcome = event.end_status
    call.status = CallStatus.ENDED
    if call.outcome != CallOutcome.BOOKED and has_booking(call):
        call.outcome = CallOutcome.BOOKED


def _merge_classification(call: Interaction, classification: str, forward: bool) -> None:
    """A classification beats a bare end status (or none), whichever came first; between two
    classifications the later stage's wins. On an ended call a confirmed appointment still makes it booked."""
    if forward or not call.outcome or call.outcome in CALL_END_STATUSES:
        call.outcome = classification
    if call.status == CallStatus.ENDED and call.outcome != CallOutcome.BOOKED and has_booking(call):
        call.outcome = CallOutcome.BOOKED


def result_for(call: Interaction) -> CallResult | None:
    """The chain's view of an ended call, from the merged CRM record (so every delivery says the same)."""
    data = call.data or {}
    # A provider call always has its provider and reference (apply_event sets both); testing them
    # narrows the columns' types.
    if call.status != CallStatus.ENDED or not data.get("final") or call.provider is None or call.provider_ref is None:
        return None
    end_status = data.get("end_status") or (CallStatus.COMPLETED if data.get("answered") else CallStatus.FAILED)
    classification = call.outcome if call.outcome not in (None, end_status) else None
    return call_result(
        call.provider,
        call.provider_ref,
        answered=bool(data.get("answered")),
        status=end_status,
        classification=classification,
        duration_s=call.duration_s or 0,
    )


def queue_result(call: Interaction, *, hold_s: float = 0.0) -> bool:
    """Put the ended call's result in the outbox for its chain (crm/services/call_outbox.py), in the
    caller's transaction. False when there is nothing to deliver yet (not final) or no chain to tell.

    `hold_s` > 0: a report that classifies the call is still to come (the voice bridge's record of a
    twilio_realtime call whose end status came first): the result waits that long in the outbox, then goes
    as it is. A later queue_result without a hold (the report's) refreshes the waiting result and makes it
    due at once. Either way the outbox keeps one row per call and the chain takes one result per call."""
    result = result_for(call)
    chain_id = (call.data or {}).get("chain_id")
    if result is None or not isinstance(chain_id, str) or not chain_id:
        return False
    row = call_outbox.enqueue(chain_id, result)
    if row.delivered_at is None and not row.attempts:
        # Only a row never tried: a failed delivery's backoff stays as the relay set it.
        now = utcnow()
        if hold_s > 0:
            row.next_attempt_at = now + timedelta(seconds=hold_s)
        elif row.next_attempt_at is not None and row.next_attempt_at > now:
            row.next_attempt_at = now
    return True
