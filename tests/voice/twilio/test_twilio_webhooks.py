"""The CRM's Twilio webhooks through the Flask test client: X-Twilio-Signature checked against the configured
public URL (the test client's own host differs, as behind a proxy), forged, missing and wrong-URL signatures
refused with 401 and nothing stored, bad fields named, and the inbound answer's TwiML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Campaign, PhoneNumber
from crm.ui.settings.campaigns import PROVIDERS
from sandbox.twilio import ACCOUNT_SID, AUTH_TOKEN
from sandbox.twilio_call import FORM, signature
from tests.conftest import set_settings
from tests.voice.twilio.conftest import deliveries, in_db, number, seed_campaign, seed_lead
from tests.workflows.conftest import always_open_policy

PUBLIC = "https://crm.example"
SID = "CA" + "0123456789abcdef" * 2
STREAM = "wss://bridge.example/twilio/media/path-secret"


@pytest.fixture
def hooks(app):
    # A sandbox URL: the factory's keyless mode, whose auth token verifies (nothing is served there).
    set_settings(app, "providers", sandbox_url="http://127.0.0.1:9", public_url=PUBLIC, twilio_stream_url=STREAM)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    return app


def fields_of(status: str, sequence: int = 1, **extra: str) -> list[tuple[str, str]]:
    base = {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": SID,
        "CallStatus": status,
        "SequenceNumber": str(sequence),
        "Timestamp": "Mon, 07 Dec 2026 09:30:00 +0000",
        "To": "+4930123456",
        "From": "+4930555000",
    }
    return sorted({**base, **extra}.items())


def post(client, path: str, fields, *, token: str = AUTH_TOKEN, signed_url: str | None = None, sign: bool = True):
    headers = {"X-Twilio-Signature": signature(token, signed_url or PUBLIC + path, fields)} if sign else {}
    return client.post(path, data=urlencode(fields), content_type=FORM, headers=headers)


def test_status_callbacks_verified_against_the_public_url(hooks, client):
    seed_campaign(hooks)
    lead_id = seed_lead(hooks, number(1))
    path = f"/webhooks/twilio/status?lead={lead_id}&chain=chain-a&key=chain-a%3Acall%3A0%3A1"
    refused = [
        post(client, path, fields_of("initiated"), token="forged-token"),
        post(client, path, fields_of("initiated"), sign=False),
        post(client, path, fields_of("initiated"), signed_url=f"http://localhost{path}"),  # the request's host
        post(client, path, fields_of("initiated"), signed_url=PUBLIC + path.replace("lead=", "lead=9")),
        # Signed, then a field changed on the way.
        client.post(
            path,
            data=urlencode(fields_of("completed", CallDuration="30")),
            content_type=FORM,
            headers={"X-Twilio-Signature": signature(AUTH_TOKEN, PUBLIC + path, fields_of("completed"))},
        ),
    ]
    assert [r.status_code for r in refused] == [401] * 5
    assert deliveries(hooks) == 0
    ok = post(client, path, fields_of("initiated"))
    assert ok.status_code == 200 and ok.json["results"][0]["status"] == "recorded"
    done = post(client, path, fields_of("completed", 4, CallDuration="75"))
    assert done.status_code == 200
    again = post(client, path, fields_of("completed", 4, CallDuration="75"))
    assert again.status_code == 200 and again.json == done.json
    assert deliveries(hooks) == 2

    def call_row():
        from crm.models import Interaction
        from crm.services import call_outbox

        call = db.session.scalars(sa.select(Interaction).where(Interaction.provider_ref == SID)).one()
        return call.duration_s, call.cost_cents, call.outcome, len(call_outbox.results())

    # 75 s: two started minutes at the default 1.4 ct, no token usage reported: 3 ct. Told once.
    assert in_db(hooks, call_row) == (75, 3, "completed", 1)


BAD_FIELDS = [
    ({"CallStatus": "exploded"}, "CallStatus"),
    ({"CallSid": "CA-not-a-sid"}, "CallSid"),
    ({"SequenceNumber": "-1"}, "SequenceNumber"),
    ({"CallDuration": "1e3", "CallStatus": "completed"}, "CallDuration"),
    ({"Timestamp": "yesterday"}, "Timestamp"),
]


def test_bad_fields_are_named(hooks, client):
    for change, field in BAD_FIELDS:
        fields = sorted({**dict(fields_of("ringing")), **change}.items())
        r = post(client, "/webhooks/twilio/status?lead=1&key=k", fields)
        assert r.status_code == 400 and field in r.json["errors"], (change, r.json)
    assert deliveries(hooks) == 0


def test_not_a_form_and_no_public_url(hooks, client):
    r = client.post("/webhooks/twilio/status", json={"CallSid": SID})
    assert r.status_code == 415
    set_settings(hooks, "providers", public_url=None)
    r = post(client, "/webhooks/twilio/status", fields_of("ringing"))
    assert r.status_code == 503


def test_inbound_call_answered_with_the_stream(hooks, client):
    ours = "+4989123400"

    def add_number() -> int:
        found = PhoneNumber(
            e164=ours,
            provider="twilio_realtime",
            language="de",
            business_hours={d: [["00:00", "24:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
            holiday_behaviour="open",
            active=True,
        )
        db.session.add(found)
        db.session.commit()
        return found.id

    number_id = in_db(hooks, add_number)
    caller = "+4917612345678"
    fields = sorted(
        {"AccountSid": ACCOUNT_SID, "CallSid": SID, "CallStatus": "ringing", "Direction": "inbound"}.items()
    ) + [("From", caller), ("To", ours)]
    assert post(client, "/webhooks/twilio/voice", fields, token="forged").status_code == 401
    r = post(client, "/webhooks/twilio/voice", fields)
    assert r.status_code == 200 and r.mimetype == "text/xml"
    stream = ET.fromstring(r.text).find("./Connect/Stream")
    assert stream is not None and stream.get("url") == STREAM
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params["direction"] == "inbound" and params["inbound_number"] == str(number_id)
    assert caller not in r.text  # ids only
    unknown = [("CallSid", SID), ("From", caller), ("To", "+4989999999")]
    assert post(client, "/webhooks/twilio/voice", unknown).status_code == 404
    r = post(client, "/webhooks/twilio/voice", [("CallSid", SID), ("From", caller)])
    assert r.status_code == 400 and "To" in r.json["errors"]


def test_a_campaign_may_choose_it_as_primary_or_failover(hooks):
    assert "twilio_realtime" in PROVIDERS

    def add() -> list[tuple[str, str | None]]:
        db.session.add(Campaign(name="a", provider="twilio_realtime", agent_id="x", from_number="+4930555000"))
        db.session.add(
            Campaign(name="b", provider="bland", agent_id="y", from_number="+49", failover_provider="twilio_realtime")
        )
        db.session.commit()
        return [tuple(r) for r in db.session.execute(sa.select(Campaign.provider, Campaign.failover_provider))]

    assert sorted(in_db(hooks, add), key=str) == [("bland", "twilio_realtime"), ("twilio_realtime", None)]
