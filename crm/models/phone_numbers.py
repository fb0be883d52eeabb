"""A company's inbound phone numbers (issue 17): which company, agent and greeting answer a call to it.

Company-owned, but read by number before any company is bound (crm.inbound.numbers, in a short operator
context like crm.tenancy.routing): the E.164 number is unique across the platform, so a number rings at
exactly one company."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.languages import sql_check
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned
from providers.settings import PROVIDER_NAMES

# On a public holiday: "closed" (outside business hours all day) or "open" (the weekday's hours apply).
HOLIDAY_BEHAVIOURS = ("closed", "open")


class PhoneNumber(CompanyOwned, Model):
    __tablename__ = "phone_numbers"
    __table_args__ = (
        sa.UniqueConstraint("e164", name="uq_phone_numbers_e164"),
        sa.CheckConstraint(f"provider IN ({', '.join(repr(p) for p in PROVIDER_NAMES)})", name="provider"),
        sa.CheckConstraint(
            f"holiday_behaviour IN ({', '.join(repr(h) for h in HOLIDAY_BEHAVIOURS)})", name="holiday_behaviour"
        ),
        sa.CheckConstraint(sql_check("language"), name="language"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    e164: Mapped[str] = mapped_column(sa.String(20))
    provider: Mapped[str] = mapped_column(sa.String(16))
    # The provider's agent (Retell agent id, Vapi assistant id, Bland pathway id) that answers; None: the
    # agent bound to the number at the provider answers.
    agent_ref: Mapped[str | None] = mapped_column(sa.String(200))
    language: Mapped[str] = mapped_column(sa.String(2), default="de")
    # The name the agent answers in ("Autohaus Berger, Filiale Nord"); the company's name where empty.
    greeting_name: Mapped[str | None] = mapped_column(sa.String(200))
    branch_id: Mapped[int | None] = mapped_column(sa.ForeignKey("branches.id", ondelete="SET NULL"))
    default_owner_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))
    # {"mon": [["09:00", "17:00"]], ...} in the company's zone, as User.working_hours
    # (crm.services.business_calendar.parse_hours); None: the team default.
    business_hours: Mapped[dict | None] = mapped_column(JSONType)
    holiday_behaviour: Mapped[str] = mapped_column(sa.String(16), default="closed")
    transfer_e164: Mapped[str | None] = mapped_column(sa.String(20))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<PhoneNumber {self.id} {self.provider} company={self.company_id}>"
