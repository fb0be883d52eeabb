"""The audit log: every change to a customer, consent, score or chain, with its actor."""

from __future__ import annotations

from datetime import date, datetime
from enum import Enum
from typing import Any

from crm.extensions import db
from crm.models import AuditEntry

LEAD_FIELDS = (
    "first_name",
    "last_name",
    "company",
    "email",
    "phone_e164",
    "phone_status",
    "language",
    "source",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "interest",
    "owner_id",
    "status",
    "score",
    "priority",
    "tags",
    "do_not_contact",
    "dnc_reason",
    "merged_into_id",
)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def snapshot(obj: Any, names: tuple[str, ...] | list[str] = LEAD_FIELDS) -> dict[str, Any]:
    return {name: _jsonable(getattr(obj, name)) for name in names}


def record(
    actor: str,
    action: str,
    entity_type: str,
    entity_id: int | None,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    entry = AuditEntry(
        actor=actor,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        before={k: _jsonable(v) for k, v in before.items()} if before else None,
        after={k: _jsonable(v) for k, v in after.items()} if after else None,
    )
    db.session.add(entry)
    return entry
