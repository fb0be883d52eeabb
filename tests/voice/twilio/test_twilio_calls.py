"""twilio_realtime: the real twilio SDK against the sandbox's Twilio over HTTP (place, find, get, transfer,
hang up, delete recordings), and its signed status callbacks through the CRM's real webhook, which hands the
chain each call's result exactly once."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import httpx
import pytest
from temporalio.exceptions import ApplicationError
from twilio.rest import Client

from activities.provider_activities import FAILOVER_AFTER
from crm.extensions import db
from crm.models import PhoneNumber
from crm.services import twilio_calls
from providers.base import ProviderRejected
from providers.factory import SANDBOX_KEYS, provider_endpoint
from providers.twilio_cost import RealtimeUsage, call_cost_cents
from sandbox.twilio import ACCOUNT_SID
from tests.voice.twilio.conftest import FROM, deliveries, in_db, number, seed_campaign, seed_lead, the_call
from workflows.vocabulary import CallStatus


def test_an_answered_call_end_to_end(tw):
    # The factory's keyless sandbox mode: the sandbox's account, its base URL, our callback URL.
    settings, secrets = tw.app.config["LEADCHAIN"].providers, tw.app.extensions["leadchain.secrets"]
    endpoint = provider_endpoint(settings, secrets, "twilio_realtime")
    assert endpoint == (SANDBOX_KEYS["twilio_realtime"], f"{tw.box.url}/twilio_realtime")
    assert tw.provider.account_sid == ACCOUNT_SID
    assert tw.provider.status_callback_url == f"{tw.crm.url}/webhooks/twilio/status"
    seed_campaign(tw.app)
    phone = number(1)  # "interested": answers
    lead_id = seed_lead(tw.app, phone)
    placed, key = tw.place(lead_id)
    assert placed.provider == "twilio_realtime" and re.fullmatch(r"CA[0-9a-f]{32}", placed.call_id)
    sent = tw.twilio()[placed.call_id].call.request
    # What the SDK put on the wire: the callback URL with ids, the four events, recording, and the stream.
    assert sent["To"] == phone and sent["From"] == FROM and sent["Record"] == "true"
    assert sent["StatusCallbackEvent"] == ["initiated", "ringing", "answered", "completed"]
    assert sent["StatusCallback"].startswith(f"{tw.crm.url}/webhooks/twilio/status?lead={lead_id}&chain=")
    stream = ET.fromstring(sent["Twiml"]).find("./Connect/Stream")
    assert stream is not None and stream.get("url", "").startswith("ws://127.0.0.1:")
    params = {p.get("name"): p.get("value") for p in stream.findall("Parameter")}
    assert params["lead_id"] == str(lead_id) and params["call_key"] == key and params["direction"] == "outbound"
    assert phone not in sent["Twiml"] and "Weber" not in sent["Twiml"]  # ids only, never a name or number

    tw.wait_ended(placed.call_id)
    result = tw.provider.get_call(placed.call_id)
    assert result is not None and result.answered and result.status == CallStatus.COMPLETED
    # The CRM learnt the call from the signed callbacks: one record, its result queued once, its cost.
    call = the_call(tw.app, placed.call_id)
    assert call.status == "ended" and call.data["final"] and call.data["call_key"] == key
    assert call.cost_cents == call_cost_cents(call.duration_s, None, None) and call.currency == "USD"
    assert [r.call_id for _chain, r in tw.results()] == [placed.call_id]
    assert deliveries(tw.app) == 4  # initiated, ringing, answered, completed
    # find_call: the key's call, from the CRM's record of Twilio's callbacks (Twilio has no idempotency key).
    found = in_db(tw.app, lambda: tw.provider.find_call(key))
    assert found is not None and found.call_id == placed.call_id and found.status == "ended"
    assert in_db(tw.app, lambda: tw.provider.find_call("chain-unknown:call:0:1")) is None
    # A retried activity (same key) answers from the ledger: no second dial.
    again, _ = tw.place(lead_id, key, attempt=2)
    assert again.call_id == placed.call_id and tw.sandbox.state.created["twilio_realtime"] == 1
    # The bridge's report of the model's tokens (summed response.done usage) adds their price.
    usage = RealtimeUsage(placed.call_id, audio_tokens_in=12_000, audio_tokens_out=9_000)
    assert in_db(tw.app, lambda: _report(usage))
    call = the_call(tw.app, placed.call_id)
    assert (
        call.cost_cents == call_cost_cents(call.duration_s, None, usage) > call_cost_cents(call.duration_s, None, None)
    )
    assert RealtimeUsage.from_json(call.data["realtime_usage"]) == usage
    # Every callback again, byte for byte and validly signed (Twilio signs no timestamp): nothing changes.
    before = (the_call(tw.app, placed.call_id).data, deliveries(tw.app), len(tw.results()))
    for delivery in list(tw.sandbox.dispatcher.sent):
        headers = {"Content-Type": delivery.content_type, **delivery.sign(delivery.body)}
        r = httpx.post(delivery.url, content=delivery.body, headers=headers)
        assert r.status_code == 200, r.text
    assert (the_call(tw.app, placed.call_id).data, deliveries(tw.app), len(tw.results())) == before


def _report(usage: RealtimeUsage) -> bool:
    done = twilio_calls.record_usage(usage)
    db.session.commit()
    return done


def test_unanswered_calls(tw):
    seed_campaign(tw.app)
    wanted = {5: CallStatus.NO_ANSWER, 6: CallStatus.BUSY}
    placed = {digit: tw.place(seed_lead(tw.app, number(digit)))[0].call_id for digit in wanted}
    for digit, call_sid in placed.items():
        tw.wait_ended(call_sid)
        result = tw.provider.get_call(call_sid)
        assert result is not None and not result.answered and result.status == wanted[digit]
    told = {r.call_id: (r.status, r.answered) for _chain, r in tw.results()}
    assert told == {placed[d]: (wanted[d], False) for d in wanted}


def test_transfer_hang_up_and_delete(tw):
    tw.sandbox.config.step_s = 0.3  # time to act on the live call
    seed_campaign(tw.app)
    placed, _ = tw.place(seed_lead(tw.app, number(1)))
    call = tw.twilio()[placed.call_id]
    provider = tw.provider
    with pytest.raises(ProviderRejected):  # not ended: Twilio refuses to delete it
        provider.delete_call(placed.call_id)
    provider.transfer(placed.call_id, "+4989123456")
    assert call.transferred_to == "+4989123456" and "<Dial>" in call.call.request["Twiml"]
    provider.hang_up(placed.call_id)
    tw.wait_ended(placed.call_id)
    assert call.status == "completed"
    # The SDK's own view: the call and its recording (Record=true).
    client = Client(provider.account_sid, provider.auth_token)
    client.api.base_url = f"{tw.box.url}/twilio_realtime"
    assert [c.sid for c in client.calls.list(to=call.call.to_number)] == [placed.call_id]
    assert len(client.recordings.list(call_sid=placed.call_id)) == 1
    provider.delete_call(placed.call_id)
    assert client.recordings.list(call_sid=placed.call_id) == []
    assert provider.get_call(placed.call_id) is None  # the call log is gone too
    provider.delete_call(placed.call_id)  # again: already gone is fine


def test_refusals_and_an_inbound_ring(tw):
    r = httpx.post(
        f"{tw.box.url}/twilio_realtime/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json",
        data={"To": "12", "From": FROM, "Twiml": "<Response/>"},
        auth=(ACCOUNT_SID, "sandbox-twilio-auth-token"),
    )
    assert r.status_code == 400 and r.json() == {
        "code": 21211,
        "message": "The 'To' number is not a valid phone number.",
        "more_info": "https://www.twilio.com/docs/errors/21211",
        "status": 400,
    }
    seed_campaign(tw.app)
    httpx.post(f"{tw.box.url}/sandbox/faults", json={"provider": "twilio_realtime", "status": 503, "count": 1})
    with pytest.raises(ApplicationError) as failure:
        tw.place(seed_lead(tw.app, number(1)))
    assert failure.value.type == "ProviderUnavailable"
    # The sandbox rings one of our Twilio numbers: its signed post is accepted, and the TwiML streams.
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

    number_id = in_db(tw.app, add_number)
    rung = httpx.post(f"{tw.box.url}/twilio_realtime/ring", json={"to": ours, "from": "+4917612345678"}).json()
    assert rung["status"] == 200 and rung["streaming"], rung
    assert f'<Parameter name="inbound_number" value="{number_id}" />' in rung["twiml"]


def test_failover_from_bland_to_twilio(tw):
    seed_campaign(tw.app, provider="bland", failover="twilio_realtime")
    httpx.post(f"{tw.box.url}/sandbox/faults", json={"provider": "bland", "status": 503, "count": 1000})
    lead_id = seed_lead(tw.app, number(1))
    key = "chain-fo:call:0:1"
    for attempt in range(1, FAILOVER_AFTER + 1):
        with pytest.raises(ApplicationError):
            tw.place(lead_id, key, attempt=attempt)
    placed, _ = tw.place(lead_id, key, attempt=FAILOVER_AFTER + 1)
    assert placed.provider == "twilio_realtime"
    tw.wait_ended(placed.call_id)
    assert [r.call_id for _chain, r in tw.results()] == [placed.call_id]
