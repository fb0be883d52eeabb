"""Provisioning a company's agent and number through the providers' SDKs against the live sandbox (over
HTTP): recorded, idempotent per company and step, resumable after a lost answer, and cleanly undone."""

from __future__ import annotations

import httpx
import pytest

from crm.extensions import db
from crm.models.onboarding import ProvisionedObject
from crm.onboarding import provisioning
from crm.onboarding.retell_setup import RetellSetup
from crm.onboarding.vapi_setup import VapiSetup
from crm.onboarding.vendor import AgentTargets, ProvisioningFailed
from tests.conftest import TEST_COMPANY_ID
from tests.onboarding.wizard_setup import ended_test_call

TARGETS = AgentTargets(
    webhook_base="https://crm.example.test",
    bridge_base="https://bridge.example.test",
    retell_llm_websocket_url="wss://bridge.example.test/llm-websocket/path-secret",
)


def _vendor(name: str, sandbox) -> RetellSetup | VapiSetup:
    keys = sandbox.sandbox.config.keys
    if name == "retell":
        return RetellSetup(api_key=keys["retell"], base_url=f"{sandbox.url}/retell", targets=TARGETS)
    return VapiSetup(api_key=keys["vapi"], base_url=f"{sandbox.url}/vapi", targets=TARGETS)


def _live(sandbox) -> list[dict]:
    return httpx.get(f"{sandbox.url}/sandbox/provisioned").json()["live"]


def _created(sandbox, provider: str, kind: str) -> int:
    rows = httpx.get(f"{sandbox.url}/sandbox/provisioned").json()["created"]
    return sum(r["count"] for r in rows if r["provider"] == provider and r["kind"] == kind)


@pytest.mark.parametrize("name", ["retell", "vapi"])
def test_provision_is_recorded_points_at_bridge_and_crm_and_a_rerun_buys_nothing(app, provider_sandbox, name):
    vendor = _vendor(name, provider_sandbox)
    with app.app_context():
        first = provisioning.provision(vendor, TEST_COMPANY_ID)
        again = provisioning.provision(vendor, TEST_COMPANY_ID)
        rows = provisioning.live_objects(TEST_COMPANY_ID)
    assert first == again and set(first) == set(vendor.steps)
    assert [(r.step, r.status, r.external_id) for r in rows] == [(s, "created", first[s]) for s in vendor.steps]
    assert _created(provider_sandbox, name, "phone_number") == 1
    store = provider_sandbox.server.app.extensions["sandbox_provisioned"]
    number = store.get(name, "phone_number", first["phone_number"])
    if name == "retell":
        agent = store.get("retell", "agent", first["agent"])
        assert agent["response_engine"] == {
            "type": "custom-llm",
            "llm_websocket_url": TARGETS.retell_llm_websocket_url,
        }
        assert agent["webhook_url"] == "https://crm.example.test/webhooks/retell"
        assert number["inbound_agents"] == [{"agent_id": first["agent"], "weight": 1}]
    else:
        assistant = store.get("vapi", "assistant", first["assistant"])
        assert assistant["server"]["url"] == "https://crm.example.test/webhooks/vapi"
        assert assistant["model"]["url"] == "https://bridge.example.test/vapi/llm"
        tools = {t["function"]["name"] for t in assistant["model"]["tools"]}
        assert tools >= {"check_availability", "book_appointment"}
        assert number["assistantId"] == first["assistant"]


@pytest.mark.parametrize("name", ["retell", "vapi"])
def test_a_lost_answer_is_resumed_without_a_second_number_and_undo_leaves_nothing(app, provider_sandbox, name):
    """The number is bought but the answer never reaches us (the row stays "creating"): resume adopts it."""
    vendor = _vendor(name, provider_sandbox)
    real_create = vendor.create

    def lose_number_answer(step, reference, created):
        external = real_create(step, reference, created)
        if step == "phone_number":
            raise ProvisioningFailed(step, "connection reset")
        return external

    vendor.create = lose_number_answer  # type: ignore[method-assign]
    with app.app_context():
        with pytest.raises(ProvisioningFailed):
            provisioning.provision(vendor, TEST_COMPANY_ID)
        assert [r.status for r in provisioning.live_objects(TEST_COMPANY_ID)] == ["created", "creating"]
        vendor.create = real_create  # type: ignore[method-assign]
        made = provisioning.provision(vendor, TEST_COMPANY_ID)
        assert _created(provider_sandbox, name, "phone_number") == 1
        assert made["phone_number"] in {o["id"] for o in _live(provider_sandbox)}
        assert provisioning.undo(vendor, TEST_COMPANY_ID) == 2
        assert provisioning.undo(vendor, TEST_COMPANY_ID) == 0  # a second undo has nothing left to do
        rows = db.session.execute(db.select(ProvisionedObject)).scalars().all()
    assert _live(provider_sandbox) == []
    assert {r.status for r in rows} == {"deleted"}


def test_undo_after_an_abandoned_half_way_run_finds_the_unrecorded_number(app, provider_sandbox):
    vendor = _vendor("retell", provider_sandbox)
    real_create = vendor.create

    def crash_after_buying(step, reference, created):
        external = real_create(step, reference, created)
        if step == "phone_number":
            raise ProvisioningFailed(step, "worker died")
        return external

    vendor.create = crash_after_buying  # type: ignore[method-assign]
    with app.app_context():
        with pytest.raises(ProvisioningFailed):
            provisioning.provision(vendor, TEST_COMPANY_ID)
        assert provisioning.undo(vendor, TEST_COMPANY_ID) == 2
    assert _live(provider_sandbox) == []


def test_a_provider_refusal_names_the_step(app, provider_sandbox):
    httpx.post(f"{provider_sandbox.url}/sandbox/faults", json={"provider": "retell", "status": 503, "count": 1})
    with app.app_context(), pytest.raises(ProvisioningFailed) as refused:
        provisioning.provision(_vendor("retell", provider_sandbox), TEST_COMPANY_ID)
    assert refused.value.step == "agent" and "503" in refused.value.message
    assert _live(provider_sandbox) == []


@pytest.mark.parametrize("name", ["retell", "vapi"])
def test_the_test_call_rings_the_admin_and_ends_with_a_transcript(app, provider_sandbox, name):
    vendor = _vendor(name, provider_sandbox)
    with app.app_context():
        made = provisioning.provision(vendor, TEST_COMPANY_ID)
    call_id = vendor.place_test_call(made, "+4915112345670", key="onboarding-test-1")
    view = ended_test_call(vendor, call_id)
    assert view.ended and view.transcript
