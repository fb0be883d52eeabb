"""Records the committed histories replayed by test_replay.py. Run explicitly (not collected by default):

.venv/bin/python -m pytest tests/workflows/record_histories.py
"""

from __future__ import annotations

import dataclasses
import json

import pytest

from tests.fakes import Script
from tests.workflows.conftest import FAST
from tests.workflows.test_lead_chain import COLD, HOT
from tests.workflows.test_replay import HISTORIES


@pytest.mark.parametrize("chain", [dataclasses.replace(FAST, max_nurture_cycles=1)], indirect=True)
async def test_record_histories(chain):
    from workflows.payloads import StopSignal

    booked = chain.post_lead(HOT)
    await chain.outcome(booked["chain_id"])
    chain.provider.scripts["+493023125102"] = Script([("no_answer", None)] * 3)
    nurtured = chain.post_lead({**HOT, "email": "second@kfz-krause.de", "phone": "+49 30 23125102"})
    await chain.outcome(nurtured["chain_id"])
    cancelled = chain.post_lead(COLD)
    await chain.stage(cancelled["chain_id"], "nurturing")
    await chain.handle(cancelled["chain_id"]).signal("stop", StopSignal("cancelled"))
    await chain.outcome(cancelled["chain_id"])
    for name, accepted in (("booked", booked), ("no_answer_then_nurture", nurtured), ("cancelled", cancelled)):
        history = await chain.handle(accepted["chain_id"]).fetch_history()
        (HISTORIES / f"{name}.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))


@pytest.mark.parametrize("chain", [dataclasses.replace(FAST, retry_delay_s=8, max_nurture_cycles=1)], indirect=True)
async def test_record_one_chain_per_person_histories(chain):
    """Histories of the one-chain-per-person paths (workflow.patched markers included): a lead posted again
    during its retry wait (merged, the wait kept), and one posted again after its chain ended (a run that
    only merges)."""
    import asyncio

    chain.provider.scripts["+493023125101"] = Script([("no_answer", None), ("completed", "booked")])
    waited = chain.post_lead(HOT)
    await chain.stage(waited["chain_id"], "waiting_for_retry")
    chain.post_lead({**HOT, "company": "Krause Kfz GmbH"})
    await chain.outcome(waited["chain_id"], timeout=60)
    history = await chain.handle(waited["chain_id"]).fetch_history()
    (HISTORIES / "resubmitted_during_retry_wait.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))
    first_run = history.run_id
    chain.post_lead({**HOT, "company": "Krause Kfz GmbH & Co. KG"})
    for _ in range(200):
        runs = [w async for w in chain.client.list_workflows(f'WorkflowId = "{waited["chain_id"]}"')]
        if len(runs) == 2:
            break
        await asyncio.sleep(0.1)
    outcome = await chain.outcome(waited["chain_id"])
    assert outcome.stage == "merged"
    merged = await chain.handle(waited["chain_id"]).fetch_history()
    assert merged.run_id != first_run
    (HISTORIES / "merged_after_booked.json").write_text(json.dumps(json.loads(merged.to_json()), indent=1))


async def test_record_callback_history(chain):
    """A call that ends with callback_requested and no window (the chain's behaviour before the caller's
    stated time was kept: callback task in 24 h, handed over). Recorded with that code, so the patch
    "callback-at-stated-time" is shown to leave such histories replayable."""
    chain.provider.scripts["+493023125101"] = Script([("completed", "callback_requested")])
    accepted = chain.post_lead(HOT)
    outcome = await chain.outcome(accepted["chain_id"])
    assert outcome.stage == "handed_over"
    history = await chain.handle(accepted["chain_id"]).fetch_history()
    (HISTORIES / "callback_requested.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))


@pytest.mark.parametrize("chain", [dataclasses.replace(FAST, callback_min_delay_s=1)], indirect=True)
async def test_record_callback_at_stated_time_history(chain):
    """A call that ends with callback_requested and a window the bridge sent (signal callback_request): the
    task due at the window's start, the wait, the callback's call (booked). Recorded with the patch
    "callback-at-stated-time", so a later change to that path must keep it replayable too."""
    from datetime import UTC, datetime, timedelta

    from voice.bridge.chain_notify import notify_callback
    from workflows.payloads import CallbackRequest

    chain.provider.scripts["+493023125101"] = Script([("completed", "callback_requested"), ("completed", "booked")])
    chain.deliver_webhooks = False
    accepted = chain.post_lead(HOT)
    await chain.stage(accepted["chain_id"], "waiting_for_result")
    now = datetime.now(UTC)
    request = CallbackRequest(next(iter(chain.provider.results)), now + timedelta(seconds=3), now + timedelta(days=1))
    assert await notify_callback(chain.client, accepted["chain_id"], request) == "signalled"
    chain.deliver_webhooks = True
    outcome = await chain.outcome(accepted["chain_id"])
    assert outcome.stage == "booked" and chain.provider.calls_to("+493023125101") == 2
    history = await chain.handle(accepted["chain_id"]).fetch_history()
    (HISTORIES / "callback_at_stated_time.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))


@pytest.mark.parametrize(
    "chain",
    [dataclasses.replace(FAST, call_result_grace_s=2, call_result_timeout_s=600, call_poll_interval_s=1)],
    indirect=True,
)
async def test_record_result_polled_early_history(chain):
    """No webhook: the chain asks the provider after call_result_grace_s (patch "poll-missing-result-early")
    and books on the polled result. Recorded with the patch, so a later change to the wait keeps it
    replayable; histories recorded before it (booked, ...) replay the wait as it was."""
    chain.deliver_webhooks = False
    accepted = chain.post_lead(HOT)
    outcome = await chain.outcome(accepted["chain_id"], timeout=60)
    assert outcome.stage == "booked"
    history = await chain.handle(accepted["chain_id"]).fetch_history()
    (HISTORIES / "result_polled_early.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))


async def test_record_booked_remote_crm_history(chain):
    """A booked chain as the code before patch "crm-steps-local" ran it: every CRM step a regular activity
    on the chain's task queue, the call gate checked twice on the way into the call step. Recorded with that
    code, so the patch is shown to leave such running chains replayable (test_replay.py)."""
    accepted = chain.post_lead(HOT)
    outcome = await chain.outcome(accepted["chain_id"])
    assert outcome.stage == "booked"
    history = await chain.handle(accepted["chain_id"]).fetch_history()
    (HISTORIES / "booked_remote_crm.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))


async def test_record_booked_local_crm_history(chain):
    """The same booked chain with patch "crm-steps-local": the CRM steps as local activities (markers in the
    history), one gate check before the call. Recorded so that a later change keeps such runs replayable."""
    accepted = chain.post_lead(HOT)
    outcome = await chain.outcome(accepted["chain_id"])
    assert outcome.stage == "booked"
    history = await chain.handle(accepted["chain_id"]).fetch_history()
    (HISTORIES / "booked_local_crm.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))
