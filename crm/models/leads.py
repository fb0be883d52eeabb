from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from crm.extensions import Model
from crm.languages import sql_check
from crm.models.types import JSONType, UTCDateTime, enum_column, utcnow
from crm.tenancy.owned import CompanyOwned


class LeadStatus(str, enum.Enum):
    NEW = "new"
    QUALIFIED = "qualified"
    CONTACTED = "contacted"
    NURTURING = "nurturing"
    BOOKED = "booked"
    LOST = "lost"
    DO_NOT_CONTACT = "do_not_contact"
    MERGED = "merged"


class Priority(str, enum.Enum):
    HOT = "hot"
    WARM = "warm"
    COLD = "cold"


class Lead(CompanyOwned, Model):
    """A customer or prospect. 'Lead' and 'customer' are one record at different statuses."""

    __tablename__ = "leads"
    __table_args__ = (
        # One live record per company and normalised email / phone; merged records step aside (merged_into_id set).
        sa.Index(
            "uq_leads_email_key_live",
            "company_id",
            "email_key",
            unique=True,
            sqlite_where=sa.text("merged_into_id IS NULL AND email_key IS NOT NULL"),
            postgresql_where=sa.text("merged_into_id IS NULL AND email_key IS NOT NULL"),
        ),
        sa.Index(
            "uq_leads_phone_live",
            "company_id",
            "phone_e164",
            unique=True,
            sqlite_where=sa.text("merged_into_id IS NULL AND phone_e164 IS NOT NULL"),
            postgresql_where=sa.text("merged_into_id IS NULL AND phone_e164 IS NOT NULL"),
        ),
        # The fuzzy duplicate search reads the company's newest leads of one folded last name (migration 0030).
        sa.Index("ix_leads_company_match_key", "company_id", "match_key", "id"),
        # The reports' new leads per period (migration 0029).
        sa.Index(
            "ix_leads_report_created",
            "company_id",
            "created_at",
            sqlite_where=sa.text("merged_into_id IS NULL"),
            postgresql_where=sa.text("merged_into_id IS NULL"),
        ),
        sa.CheckConstraint("score IS NULL OR (score >= 0 AND score <= 100)", name="score_range"),
        sa.CheckConstraint(sql_check("language"), name="language"),  # migration 0011 says the same
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    first_name: Mapped[str | None] = mapped_column(sa.String(100))
    last_name: Mapped[str | None] = mapped_column(sa.String(100))
    company: Mapped[str | None] = mapped_column(sa.String(200))
    email: Mapped[str | None] = mapped_column(sa.String(254))
    # Lower-cased, plus-tag stripped: the exact-dedupe key.
    email_key: Mapped[str | None] = mapped_column(sa.String(254))
    email_status: Mapped[str] = mapped_column(sa.String(16), default="unknown")
    phone_e164: Mapped[str | None] = mapped_column(sa.String(20))
    phone_region: Mapped[str | None] = mapped_column(sa.String(2))
    phone_timezone: Mapped[str | None] = mapped_column(sa.String(64))
    # "valid" per the numbering plan, "unverified" when only the length is plausible, "invalid" after a
    # wrong-number call.
    phone_status: Mapped[str] = mapped_column(sa.String(16), default="unknown")
    phone_raw: Mapped[str | None] = mapped_column(sa.String(64))
    language: Mapped[str] = mapped_column(sa.String(2), default="de")
    source: Mapped[str] = mapped_column(sa.String(64))
    utm_source: Mapped[str | None] = mapped_column(sa.String(200))
    utm_medium: Mapped[str | None] = mapped_column(sa.String(200))
    utm_campaign: Mapped[str | None] = mapped_column(sa.String(200))
    utm_term: Mapped[str | None] = mapped_column(sa.String(200))
    utm_content: Mapped[str | None] = mapped_column(sa.String(200))
    interest: Mapped[str | None] = mapped_column(sa.Text)
    # Answers the voice bridge collected: {"need": ..., "timing": ..., "decision_maker": ..., "call_id": ...}
    qualification: Mapped[dict | None] = mapped_column(JSONType)
    owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    campaign_id: Mapped[int | None] = mapped_column(sa.ForeignKey("campaigns.id", ondelete="SET NULL"))
    # The Filiale the lead belongs to; None: the company as a whole.
    branch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("branches.id", ondelete="SET NULL"), index=True)
    status: Mapped[LeadStatus] = mapped_column(enum_column(LeadStatus, "lead_status"), default=LeadStatus.NEW)
    score: Mapped[int | None] = mapped_column()
    priority: Mapped[Priority | None] = mapped_column(enum_column(Priority, "lead_priority"))
    tags: Mapped[list] = mapped_column(JSONType, default=list)
    do_not_contact: Mapped[bool] = mapped_column(default=False)
    dnc_reason: Mapped[str | None] = mapped_column(sa.String(200))
    dnc_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Transliterated, lower-cased last name: the blocking key for fuzzy duplicate search.
    match_key: Mapped[str | None] = mapped_column(sa.String(100))
    merged_into_id: Mapped[int | None] = mapped_column(sa.ForeignKey("leads.id"))
    # The Temporal workflow id of the lead's chain (a keyed hash, never personal data).
    chain_id: Mapped[str | None] = mapped_column(sa.String(100), index=True)
    chain_stage: Mapped[str | None] = mapped_column(sa.String(32))
    source_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    owner = relationship("User")

    @property
    def display_name(self) -> str:
        name = " ".join(p for p in (self.first_name, self.last_name) if p)
        return name or self.company or self.email or f"#{self.id}"


class PossibleDuplicate(CompanyOwned, Model):
    """A fuzzy match flagged for a rep; never merged automatically."""

    __tablename__ = "possible_duplicates"
    __table_args__ = (sa.UniqueConstraint("lead_id", "candidate_id", name="uq_possible_duplicates_pair"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    candidate_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"))
    similarity: Mapped[float] = mapped_column()
    reason: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")  # open, merged, dismissed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
