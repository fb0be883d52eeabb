"""The sandbox places inbound calls through each provider's real mechanism over HTTP (issue 17 item 6): its
POST /sandbox/inbound/<provider> sends the signed call_inbound / assistant-request / dynamic_data request to a
live CRM and reports what the provider would do with the answer."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa

from crm import create_app
from crm.extensions import db
from crm.inbound.numbers import clear_route_cache
from crm.models import Lead
from crm.tenancy.context import company_scope
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.conftest import _wipe, make_test_secrets
from tests.inbound import helpers as h
from tests.sandbox_fixtures import ServerThread
from tests.tenancy.companies import second_company

pytestmark = pytest.mark.tenancy
KEYS = SandboxConfig().keys
# Company 1 (the installation's) signs with the sandbox's keys here.
SANDBOX_SECRETS = {
    "LEADCHAIN_SECRET_PROVIDERS_RETELL_API_KEY": KEYS["retell"],
    "LEADCHAIN_SECRET_PROVIDERS_VAPI_WEBHOOK_SECRET": KEYS["vapi_secret"],
    "LEADCHAIN_SECRET_PROVIDERS_BLAND_WEBHOOK_SECRET": KEYS["bland_webhook_secret"],
}


@pytest.fixture(params=["sqlite", "postgresql"])
def live(request: Any, migrated_urls: dict[str, str]) -> Any:
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[request.param]},
        secrets=make_test_secrets(**SANDBOX_SECRETS),
    )
    _wipe(app)
    clear_route_cache()  # ids of an earlier test's numbers, cached per database URL
    h.seed(app, second_company(app))
    with ServerThread(app) as crm:
        sandbox_app = create_sandbox_app(SandboxConfig(webhook_base=crm.url, step_s=0.05))
        with ServerThread(sandbox_app) as sandbox:
            yield app, sandbox.url
    with app.app_context():
        db.session.remove()
    _wipe(app)


def test_sandbox_places_inbound_calls_for_every_provider(live):
    app, sandbox_url = live
    with httpx.Client(base_url=sandbox_url, timeout=30) as client:
        for index, provider in enumerate(("retell", "vapi", "bland")):
            to = h.NUMBERS[provider]
            known = client.post(f"/sandbox/inbound/{provider}", json={"from": h.KNOWN, "to": to}).json()
            assert known["status"] == 200 and known["accepted"] and known["attempts"] == 1, known
            assert known["variables"]["caller_name"] == "Dana Weber"
            assert known["agent"] == h.AGENTS[provider]
            withheld = client.post(f"/sandbox/inbound/{provider}", json={"from": None, "to": to}).json()
            assert withheld["variables"]["caller_status"] == "withheld"
            new_caller = f"+491701234560{index}"
            unknown = client.post(f"/sandbox/inbound/{provider}", json={"from": new_caller, "to": to}).json()
            assert unknown["variables"]["caller_status"] == "unknown" and unknown["accepted"]
            with app.app_context(), company_scope(1):
                sources = list(db.session.scalars(sa.select(Lead.source).where(Lead.phone_e164 == new_caller)))
                db.session.remove()
            assert sources == ["phone"]
        # A number no company has: Retell asks 4 times (3 retries) and then falls back; nothing answered.
        nobody = client.post("/sandbox/inbound/retell", json={"from": h.KNOWN, "to": "+498912345600"}).json()
        assert nobody["status"] == 404 and nobody["attempts"] == 4 and not nobody["accepted"]
