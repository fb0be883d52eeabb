"""The bridge's access to lead records: who is on the line, the surviving record of a merged lead,
the call's interaction, and the transaction start every writing tool shares.

Synchronous functions for a Flask app context (see voice/bridge/booking.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Interaction, InteractionKind, Lead, SideEffect, User
from voice.bridge.booking_results import BUSINESS_TZ, LeadFacts

MAX_MERGE_HOPS = 10


def call_actor(call_id: str) -> str:
    return f"voice-bridge:{call_id}"[:100]


def as_utc(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("naive datetime: the bridge passes aware datetimes")
    return moment.astimezone(UTC)


def begin_write() -> None:
    """Start the transaction as a writer. On SQLite, BEGIN IMMEDIATE: the write lock is taken (waiting
    its turn) before anything is read, so a read-then-write cannot fail with a stale snapshot, and
    savepoints nest inside a real transaction (pysqlite would otherwise let SAVEPOINT open one and
    RELEASE commit it). PostgreSQL needs nothing: rows are locked where they are read."""
    conn = db.session.connection()
    if conn.dialect.name == "sqlite":
        raw = conn.connection.dbapi_connection
        if raw is not None and not raw.in_transaction:
            conn.exec_driver_sql("BEGIN IMMEDIATE")


def live_lead(lead_id: int | None, *, lock: bool = False) -> Lead | None:
    """The lead, or the record it was merged into (following the chain of merges)."""
    if lead_id is None:
        return None
    lead = db.session.get(Lead, lead_id, with_for_update=lock or None)
    hops = 0
    while lead is not None and lead.merged_into_id is not None and hops < MAX_MERGE_HOPS:
        lead = db.session.get(Lead, lead.merged_into_id, with_for_update=lock or None)
        hops += 1
    return lead


def as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return None


def call_interaction(call_id: str, provider: str | None = None) -> Interaction | None:
    query = sa.select(Interaction).where(Interaction.provider_ref == call_id, Interaction.kind == InteractionKind.CALL)
    if provider:
        query = query.where(Interaction.provider == provider)
    return db.session.scalars(query.order_by(Interaction.id).limit(1)).first()


def _facts(lead: Lead, interaction: Interaction | None, chain_id: str | None) -> LeadFacts:
    owner = db.session.get(User, lead.owner_id) if lead.owner_id else None
    return LeadFacts(
        lead_id=lead.id,
        first_name=lead.first_name,
        last_name=lead.last_name,
        company=lead.company,
        language=lead.language or "de",
        status=lead.status.value,
        do_not_contact=lead.do_not_contact,
        chain_id=lead.chain_id or chain_id,
        owner_id=owner.id if owner else None,
        owner_name=owner.name if owner else None,
        working_hours=owner.working_hours if owner else None,
        timezone=(owner.timezone if owner and owner.timezone else BUSINESS_TZ),
        interaction_id=interaction.id if interaction is not None else None,
    )


# ---- lead lookup ----------------------------------------------------------------------------------


def lead_for_call(call_id: str, provider: str, metadata: dict[str, Any] | None) -> LeadFacts | None:
    """The lead on a live call: by the call's interaction (provider + provider call id), else by the
    metadata we set when placing the call ({"lead_id", "chain_id", "idempotency_key"}; the provider
    is authenticated). A merged lead resolves to the surviving record. None when neither finds one."""
    interaction = call_interaction(call_id, provider)
    lead = live_lead(interaction.lead_id) if interaction is not None else None
    chain_id = (interaction.data or {}).get("chain_id") if interaction is not None else None
    if lead is None and metadata:
        lead = live_lead(as_int(metadata.get("lead_id")))
        chain_id = chain_id or (metadata.get("chain_id") if isinstance(metadata.get("chain_id"), str) else None)
    if lead is None:
        return None
    return _facts(lead, interaction, chain_id)


def company_for_call(call_id: str, provider: str, metadata: dict[str, Any] | None) -> int | None:
    """The company of a live call, from a record we wrote ourselves: the call's interaction (the provider's
    call id on an authenticated connection), else the ledger row written before the call was placed (the
    metadata's idempotency key, for the lead the metadata names). A lead id alone in the metadata is not
    enough: nothing here trusts a company a caller could name. None: the call is not ours to serve.

    Reads across companies: the caller runs it in a short operator context (crm_tools.CrmToolsFactory)."""
    interaction = call_interaction(call_id, provider)
    if interaction is not None and interaction.lead_id is not None:
        lead = db.session.get(Lead, interaction.lead_id)
        if lead is not None:
            return lead.company_id
    meta = metadata or {}
    key, lead_id = meta.get("idempotency_key"), as_int(meta.get("lead_id"))
    if not isinstance(key, str) or not key or lead_id is None:
        return None
    ledger = db.session.scalars(sa.select(SideEffect).where(SideEffect.key == key, SideEffect.kind == "call")).first()
    if ledger is None or ledger.lead_id != lead_id:
        return None
    return ledger.company_id


# ---- availability ---------------------------------------------------------------------------------
