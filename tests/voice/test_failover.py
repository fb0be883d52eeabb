"""A 429/5xx storm at the primary provider: calls go out through the campaign's failover, none twice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

from activities.provider_activities import FAILOVER_AFTER, ProviderActivities
from crm.extensions import db
from crm.models import AuditEntry, Campaign, Channel, ConsentRecord, Interaction, Lead, LegalBasis, SideEffect
from providers.factory import registry
from tests.activity_env import activity_env
from tests.conftest import set_settings
from tests.workflows.conftest import always_open_policy
from workflows.chain_policies import CALL_FAILURE_BUDGET, PROVIDER_CALL_RETRY, PROVIDER_RETRY
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


def _attempt(acts, inp: PlaceCallInput, attempt: int, policy: RetryPolicy | None = None):
    env = activity_env()
    env.info = env.info.__class__(**{**env.info.__dict__, "attempt": attempt, "retry_policy": policy})
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
            expected = "ProviderRateLimited" if status == 429 else "ProviderUnavailable"
            assert failure.value.type == expected and not failure.value.non_retryable
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


def _only_retell(app) -> int:
    """One lead under a campaign without failover: a storm at Retell has nowhere else to go."""
    [lead_id, *_] = _seed(app)
    with app.app_context():
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.name == "storm"))
        campaign.failover_provider = None
        db.session.commit()
        db.session.remove()
    return lead_id


def _row(app, key: str) -> SideEffect:
    with app.app_context():
        row = db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key))
        db.session.expunge(row)
        return row


def test_a_429_storm_longer_than_the_failure_budget_does_not_spend_it(app, crm_server, sandbox):
    """Rate limiting is the provider being busy, not the call failing: twice the failure budget of 429
    answers later, the call is placed once (issue 14 F8; the old policy gave up after 8)."""
    set_settings(app, "providers", sandbox_url=sandbox.url)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    lead_id = _only_retell(app)
    fault = {"provider": "retell", "status": 429, "seconds": 600, "retry_after_s": 1}
    httpx.post(f"{sandbox.url}/sandbox/faults", json=fault).raise_for_status()
    acts = ProviderActivities(app, registry(app), None)
    inp = PlaceCallInput(lead_id, f"lead-storm-{lead_id}", 1, f"storm429:{lead_id}:1")
    storm = 2 * CALL_FAILURE_BUDGET
    for attempt in range(1, storm + 1):
        with pytest.raises(ApplicationError) as failure:
            _attempt(acts, inp, attempt, PROVIDER_CALL_RETRY)
        assert failure.value.type == "ProviderRateLimited" and not failure.value.non_retryable, failure.value
        assert failure.value.next_retry_delay == timedelta(seconds=1)
    row = _row(app, inp.idempotency_key)
    assert (row.status, row.result["rate_limited"]) == ("intent", storm)
    httpx.post(f"{sandbox.url}/sandbox/faults", json={**fault, "seconds": 0}).raise_for_status()  # storm over
    placed = _attempt(acts, inp, storm + 1, PROVIDER_CALL_RETRY)
    assert placed.provider == "retell" and placed.call_id
    stats = httpx.get(f"{sandbox.url}/sandbox/stats").json()
    assert (stats["created"]["retell"], stats["create_requests"]["retell"]) == (1, storm + 1)
    assert _row(app, inp.idempotency_key).status == "done"


def test_real_failures_keep_the_bounded_budget_and_the_row_says_why(app, crm_server, sandbox):
    """5xx answers count: after CALL_FAILURE_BUDGET of them the next attempt gives up, non-retryably,
    and the ledger row is `failed` with the reason (not left at `intent`), with an audit entry."""
    set_settings(app, "providers", sandbox_url=sandbox.url)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    lead_id = _only_retell(app)
    httpx.post(
        f"{sandbox.url}/sandbox/faults", json={"provider": "retell", "status": 503, "seconds": 600}
    ).raise_for_status()
    acts = ProviderActivities(app, registry(app), None)
    inp = PlaceCallInput(lead_id, f"lead-storm-{lead_id}", 1, f"storm503:{lead_id}:1")
    for attempt in range(1, CALL_FAILURE_BUDGET + 1):
        with pytest.raises(ApplicationError) as failure:
            _attempt(acts, inp, attempt, PROVIDER_CALL_RETRY)
        assert failure.value.type == "ProviderUnavailable" and not failure.value.non_retryable
        assert _row(app, inp.idempotency_key).status == "intent"
    with pytest.raises(ApplicationError) as failure:
        _attempt(acts, inp, CALL_FAILURE_BUDGET + 1, PROVIDER_CALL_RETRY)
    assert failure.value.type == "CallBudgetSpent" and failure.value.non_retryable
    row = _row(app, inp.idempotency_key)
    assert row.status == "failed" and row.completed_at is not None
    assert row.result["reason"].startswith("CallBudgetSpent: 8 failed attempts"), row.result
    with app.app_context():
        audit = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "call.failed"))
        assert audit is not None and audit.entity_id == lead_id
    # A late retry of the same key answers the same, without asking the provider again.
    before = httpx.get(f"{sandbox.url}/sandbox/stats").json()["create_requests"]["retell"]
    with pytest.raises(ApplicationError) as again:
        _attempt(acts, inp, CALL_FAILURE_BUDGET + 2, PROVIDER_CALL_RETRY)
    assert again.value.type == "CallBudgetSpent" and again.value.non_retryable
    assert httpx.get(f"{sandbox.url}/sandbox/stats").json()["create_requests"]["retell"] == before


def test_rate_limits_are_waited_out_for_a_bounded_time(app, crm_server, sandbox):
    set_settings(app, "providers", sandbox_url=sandbox.url)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    lead_id = _only_retell(app)
    httpx.post(
        f"{sandbox.url}/sandbox/faults", json={"provider": "retell", "status": 429, "seconds": 600}
    ).raise_for_status()
    acts = ProviderActivities(app, registry(app), None)
    inp = PlaceCallInput(lead_id, f"lead-storm-{lead_id}", 1, f"storm429h:{lead_id}:1")
    with pytest.raises(ApplicationError):
        _attempt(acts, inp, 1, PROVIDER_CALL_RETRY)
    with app.app_context():  # the first 429 was 31 minutes ago
        row = db.session.scalar(sa.select(SideEffect).where(SideEffect.key == inp.idempotency_key))
        since = datetime.now(UTC) - timedelta(minutes=31)
        row.result = {**row.result, "rate_limited_since": since.isoformat()}
        db.session.commit()
    with pytest.raises(ApplicationError) as failure:
        _attempt(acts, inp, 2, PROVIDER_CALL_RETRY)
    assert failure.value.type == "CallBudgetSpent" and failure.value.non_retryable
    row = _row(app, inp.idempotency_key)
    assert row.status == "failed" and "rate limited (429) for more than 0:30:00" in row.result["reason"]


def test_chains_from_before_the_patch_mark_the_row_on_their_last_attempt(app, crm_server, sandbox):
    """Under the old bounded policy Temporal counts: its last attempt marks the row failed itself."""
    set_settings(app, "providers", sandbox_url=sandbox.url)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    lead_id = _only_retell(app)
    httpx.post(
        f"{sandbox.url}/sandbox/faults", json={"provider": "retell", "status": 429, "seconds": 600}
    ).raise_for_status()
    acts = ProviderActivities(app, registry(app), None)
    inp = PlaceCallInput(lead_id, f"lead-storm-{lead_id}", 1, f"storm-old:{lead_id}:1")
    last = PROVIDER_RETRY.maximum_attempts
    for attempt in range(1, last + 1):
        with pytest.raises(ApplicationError):
            _attempt(acts, inp, attempt, PROVIDER_RETRY)
        assert _row(app, inp.idempotency_key).status == ("failed" if attempt == last else "intent")
    assert _row(app, inp.idempotency_key).result["reason"].startswith("ProviderRateLimited")
