"""The setup wizard's Bland number (crm.onboarding.bland_setup) against the live provider sandbox over HTTP and
the real databases: bought once and configured to call the CRM, a lost purchase answer resumed without a
second purchase, the wizard through the UI ending with a Bland phone_numbers row, the test call ringing from the
new number, and an undo that refuses until the number is released at Bland."""

from __future__ import annotations

import re

import httpx
import pytest

from crm.extensions import db
from crm.models import PhoneNumber
from crm.models.onboarding import ProvisionedObject
from crm.onboarding import provisioning
from crm.onboarding.bland_setup import BlandSetup
from crm.onboarding.vendor import AgentTargets, ProvisioningFailed
from sandbox import bland_inbound
from tests.conftest import TEST_COMPANY_ID
from tests.onboarding.wizard_setup import call_me_form, ended_test_call, transcript_page
from tests.ui.conftest import signed_in

CRM = "https://crm.example.test"
TARGETS = AgentTargets(webhook_base=CRM, bridge_base="", retell_llm_websocket_url="", language="de")
SECRET = "bland-webhook-secret-for-tests"


def _vendor(sandbox) -> BlandSetup:
    key = sandbox.sandbox.config.keys["bland"]
    return BlandSetup(
        api_key=key, base_url=f"{sandbox.url}/bland", targets=TARGETS, company_id=TEST_COMPANY_ID, webhook_secret=SECRET
    )


def _numbers(sandbox) -> list[dict]:
    key = sandbox.sandbox.config.keys["bland"]
    answer = httpx.get(f"{sandbox.url}/bland/v1/inbound", headers={"authorization": key})
    assert answer.status_code == 200
    return answer.json()["inbound_numbers"]


def _assert_points_at_the_crm(record: dict, number: PhoneNumber, base: str = CRM) -> None:
    assert record["webhook"] == f"{base}/webhooks/bland/inbound/call"
    assert record["dynamic_data"][0]["url"] == f"{base}/webhooks/bland/inbound"
    assert {t["url"] for t in record["tools"]} >= {f"{base}/webhooks/bland/inbound/tools/book"}
    assert record["metadata"] == {"direction": "inbound", "inbound_number": str(number.id)}


def test_the_sandbox_sells_a_number_as_bland_documents_it(provider_sandbox):
    key = provider_sandbox.sandbox.config.keys["bland"]
    url = f"{provider_sandbox.url}/bland/v1/inbound/purchase"
    bad = httpx.post(url, json={"area_code": "415", "country_code": "DE"}, headers={"authorization": key})
    assert bad.status_code == 400 and "country_code" in bad.json()["errors"][0]
    assert httpx.post(url, json={}, headers={"authorization": f"Bearer {key}"}).status_code == 401
    bought = httpx.post(url, json={"area_code": "212", "country_code": "US"}, headers={"authorization": key})
    assert bought.status_code == 200 and bought.json() == {"phone_number": bought.json()["phone_number"]}
    assert bought.json()["phone_number"].startswith("+1212")
    assert [n["phone_number"] for n in _numbers(provider_sandbox)] == [bought.json()["phone_number"]]


def test_provision_buys_one_number_configures_it_and_a_rerun_buys_nothing(app, provider_sandbox):
    vendor = _vendor(provider_sandbox)
    with app.app_context():
        first = provisioning.provision(vendor, TEST_COMPANY_ID)
        again = provisioning.provision(vendor, TEST_COMPANY_ID)
        number = db.session.execute(db.select(PhoneNumber)).scalar_one()
        rows = provisioning.live_objects(TEST_COMPANY_ID)
        assert first == again == {"phone_number": number.e164, "inbound_config": number.e164}
        assert (number.provider, number.company_id, number.active) == ("bland", TEST_COMPANY_ID, True)
        assert [(r.step, r.status) for r in rows] == [("phone_number", "created"), ("inbound_config", "created")]
        [record] = _numbers(provider_sandbox)
        assert record["phone_number"] == number.e164 and number.e164.startswith("+1415")
        _assert_points_at_the_crm(record, number)


@pytest.mark.parametrize("lost", ["purchase answer", "answer after the tag"])
def test_a_retry_after_a_lost_answer_adopts_the_number_and_buys_nothing_more(app, provider_sandbox, lost):
    """The sandbox sold the number but the answer never reached us (the row stays "creating")."""
    vendor = _vendor(provider_sandbox)
    real_purchase, real_create = vendor._purchase, vendor.create

    def purchase_then_lose():
        real_purchase()
        raise ProvisioningFailed("phone_number", "connection reset")

    def create_then_lose(step, reference, created):
        external = real_create(step, reference, created)
        if step == "phone_number":
            raise ProvisioningFailed(step, "connection reset")
        return external

    if lost == "purchase answer":
        vendor._purchase = purchase_then_lose  # type: ignore[method-assign]
    else:
        vendor.create = create_then_lose  # type: ignore[method-assign]
    with app.app_context():
        with pytest.raises(ProvisioningFailed):
            provisioning.provision(vendor, TEST_COMPANY_ID)
        assert [(r.step, r.status) for r in provisioning.live_objects(TEST_COMPANY_ID)] == [
            ("phone_number", "creating")
        ]
        [bought] = _numbers(provider_sandbox)
        vendor._purchase, vendor.create = real_purchase, real_create  # type: ignore[method-assign]
        made = provisioning.provision(vendor, TEST_COMPANY_ID)
        [record] = _numbers(provider_sandbox)  # still the one number: nothing bought again
        assert made["phone_number"] == bought["phone_number"] == record["phone_number"]
        _assert_points_at_the_crm(record, db.session.execute(db.select(PhoneNumber)).scalar_one())


