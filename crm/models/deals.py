"""Deals (opportunities): what a booked appointment turns into, from first meeting to won or lost.

Stages and lost reasons are per company and editable (crm.services.deals seeds a default set the first time
a company needs one). A deal's `status` says whether it is still open; a won or lost deal keeps the stage it
was closed from, so the board can show where deals are lost. Money is integer cents in the deal's currency.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model
from crm.models.types import UTCDateTime, enum_column, utcnow
from crm.tenancy.owned import CompanyOwned


class DealStatus(str, enum.Enum):
    OPEN = "open"
    WON = "won"
    LOST = "lost"


class DealStage(CompanyOwned, Model):
    """One column of a company's pipeline board, with the chance that a deal in it is won."""

    __tablename__ = "deal_stages"
    __table_args__ = (
        sa.UniqueConstraint("company_id", "name", name="uq_deal_stages_company_name"),
        sa.CheckConstraint("probability >= 0 AND probability <= 100", name="probability_range"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(64))
    position: Mapped[int] = mapped_column(default=0)
    probability: Mapped[int] = mapped_column(default=0)
    # A retired stage keeps its deals' history but takes no new deals and leaves the board.
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class LostReason(CompanyOwned, Model):
    """One entry of a company's list of reasons a deal was lost (or won: the list is for both)."""

    __tablename__ = "deal_lost_reasons"
    __table_args__ = (sa.UniqueConstraint("company_id", "label", name="uq_deal_lost_reasons_company_label"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(100))
    position: Mapped[int] = mapped_column(default=0)
    active: Mapped[bool] = mapped_column(default=True)


class Deal(CompanyOwned, Model):
    __tablename__ = "deals"
    __table_args__ = (
        sa.CheckConstraint("value_cents >= 0", name="value_nonnegative"),
        # A closed deal says when; an open one has no close time.
        sa.CheckConstraint("(status = 'open') = (closed_at IS NULL)", name="closed_when_closed"),
        sa.Index("ix_deals_company_status_stage", "company_id", "status", "stage_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    # The appointment the deal was created from: one deal per appointment, so a repeated "create from the
    # booking" (a retried activity, a double click) finds the deal it made. Unique across companies: the
    # appointment's id is global.
    appointment_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("appointments.id", ondelete="SET NULL"), unique=True
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    stage_id: Mapped[int] = mapped_column(sa.ForeignKey("deal_stages.id"), index=True)
    status: Mapped[DealStatus] = mapped_column(enum_column(DealStatus, "deal_status"), default=DealStatus.OPEN)
    value_cents: Mapped[int] = mapped_column(sa.BigInteger, default=0)
    currency: Mapped[str] = mapped_column(sa.String(3), default="EUR")
    expected_close_on: Mapped[date | None] = mapped_column(sa.Date)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    branch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("branches.id", ondelete="SET NULL"), index=True)
    reason_id: Mapped[int | None] = mapped_column(sa.ForeignKey("deal_lost_reasons.id", ondelete="SET NULL"))
    reason_note: Mapped[str | None] = mapped_column(sa.String(500))
    # When the deal entered its current stage: the board's age and the "stale" highlight read it.
    stage_changed_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    stage = relationship("DealStage")
    reason = relationship("LostReason")
    owner = relationship("User")
