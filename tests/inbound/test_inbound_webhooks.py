"""Inbound calls per provider through the providers' real inbound mechanisms (issue 17 items 1-3): Retell's
signed `call_inbound`, Vapi's `assistant-request`, Bland's number `dynamic_data` request, over the Flask test
client against both databases. One app and one seeded world per database (module scope); each test uses its
own caller numbers, so the tests do not depend on each other's rows."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest
import sqlalchemy as sa

from crm import create_app
from crm.extensions import db
from crm.inbound.numbers import clear_route_cache
from crm.models import Channel, ConsentRecord, LeadSubmission, LegalBasis
from crm.models.leads import Lead
from crm.tenancy.context import company_scope
from tests.conftest import _wipe, make_test_secrets, set_settings
from tests.inbound import helpers as h
from tests.tenancy.companies import second_company

pytestmark = pytest.mark.tenancy
PROVIDERS = ("retell", "vapi", "bland")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def world(request: Any, migrated_urls: dict[str, str]) -> Any:
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[request.param]},
        secrets=make_test_secrets(**h.SECRETS),
    )
    # The bad-signature tests fail on purpose; the failure throttle is tested elsewhere.
    set_settings(app, "security", auth_failure_limit="100000/minute")
    _wipe(app)
    clear_route_cache()  # ids of an earlier test's numbers, cached per database URL
    seeded = h.seed(app, second_company(app))
    yield app, seeded
    with app.app_context():
        db.session.remove()
    _wipe(app)


def _rows(app: Any, company_id: int, fn: Any) -> Any:
    with app.app_context(), company_scope(company_id):
        try:
            return fn()
        finally:
            db.session.remove()


def _leads_with(app: Any, e164: str, company_id: int = 1) -> list[Lead]:
    return _rows(app, company_id, lambda: list(db.session.scalars(sa.select(Lead).where(Lead.phone_e164 == e164))))


@pytest.mark.parametrize("provider", PROVIDERS)
def test_known_caller_gets_the_company_agent_and_their_context(world, provider):
    app, seeded = world
    body = {"retell": h.retell_body, "vapi": h.vapi_body, "bland": h.bland_body}[provider](h.NUMBERS[provider], h.KNOWN)
    response = h.post(app.test_client(), provider, body)
    assert response.status_code == 200, response.get_data(as_text=True)
    answer = response.get_json()
    values = h.variables(provider, answer)
    assert all(isinstance(v, str) for v in values.values())  # Retell types them Dict[str, str]
    assert values["caller_status"] == "known"
    assert values["caller_name"] == "Dana Weber"
    assert values["caller_company"] == "Acme"
    assert values["language"] == "en"  # the lead's, not the number's "de"
    assert values["company_name"] == values["greeting_name"] == "Testfirma"
    assert values["owner_name"] == "Olga Eins"
    assert "Probefahrt" in values["upcoming_appointments"]
    # The last three summaries, newest first; the oldest of four is left out.
    assert values["last_interactions"] == "summary 3 | summary 2 | summary 1"
    assert values["objected_to_calls"] == "false"
    assert values["within_business_hours"] == "true" and values["transfer_available"] == "true"
    assert "Qz2Marker" not in response.get_data(as_text=True)  # company 2's person with the same number
    if provider == "retell":
        assert answer["call_inbound"]["override_agent_id"] == "agent_c1_inbound"
        assert answer["call_inbound"]["metadata"]["lead_id"] == str(seeded.known_lead)
        assert "reject" not in answer["call_inbound"]
    elif provider == "vapi":
        assert answer["assistantId"] == "asst_c1_inbound"
        assert answer["assistantOverrides"]["metadata"]["lead_id"] == str(seeded.known_lead)
    else:
        assert answer["metadata"]["lead_id"] == str(seeded.known_lead)


@pytest.mark.parametrize("provider", PROVIDERS)
def test_unknown_caller_becomes_one_lead_with_consent_and_one_chain(world, provider):
    app, _ = world
    caller = {"retell": "+4915112345671", "vapi": "+4915112345672", "bland": "+4915112345673"}[provider]
    make = {"retell": h.retell_body, "vapi": h.vapi_body, "bland": h.bland_body}[provider]
    first = h.post(app.test_client(), provider, make(h.NUMBERS[provider], caller, call_id=f"{provider}-first"))
    assert first.status_code == 200, first.get_data(as_text=True)
    values = h.variables(provider, first.get_json())
    assert values["caller_status"] == "unknown" and values["caller_name"] == ""
    assert values["owner_name"] == "Olga Eins"  # the number's default owner (no assignment rules here)
    # The same person calls again (a second call, and a provider's retry of the first).
    second = h.post(app.test_client(), provider, make(h.NUMBERS[provider], caller, call_id=f"{provider}-second"))
    retry = h.post(app.test_client(), provider, make(h.NUMBERS[provider], caller, call_id=f"{provider}-first"))
    assert second.status_code == retry.status_code == 200
    assert h.variables(provider, second.get_json())["caller_status"] == "known"

    leads = _leads_with(app, caller)
    assert [(lead.source, lead.language) for lead in leads] == [("phone", "de")]
    lead_id = leads[0].id

    def evidence() -> tuple[list[Any], list[Any]]:
        consents = db.session.execute(
            sa.select(ConsentRecord.channel, ConsentRecord.legal_basis).where(ConsentRecord.lead_id == lead_id)
        ).all()
        handed = db.session.execute(
            sa.select(LeadSubmission.channel, LeadSubmission.chain_id, LeadSubmission.processed_at).where(
                LeadSubmission.lead_id == lead_id
            )
        ).all()
        return consents, handed

    consents, handed = _rows(app, 1, evidence)
    assert [tuple(c) for c in consents] == [(Channel.PHONE, LegalBasis.CALLBACK_REQUEST)]
    # One inbox row, already processed: the relay starts exactly one chain for it (workers/relay.py).
    assert len(handed) == 1 and handed[0].channel == "phone" and handed[0].processed_at is not None
    assert handed[0].chain_id.startswith("c1-lead-") and caller not in handed[0].chain_id


@pytest.mark.parametrize("provider", PROVIDERS)
def test_withheld_number_makes_no_lead_and_asks_politely(world, provider):
    app, _ = world
    make = {"retell": h.retell_body, "vapi": h.vapi_body, "bland": h.bland_body}[provider]
    before = _rows(app, 1, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Lead)))
    for caller in (None, "anonymous"):
        response = h.post(app.test_client(), provider, make(h.NUMBERS[provider], caller))
        assert response.status_code == 200, response.get_data(as_text=True)
        values = h.variables(provider, response.get_json())
        assert values["caller_status"] == "withheld" and values["caller_name"] == ""
        assert "politely" in values["caller_hint"]
    after = _rows(app, 1, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(Lead)))
    assert after == before


def test_objector_is_served_and_flagged(world):
    app, seeded = world
    response = h.post(app.test_client(), "retell", h.retell_body(h.NUMBERS["retell"], h.OBJECTOR))
    assert response.status_code == 200
    answer = response.get_json()["call_inbound"]
    assert "reject" not in answer and answer["override_agent_id"] == "agent_c1_inbound"
    assert answer["dynamic_variables"]["objected_to_calls"] == "true"
    assert answer["dynamic_variables"]["caller_name"] == "Otto Nein"
    # Served, not turned into anything: no consent and no chain hand-over for a known objector.
    rows = _rows(
        app,
        1,
        lambda: (
            db.session.scalar(sa.select(sa.func.count()).where(ConsentRecord.lead_id == seeded.objector_lead)),
            db.session.scalar(sa.select(sa.func.count()).where(LeadSubmission.lead_id == seeded.objector_lead)),
        ),
    )
    assert rows == (0, 0)


def test_company_two_number_answers_with_company_two_only(world):
    app, seeded = world
    body = h.retell_body(h.OTHER_NUMBER, h.KNOWN)
    # Company 1's Retell key signing a call to company 2's number: company 2's secret is the one that counts.
    assert h.post(app.test_client(), "retell", body, secret=h.OWN["retell"]).status_code == 401
    response = h.post(app.test_client(), "retell", body, secret=h.OTHER["retell"])
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    answer = response.get_json()["call_inbound"]
    assert answer["override_agent_id"] == "agent_c2_inbound"
    assert answer["dynamic_variables"]["caller_name"] == "Bertha Qz2Marker"
    assert answer["dynamic_variables"]["company_name"] == "Zweite GmbH"
    assert answer["metadata"]["lead_id"] == str(seeded.other_lead)
    for company_one in ("Dana", "Weber", "Acme", "Olga", "Probefahrt", "Testfirma", "summary"):
        assert company_one not in text
    # Company 2's secret on company 1's number: refused.
    assert (
        h.post(app.test_client(), "retell", h.retell_body(h.NUMBERS["retell"], h.KNOWN), secret=h.OTHER["retell"])
    ).status_code == 401


def test_bad_or_stale_signatures_are_401(world):
    app, _ = world
    client = app.test_client()
    body = h.retell_body(h.NUMBERS["retell"], "+4915112340000")
    assert h.post(client, "retell", body, secret="key_wrong").status_code == 401
    stale = int(time.time() * 1000) - 301_000
    assert h.post(client, "retell", body, ts_ms=stale).status_code == 401
    assert (
        client.post("/webhooks/retell/inbound", data=body, headers={"Content-Type": "application/json"}).status_code
        == 401
    )
    assert h.post(client, "vapi", h.vapi_body(h.NUMBERS["vapi"], "+4915112340000"), secret="wrong").status_code == 401
    assert (
        h.post(client, "bland", h.bland_body(h.NUMBERS["bland"], "+4915112340000"), secret="wrong").status_code == 401
    )
    # Nothing was stored for any of them.
    assert _leads_with(app, "+4915112340000") == []


@pytest.mark.parametrize(
    ("provider", "payload", "field"),
    [
        ("retell", {"event": "call_inbound"}, "call_inbound"),
        ("retell", {"event": "call_started", "call_inbound": {}}, "event"),
        (
            "retell",
            {"event": "call_inbound", "call_inbound": {"from_number": "+4915112340001"}},
            "call_inbound.to_number",
        ),
        (
            "retell",
            {"event": "call_inbound", "call_inbound": {"to_number": h.NUMBERS["retell"], "from_number": 4915112}},
            "call_inbound.from_number",
        ),
        ("vapi", {"message": "assistant-request"}, "message"),
        (
            "vapi",
            {"message": {"type": "assistant-request", "phoneNumber": {"number": 12}}},
            "message.phoneNumber.number",
        ),
        (
            "vapi",
            {"message": {"type": "assistant-request", "phoneNumber": {"number": h.NUMBERS["vapi"]}, "customer": "x"}},
            "message.customer",
        ),
        ("bland", {"from": "+4915112340001"}, "to"),
        ("bland", [1, 2], "body"),
    ],
)
def test_malformed_bodies_are_4xx_naming_the_field(world, provider, payload, field):
    app, _ = world
    response = h.post(app.test_client(), provider, h.compact(payload))
    assert response.status_code == 400, response.get_data(as_text=True)
    assert field in response.get_json()["errors"]


def test_not_json_and_unknown_number(world):
    app, _ = world
    client = app.test_client()
    assert h.post(client, "retell", b"{not json").get_json()["errors"] == {"body": ["not JSON"]}
    assert h.post(client, "retell", h.retell_body("+498912345600", h.KNOWN)).status_code == 404
    response = client.post("/webhooks/retell/inbound", data=b"x", headers={"Content-Type": "text/plain"})
    assert response.status_code == 415


def test_later_events_of_an_inbound_call_route_by_the_called_number(world):
    """A withheld caller's call has no lead in its metadata: its call_ended still finds the company through the
    number it called (phone_numbers), so only that company's key verifies it."""
    app, _ = world
    call = {
        "call_id": "inbound-withheld-1",
        "call_status": "ended",
        "direction": "inbound",
        "to_number": h.OTHER_NUMBER,
        "metadata": {"direction": "inbound"},
    }
    body = h.compact({"event": "call_ended", "call": call})
    client = app.test_client()
    wrong = client.post("/webhooks/retell", data=body, headers=h.retell_headers(body, h.OWN["retell"]))
    assert wrong.status_code == 401
    answer = client.post("/webhooks/retell", data=body, headers=h.retell_headers(body, h.OTHER["retell"]))
    assert answer.status_code == 200, answer.get_data(as_text=True)


def test_two_first_calls_at_once_make_one_lead_and_one_chain(world):
    """A provider's retry racing the first delivery (or two lines of one person ringing at once): the database's
    one-live-lead-per-number key decides, the loser finds the winner's lead and queues no second chain."""
    app, _ = world
    caller, answers = "+4915112345699", []
    barrier = threading.Barrier(2)

    def ring(call_id: str) -> None:
        body = h.retell_body(h.NUMBERS["retell"], caller, call_id=call_id)
        barrier.wait()
        answers.append(h.post(app.test_client(), "retell", body).status_code)

    threads = [threading.Thread(target=ring, args=(f"race-{n}",)) for n in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert answers == [200, 200]
    leads = _leads_with(app, caller)
    assert len(leads) == 1
    handed = _rows(
        app, 1, lambda: db.session.scalar(sa.select(sa.func.count()).where(LeadSubmission.lead_id == leads[0].id))
    )
    assert handed == 1
