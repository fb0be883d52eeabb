"""The provider-event outbox: a call's final result waiting to reach its lead chain (docs/reliability.md §3.5)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned


class CallResultDelivery(CompanyOwned, Model):
    """ "Deliver this call's result to chain X", written by the provider webhook in the transaction that
    records the event and merges the call; the relay (workers/relay.py) hands it to the chain and marks it.

    One row per call (`event_id` is the CallResult's `<provider>:<call id>`, the id the chain's update is
    deduplicated by). `result` is the CallResult as the chain receives it: ids and decisions only, never
    the transcript or the caller's words. A later event of the same call refreshes `result` while the row
    is pending; once delivered it stays as the chain got it.
    """

    __tablename__ = "call_result_deliveries"
    __table_args__ = (sa.Index("ix_call_result_deliveries_due", "delivered_at", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique across companies: "<provider>:<call id>", and a provider's call id is global.
    event_id: Mapped[str] = mapped_column(sa.String(200), unique=True)
    chain_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    result: Mapped[dict] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # How the chain got it: update | signal | ended (the chain was gone: nothing to deliver to).
    delivered_by: Mapped[str | None] = mapped_column(sa.String(16))
