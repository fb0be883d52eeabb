"""What the setup wizard created at a voice provider (issue 20): one row per company, provider and step.

The row is written before the provider is asked ("creating", with the client reference the object is
created under) and completed after ("created", with the provider's id), so a crash in between leaves a row
that a retry resolves by looking the reference up at the provider instead of buying a second number. Undo
deletes each live object at the provider and marks the row "deleted"; the rows stay as the record."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned

STATUSES = ("creating", "created", "deleted")


class ProvisionedObject(CompanyOwned, Model):
    __tablename__ = "provisioned_objects"
    __table_args__ = (
        sa.UniqueConstraint("company_id", "provider", "step", name="uq_provisioned_objects_company_provider_step"),
        sa.CheckConstraint(f"status IN ({', '.join(repr(s) for s in STATUSES)})", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    step: Mapped[str] = mapped_column(sa.String(32))  # "agent", "phone_number", "assistant"
    # The name the object is created under at the provider (nickname, agent_name, name): how a retry finds
    # an object whose creation answer was lost. No personal data: company id and step only.
    reference: Mapped[str] = mapped_column(sa.String(100))
    external_id: Mapped[str | None] = mapped_column(sa.String(200))
    status: Mapped[str] = mapped_column(sa.String(16), default="creating")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    def __repr__(self) -> str:
        return f"<ProvisionedObject {self.provider}/{self.step} {self.status} company={self.company_id}>"


class OnboardingProgress(CompanyOwned, Model):
    """Which wizard screens a company has completed: the wizard resumes at the first one not in the list."""

    __tablename__ = "onboarding_progress"
    __table_args__ = (sa.UniqueConstraint("company_id", name="uq_onboarding_progress_company"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    completed: Mapped[list] = mapped_column(JSONType, default=list)
    # The answers later screens build on (business hours, appointment length, chosen provider): settings,
    # never personal data (the admin's own number for the test call is not kept).
    answers: Mapped[dict] = mapped_column(JSONType, default=dict)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)
