"""Settings an admin changes in the UI (crm.ui.settings) that override the shipped or environment
defaults: one row per key, its value as JSON. No row: the default applies. Read at activity time by the
chain worker (crm.services.app_settings), so an edit reaches the chain at its next step."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned


class AppSetting(CompanyOwned, Model):
    __tablename__ = "app_settings"
    # One value per company and key: the primary key is (company_id, key).
    __table_args__ = (sa.PrimaryKeyConstraint("company_id", "key", name="pk_app_settings"),)

    # "scoring.rules", "gate.threshold", "calling_hours" (crm.services.app_settings.KEYS)
    key: Mapped[str] = mapped_column(sa.String(64))
    value: Mapped[Any] = mapped_column(JSONType)
    # the audit actor, e.g. "user:4"
    updated_by: Mapped[str] = mapped_column(sa.String(100))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    def __repr__(self) -> str:
        return f"<AppSetting {self.key}>"