def test_two_unclaimed_numbers_after_a_lost_answer_are_refused_not_guessed_or_bought_again(app, provider_sandbox):
    vendor = _vendor(provider_sandbox)
    real_purchase = vendor._purchase

    def purchase_then_lose():
        real_purchase()
        raise ProvisioningFailed("phone_number", "connection reset")

    vendor._purchase = purchase_then_lose  # type: ignore[method-assign]
    with app.app_context():
        with pytest.raises(ProvisioningFailed):
            provisioning.provision(vendor, TEST_COMPANY_ID)
        real_purchase()  # someone else buys a number in the same account meanwhile, by hand
        vendor._purchase = real_purchase  # type: ignore[method-assign]
        with pytest.raises(ProvisioningFailed) as refused:
            provisioning.provision(vendor, TEST_COMPANY_ID)
    assert refused.value.step == "phone_number" and "several" in refused.value.message
    assert len(_numbers(provider_sandbox)) == 2


def test_the_test_call_rings_from_the_new_number_and_ends_with_a_transcript(app, provider_sandbox):
    vendor = _vendor(provider_sandbox)
    with app.app_context():
        made = provisioning.provision(vendor, TEST_COMPANY_ID)
    call_id = vendor.place_test_call(made, "+4915112345670", key="onboarding-1-test-1")
    [call] = provider_sandbox.sandbox.state.list("bland")
    assert call.call_id == call_id and call.request["from"] == made["phone_number"]
    assert call.to_number == "+4915112345670"
    view = ended_test_call(vendor, call_id)
    assert view.ended and view.transcript and view.duration_s


@pytest.fixture
def wizard(app, wizard_sandbox):
    team, server = wizard_sandbox
    return signed_in(app, team.admin), server


def test_the_wizard_as_admin_ends_with_a_bland_number_and_undo_waits_for_the_release(wizard, app):
    client, sandbox = wizard
    hours = {"mon_from": "08:00", "mon_to": "12:00", "state": "BY", "appointment_minutes": "30"}
    assert client.submit("/onboarding/hours", hours).status_code == 302
    assert 'value="bland"' in client.get("/onboarding/phone").get_data(as_text=True)
    r = client.submit("/onboarding/phone", {"provider": "bland", "area_code": "212"})
    assert r.status_code == 302, re.findall(r'id="provider-error"[^>]*>([^<]+)<', r.get_data(as_text=True))
    # A second submit (a double click, a resumed wizard) buys nothing more.
    assert client.submit("/onboarding/phone", {"provider": "bland", "area_code": "212"}).status_code == 302
    [record] = _numbers(sandbox)
    with app.app_context():
        number = db.session.execute(db.select(PhoneNumber)).scalar_one()
        assert (number.provider, number.e164) == ("bland", record["phone_number"])
        assert number.business_hours == {"mon": [["08:00", "12:00"]]} and number.e164.startswith("+1212")
        cfg = app.config["LEADCHAIN"]
        public = (cfg.providers.public_url or cfg.email.public_url or "http://localhost").rstrip("/")
        _assert_points_at_the_crm(record, number, base=public)
    r = client.submit("/onboarding/test_call", call_me_form(client, "+49 151 1234 5670"))
    assert r.status_code == 302
    transcript_page(client, r.headers["Location"])
    assert [c.request["from"] for c in sandbox.sandbox.state.list("bland")] == [record["phone_number"]]
    # Undo: Bland sells numbers through its API but releases none; the wizard says so and keeps everything.
    refused = client.submit("/onboarding/phone", {"action": "undo"})
    assert refused.status_code == 502 and "dashboard" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.query(PhoneNumber).count() == 1
        statuses = {r.step: r.status for r in db.session.query(ProvisionedObject)}
        assert statuses == {"phone_number": "created", "inbound_config": "created"}
    bland_inbound.numbers(sandbox.server.app).pop(record["phone_number"])  # released in Bland's dashboard
    assert client.submit("/onboarding/phone", {"action": "undo"}).status_code == 302
    with app.app_context():
        assert db.session.query(PhoneNumber).count() == 0
        assert {r.status for r in db.session.query(ProvisionedObject)} == {"deleted"}
