"""The record of each inbound call (crm.models.inbound.InboundCall): made when the call is answered (the
inbound webhook, or the voice bridge when the webhook had no call id), its outcome set by the dialog, read
by the KPIs and the missed-call sweep (crm.inbound.missed). Runs in the call's company scope."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from crm.extensions import db
from crm.models import InboundCall
from crm.models.inbound import INBOUND_OUTCOMES
from crm.tenancy.context import require_company_id


def find(provider: str, call_ref: str) -> InboundCall | None:
    return db.session.scalar(
        sa.select(InboundCall).where(InboundCall.provider == provider, InboundCall.call_ref == call_ref)
    )


def record(
    provider: str,
    call_ref: str,
    *,
    number_id: int | None,
    lead_id: int | None,
    within_hours: bool,
    now: datetime | None = None,
) -> InboundCall:
    """The call's row, made once per (provider, call id) by record_answered (a provider's retry or a reconnect
    finds it, and gives it the lead when it had none), as an object. The caller commits."""
    record_answered(provider, call_ref, number_id=number_id, lead_id=lead_id, within_hours=within_hours, now=now)
    # populate_existing: a row this session loaded before has just had its lead filled in by a statement.
    found = db.session.scalar(
        sa.select(InboundCall)
        .where(InboundCall.provider == provider, InboundCall.call_ref == call_ref[:200])
        .execution_options(populate_existing=True)
    )
    assert found is not None  # made now or before, in this transaction's view
    return found


def _answered(insert: Any) -> Any:
    columns = ("company_id", "provider", "call_ref", "phone_number_id", "lead_id", "within_hours", "started_at")
    table = InboundCall.__table__
    return (
        insert(table)
        .values(outcome="answered", **{c: sa.bindparam(f"b_{c}", type_=table.c[c].type) for c in columns})
        .on_conflict_do_nothing(index_elements=[table.c.provider, table.c.call_ref])
        .returning(table.c.id)
    )


# record_answered's statements, built once (the values are bound parameters). Core statements on the session's
# connection, as the caller's look-up (crm.inbound.recognition): the ORM's execution cost more CPU than the
# statement while the caller rings. So the company is named here, not added by crm.tenancy.orm: the row
# gets the scope's company, and a retry only fills in a row of that company.
_TABLE = cast(sa.Table, InboundCall.__table__)
_ANSWERED = {"postgresql": _answered(pg_insert), "sqlite": _answered(sqlite_insert)}
_GIVE_LEAD = (
    sa.update(_TABLE)
    .where(
        _TABLE.c.company_id == sa.bindparam("b_company_id"),
        _TABLE.c.provider == sa.bindparam("b_provider"),
        _TABLE.c.call_ref == sa.bindparam("b_call_ref"),
        _TABLE.c.lead_id.is_(None),
    )
    .values(lead_id=sa.bindparam("b_lead_id"))
)


def record_answered(
    provider: str,
    call_ref: str,
    *,
    number_id: int | None,
    lead_id: int | None,
    within_hours: bool,
    now: datetime | None = None,
) -> None:
    """record() for the inbound webhook, where the caller is ringing: the row in one statement (INSERT ... ON
    CONFLICT DO NOTHING on the unique (provider, call id)) instead of a look-up, a savepoint, the insert and its
    release; a provider's retry (the row is there) gives it the lead when it had none. The caller commits."""
    values = {
        "b_company_id": require_company_id(),
        "b_provider": provider,
        "b_call_ref": call_ref[:200],
        "b_lead_id": lead_id,
    }
    connection = db.session.connection()
    made = connection.execute(
        _ANSWERED[connection.dialect.name],
        {
            **values,
            "b_phone_number_id": number_id,
            "b_within_hours": within_hours,
            "b_started_at": now or datetime.now(UTC),
        },
    ).first()
    if made is None and lead_id is not None:
        connection.execute(_GIVE_LEAD, values)


def set_outcome(
    row: InboundCall,
    outcome: str,
    *,
    needed_person: bool = False,
    callback_requested: bool = False,
    now: datetime | None = None,
) -> None:
    """What the call came to (the latest step wins; "answered" never replaces one). A transfer marks the call
    as needing a person; a callback the caller asked for is kept whatever follows. The caller commits."""
    if outcome not in INBOUND_OUTCOMES:
        raise ValueError(f"unknown inbound outcome {outcome!r}")
    if outcome != "answered":
        row.outcome = outcome
    row.needed_person = row.needed_person or needed_person
    row.callback_requested = row.callback_requested or callback_requested
    if outcome in ("booked", "rescheduled", "cancelled", "transferred", "message"):
        row.ended_at = now or datetime.now(UTC)
