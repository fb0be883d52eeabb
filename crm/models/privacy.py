"""Data-subject requests (GDPR Art. 15/17/20), the suppression list that outlives an erasure, and each
company's retention periods (docs/privacy.md).

None of these rows names the person: a request keeps the ids of the lead records it covers (which an
erasure empties), the suppression list keeps keyed hashes, and a step's detail is written from ids and
provider answers only."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned

REQUEST_KINDS = ("export", "erasure")
REQUEST_STATUSES = ("open", "running", "done", "failed")
STEP_STATUSES = ("done", "not_offered", "failed", "skipped")


class PrivacyRequest(CompanyOwned, Model):
    __tablename__ = "privacy_requests"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('export', 'erasure')", name="kind"),
        sa.CheckConstraint("status IN ('open', 'running', 'done', 'failed')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16), default="open")
    # Who asked, as a role (the person, a representative, an authority) and by which channel; never a name.
    requester: Mapped[str] = mapped_column(sa.String(32))
    received_via: Mapped[str] = mapped_column(sa.String(32))
    # How the requester's identity was checked ("answered from the address on record"); the admin's words.
    identity_check: Mapped[str] = mapped_column(sa.String(300))
    # The lead records found for the person (across merged records and duplicates) when the request opened.
    lead_ids: Mapped[list] = mapped_column(JSONType, default=list)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # Art. 12(3): one month from receipt.
    due_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)
    opened_by: Mapped[str] = mapped_column(sa.String(100))
    workflow_id: Mapped[str | None] = mapped_column(sa.String(100))
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The export archive, held until its one download (then dropped: the file is the person's data).
    archive: Mapped[bytes | None] = mapped_column(sa.LargeBinary())
    archive_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    downloaded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    downloaded_by: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class PrivacyRequestStep(CompanyOwned, Model):
    """What one step did where: "db:interactions", "retell:call <id>", "temporal:<workflow id>".

    One row per (request, step): a retried step finds its row and does not act twice."""

    __tablename__ = "privacy_request_steps"
    __table_args__ = (
        sa.UniqueConstraint("request_id", "step", name="uq_privacy_request_steps_step"),
        sa.CheckConstraint("status IN ('done', 'not_offered', 'failed', 'skipped')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    request_id: Mapped[int] = mapped_column(sa.ForeignKey("privacy_requests.id", ondelete="CASCADE"), index=True)
    step: Mapped[str] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16))
    detail: Mapped[str] = mapped_column(sa.String(500), default="")
    attempts: Mapped[int] = mapped_column(default=1)
    at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class SuppressionEntry(CompanyOwned, Model):
    """An erased person's email or phone, as a keyed hash: intake and dialling refuse a match for ever."""

    __tablename__ = "suppression_list"
    __table_args__ = (
        sa.UniqueConstraint("company_id", "kind", "digest", name="uq_suppression_list_digest"),
        sa.CheckConstraint("kind IN ('email', 'phone')", name="kind"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(8))
    digest: Mapped[str] = mapped_column(sa.String(64))
    request_id: Mapped[int | None] = mapped_column(sa.ForeignKey("privacy_requests.id", ondelete="SET NULL"))
    added_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class RetentionPolicy(CompanyOwned, Model):
    """How many days a company keeps each class of personal data; NULL: the default (crm.privacy.retention)."""

    __tablename__ = "retention_policies"
    __table_args__ = (
        sa.UniqueConstraint("company_id", name="uq_retention_policies_company"),
        sa.CheckConstraint(
            "coalesce(transcripts_days, 1) > 0 AND coalesce(recordings_days, 1) > 0"
            " AND coalesce(email_bodies_days, 1) > 0 AND coalesce(inactive_leads_days, 1) > 0",
            name="positive",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    transcripts_days: Mapped[int | None] = mapped_column()
    recordings_days: Mapped[int | None] = mapped_column()
    email_bodies_days: Mapped[int | None] = mapped_column()
    inactive_leads_days: Mapped[int | None] = mapped_column()
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
