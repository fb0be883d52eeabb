from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned


class WebhookDelivery(CompanyOwned, Model):
    """A processed inbound delivery (webhook or idempotent API request).

    The unique (source, delivery_key) makes a redelivery a no-op; the stored response lets it answer
    exactly as the first time. Kept at least 7 days, longer than any provider's retry horizon.
    """

    __tablename__ = "webhook_deliveries"
    __table_args__ = (sa.UniqueConstraint("company_id", "source", "delivery_key", name="uq_webhook_deliveries_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(100))
    delivery_key: Mapped[str] = mapped_column(sa.String(255))
    payload_hash: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    response_status: Mapped[int] = mapped_column(default=200)
    response_body: Mapped[dict | None] = mapped_column(JSONType)


class UnparseablePayload(CompanyOwned, Model):
    """A signed provider body we could not read, kept for a person to look at (docs/providers.md §0.1).

    Only for providers that would retry a 4xx answer for ever: the body is recorded once (the delivery
    record keys it by its hash) and answered 2xx, and an alert is logged. `field` and `problem` say what
    was wrong; `body` is the raw request, decoded as UTF-8 with undecodable bytes replaced.
    """

    __tablename__ = "unparseable_payloads"
    # NULL when the body could not be read far enough to route it to a company: a platform row, seen only
    # in an operator context.
    __company_nullable__ = True

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(100), index=True)
    payload_hash: Mapped[str] = mapped_column(sa.String(64))
    field: Mapped[str] = mapped_column(sa.String(200))
    problem: Mapped[str] = mapped_column(sa.String(300))
    body: Mapped[str] = mapped_column(sa.Text)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
