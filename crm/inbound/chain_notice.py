"""A booking made in an inbound call reaches the caller's chain as the voice bridge's bookings do (Retell and Vapi
inbound calls: voice.bridge.crm_tools `tell_chain` -> chain_notify.notify_booking): the signal `call_booking` with
ids only (the provider's call id and the appointment's id), after the booking is committed. The chain records it
once per call id (workflows/chain_state.py), so a retried tool that signals again changes nothing.

Used by Bland's BookAppointment tool (crm.inbound.bland_actions), from the web request through the web's
Temporal gateway (crm.temporal_gateway, every RPC bounded). Like the bridge's, the notice is best effort: a lead
without a chain, a chain that has ended, or Temporal down is logged (by ids) and the booking stands; the chain
meets the booked lead at its next step. A move or a cancel sends nothing, on any provider: the chain that booked
has ended; a cancel sends the lead back to follow-up in the CRM itself (crm.services.appointments.follow_up)."""

from __future__ import annotations

import logging
from typing import Literal

from crm.extensions import db
from crm.models import Lead
from crm.temporal_gateway import ChainNotRunning, gateway
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import CallBooking

log = logging.getLogger(__name__)

Outcome = Literal["signalled", "gone", "no_chain", "failed"]


def tell_booking(lead_id: int, call_ref: str, appointment_id: int) -> Outcome:
    """Signal the lead's chain `call_booking(call_ref, appointment_id)`; what became of it (chain_notify's words)."""
    lead = db.session.get(Lead, lead_id)
    chain_id = lead.chain_id if lead is not None else None
    what = f"inbound booking {appointment_id} of call {call_ref}"
    if not chain_id:
        log.info("%s: the lead has no chain", what)
        return "no_chain"
    try:
        gateway().signal(chain_id, LeadChainWorkflow.call_booking, CallBooking(call_ref, appointment_id))
    except ChainNotRunning:
        log.info("%s: chain %s is not running", what, chain_id)
        return "gone"
    except Exception as e:  # noqa: BLE001 - Temporal down or refusing: the booking stands, the caller is answered
        log.warning("%s: chain %s not signalled (%s)", what, chain_id, type(e).__name__)
        return "failed"
    log.info("%s signalled to chain %s", what, chain_id)
    return "signalled"
