"""Durable hand-over from the web to the lead chain, and the at-most-once ledger of side effects."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned


class LeadSubmission(CompanyOwned, Model):
    """A validated lead as received (the inbox), and the outbox entry that gets it to its chain.

    The web commits this row before answering 2xx; a relay then starts or signals the chain until it
    succeeds, so a lead is never lost when Temporal or the workers are down. The payload holds the
    person's data and stays here: the workflow only ever sees the submission id.
    """

    __tablename__ = "lead_submissions"
    __table_args__ = (sa.Index("ix_lead_submissions_pending", "dispatched_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source: Mapped[str] = mapped_column(sa.String(64))
    channel: Mapped[str] = mapped_column(sa.String(16))  # webhook | api | csv | ui | demo
    actor: Mapped[str] = mapped_column(sa.String(100))
    chain_id: Mapped[str] = mapped_column(sa.String(100), index=True)
    payload: Mapped[dict] = mapped_column(JSONType)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    dispatch_attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    lead_id: Mapped[int | None] = mapped_column(sa.ForeignKey("leads.id", ondelete="SET NULL"))
    outcome: Mapped[str | None] = mapped_column(sa.String(16))
    result: Mapped[dict | None] = mapped_column(JSONType)


class SideEffect(CompanyOwned, Model):
    """One row per business key of a call, email or booking, written before the provider is asked.

    A retried activity finds the row: done → return the stored result; intent only → the provider may
    have acted, so look it up there by our key before acting again.
    """

    __tablename__ = "side_effects"

    id: Mapped[int] = mapped_column(primary_key=True)
    # Unique across companies: every key embeds a global id (the lead's, the call's, the submission's).
    key: Mapped[str] = mapped_column(sa.String(200), unique=True)
    kind: Mapped[str] = mapped_column(sa.String(16))  # call | email | booking | task
    lead_id: Mapped[int | None] = mapped_column(sa.ForeignKey("leads.id", ondelete="SET NULL"), index=True)
    status: Mapped[str] = mapped_column(sa.String(16), default="intent")  # intent | done | refused | failed
    provider: Mapped[str | None] = mapped_column(sa.String(32))
    provider_ref: Mapped[str | None] = mapped_column(sa.String(128))
    attempts: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict | None] = mapped_column(JSONType)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class DoNotCallEntry(CompanyOwned, Model):
    """An external or internal do-not-call list entry, matched by number. An erasure replaces the person's
    entry by a keyed hash on the suppression list (docs/privacy.md §R4), which the dial gate reads as well."""

    __tablename__ = "dnc_list"
    # Each company keeps its own list: one company's opt-out does not bar another company's calls.
    __table_args__ = (sa.UniqueConstraint("company_id", "phone_e164", name="uq_dnc_list_company_phone"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone_e164: Mapped[str] = mapped_column(sa.String(20))
    source: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str | None] = mapped_column(sa.String(200))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
