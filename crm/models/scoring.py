from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned


class ScoreHistory(CompanyOwned, Model):
    """Every score ever given, with why (per-factor points) and by which model version."""

    __tablename__ = "score_history"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    score: Mapped[int] = mapped_column()
    priority: Mapped[str] = mapped_column(sa.String(8))
    breakdown: Mapped[dict] = mapped_column(JSONType)
    model_version: Mapped[str] = mapped_column(sa.String(32))
    reason: Mapped[str] = mapped_column(sa.String(64), default="intake")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (sa.CheckConstraint("score >= 0 AND score <= 100", name="score_range"),)
