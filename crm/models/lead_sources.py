"""Lead sources: who may post leads to /webhooks/leads/<slug>, and for which company (and branch).

The slug is unique across the installation (the URL carries no company); the source's Standard Webhooks
secret lives in Vault at companies/<company_id>/lead-sources/<slug>. A platform row: the entrance reads it
to learn the company before anything of the company is touched."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import UTCDateTime, utcnow


class LeadSource(Model):
    __tablename__ = "lead_sources"

    id: Mapped[int] = mapped_column(primary_key=True)
    company_id: Mapped[int] = mapped_column(sa.ForeignKey("companies.id", ondelete="CASCADE"), index=True)
    # None: the company as a whole
    branch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("branches.id", ondelete="SET NULL"))
    slug: Mapped[str] = mapped_column(sa.String(64), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    def __repr__(self) -> str:
        return f"<LeadSource {self.id} company={self.company_id} {self.slug}>"
