"""Pausing, resuming, cancelling and stopping a chain through the REST API, against the dev server."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import AuditEntry, Lead
from tests.conftest import API_KEY, set_settings
from tests.workflows.test_lead_chain import COLD

AUTH = {"Authorization": f"Bearer {API_KEY}"}


def _api(chain, temporal_env):
    set_settings(chain.app, temporal_address=temporal_env.client.service_client.config.target_host)
    return chain.app.test_client()


async def _call(fn, *args, **kwargs):
    # The views block on Temporal round trips; keep the test's event loop (and its workers) running.
    return await asyncio.to_thread(fn, *args, **kwargs)


async def _lead_id(chain, chain_id):
    await chain.stage(chain_id, "nurturing")
    return chain.db(lambda: db.session.scalar(sa.select(Lead.id)))


async def test_pause_resume_cancel_via_api(chain, temporal_env):
    api = _api(chain, temporal_env)
    accepted = chain.post_lead(COLD)
    lead_id = await _lead_id(chain, accepted["chain_id"])
    r = await _call(api.get, f"/api/v1/leads/{lead_id}/chain", headers=AUTH)
    assert r.status_code == 200 and r.get_json()["running"] and r.get_json()["stage"] == "nurturing"
    assert r.get_json()["next_step"] and r.get_json()["history"]
    assert (await _call(api.post, f"/api/v1/leads/{lead_id}/chain/pause", headers=AUTH)).status_code == 202
    await asyncio.sleep(0.3)
    assert (await _call(api.get, f"/api/v1/leads/{lead_id}/chain", headers=AUTH)).get_json()["paused"] is True
    assert (await _call(api.post, f"/api/v1/leads/{lead_id}/chain/resume", headers=AUTH)).status_code == 202
    await asyncio.sleep(0.3)
    assert (await _call(api.get, f"/api/v1/leads/{lead_id}/chain", headers=AUTH)).get_json()["paused"] is False
    assert (await _call(api.post, f"/api/v1/leads/{lead_id}/chain/cancel", headers=AUTH)).status_code == 202
    assert (await chain.outcome(accepted["chain_id"])).stage == "cancelled"
    again = await _call(api.post, f"/api/v1/leads/{lead_id}/chain/pause", headers=AUTH)
    assert again.status_code == 409
    done = (await _call(api.get, f"/api/v1/leads/{lead_id}/chain", headers=AUTH)).get_json()
    assert done["running"] is False and done["stage"] == "cancelled"
    actions = chain.db(
        lambda: set(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.actor == "api:crm-sync")))
    )
    assert {"chain.pause_requested", "chain.resume_requested", "chain.cancel_requested"} <= actions


async def test_do_not_contact_via_api_stops_the_chain(chain, temporal_env):
    api = _api(chain, temporal_env)
    accepted = chain.post_lead(COLD)
    lead_id = await _lead_id(chain, accepted["chain_id"])
    r = await _call(api.post, f"/api/v1/leads/{lead_id}/do-not-contact", headers=AUTH)
    assert r.status_code == 200 and r.get_json()["chain_stopped"] is True
    assert (await chain.outcome(accepted["chain_id"])).stage == "do_not_contact"
    assert chain.db(lambda: db.session.get(Lead, lead_id).do_not_contact)


async def test_unknown_lead_and_unreachable_temporal(chain, migrated_urls):
    api = chain.app.test_client()
    assert api.post("/api/v1/leads/424242/chain/pause", headers=AUTH).status_code == 404
    accepted = chain.post_lead(COLD)
    lead_id = await _lead_id(chain, accepted["chain_id"])
    down = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"],
        },
        secrets=chain.app.extensions["leadchain.secrets"],
        settings=Settings(temporal_address="127.0.0.1:1"),
    )
    r = await _call(down.test_client().post, f"/api/v1/leads/{lead_id}/chain/pause", headers=AUTH)
    assert r.status_code == 503 and r.headers["Retry-After"]
