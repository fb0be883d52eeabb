from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, enum_column, utcnow
from crm.tenancy.owned import CompanyOwned


class InteractionKind(str, enum.Enum):
    CALL = "call"
    EMAIL = "email"
    MEETING = "meeting"
    NOTE = "note"
    SMS = "sms"


class Direction(str, enum.Enum):
    INBOUND = "inbound"
    OUTBOUND = "outbound"
    INTERNAL = "internal"


def _report_indexes() -> tuple[sa.Index, ...]:
    """The partial indexes of the reports' look-ups on raw calls (migration 0029 creates them; its WHERE
    clauses are the ones crm/reports/kpis/fast.py writes): critical calls, follow-up candidates, talk times."""
    at = sa.text("COALESCE(started_at, created_at)")
    outbound = "kind = 'call' AND direction = 'outbound'"
    parts = (
        ("ix_interactions_report_critical", (at,), "(sentiment = 'negative' OR outcome = 'do_not_call')"),
        (
            "ix_interactions_report_follow_up",
            (at, "lead_id", "outcome"),
            "outcome IN ('interested', 'callback_requested', 'booked')",
        ),
        ("ix_interactions_report_talk", (at, "duration_s"), "duration_s IS NOT NULL"),
    )
    return tuple(
        sa.Index(
            name,
            "company_id",
            *columns,
            sqlite_where=sa.text(f"{outbound} AND {where}"),
            postgresql_where=sa.text(f"{outbound} AND {where}"),
        )
        for name, columns, where in parts
    )


class Interaction(CompanyOwned, Model):
    """Everything that happened with a lead: calls, emails, meetings, notes, SMS."""

    __tablename__ = "interactions"
    __table_args__ = (
        # A provider's call or message id maps to exactly one row, whatever order its events come in. Unique
        # across companies: the provider's id is global, one call belongs to one company.
        sa.UniqueConstraint("provider", "provider_ref", name="uq_interactions_provider_ref"),
        sa.CheckConstraint("cost_cents IS NULL OR cost_cents >= 0", name="cost_nonnegative"),
        sa.CheckConstraint("duration_s IS NULL OR duration_s >= 0", name="duration_nonnegative"),
        *_report_indexes(),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    kind: Mapped[InteractionKind] = mapped_column(enum_column(InteractionKind, "interaction_kind"))
    direction: Mapped[Direction] = mapped_column(enum_column(Direction, "interaction_direction"))
    provider: Mapped[str | None] = mapped_column(sa.String(32))
    provider_ref: Mapped[str | None] = mapped_column(sa.String(128))
    status: Mapped[str] = mapped_column(sa.String(32), default="created")
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_s: Mapped[int | None] = mapped_column()
    subject: Mapped[str | None] = mapped_column(sa.String(300))
    summary: Mapped[str | None] = mapped_column(sa.Text)
    transcript: Mapped[list | None] = mapped_column(JSONType)
    recording_url: Mapped[str | None] = mapped_column(sa.String(1000))
    sentiment: Mapped[str | None] = mapped_column(sa.String(16))
    outcome: Mapped[str | None] = mapped_column(sa.String(32))
    cost_cents: Mapped[int | None] = mapped_column()
    currency: Mapped[str | None] = mapped_column(sa.String(3))
    data: Mapped[dict | None] = mapped_column(JSONType)
    created_by: Mapped[str] = mapped_column(sa.String(100), default="system")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
