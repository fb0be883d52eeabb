"""An admin's stored gate threshold reaches running chains at their next gate check (real dev server, real
workers, the real PostgreSQL): above the lead's score the chain nurtures instead of calling; reset to the
default, the next re-score calls."""

from __future__ import annotations

import dataclasses

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import AuditEntry
from crm.services import app_settings
from tests.workflows.conftest import FAST
from tests.workflows.test_lead_chain import HOT

NURTURE = dataclasses.replace(FAST, nurture_delays_s=[0, 2, 2])


def _store(fn):
    def run():
        fn()
        db.session.commit()

    return run


@pytest.mark.parametrize("chain", [NURTURE], indirect=True)
async def test_stored_threshold_above_the_score_nurtures_until_reset(chain):
    chain.db(_store(lambda: app_settings.set_gate_threshold(100, "user:1")))
    accepted = chain.post_lead(HOT)
    status = await chain.stage(accepted["chain_id"], "nurturing")
    assert chain.provider.calls_to("+493023125101") == 0  # HOT scores above the chain's own 50
    refusal = chain.db(
        lambda: db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "call.refused")).first()
    )
    assert refusal.after["reason"] == "score_below_threshold" and "threshold 100" in refusal.after["detail"]

    chain.db(_store(lambda: app_settings.reset(app_settings.GATE_THRESHOLD, "user:1")))
    outcome = await chain.outcome(accepted["chain_id"])
    assert outcome.stage == "booked" and status.lead_id == outcome.lead_id
    assert chain.provider.calls_to("+493023125101") == 1
