"""Exactly-once processing of inbound deliveries (webhooks and API requests with Idempotency-Key).

The delivery row and its effects commit in one transaction; a redelivery finds the row and gets the
stored answer, so a sender's retry can neither duplicate nor lose anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from crm.errors import ApiError
from crm.extensions import affected_rows, db
from crm.models import WebhookDelivery
from crm.models.types import utcnow

MIN_RETENTION_DAYS = 7


@dataclass
class Outcome:
    status: int
    body: dict[str, Any]
    replayed: bool


def payload_hash(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def find(source: str, key: str) -> WebhookDelivery | None:
    return db.session.scalar(
        sa.select(WebhookDelivery).where(WebhookDelivery.source == source, WebhookDelivery.delivery_key == key)
    )


def process_once(
    source: str,
    key: str,
    digest: str,
    work: Callable[[], tuple[int, dict[str, Any]]],
    *,
    same_payload_required: bool = False,
    known_new: bool = False,
) -> Outcome:
    """Run `work` once per (source, key) and commit its effects with the delivery record. `known_new`: the
    caller has just looked the key up and found nothing, so the look-up is not repeated (it was a third of
    a lead webhook's time, issue 21); a delivery racing in between still meets the unique key below."""
    previous = None if known_new else find(source, key)
    if previous is not None:
        return _replay(previous, digest, same_payload_required)
    try:
        status, body = work()
        db.session.add(
            WebhookDelivery(
                source=source, delivery_key=key, payload_hash=digest, response_status=status, response_body=body
            )
        )
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        previous = find(source, key)
        if previous is None:
            raise
        return _replay(previous, digest, same_payload_required)
    except BaseException:
        db.session.rollback()
        raise
    return Outcome(status, body, replayed=False)


def _replay(previous: WebhookDelivery, digest: str, same_payload_required: bool) -> Outcome:
    if same_payload_required and previous.payload_hash != digest:
        raise ApiError(
            422,
            "Idempotency-Key was already used for a different request",
            {"Idempotency-Key": ["reused with a different payload"]},
        )
    return Outcome(previous.response_status, previous.response_body or {}, replayed=True)


def purge(older_than_days: int) -> int:
    """Delete delivery records older than the retention. Refuses anything under 7 days: providers retry
    for up to 3 days, and a forgotten key would let a late retry through as new."""
    if older_than_days < MIN_RETENTION_DAYS:
        raise ValueError(f"delivery records are kept at least {MIN_RETENTION_DAYS} days")
    cutoff = utcnow() - timedelta(days=older_than_days)
    result = db.session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.received_at < cutoff))
    db.session.commit()
    return affected_rows(result)
