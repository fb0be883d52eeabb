"""The chain asks the provider for a missing call result after call_result_grace_s (minutes), not after
call_result_timeout_s (an hour): issue 14 item 1, patch "poll-missing-result-early". Real dev server and
workers; the fake provider's webhook stays silent, its get_call has the result."""

from __future__ import annotations

import dataclasses
import time

import pytest

from tests.workflows.conftest import FAST
from tests.workflows.test_lead_chain import HOT
from workflows.chain_policies import PATCH_EARLY_POLL

# Before the patch this chain would have waited call_result_timeout_s (10 minutes) before its first poll.
EARLY = dataclasses.replace(FAST, call_result_grace_s=2, call_result_timeout_s=600, call_poll_interval_s=1)


@pytest.mark.parametrize("chain", [EARLY], indirect=True)
async def test_missing_result_is_polled_after_the_grace(chain):
    chain.deliver_webhooks = False
    accepted = chain.post_lead(HOT)
    await chain.stage(accepted["chain_id"], "waiting_for_result")
    waiting_since = time.monotonic()
    outcome = await chain.outcome(accepted["chain_id"], timeout=60)
    assert outcome.stage == "booked"
    assert time.monotonic() - waiting_since < 30  # the grace (2 s), not the 600 s timeout
    history = await chain.handle(accepted["chain_id"]).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled.count("fetch_call_result") == 1
    markers = [
        payload.data
        for e in history.events
        if e.HasField("marker_recorded_event_attributes")
        for payload in e.marker_recorded_event_attributes.details["patch-data"].payloads
    ]
    assert any(PATCH_EARLY_POLL.encode() in data for data in markers), markers
