from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.languages import sql_check
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned
from providers.settings import PROVIDER_NAMES

PROVIDERS_SQL = ", ".join(repr(p) for p in PROVIDER_NAMES)


class Campaign(CompanyOwned, Model):
    """Which provider and agent call a lead, from which number, in which language, with which script
    variables; and the failover used when the primary provider keeps failing. Keys are never here:
    they live in the secrets backend (providers/<name>-api-key)."""

    __tablename__ = "campaigns"
    __table_args__ = (
        # Migration 0027 says the same (PROVIDER_NAMES then).
        sa.CheckConstraint(f"provider IN ({PROVIDERS_SQL})", name="provider"),
        sa.CheckConstraint(
            f"failover_provider IS NULL OR failover_provider IN ({PROVIDERS_SQL})", name="failover_provider"
        ),
        sa.CheckConstraint(sql_check("language"), name="language"),  # migration 0011 says the same
        sa.UniqueConstraint("company_id", "name", name="uq_campaigns_company_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    branch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("branches.id", ondelete="SET NULL"), index=True)
    provider: Mapped[str] = mapped_column(sa.String(16))
    agent_id: Mapped[str] = mapped_column(sa.String(100))
    # E.164 for Retell and Bland; a phone-number id (a UUID) for Vapi.
    from_number: Mapped[str] = mapped_column(sa.String(64))
    language: Mapped[str] = mapped_column(sa.String(2), default="de")
    script_variables: Mapped[dict] = mapped_column(JSONType, default=dict)
    failover_provider: Mapped[str | None] = mapped_column(sa.String(16))
    failover_agent_id: Mapped[str | None] = mapped_column(sa.String(100))
    failover_from_number: Mapped[str | None] = mapped_column(sa.String(64))
    is_default: Mapped[bool] = mapped_column(default=False)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
