"""The machine-readable part of an export (GDPR Art. 15 and 20): every row of every table in
crm.privacy.inventory that belongs to the person's lead records, with the meaning of the fields."""

from __future__ import annotations

import enum
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Interaction, InteractionKind
from crm.privacy.inventory import HOLDINGS

FORMAT = "leadchain-subject-export/1"


def _plain(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, bytes):
        return None  # no binary column holds the person's data; skipped rather than dumped as base64
    return value


def _row(obj: Any) -> dict[str, Any]:
    return {c.key: _plain(getattr(obj, c.key)) for c in sa.inspect(type(obj)).mapper.column_attrs}


def collect(lead_ids: list[int], *, generated_at: datetime, request_id: int) -> dict[str, Any]:
    """{"format", "request_id", "generated_at", "lead_ids", "tables": {name: {"fields": ..., "rows": [...]}}}."""
    tables: dict[str, Any] = {}
    for holding in HOLDINGS:
        rows = db.session.scalars(sa.select(holding.model).where(holding.where(lead_ids)).order_by(holding.model.id))
        tables[holding.table] = {"fields": holding.fields, "rows": [_row(r) for r in rows]}
    return {
        "format": FORMAT,
        "request_id": request_id,
        "generated_at": generated_at.isoformat(),
        "lead_ids": lead_ids,
        "tables": tables,
    }


def recordings(lead_ids: list[int]) -> list[tuple[int, str, str]]:
    """(interaction id, provider, recording URL) of every call of the person that has a recording."""
    rows = db.session.execute(
        sa.select(Interaction.id, Interaction.provider, Interaction.recording_url).where(
            Interaction.lead_id.in_(lead_ids),
            Interaction.kind == InteractionKind.CALL,
            Interaction.recording_url.is_not(None),
        )
    ).all()
    return [(r.id, r.provider or "unknown", r.recording_url) for r in rows]


def transcripts(data: dict[str, Any]) -> dict[int, str]:
    """Each call's transcript as readable text ("role: text" per turn), by interaction id."""
    found: dict[int, str] = {}
    for row in data["tables"]["interactions"]["rows"]:
        turns = row.get("transcript") or []
        if turns:
            found[row["id"]] = "\n".join(
                f"{t.get('role', '?')}: {t.get('text', '')}" for t in turns if isinstance(t, dict)
            )
    return found
