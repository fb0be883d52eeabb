"""A Bland inbound call's post-call webhook (the number's `webhook`, crm.inbound.bland_config): the flat call-details
object (docs/providers.md §3.5, `inbound: true`, `to` our number, `from` the caller), read with the outbound
adapter's parser (providers.bland.event_from_details). It closes the call's record: a transfer Bland made
(`transferred_to`) is the call's outcome; a call that reached no outcome stays "answered", so the missed-call
sweep (crm.inbound.missed) marks it abandoned and owes the caller a callback. The caller's timeline gets the
call with its transcript and summary. Once per call: the caller wraps it in the durable delivery record."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.inbound import calls
from crm.inbound.bland_actions import PROVIDER, actor
from crm.inbound.numbers import NumberRoute
from crm.inbound.recognition import within_hours
from crm.models import Direction, Interaction, InteractionKind, Lead
from providers.events import CallEvent


def finish(route: NumberRoute, event: CallEvent, details: dict[str, Any], now: datetime) -> dict[str, Any]:
    """Record the finished call; the webhook's answer."""
    started = event.started_at or now
    row = calls.record(
        PROVIDER,
        event.call_id,
        number_id=route.number_id,
        lead_id=None,
        within_hours=within_hours(route, started),
        now=started,
    )
    transferred = details.get("transferred_to")
    if isinstance(transferred, str) and transferred.strip():
        calls.set_outcome(row, "transferred", needed_person=True, now=event.ended_at or now)
    row.ended_at = row.ended_at or event.ended_at or now
    lead = db.session.get(Lead, row.lead_id) if row.lead_id is not None else None
    if lead is not None:
        _timeline(lead, event, row.outcome)
    db.session.commit()
    return {"status": "recorded", "call": event.call_id, "outcome": row.outcome}


def _timeline(lead: Lead, event: CallEvent, outcome: str) -> None:
    found = db.session.scalar(
        sa.select(Interaction.id).where(Interaction.provider == PROVIDER, Interaction.provider_ref == event.call_id)
    )
    if found is not None:
        return
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.CALL,
            direction=Direction.INBOUND,
            provider=PROVIDER,
            provider_ref=event.call_id[:128],
            status="completed",
            started_at=event.started_at,
            ended_at=event.ended_at,
            duration_s=event.duration_s,
            subject="Inbound call",
            summary=event.summary,
            transcript=[asdict(t) for t in event.transcript or []],
            recording_url=event.recording_url,
            outcome=outcome,
            cost_cents=event.cost_cents,
            currency="USD" if event.cost_cents is not None else None,
            created_by=actor(event.call_id),
            created_at=datetime.now(UTC),
        )
    )
