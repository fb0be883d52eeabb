"""Reps and API clients steer a lead's chain: every request is audited with its actor."""

from __future__ import annotations

import logging

from crm.extensions import db
from crm.models import Lead
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


def status(lead: Lead) -> dict:
    live = gateway().status(lead.chain_id) if lead.chain_id else None
    if live is None:
        return {"lead_id": lead.id, "chain_id": lead.chain_id, "running": False, "stage": lead.chain_stage}
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
