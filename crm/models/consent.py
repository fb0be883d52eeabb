from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import UTCDateTime, enum_column, utcnow
from crm.tenancy.owned import CompanyOwned


class Channel(str, enum.Enum):
    PHONE = "phone"
    EMAIL = "email"


class LegalBasis(str, enum.Enum):
    EXPRESS_CONSENT = "express_consent"
    PRESUMED_B2B = "presumed_b2b"
    CALLBACK_REQUEST = "callback_request"


class ConsentRecord(CompanyOwned, Model):
    """Proof of permission to contact, kept as evidence (UWG § 7a: five years)."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(primary_key=True)
    lead_id: Mapped[int] = mapped_column(sa.ForeignKey("leads.id", ondelete="CASCADE"), index=True)
    channel: Mapped[Channel] = mapped_column(enum_column(Channel, "consent_channel"))
    legal_basis: Mapped[LegalBasis] = mapped_column(enum_column(LegalBasis, "consent_basis"))
    source: Mapped[str] = mapped_column(sa.String(200))
    proof_text: Mapped[str] = mapped_column(sa.Text)
    # Identifies the evidence (delivery, file row) so re-importing it does not add a second record.
    proof_key: Mapped[str] = mapped_column(sa.String(64))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime())
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    withdrawn_reason: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)

    __table_args__ = (sa.UniqueConstraint("lead_id", "channel", "proof_key", name="uq_consent_records_evidence"),)

    @property
    def active(self) -> bool:
        return self.withdrawn_at is None
