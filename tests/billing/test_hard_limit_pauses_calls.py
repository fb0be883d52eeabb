"""The hard limit pauses new outbound calls at the dial gate; raising it lets the same call go out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from temporalio.exceptions import ApplicationError

from activities.provider_activities import ProviderActivities
from crm.billing import limits
from crm.extensions import db
from crm.models import BillingAccount, Campaign, Channel, ConsentRecord, Lead, LegalBasis
from providers.base import ProviderRegistry
from tests.activity_env import activity_env
from tests.billing import sample_month
from tests.fakes import FakeVoiceProvider
from workflows.payloads import PlaceCallInput

AT = datetime(2027, 3, 2, 10, 0, tzinfo=UTC)  # a Tuesday, 11:00 in Berlin


def _callable_lead() -> int:
    db.session.add(
        Campaign(name="default", provider="retell", agent_id="agent_x", from_number="+4930555000", is_default=True)
    )
    lead = Lead(
        source="t",
        phone_e164="+493023125101",
        phone_region="DE",
        phone_timezone="Europe/Berlin",
        phone_status="valid",
        tags=[],
        score=80,
        language="de",
    )
    db.session.add(lead)
    db.session.flush()
    db.session.add(
        ConsentRecord(
            lead_id=lead.id,
            channel=Channel.PHONE,
            legal_basis=LegalBasis("express_consent"),
            source="t",
            proof_text="t",
            proof_key="k",
            given_at=AT - timedelta(days=30),
        )
    )
    db.session.commit()
    return lead.id


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_calls_pause_at_the_hard_limit_and_resume_when_it_is_raised(app, ctx):
    acct = sample_month.account(sample_month.plan(hard_limit_cents=0, soft_limit_cents=0))
    db.session.commit()
    lead_id = _callable_lead()
    assert limits.state(AT).level == limits.HARD
    provider = FakeVoiceProvider(name="retell")
    acts = ProviderActivities(app, ProviderRegistry({"retell": provider}), None)
    env = activity_env()
    env.info = env.info.__class__(**{**env.info.__dict__, "current_attempt_scheduled_time": AT})
    inp = PlaceCallInput(lead_id, "lead-test", 1, f"k-{lead_id}")
    with pytest.raises(ApplicationError) as paused:
        env.run(acts.place_call, inp)
    assert paused.value.type == "BillingHardLimit" and not paused.value.non_retryable
    assert "hard usage limit" in str(paused.value) and provider.placed == []

    # The admin raises the company's limit: the retried attempt (same key) dials.
    acct = db.session.get(BillingAccount, acct.id)
    acct.hard_limit_cents = 100_000
    db.session.commit()
    placed = env.run(acts.place_call, inp)
    assert placed.refused is None and len(provider.placed) == 1
