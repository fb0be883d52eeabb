"""Which company a provider event belongs to when no call record of ours names it: the provider's agent or
assistant id, the phone number called or calling, or a routing value we put in the call's metadata.

A platform row, read by crm.tenancy.routing in a short operator context; (provider, kind, value) is unique,
so one number or agent routes to exactly one company."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import UTCDateTime, utcnow

ROUTE_KINDS = ("agent", "phone_number", "metadata")


class ProviderRoute(Model):
    __tablename__ = "provider_routes"
    __table_args__ = (
        sa.UniqueConstraint("provider", "kind", "value", name="uq_provider_routes_value"),
        sa.CheckConstraint(f"kind IN ({', '.join(repr(k) for k in ROUTE_KINDS)})", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(32))  # retell | vapi | bland | sendgrid
    kind: Mapped[str] = mapped_column(sa.String(32))
    value: Mapped[str] = mapped_column(sa.String(200))
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<ProviderRoute {self.provider} {self.kind} company={self.company_id}>"
