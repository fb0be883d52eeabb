"""GET /api/v1/leads/<id>/chain answers the same keys whether the chain runs or has ended (a newcomer got
four keys from a finished chain and ten from a running one), and the OpenAPI schema says so."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from crm.extensions import db
from crm.models import AuditEntry, Lead
from crm.services.chain_control import STATUS_KEYS
from tests.conftest import API_KEY, set_settings
from tests.helpers import in_app
from tests.workflows.conftest import chain  # noqa: F401 (the fixture: a real chain on the dev server)
from tests.workflows.test_lead_chain import COLD

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _finished_lead(chain_id: str) -> int:
    """A lead whose chain booked an appointment, with the stages record_timeline wrote, an earlier chain's
    stage and a rep's request in between (neither is this chain's history)."""
    lead = Lead(source="website", email="ende@firma.de", chain_id=chain_id, chain_stage="booked")
    db.session.add(lead)
    db.session.flush()
    start = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
    rows = [
        ("chain", "chain.calling", {"chain_id": "c1-lead-earlier", "detail": "an earlier chain"}),
        ("chain", "chain.qualifying", {"chain_id": chain_id, "detail": "score 80"}),
        ("api:crm-sync", "chain.pause_requested", {"chain_id": chain_id}),
        ("chain", "chain.calling", {"chain_id": chain_id, "detail": "attempt 1"}),
        ("chain", "chain.booked", {"chain_id": chain_id, "detail": "appointment"}),
    ]
    for minute, (actor, action, after) in enumerate(rows):
        db.session.add(
            AuditEntry(
                actor=actor,
                action=action,
                entity_type="lead",
                entity_id=lead.id,
                after=after,
                at=start + timedelta(minutes=minute),
            )
        )
    db.session.commit()
    return lead.id


def test_a_finished_chain_answers_every_key_with_its_history_from_the_audit_log(app, client, temporal_env):
    # The dev server does not know this id (a chain past Temporal's retention): not a 500, the audit log.
    set_settings(app, temporal_address=temporal_env.client.service_client.config.target_host)
    lead_id = in_app(app, lambda: _finished_lead("c1-lead-finished0000"))
    r = client.get(f"/api/v1/leads/{lead_id}/chain", headers=AUTH)
    assert r.status_code == 200, r.get_data(as_text=True)
    body = r.get_json()
    assert set(body) == set(STATUS_KEYS)
    assert body["running"] is False and body["stage"] == "booked" and body["paused"] is False
    assert body["next_step"] is None and body["next_at"] is None
    assert body["attempts"] is None and body["cycle"] is None
    assert [(h["stage"], h["detail"]) for h in body["history"]] == [
        ("qualifying", "score 80"),
        ("calling", "attempt 1"),
        ("booked", "appointment"),
    ]
    assert datetime.fromisoformat(body["history"][0]["at"]) == datetime(2026, 12, 1, 9, 1, tzinfo=UTC)


def test_a_lead_without_a_chain_answers_every_key(app, client):
    lead_id = in_app(app, lambda: _finished_lead("c1-lead-none"))

    def forget_chain():
        db.session.get(Lead, lead_id).chain_id = None
        db.session.commit()

    in_app(app, forget_chain)
    body = client.get(f"/api/v1/leads/{lead_id}/chain", headers=AUTH).get_json()
    assert set(body) == set(STATUS_KEYS) and body["chain_id"] is None and body["history"] == []


def test_the_spec_requires_every_key_and_allows_the_nulls(app, client):
    spec = client.get("/api/openapi.json").get_json()
    schema = spec["paths"]["/api/v1/leads/{lead_id}/chain"]["get"]["responses"]["200"]["content"]["application/json"][
        "schema"
    ]
    assert set(schema["required"]) == set(schema["properties"]) == set(STATUS_KEYS)
    for key in ("chain_id", "stage", "next_step", "next_at", "attempts", "cycle"):
        assert schema["properties"][key]["nullable"] is True, key
    assert schema["properties"]["history"]["items"]["required"] == ["at", "stage", "detail"]


async def test_running_and_finished_answers_have_the_same_keys(chain, temporal_env):  # noqa: F811
    set_settings(chain.app, temporal_address=temporal_env.client.service_client.config.target_host)
    api = chain.app.test_client()
    accepted = chain.post_lead(COLD)
    await chain.stage(accepted["chain_id"], "nurturing")
    lead_id = chain.db(lambda: db.session.query(Lead.id).filter_by(chain_id=accepted["chain_id"]).scalar())
    running = (await asyncio.to_thread(api.get, f"/api/v1/leads/{lead_id}/chain", headers=AUTH)).get_json()
    assert running["running"] is True and running["history"]
    await asyncio.to_thread(api.post, f"/api/v1/leads/{lead_id}/chain/cancel", headers=AUTH)
    assert (await chain.outcome(accepted["chain_id"])).stage == "cancelled"
    ended = (await asyncio.to_thread(api.get, f"/api/v1/leads/{lead_id}/chain", headers=AUTH)).get_json()
    assert ended["running"] is False and ended["stage"] == "cancelled"
    assert set(ended) == set(running) == set(STATUS_KEYS)
    # The audit log holds what the running chain reported once it knew its lead (not "imported"), and its end.
    stages = [h["stage"] for h in ended["history"]]
    assert stages[-1] == "cancelled" and len(stages) > 1
    assert set(stages[:-1]) <= {h["stage"] for h in running["history"]}
