"""The provider-event outbox (docs/reliability.md §3.5, issue 14 item 1): a call's final result waits here
for its lead chain.

The provider webhook records the event, merges the call and, once the call is final, enqueues its result
in the same transaction, then answers 2xx: the web never waits on Temporal. The relay (workers/relay.py)
reads the due rows, hands each result to its chain (an update, or the durable signal when no chain worker
answers in time) and marks it delivered; a failed attempt is tried again after a growing pause. A row is
delivered at least once; the chain takes one result per call (workflows/chain_state.py).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime, timedelta

import sqlalchemy as sa

from crm.extensions import db
from crm.models import CallResultDelivery
from crm.models.types import utcnow
from workflows.payloads import CallResult

# The pause after the n-th failed attempt: 1, 2, 4 ... seconds, at most MAX_BACKOFF_S, so a result reaches
# its chain within that long after Temporal is back (issue 14: within 60 s of a worker's return).
MAX_BACKOFF_S = 30.0


def enqueue(chain_id: str, result: CallResult) -> CallResultDelivery:
    """Ask the relay to deliver `result` to `chain_id`. The caller commits (with the event's delivery
    record and the call). One row per call: while it is pending a later event's result replaces the
    stored one (the call record only ever moves forward); once delivered it is left as the chain got it."""
    row = _find(result.event_id)
    if row is None:
        row = CallResultDelivery(event_id=result.event_id, chain_id=chain_id, result=asdict(result))
        try:
            with db.session.begin_nested():
                db.session.add(row)
        except sa.exc.IntegrityError:
            # A concurrent delivery of the same call enqueued it first (the call row's lock orders them on
            # PostgreSQL; this covers a database without it): that row is updated instead.
            found = _find(result.event_id)
            if found is None:
                raise
            row = found
        else:
            return row
    if row.delivered_at is None:
        row.chain_id, row.result = chain_id, asdict(result)
    return row


def _find(event_id: str) -> CallResultDelivery | None:
    return db.session.scalar(sa.select(CallResultDelivery).where(CallResultDelivery.event_id == event_id))


def due(limit: int, now: datetime | None = None) -> list[tuple[int, str, CallResult]]:
    """Pending rows whose next attempt is due, oldest first: (id, chain id, result)."""
    rows = db.session.execute(
        sa.select(CallResultDelivery.id, CallResultDelivery.chain_id, CallResultDelivery.result)
        .where(CallResultDelivery.delivered_at.is_(None), CallResultDelivery.next_attempt_at <= (now or utcnow()))
        .order_by(CallResultDelivery.next_attempt_at, CallResultDelivery.id)
        .limit(limit)
    ).all()
    return [(r.id, r.chain_id, CallResult(**r.result)) for r in rows]


def backoff_s(attempts: int) -> float:
    """The pause before the next attempt after `attempts` failed ones."""
    return min(float(2 ** max(0, attempts - 1)), MAX_BACKOFF_S)


def mark_delivered(done: list[tuple[int, str]], at: datetime | None = None) -> None:
    """Record (id, how) pairs as delivered (how: update | signal | ended) and commit."""
    at = at or utcnow()
    for row_id, how in done:
        db.session.execute(
            sa.update(CallResultDelivery)
            .where(CallResultDelivery.id == row_id, CallResultDelivery.delivered_at.is_(None))
            .values(delivered_at=at, delivered_by=how, last_error=None)
        )
    db.session.commit()


def mark_failed(failed: list[tuple[int, str]], now: datetime | None = None) -> None:
    """Count a failed attempt for each (id, error) pair, set its next attempt after the backoff, commit."""
    now = now or utcnow()
    for row_id, error in failed:
        row = db.session.get(CallResultDelivery, row_id)
        if row is None or row.delivered_at is not None:
            continue
        row.attempts += 1
        row.last_error = error[:300]
        row.next_attempt_at = now + timedelta(seconds=backoff_s(row.attempts))
    db.session.commit()


def pending_count() -> int:
    return (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(CallResultDelivery).where(CallResultDelivery.delivered_at.is_(None))
        )
        or 0
    )


def results() -> list[tuple[str, CallResult]]:
    """Every enqueued result with its chain, oldest first (delivered or not): what the CRM told the chains."""
    rows = db.session.execute(
        sa.select(CallResultDelivery.chain_id, CallResultDelivery.result).order_by(CallResultDelivery.id)
    ).all()
    return [(r.chain_id, CallResult(**r.result)) for r in rows]
