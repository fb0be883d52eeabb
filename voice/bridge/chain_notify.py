"""Tell a lead's chain that the bridge booked an appointment during a live call.

The bridge process calls ``notify_booking`` right after a successful ``booking.book()``. The chain
records it (signal ``call_booking``) and, when the call's result arrives, follows up as booked
(confirmation email with the invite, a task for the owner) even if the provider's post-call analysis
says "interested". If the signal is lost, the webhook path still reports the call as booked: the CRM's
call merge keeps the outcome of a call whose appointment exists (crm.services.calls).
"""

from __future__ import annotations

import logging
from typing import Literal

from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import CallBooking

log = logging.getLogger(__name__)


async def notify_booking(
    client: Client, chain_id: str | None, booking: CallBooking
) -> Literal["signalled", "gone", "no_chain", "failed"]:
    """Signal the chain. "gone": the chain has ended or never existed (logged, nothing to do);
    "failed": Temporal could not be reached (logged; the caller may retry, a signal is idempotent)."""
    if not chain_id:
        log.info("booking %s of call %s: the lead has no chain", booking.appointment_id, booking.call_id)
        return "no_chain"
    try:
        await client.get_workflow_handle(chain_id).signal(LeadChainWorkflow.call_booking, booking)
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            log.info(
                "booking %s of call %s: chain %s is gone (%s)",
                booking.appointment_id,
                booking.call_id,
                chain_id,
                e.message,
            )
            return "gone"
        log.warning(
            "booking %s of call %s: chain %s not signalled: %s", booking.appointment_id, booking.call_id, chain_id, e
        )
        return "failed"
    except (ConnectionError, OSError, RuntimeError) as e:
        log.warning(
            "booking %s of call %s: chain %s not signalled: %s", booking.appointment_id, booking.call_id, chain_id, e
        )
        return "failed"
    log.info("booking %s of call %s signalled to chain %s", booking.appointment_id, booking.call_id, chain_id)
    return "signalled"
