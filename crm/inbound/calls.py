"""The record of each inbound call (crm.models.inbound.InboundCall): made when the call is answered (the
inbound webhook, or the voice bridge when the webhook had no call id), its outcome set by the dialog, read
by the KPIs and the missed-call sweep (crm.inbound.missed). Runs in the call's company scope."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from crm.extensions import db
from crm.models import InboundCall
from crm.models.inbound import INBOUND_OUTCOMES


def find(provider: str, call_ref: str) -> InboundCall | None:
    return db.session.scalar(
        sa.select(InboundCall).where(InboundCall.provider == provider, InboundCall.call_ref == call_ref)
    )


def record(
    provider: str,
    call_ref: str,
    *,
    number_id: int | None,
    lead_id: int | None,
    within_hours: bool,
    now: datetime | None = None,
) -> InboundCall:
    """The call's row, made once per (provider, call id): a provider's retry or a reconnect finds it. The
    caller commits."""
    found = find(provider, call_ref)
    if found is not None:
        if found.lead_id is None and lead_id is not None:
            found.lead_id = lead_id
        return found
    row = InboundCall(
        provider=provider,
        call_ref=call_ref[:200],
        phone_number_id=number_id,
        lead_id=lead_id,
        within_hours=within_hours,
        outcome="answered",
        started_at=now or datetime.now(UTC),
    )
    try:
        with db.session.begin_nested():
            db.session.add(row)
    except sa.exc.IntegrityError:  # a concurrent request for the same call made it
        existing = find(provider, call_ref)
        assert existing is not None
        return existing
    return row


def set_outcome(
    row: InboundCall,
    outcome: str,
    *,
    needed_person: bool = False,
    callback_requested: bool = False,
    now: datetime | None = None,
) -> None:
    """What the call came to (the latest step wins; "answered" never replaces one). A transfer marks the call
    as needing a person; a callback the caller asked for is kept whatever follows. The caller commits."""
    if outcome not in INBOUND_OUTCOMES:
        raise ValueError(f"unknown inbound outcome {outcome!r}")
    if outcome != "answered":
        row.outcome = outcome
    row.needed_person = row.needed_person or needed_person
    row.callback_requested = row.callback_requested or callback_requested
    if outcome in ("booked", "rescheduled", "cancelled", "transferred", "message"):
        row.ended_at = now or datetime.now(UTC)
