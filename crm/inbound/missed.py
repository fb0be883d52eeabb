"""Missed and abandoned inbound calls (issue 17 item 5): a caller who hung up before any outcome, or called
outside business hours and left no message, gets a callback task for a person and, when they may be called
back, a call from their chain in its next calling window.

An inbound call's record (crm.models.inbound.InboundCall) still says "answered" when the dialog reached no
outcome; once it is older than ABANDONED_AFTER (the call is over) the sweep marks it "abandoned" and makes
the task, once per call id: the row keeps the task's id, the task has a key of its own, and both are
written in one transaction. The chain is asked for a call (signal call_now: the chain's gate still checks
consent, do-not-contact and calling hours, so the call comes in the next calling window) after that commit;
if Temporal is down the task stands and the log says so.

"May be called back": the caller asked for a callback in this call, or they have not objected to calls
(the lead's do-not-contact flag, the company's do-not-call list). An objection never stops serving an inbound
caller, but it does stop calling them back unless they asked for it in that call. Runs from the relay's
minute sweep (workers/relay.py), per company."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from crm.extensions import db
from crm.models import InboundCall, Lead, LeadStatus, Task
from crm.models.types import utcnow
from crm.services.compliance import is_on_dnc_list
from crm.tenancy.context import operator_scope, unit_of_work

log = logging.getLogger(__name__)

# A call still "answered" this long after it came in is over (Retell and Vapi end silent calls well before).
ABANDONED_AFTER = timedelta(minutes=15)
LOOK_BACK = timedelta(days=2)
TITLE = "Missed inbound call: call back"


@dataclass(frozen=True)
class MissedResult:
    abandoned: int
    chain_calls: int


def _companies(now: datetime) -> list[int]:
    with operator_scope("inbound-missed", "find abandoned inbound calls"):
        ids = db.session.scalars(
            sa.select(InboundCall.company_id)
            .where(
                InboundCall.outcome == "answered",
                InboundCall.started_at <= now - ABANDONED_AFTER,
                InboundCall.started_at > now - LOOK_BACK,
            )
            .distinct()
        ).all()
        db.session.rollback()
    return sorted(ids)


def may_call_back(call: InboundCall, lead: Lead | None) -> bool:
    if lead is None:
        return False
    objected = lead.do_not_contact or lead.status == LeadStatus.DO_NOT_CONTACT or is_on_dnc_list(lead.phone_e164)
    return call.callback_requested or not objected


def _mark(call: InboundCall, now: datetime) -> tuple[Lead | None, bool]:
    """The call marked abandoned with its task (the caller commits); (its lead, whether to ask the chain)."""
    lead = db.session.get(Lead, call.lead_id) if call.lead_id is not None else None
    call.outcome = "abandoned"
    call.ended_at = call.ended_at or now
    allowed = may_call_back(call, lead)
    if lead is None or not allowed:
        return lead, False
    key = f"inbound:{call.provider}:{call.call_ref}:missed"[:200]
    task = db.session.scalar(sa.select(Task).where(Task.dedupe_key == key))
    if task is None:
        task = Task(lead_id=lead.id, owner_id=lead.owner_id, kind="callback", title=TITLE, due_at=now, dedupe_key=key)
        db.session.add(task)
        db.session.flush()
    call.callback_task_id = task.id
    return lead, bool(lead.chain_id)


def sweep_company(now: datetime, ask_chain: bool = True) -> MissedResult:
    """The current company's abandoned calls (in its unit of work)."""
    rows = db.session.scalars(
        sa.select(InboundCall)
        .where(
            InboundCall.outcome == "answered",
            InboundCall.started_at <= now - ABANDONED_AFTER,
            InboundCall.started_at > now - LOOK_BACK,
        )
        .order_by(InboundCall.id)
        .with_for_update(skip_locked=True)
    ).all()
    chains: list[tuple[Lead, str]] = []
    for call in rows:
        lead, ask = _mark(call, now)
        if ask and lead is not None:
            chains.append((lead, call.call_ref))
    db.session.commit()
    asked = 0
    for lead, call_ref in chains if ask_chain else ():
        asked += _ask_chain(lead, call_ref)
    return MissedResult(len(rows), asked)


def _ask_chain(lead: Lead, call_ref: str) -> int:
    # Imported here: the chain control talks to Temporal, which the sweep needs only when a chain is asked.
    from crm.services import chain_control

    try:
        chain_control.control(lead, "call_now", actor=f"inbound-missed:{call_ref}"[:100])
        return 1
    except Exception as e:  # noqa: BLE001 - Temporal down or the chain over: the task stands
        db.session.rollback()
        log.warning("missed inbound call: chain of lead %s not asked to call back (%s)", lead.id, type(e).__name__)
        return 0


def sweep(now: datetime | None = None, ask_chain: bool = True) -> MissedResult:
    """One pass over every company (inside an app context)."""
    now = now or utcnow()
    abandoned = calls = 0
    for company_id in _companies(now):
        with unit_of_work(company_id):
            try:
                done = sweep_company(now, ask_chain)
                abandoned, calls = abandoned + done.abandoned, calls + done.chain_calls
            finally:
                db.session.rollback()
    return MissedResult(abandoned, calls)
