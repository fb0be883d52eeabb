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
