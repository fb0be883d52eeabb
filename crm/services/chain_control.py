"""Reps and API clients steer a lead's chain: every request is audited with its actor."""

from __future__ import annotations

import logging

import sqlalchemy as sa

from crm.extensions import db
from crm.models import AuditEntry, Lead
from crm.services import audit, dnc
from crm.temporal_gateway import ChainNotRunning, TemporalUnavailable, gateway
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import StopSignal
from workflows.vocabulary import StopReason

log = logging.getLogger(__name__)

# What a rep or API client may ask of a running chain, and the workflow signal each one sends ("cancel"
# is the stop signal, below). "call_now" asks the chain to call at once: the workflow's handler re-runs
# the compliance gate (consent, do-not-contact, calling hours) before dialling.
SIGNALS = {
    "pause": LeadChainWorkflow.pause,
    "resume": LeadChainWorkflow.resume,
    "call_now": LeadChainWorkflow.call_now,
}
ACTIONS = ("pause", "resume", "cancel", "call_now")


# The keys of every status answer, running or not (the OpenAPI schema in crm/api/chains.py lists them).
STATUS_KEYS = (
    "lead_id",
    "chain_id",
    "running",
    "stage",
    "next_step",
    "next_at",
    "paused",
    "attempts",
    "cycle",
    "history",
)


def status(lead: Lead) -> dict:
    """The chain's state; a chain that is not running (finished, or gone from Temporal's retention) has the
    same keys: no next step, attempts and cycle unknown (null), its history from the audit log."""
    try:
        live = gateway().status(lead.chain_id) if lead.chain_id else None
    except ChainNotRunning:  # Temporal no longer knows the id (retention): the chain has ended
        live = None
    if live is None:
        return {
            "lead_id": lead.id,
            "chain_id": lead.chain_id,
            "running": False,
            "stage": lead.chain_stage,
            "next_step": None,
            "next_at": None,
            "paused": False,
            "attempts": None,
            "cycle": None,
            "history": _recorded_history(lead),
        }
    return {
        "lead_id": lead.id,
        "chain_id": lead.chain_id,
        "running": True,
        "stage": live.stage,
        "next_step": live.next_step,
        "next_at": live.next_at.isoformat() if live.next_at else None,
        "paused": live.paused,
        "attempts": live.attempts,
        "cycle": live.cycle,
        "history": [{"at": h.at.isoformat(), "stage": h.stage, "detail": h.detail} for h in live.history],
    }


def _recorded_history(lead: Lead) -> list[dict]:
    """What the chain recorded on its timeline (the record_timeline activity writes actor "chain", action
    chain.<stage>, the chain id and the detail), oldest first; a rep's or API client's requests
    (chain.pause_requested ...) have their own actor and are not part of it."""
    if not lead.chain_id:
        return []
    entries = db.session.scalars(
        sa.select(AuditEntry)
        .where(
            AuditEntry.entity_type == "lead",
            AuditEntry.entity_id == lead.id,
            AuditEntry.actor == "chain",
            AuditEntry.action.startswith("chain."),
        )
        .order_by(AuditEntry.at, AuditEntry.id)
    )
    return [
        {"at": e.at.isoformat(), "stage": e.action.removeprefix("chain."), "detail": (e.after or {}).get("detail", "")}
        for e in entries
        # A lead's earlier chain (reopened later) has its own id: only this chain's stages.
        if (e.after or {}).get("chain_id") == lead.chain_id
    ]


def control(lead: Lead, action: str, *, actor: str) -> None:
    if action not in ACTIONS:
        raise ValueError(f"unknown chain action {action!r}")
    if not lead.chain_id:
        raise ChainNotRunning("the lead has no chain")
    if action == "cancel":
        gateway().signal(lead.chain_id, LeadChainWorkflow.stop, StopSignal(StopReason.CANCELLED, actor=actor))
    else:
        gateway().signal(lead.chain_id, SIGNALS[action])
    audit.record(actor, f"chain.{action}_requested", "lead", lead.id, after={"chain_id": lead.chain_id})
    db.session.commit()


def mark_do_not_contact(lead: Lead, *, reason: str, actor: str) -> bool:
    """Effective at once in the CRM (the dial and email gates read it); the chain is told to stop too."""
    dnc.mark(lead, reason=reason, actor=actor)
    db.session.commit()
    if not lead.chain_id:
        return False
    try:
        gateway().signal(lead.chain_id, LeadChainWorkflow.stop, StopSignal(StopReason.DO_NOT_CONTACT, actor=actor))
        return True
    except (ChainNotRunning, TemporalUnavailable) as e:
        # The flag is committed; the gates refuse every further call and email regardless.
        log.warning("chain of lead %s not told to stop: %s", lead.id, type(e).__name__)
        return False
