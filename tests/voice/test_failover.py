"""A 429/5xx storm at the primary provider: calls go out through the campaign's failover, none twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from temporalio.exceptions import ApplicationError
from temporalio.testing import ActivityEnvironment

from activities.provider_activities import FAILOVER_AFTER, ProviderActivities
from crm.extensions import db
from crm.models import Campaign, Channel, ConsentRecord, Interaction, Lead, LegalBasis, SideEffect
from providers.factory import registry
from tests.conftest import set_settings
from tests.workflows.conftest import always_open_policy
from workflows.payloads import PlaceCallInput

LEADS = 5


def _seed(app) -> list[int]:
    with app.app_context():
        db.session.add(
            Campaign(
                name="storm",
                provider="retell",
                agent_id="agent_storm",
                from_number="+4930555000",
                is_default=True,
                failover_provider="vapi",
                failover_agent_id="assistant_storm",
                failover_from_number="pn_storm",
            )
        )
        ids = []
        for i in range(LEADS):
            lead = Lead(
                source="test",
                first_name="Dana",
                last_name=f"Weber{i}",
                phone_e164=f"+4930231251{i}0",
                phone_region="DE",
                phone_timezone="Europe/Berlin",
                phone_status="valid",
                tags=[],
                score=80,
            )
            db.session.add(lead)
            db.session.flush()
            db.session.add(
                ConsentRecord(
                    lead_id=lead.id,
                    channel=Channel.PHONE,
                    legal_basis=LegalBasis.EXPRESS_CONSENT,
                    source="test",
                    proof_text="form",
                    proof_key="k",
                    given_at=datetime.now(UTC) - timedelta(days=1),
                )
            )
            ids.append(lead.id)
        db.session.commit()
        db.session.remove()
        return ids


def _attempt(acts, inp: PlaceCallInput, attempt: int):
    env = ActivityEnvironment()
    env.info = env.info.__class__(**{**env.info.__dict__, "attempt": attempt})
    return env.run(acts.place_call, inp)


@pytest.mark.parametrize("status", [429, 503])
def test_storm_at_the_primary_goes_through_the_failover_once(app, crm_server, sandbox, status):
    set_settings(app, "providers", sandbox_url=sandbox.url)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    httpx.post(
        f"{sandbox.url}/sandbox/faults",
        json={"provider": "retell", "status": status, "count": 1000, "retry_after_s": 2},
    ).raise_for_status()
    acts = ProviderActivities(app, registry(app), None)
    for lead_id in _seed(app):
        inp = PlaceCallInput(lead_id, f"lead-storm-{lead_id}", 1, f"storm:{lead_id}:1")
        # Temporal's retries, played by hand: the primary's budget is spent first...
        for attempt in range(1, FAILOVER_AFTER + 1):
            with pytest.raises(ApplicationError) as failure:
                _attempt(acts, inp, attempt)
            assert failure.value.type == "ProviderUnavailable" and not failure.value.non_retryable
            assert failure.value.next_retry_delay == timedelta(seconds=2)  # Retry-After honoured
        # ...then the failover dials, and a late duplicate retry returns the same call.
        placed = _attempt(acts, inp, FAILOVER_AFTER + 1)
        again = _attempt(acts, inp, FAILOVER_AFTER + 2)
        assert placed.provider == "vapi" and again.call_id == placed.call_id
    stats = httpx.get(f"{sandbox.url}/sandbox/stats").json()
    assert stats["created"].get("retell", 0) == 0
    assert stats["created"]["vapi"] == LEADS
    assert stats["create_requests"]["retell"] == LEADS * FAILOVER_AFTER
    with app.app_context():
        calls = db.session.execute(sa.select(Interaction.provider, Interaction.lead_id)).all()
        assert sorted(calls) == sorted(("vapi", i) for i in range(1, LEADS + 1)) or len(calls) == LEADS
        assert len({lead for _, lead in calls}) == LEADS
        assert (
            db.session.scalar(
                sa.select(sa.func.count())
                .select_from(SideEffect)
                .where(SideEffect.status == "done", SideEffect.provider == "vapi")
            )
            == LEADS
        )
