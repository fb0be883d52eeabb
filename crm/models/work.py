"""Tasks and appointments: the sales team's work items."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import UTCDateTime, enum_column, utcnow
from crm.tenancy.owned import CompanyOwned


class TaskStatus(str, enum.Enum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


class Task(CompanyOwned, Model):
    __tablename__ = "tasks"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(32), default="todo")
    title: Mapped[str] = mapped_column(sa.String(300))
    details: Mapped[str | None] = mapped_column(sa.Text)
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status: Mapped[TaskStatus] = mapped_column(enum_column(TaskStatus, "task_status"), default=TaskStatus.OPEN)
    # Business key of the step that created it, so a retried activity creates the task once. Unique across
    # companies: the key embeds the lead's id, which is global.
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class AppointmentStatus(str, enum.Enum):
    TENTATIVE = "tentative"
    CONFIRMED = "confirmed"
    CANCELLED = "cancelled"


class Appointment(CompanyOwned, Model):
    """An owner's calendar entry. Confirmed appointments of one owner never overlap: the database
    enforces it (an exclusion constraint on PostgreSQL, triggers on SQLite; see the migration)."""

    __tablename__ = "appointments"
    __table_args__ = (sa.CheckConstraint("ends_at > starts_at", name="positive_length"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int | None] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    owner_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), index=True)
    branch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("branches.id", ondelete="SET NULL"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime())
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime())
    status: Mapped[AppointmentStatus] = mapped_column(
        enum_column(AppointmentStatus, "appointment_status"), default=AppointmentStatus.CONFIRMED
    )
    title: Mapped[str] = mapped_column(sa.String(300), default="")
    location: Mapped[str | None] = mapped_column(sa.String(300))
    # e.g. "<call id>:<slot>", so a replayed booking turn books once. Unique across companies: a provider's
    # call id is global, so no two companies' keys can collide.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(200), unique=True)
    # Booked on a call: whether the slot satisfied the caller's wish (voice/bridge/offers.py satisfies);
    # None when booked elsewhere or not known. The dashboard counts the bookings where it is false.
    offer_matched: Mapped[bool | None] = mapped_column(sa.Boolean(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    # The lifecycle (crm/services/appointments.py, migration 0016): the .ics SEQUENCE (0 when booked, +1 per
    # reschedule or cancellation; a change link carries it, so it works once per change), when it was
    # cancelled, and the no-show mark (a user id, or "sweep" when nothing was logged after it).
    ics_sequence: Mapped[int] = mapped_column(default=0, server_default="0")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    no_show_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    no_show_by: Mapped[str | None] = mapped_column(sa.String(64))
