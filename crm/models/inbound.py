"""What an inbound number knows and what its calls came to (issue 17).

* KnowledgeEntry: one question and its answer for one inbound number, edited by the company's admins
  (crm/ui/settings/knowledge.py); the inbound dialog answers a caller's question from these
  (crm.inbound.knowledge, BM25).
* InboundCall: one row per provider call id: how the call ended (`outcome`) and whether a person took it
  over. The dashboard's and the report's inbound KPIs count these; a missed call's callback task and chain
  call are keyed by this row, so each happens at most once per call id."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned

# How an inbound call ended. "answered" until the dialog reaches one of the others; "abandoned": the caller
# hung up before any outcome (or called outside hours and left no message).
INBOUND_OUTCOMES = (
    "answered",
    "booked",
    "rescheduled",
    "cancelled",
    "question",
    "transferred",
    "message",
    "abandoned",
)


class KnowledgeEntry(CompanyOwned, Model):
    __tablename__ = "inbound_knowledge"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_number_id: Mapped[int] = mapped_column(sa.ForeignKey("phone_numbers.id", ondelete="CASCADE"), index=True)
    question: Mapped[str] = mapped_column(sa.String(500))
    answer: Mapped[str] = mapped_column(sa.Text)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class InboundCall(CompanyOwned, Model):
    __tablename__ = "inbound_calls"
    __table_args__ = (
        sa.UniqueConstraint("provider", "call_ref", name="uq_inbound_calls_call"),
        sa.CheckConstraint(f"outcome IN ({', '.join(repr(o) for o in INBOUND_OUTCOMES)})", name="outcome"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    call_ref: Mapped[str] = mapped_column(sa.String(200))
    phone_number_id: Mapped[int | None] = mapped_column(sa.ForeignKey("phone_numbers.id", ondelete="SET NULL"))
    lead_id: Mapped[int | None] = mapped_column(sa.ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    outcome: Mapped[str] = mapped_column(sa.String(16), default="answered")
    # A person took the call over (a transfer): not handled by the agent alone.
    needed_person: Mapped[bool] = mapped_column(default=False)
    # The caller asked, in this call, to be called back: the only thing that lets the chain call someone who
    # objected to calls (issue 17: an objection never stops serving an inbound caller).
    callback_requested: Mapped[bool] = mapped_column(default=False)
    # The missed-call callback task (and chain call) was made: at most once per call id.
    callback_task_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tasks.id", ondelete="SET NULL"))
    within_hours: Mapped[bool] = mapped_column(default=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, index=True)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
