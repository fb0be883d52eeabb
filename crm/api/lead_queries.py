"""The leads list of the API: filters, and keyset pages in a stable order.

Order is (updated_at, id), oldest change first, so a client syncing with `updated_since` walks forward
through changes; the cursor is the last row's (updated_at, id), so a page never shifts when leads are
added or changed meanwhile (a lead changed while a client pages moves behind the cursor and comes
again; none is skipped). Merged records are never listed: their data lives on in the surviving lead."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Lead, LeadStatus


class BadCursor(ValueError):
    pass


def encode_cursor(lead: Lead) -> str:
    raw = json.dumps([lead.updated_at.isoformat(), lead.id], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        at, lead_id = json.loads(raw)
        moment = datetime.fromisoformat(at)
        if moment.tzinfo is not None:
            moment = moment.astimezone(UTC)  # overflows here, not in the driver, for year 1/9999
    except (binascii.Error, ValueError, TypeError, UnicodeDecodeError, OverflowError):
        raise BadCursor("not a cursor this API gave out") from None
    if moment.tzinfo is None or type(lead_id) is not int or not 0 < lead_id < 2**31:
        raise BadCursor("not a cursor this API gave out")
    return moment, lead_id


@dataclass(frozen=True)
class LeadPage:
    items: list[Lead]
    next_cursor: str | None


def list_leads(filters: dict[str, Any]) -> LeadPage:
    """One page of leads matching `filters` (LeadListQuerySchema's output)."""
    where: list[sa.ColumnElement[bool]] = [Lead.merged_into_id.is_(None)]
    if "status" in filters:
        where.append(Lead.status == LeadStatus(filters["status"]))
    if "source" in filters:
        where.append(Lead.source == filters["source"])
    if "owner_id" in filters:
        owner = filters["owner_id"]
        where.append(Lead.owner_id.is_(None) if owner == "none" else Lead.owner_id == owner)
    if "stage" in filters:
        where.append(Lead.chain_stage == filters["stage"])
    if "updated_since" in filters:
        where.append(Lead.updated_at >= filters["updated_since"])
    if filters.get("cursor"):
        at, last_id = decode_cursor(filters["cursor"])
        where.append(sa.or_(Lead.updated_at > at, sa.and_(Lead.updated_at == at, Lead.id > last_id)))
    limit = filters["limit"]
    rows = list(db.session.scalars(sa.select(Lead).where(*where).order_by(Lead.updated_at, Lead.id).limit(limit + 1)))
    more = len(rows) > limit
    items = rows[:limit]
    return LeadPage(items=items, next_cursor=encode_cursor(items[-1]) if more and items else None)
