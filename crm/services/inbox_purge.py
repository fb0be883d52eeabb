"""Retention of the inboxes (issue 14): delivered rows older than the retention are deleted, in batches.

* webhook_deliveries — the record of every webhook and Idempotency-Key request received, kept so that a
  sender's retry gets the stored answer. A row is written with its effects, so every row is delivered; it
  goes when received_at is past the retention.
* call_result_deliveries — a call's final result waiting for its chain. Only rows the relay delivered go
  (delivered_at past the retention); an undelivered one stays whatever its age (the relay still owes it).

The retention is Settings.delivery_retention_days (LEADCHAIN_DELIVERY_RETENTION_DAYS, 30 by default) and
never under crm.services.deliveries.MIN_RETENTION_DAYS: providers retry for up to 3 days, and a forgotten
key would let a late retry through as new. Each batch is its own short transaction, so the purge never
holds many row locks against the web; it runs across companies in the operator context ("purge",
"retention") — the rows are company-owned and tenancy enforcement refuses an unscoped statement.

Called by the relay at most once an hour (workers/relay.py) and by `leadchain purge-inbox`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from crm.extensions import affected_rows, db
from crm.models import CallResultDelivery, WebhookDelivery
from crm.models.types import utcnow
from crm.services.deliveries import MIN_RETENTION_DAYS
from crm.tenancy.context import operator_scope

BATCH = 1000


@dataclass(frozen=True)
class PurgeResult:
    webhook_deliveries: int
    call_result_deliveries: int
    cutoff: datetime

    @property
    def total(self) -> int:
        return self.webhook_deliveries + self.call_result_deliveries


def purge_inboxes(retention_days: int, *, batch: int = BATCH, now: datetime | None = None) -> PurgeResult:
    """Delete the delivered inbox rows older than `retention_days` (inside an app context)."""
    if retention_days < MIN_RETENTION_DAYS:
        raise ValueError(f"inbox rows are kept at least {MIN_RETENTION_DAYS} days")
    if batch < 1:
        raise ValueError("batch must be at least 1")
    cutoff = (now or utcnow()) - timedelta(days=retention_days)
    with operator_scope("purge", "retention"):
        webhooks = _in_batches(WebhookDelivery, WebhookDelivery.received_at < cutoff, batch)
        results = _in_batches(
            CallResultDelivery,
            sa.and_(CallResultDelivery.delivered_at.is_not(None), CallResultDelivery.delivered_at < cutoff),
            batch,
        )
    return PurgeResult(webhooks, results, cutoff)


def _in_batches(model: Any, condition: sa.ColumnElement[bool], batch: int) -> int:
    removed = 0
    while True:
        ids = db.session.scalars(sa.select(model.id).where(condition).order_by(model.id).limit(batch)).all()
        if not ids:
            return removed
        try:
            removed += affected_rows(db.session.execute(sa.delete(model).where(model.id.in_(ids))))
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise
        if len(ids) < batch:
            return removed
