"""A rep's "call now": the chain leaves its wait and calls, with the score threshold waived but the
compliance gate (consent, do-not-contact, calling hours) still in force. Real dev server and workers."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from tests.workflows.conftest import FAST
from tests.workflows.test_lead_chain import COLD
from workflows.payloads import StopSignal

# Consent to be called, but too little to score above the gate: the chain nurtures.
CONSENTED_COLD = {**COLD, "phone": "+49 30 23125177", "phone_consent": "ja"}
SLOW_NURTURE = dataclasses.replace(FAST, nurture_delays_s=[30, 30, 30])


@pytest.mark.parametrize("chain", [SLOW_NURTURE], indirect=True)
async def test_call_now_calls_a_nurtured_lead_that_consented(chain):
    accepted = chain.post_lead(CONSENTED_COLD)
    await chain.stage(accepted["chain_id"], "nurturing")
    assert chain.provider.calls_to("+493023125177") == 0
    await chain.handle(accepted["chain_id"]).signal("call_now")
    outcome = await chain.outcome(accepted["chain_id"])
    assert outcome.stage == "booked"
    assert chain.provider.calls_to("+493023125177") == 1


@pytest.mark.parametrize("chain", [SLOW_NURTURE], indirect=True)
async def test_call_now_does_not_override_missing_consent(chain):
    accepted = chain.post_lead(COLD)
    handle = chain.handle(accepted["chain_id"])
    await chain.stage(accepted["chain_id"], "nurturing")
    await handle.signal("call_now")
    # The chain re-qualifies, the gate refuses (no consent) and it goes back to nurturing.
    await asyncio.sleep(1.5)
    await chain.stage(accepted["chain_id"], "nurturing")
    assert chain.provider.calls_to("+493023125199") == 0
    await handle.signal("stop", StopSignal("cancelled"))
    assert (await chain.outcome(accepted["chain_id"])).stage == "cancelled"
