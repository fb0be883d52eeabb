"""The side-effect ledger: one SideEffect row per business key, written before a provider is asked.

Shared by the chain's provider activities (calls, emails) and the report emails: a retried activity
finds the row and either returns what is stored or, where an earlier attempt's fate is unknown, asks
the provider for an action under our key before acting again (activities.provider_activities).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.models import SideEffect
from crm.models.types import utcnow


class LedgerError(RuntimeError):
    """The ledger is not in a state its writers leave it in (a bug or a hand edit): the attempt fails."""


def _locked(key: str) -> SideEffect | None:
    return db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key).with_for_update())


def claim(key: str, kind: str, lead_id: int | None) -> SideEffect:
    """The row of `key`, locked; inserted (status "intent") when it is new. A report email has no lead."""
    row = _locked(key)
    if row is not None:
        return row
    try:
        with db.session.begin_nested():
            row = SideEffect(key=key, kind=kind, lead_id=lead_id)
            db.session.add(row)
    except sa.exc.IntegrityError:
        # Another attempt inserted the key between our look-up and the insert: its row is ours to use.
        row = _locked(key)
        if row is None:
            raise LedgerError(f"side effect {key} lost to a concurrent insert but not found") from None
    return row


def mark_done(row: SideEffect, provider: str, ref: str, result: dict[str, Any]) -> None:
    row.status, row.provider, row.provider_ref, row.result, row.completed_at = "done", provider, ref, result, utcnow()


def done_ref(row: SideEffect) -> tuple[str, str]:
    """(provider, provider's reference) of a done row: mark_done writes both."""
    if row.provider is None or row.provider_ref is None:
        raise LedgerError(f"side effect {row.key} is done but has no provider reference")
    return row.provider, row.provider_ref
