"""Vapi end to end over HTTP: the real `vapi` server SDK against the sandbox, the sandbox's server messages
against the CRM served on a real port, and one lead chain on the Temporal dev server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from importlib import metadata

import httpx
import pytest
import sqlalchemy as sa

from activities.provider_activities import ProviderActivities
from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import Campaign, Channel, ConsentRecord, Interaction, InteractionKind, Lead, LegalBasis, WebhookDelivery
from providers import vapi as vapi_module
from providers.base import CallRequest, ProviderRegistry, ProviderRejected, ProviderUnavailable
from providers.factory import SANDBOX_KEYS, registry
from providers.vapi import VapiProvider
from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.personas import BY_LAST_DIGIT, PERSONAS, cost_cents
from sandbox.summary import scripted_summary
from tests.activity_env import activity_env
from tests.conftest import _wipe, make_test_secrets, set_settings
from tests.helpers import in_app
from tests.sandbox_fixtures import ServerThread, free_port
from tests.voice.test_bland import Told
from tests.workflows.conftest import FAST, ChainHarness, always_open_policy
from workers import chain as chain_mod
from workers.relay import Relay
from workflows.payloads import PlaceCallInput

KEY = SANDBOX_KEYS["vapi"]
SECRET = "sandbox-vapi-server-secret"  # factory.webhook_secret in keyless sandbox mode
ASSISTANT, PHONE_NUMBER_ID = "asst_sandbox", "pn_sandbox"  # for Vapi, Campaign.from_number is a phoneNumberId


def _target(temporal_env) -> str:  # noqa: F811
    return temporal_env.client.service_client.config.target_host


def _number(digit: str, us: bool = False, n: int = 0) -> str:
    return f"+121255502{n}{digit}" if us else f"+4930231252{n}{digit}"


def _request(key: str, digit: str = "0", **kw) -> CallRequest:
    values = dict(
        lead_id=1,
        chain_id="lead-x",
        idempotency_key=key,
        to_number=_number(digit),
        language="de",
        variables={"first_name": "Dana", "language": "de"},
        agent_id=ASSISTANT,
        from_number=PHONE_NUMBER_ID,
    )
    values.update(kw)
    return CallRequest(**values)


# ---- the adapter against the sandbox (no CRM needed) ---------------------------------------------------


@pytest.fixture
def bare_sandbox():
    app = create_sandbox_app(SandboxConfig(webhook_base=None, step_s=0.05))
    with ServerThread(app) as server:
        server.sandbox = app.extensions["sandbox"]
        yield server


def _provider(server, **kw) -> VapiProvider:
    return VapiProvider(api_key=KEY, base_url=f"{server.url}/vapi", **kw)


def _until(fn, timeout: float = 5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_place_fetch_find_list_delete(bare_sandbox):
    bare_sandbox.sandbox.config.step_s = 0.5  # slow enough to see the call before it ends
    vapi = _provider(bare_sandbox)
    placed = vapi.place_call(_request("lead-x:call:0:1"))
    assert placed.provider == "vapi" and placed.status == "queued" and uuid.UUID(placed.call_id)
    sent = bare_sandbox.sandbox.state.get("vapi", placed.call_id).request
    assert sent["assistantId"] == ASSISTANT and sent["phoneNumberId"] == PHONE_NUMBER_ID
    assert sent["customer"] == {"number": _number("0")}
    # No top-level metadata in this SDK's create: our ids travel in assistantOverrides.metadata.
    assert sent["assistantOverrides"] == {
        "variableValues": {"first_name": "Dana", "language": "de"},
        "metadata": {"lead_id": "1", "chain_id": "lead-x", "idempotency_key": "lead-x:call:0:1"},
    }
    assert vapi.get_call(placed.call_id) is None  # not ended yet
    result = _until(lambda: vapi.get_call(placed.call_id))
    assert (result.status, result.answered, result.classification, result.duration_s) == (
        "completed",
        True,
        "booked",
        142,
    )
    # The same event id as the webhook path's result, so the chain's update deduplicates across both.
    assert result.event_id == f"vapi:{placed.call_id}"

    other = vapi.place_call(_request("lead-x:call:0:2", "5"))
    assert vapi.find_call("lead-x:call:0:1").call_id == placed.call_id
    assert vapi.find_call("lead-x:call:0:2").call_id == other.call_id
    assert vapi.find_call("lead-x:call:0:3") is None
    # GET /call is a bare array, newest first, honouring limit and the filters the SDK sends.
    listed = vapi.client.calls.list(limit=1)
    assert [c.id for c in listed] == [other.call_id]
    assert [c.id for c in vapi.client.calls.list(assistant_id="asst_other")] == []
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert vapi.client.calls.list(created_at_gt=later) == []
    raw = httpx.get(f"{bare_sandbox.url}/vapi/call", params={"limit": 5}, headers={"Authorization": f"Bearer {KEY}"})
    assert isinstance(raw.json(), list) and len(raw.json()) == 2

    vapi.delete_call(placed.call_id)
    vapi.delete_call(placed.call_id)  # already erased: not an error
    assert vapi.get_call(placed.call_id) is None
    assert vapi.find_call("lead-x:call:0:1") is None


@pytest.mark.parametrize("status,retry_after", [(503, 7), (429, 2)])
def test_create_is_sent_once_when_the_service_fails(bare_sandbox, status, retry_after):
    httpx.post(
        f"{bare_sandbox.url}/sandbox/faults",
        json={"provider": "vapi", "status": status, "count": 3, "retry_after_s": retry_after},
    ).raise_for_status()
    with pytest.raises(ProviderUnavailable) as unavailable:
        _provider(bare_sandbox).place_call(_request("k-fail"))
    assert unavailable.value.retry_after_s == retry_after
    stats = bare_sandbox.sandbox.state.stats()
    assert stats["create_requests"] == {"vapi": 1} and stats["created"] == {}  # exactly one POST, no dial


def test_why_retries_are_off_the_sdk_would_post_again(bare_sandbox):
    """The Fern client retries POST /call on 5xx when retries are on: each retry could be a second dial.
    vapi-server-sdk 3.x has them on by default (docs/providers.md §0: 3 POSTs for one create). The installed
    1.x starts its retry counter at 2 and defaults max_retries to 0, so its default sends one POST and
    max_retries=4 sends three. VapiProvider passes max_retries=0 whatever the version does by default."""
    from vapi import Vapi
    from vapi.core.api_error import ApiError

    client = Vapi(token=KEY, base_url=f"{bare_sandbox.url}/vapi")
    state = bare_sandbox.sandbox.state

    def posts(**options) -> int:
        httpx.post(
            f"{bare_sandbox.url}/sandbox/faults",
            json={"provider": "vapi", "status": 503, "count": 10, "retry_after_s": 0},
        ).raise_for_status()
        before = state.stats()["create_requests"].get("vapi", 0)
        with pytest.raises(ApiError):
            client.calls.create(
                assistant_id=ASSISTANT, phone_number_id=PHONE_NUMBER_ID, customer={"number": _number("0")}, **options
            )
        return state.stats()["create_requests"]["vapi"] - before

    sdk_major = int(metadata.version("vapi-server-sdk").split(".")[0])
    assert posts() == (3 if sdk_major >= 3 else 1)  # the SDK's default
    with_retries = posts(request_options={"max_retries": 4})
    assert with_retries > 1 and (sdk_major >= 3 or with_retries == 3)  # retries on: the same create re-POSTed
    assert posts(request_options={"max_retries": 0}) == 1  # what VapiProvider sends
    assert state.stats()["created"] == {}


def test_rejections_and_network_errors(bare_sandbox):
    vapi = _provider(bare_sandbox)
    with pytest.raises(ProviderRejected, match="HTTP 400.*E.164"):
        vapi.place_call(_request("k-bad-number", to_number="030 1234"))
    with pytest.raises(ProviderRejected, match="HTTP 400.*phoneNumberId"):
        vapi.place_call(_request("k-e164-from", from_number="+4930555000"))  # an E.164 number is not an id
    with pytest.raises(ProviderRejected, match="HTTP 401"):
        VapiProvider(api_key="wrong-key", base_url=f"{bare_sandbox.url}/vapi").place_call(_request("k-key"))
    with pytest.raises(ProviderRejected):
        vapi.place_call(_request("k-no-assistant", agent_id=None))
    assert bare_sandbox.sandbox.state.stats()["created"] == {}
    closed = VapiProvider(api_key=KEY, base_url=f"http://127.0.0.1:{free_port()}/vapi")
    with pytest.raises(ProviderUnavailable):
        closed.place_call(_request("k-down"))
    with pytest.raises(ProviderUnavailable):
        closed.find_call("k-down")


def test_parsing_details():
    # Cost arrives in dollars.
    assert vapi_module._cents(0.1234) == 12 and vapi_module._cents(0.125) == 13 and vapi_module._cents(None) is None
    # endedReason → our end status.
    spoke = [vapi_module.Turn("agent", "Hallo"), vapi_module.Turn("callee", "Ja?")]
    assert vapi_module.end_status_for("customer-did-not-answer", None) == ("no_answer", False)
    assert vapi_module.end_status_for("customer-busy", None) == ("busy", False)
    assert vapi_module.end_status_for("voicemail", spoke) == ("voicemail", False)
    assert vapi_module.end_status_for("customer-ended-call", spoke) == ("completed", True)
    assert vapi_module.end_status_for("assistant-ended-call", spoke[:1]) == ("no_answer", False)  # nobody answered
    assert vapi_module.end_status_for("pipeline-error-openai-llm-failed", None) == ("failed", False)
    assert vapi_module.end_status_for("twilio-failed-to-connect-call", None) == ("failed", False)
    # Tool-call arguments as an object (webhooks) or a JSON string (SDK type, artifact.messages).
    message = {
        "type": "tool-calls",
        "toolCallList": [
            {
                "id": "call_X",
                "type": "function",
                "function": {"name": "book_meeting", "arguments": {"when": "Tue 3pm"}},
            },
            {"id": "call_Y", "type": "function", "function": {"name": "book_meeting", "arguments": '{"when": "Wed"}'}},
            {"id": "call_Z", "type": "function", "function": {"name": "noop", "arguments": "not json"}},
        ],
    }
    assert vapi_module.tool_calls(message) == [
        ("call_X", "book_meeting", {"when": "Tue 3pm"}),
        ("call_Y", "book_meeting", {"when": "Wed"}),
        ("call_Z", "noop", {}),
    ]
    # A report without structured outcome falls back to the summary; timestamps in ms or ISO.
    body = {
        "message": {
            "type": "end-of-call-report",
            "timestamp": "2026-01-05T17:01:41.000Z",
            "endedReason": "customer-ended-call",
            "call": {"id": "c1"},
            "analysis": {"summary": "Kein Interesse."},
            "transcript": "AI: Hallo.\nUser: Nein danke.\n",
            "durationMs": 41000,
            "cost": 0.09,
        }
    }
    [event] = vapi_module.events_from_message(body)
    assert (event.classification, event.end_status, event.duration_s, event.cost_cents) == (
        "not_interested",
        "completed",
        41,
        9,
    )
    assert [t.speaker for t in event.transcript] == ["agent", "callee"] and event.final and event.stage == "analyzed"
    assert event.occurred_at == datetime(2026, 1, 5, 17, 1, 41, tzinfo=UTC)
    [ringing] = vapi_module.events_from_message(
        {"message": {"type": "status-update", "status": "ringing", "timestamp": 1767632345000, "call": {"id": "c1"}}}
    )
    assert ringing.event_id == "status-update:c1:ringing" and not ringing.final
    assert ringing.occurred_at == datetime.fromtimestamp(1767632345, tz=UTC)


# Authentication and message-type handling do not depend on the database: these run on SQLite only (the
# persona and delivery-order tests run on both).
SQLITE_ONLY = pytest.mark.parametrize("backend", ["sqlite"])


# ---- the CRM side ------------------------------------------------------------------------------------------


@pytest.fixture
def vapi(app, crm_server, sandbox, temporal_env):  # noqa: F811
    """The CRM wired to the sandbox (its registry builds the real VapiProvider), a default Vapi campaign;
    the results the webhook hands to chains are read from the provider-event outbox (provider.told)."""
    set_settings(app, "providers", sandbox_url=sandbox.url)
    set_settings(app, temporal_address=_target(temporal_env))
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    _db(
        app,
        lambda: (
            db.session.add(
                Campaign(
                    name="default", provider="vapi", agent_id=ASSISTANT, from_number=PHONE_NUMBER_ID, is_default=True
                )
            ),
            db.session.commit(),
        ),
    )
    provider = registry(app).get("vapi")
    assert isinstance(provider, VapiProvider)
    provider.told = Told(app)
    return provider


_db = in_app


def _seed_lead(app, number: str) -> int:
    us = number.startswith("+1")

    def seed():
        lead = Lead(
            source="test",
            first_name="Dana",
            last_name="Weber",
            company="Acme",
            phone_e164=number,
            phone_region="US" if us else "DE",
            phone_timezone="America/New_York" if us else "Europe/Berlin",
            phone_status="valid",
            tags=[],
            score=80,
            language="en" if us else "de",
        )
        db.session.add(lead)
        db.session.flush()
        db.session.add(
            ConsentRecord(
                lead_id=lead.id,
                channel=Channel.PHONE,
                legal_basis=LegalBasis.EXPRESS_CONSENT,
                source="test",
                proof_text="web form",
                proof_key=f"k{lead.id}",
                given_at=datetime.now(UTC) - timedelta(days=1),
            )
        )
        db.session.commit()
        return lead.id

    return _db(app, seed)


def _place(app, lead_id: int, chain_id: str | None = None):
    """The real dial path: the place_call activity with the app's provider registry."""
    chain_id = chain_id or f"lead-chain-that-does-not-exist-{uuid.uuid4().hex[:6]}"
    acts = ProviderActivities(app, registry(app), None)
    placed = activity_env().run(acts.place_call, PlaceCallInput(lead_id, chain_id, 1, f"{chain_id}:{lead_id}"))
    assert placed.refused is None and placed.provider == "vapi"
    return placed


def _call(app, call_id: str) -> Interaction:
    return _db(
        app,
        lambda: db.session.scalars(
            sa.select(Interaction).where(Interaction.provider == "vapi", Interaction.provider_ref == call_id)
        ).one(),
    )


def _counts(app) -> tuple[int, int]:
    return _db(
        app,
        lambda: (
            db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)),
            db.session.scalar(sa.select(sa.func.count()).select_from(Interaction)),
        ),
    )


def _expected(digit: str, language: str) -> dict:
    persona = PERSONAS[BY_LAST_DIGIT[digit]]
    connected = persona.end_status in ("completed", "voicemail")
    return {
        "status": "ended",
        "outcome": persona.classification or persona.end_status,
        "duration_s": persona.duration_s,
        "cost_cents": cost_cents(persona.duration_s) if connected else 0,
        "sentiment": persona.sentiment,
        "summary": scripted_summary(persona, language) or None,
        "transcript": [{"speaker": s, "text": t} for s, t in persona.transcript[language]],
        "answered": persona.answered,
        "end_status": persona.end_status,
        "final": True,
        "recording": connected,
    }


def _record(call: Interaction) -> dict:
    return {
        "status": call.status,
        "outcome": call.outcome,
        "duration_s": call.duration_s,
        "cost_cents": call.cost_cents,
        "sentiment": call.sentiment,
        "summary": call.summary,
        "transcript": [{"speaker": t["speaker"], "text": t["text"]} for t in call.transcript or []],
        "answered": call.data.get("answered"),
        "end_status": call.data.get("end_status"),
        "final": call.data.get("final"),
        "recording": bool(call.recording_url),
    }


def test_every_persona_outcome_reaches_the_crm(app, vapi, sandbox):  # noqa: F811
    placed = {}
    for digit in "0123456789":
        us = digit in "13579"  # odd digits: US numbers, English calls
        placed[digit] = (_place(app, _seed_lead(app, _number(digit, us))), "en" if us else "de")
    assert sandbox.sandbox.dispatcher.idle(20)
    for digit, (call, language) in placed.items():
        record = _call(app, call.call_id)
        assert _record(record) == _expected(digit, language), digit
        assert record.currency == "USD" and record.started_at is not None and record.ended_at is not None
        assert record.data["analysis"]["structuredData"].get("outcome") == PERSONAS[BY_LAST_DIGIT[digit]].classification
        assert all(t["at_s"] is not None for t in record.transcript)
        # The chain is told once the end-of-call-report is in, with the merged result.
        [(chain_id, result)] = [(c, r) for c, r in vapi.told if r.call_id == call.call_id]
        assert chain_id == record.data["chain_id"] and result.event_id == f"vapi:{call.call_id}"
        assert (result.status, result.classification, result.duration_s) == (
            record.data["end_status"],
            PERSONAS[BY_LAST_DIGIT[digit]].classification,
            record.duration_s,
        )
    # Every delivery was accepted at once, though none of these chains exists in Temporal.
    attempts = [d.attempts for d in sandbox.sandbox.dispatcher.sent]
    assert len(attempts) == 8 * 4 + 2 * 3 and all(a == [200] for a in attempts)
    # And polling the provider says the same as the webhooks did.
    for digit, (call, _) in placed.items():
        polled = vapi.get_call(call.call_id)
        assert (polled.status, polled.classification) == (
            PERSONAS[BY_LAST_DIGIT[digit]].end_status,
            PERSONAS[BY_LAST_DIGIT[digit]].classification,
        )


# ---- webhook authentication -----------------------------------------------------------------------------


def _hmac_headers(body: bytes, secret: str = SECRET, ts: int | None = None) -> dict[str, str]:
    ts = int(time.time()) if ts is None else ts
    return {
        "x-timestamp": str(ts),
        "x-signature": hmac.new(secret.encode(), f"{ts}.".encode() + body, hashlib.sha256).hexdigest(),
    }


def _message(lead_id: int, kind: str = "end-of-call-report", call_id: str = "forged-call-0001", **extra) -> bytes:
    call = {
        "id": call_id,
        "type": "outboundPhoneCall",
        "status": "ended",
        "assistantId": ASSISTANT,
        "assistantOverrides": {"metadata": {"lead_id": str(lead_id), "chain_id": "lead-nope", "idempotency_key": "k"}},
    }
    message = {"type": kind, "timestamp": int(time.time() * 1000), "call": call, **extra}
    if kind == "end-of-call-report":
        message.update(
            endedReason="customer-ended-call",
            cost=0.24,
            durationSeconds=60,
            artifact={
                "messages": [
                    {"role": "bot", "message": "Hallo.", "secondsFromStart": 1.0},
                    {"role": "user", "message": "Ja, gern – Termin?", "secondsFromStart": 3.2},
                ]
            },
            analysis={"summary": "Termin gebucht.", "structuredData": {"outcome": "booked", "sentiment": "Positive"}},
        )
    return json.dumps({"message": message}, separators=(",", ":"), ensure_ascii=False).encode()


def _post(crm_server, body: bytes, headers: dict[str, str]) -> httpx.Response:  # noqa: F811
    return httpx.post(
        f"{crm_server.url}/webhooks/vapi", content=body, headers={"Content-Type": "application/json", **headers}
    )


@SQLITE_ONLY
def test_bad_credentials_store_nothing_and_every_good_one_is_accepted(app, vapi, crm_server):  # noqa: F811
    lead_id = _seed_lead(app, _number("0"))
    body = _message(lead_id)
    now = int(time.time())
    tampered = body.replace(b"Termin gebucht", b"Termin gebuchT")
    cases = {
        "missing": {},
        "wrong secret": {"X-Vapi-Secret": "sandbox-vapi-server-secreT"},
        "empty secret": {"X-Vapi-Secret": ""},
        "wrong bearer": {"Authorization": "Bearer nope"},
        "bad hmac": _hmac_headers(body, secret="someone-else"),
        "hmac without timestamp": {"x-signature": _hmac_headers(body)["x-signature"]},
        "stale hmac": _hmac_headers(body, ts=now - 6 * 60),
        "future hmac": _hmac_headers(body, ts=now + 6 * 60),
        "stale hmac in ms": _hmac_headers(body, ts=(now - 6 * 60) * 1000),
        "wrong secret, bad hmac": {"X-Vapi-Secret": "x", **_hmac_headers(body, secret="y")},
    }
    before = _counts(app)
    for name, headers in cases.items():
        r = _post(crm_server, body, headers)
        assert r.status_code == 401, name
        assert _counts(app) == before, name
    r = _post(crm_server, tampered, _hmac_headers(body))  # one byte changed after signing
    assert r.status_code == 401 and _counts(app) == before
    # Authenticated but not JSON: 400, nothing stored.
    r = _post(crm_server, b"{not json", {"X-Vapi-Secret": SECRET})
    assert r.status_code == 400 and _counts(app) == before

    # Each credential style on its own is enough (a distinct message each, so each is stored).
    styles = {
        "ringing": lambda m: {"X-Vapi-Secret": SECRET},
        "in-progress": _hmac_headers,
        "ended": lambda m: {"Authorization": f"Bearer {SECRET}"},
    }
    for status, style in styles.items():
        extra = {"endedReason": "customer-ended-call"} if status == "ended" else {}
        msg = _message(lead_id, "status-update", status=status, **extra)
        r = _post(crm_server, msg, style(msg))
        assert r.status_code == 200 and r.json()["results"][0]["status"] == "recorded", (status, r.text)
    ms = int(time.time() * 1000)
    r = _post(
        crm_server,
        body,
        {
            "x-timestamp": str(ms),
            "x-signature": hmac.new(SECRET.encode(), f"{ms}.".encode() + body, hashlib.sha256).hexdigest(),
        },
    )  # timestamp in ms
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "recorded"
    r = _post(crm_server, body, {"X-Vapi-Secret": "wrong", **_hmac_headers(body)})  # one valid credential is enough
    assert r.status_code == 200
    assert _counts(app) == (before[0] + 4, before[1] + 1)  # the redelivered report added nothing
    call = _call(app, "forged-call-0001")
    assert (call.outcome, call.duration_s, call.sentiment, call.cost_cents) == ("booked", 60, "positive", 24)
    assert [t["speaker"] for t in call.transcript] == ["agent", "callee"] and call.data["final"]


@SQLITE_ONLY
def test_sandbox_signs_with_hmac_and_bearer_credentials(app, vapi, sandbox):  # noqa: F811
    calls = []
    for n, (mode, unit) in enumerate([("hmac", "s"), ("hmac", "ms"), ("bearer", "s")]):
        httpx.post(
            f"{sandbox.url}/vapi/sandbox/server-auth", json={"mode": mode, "timestamp_unit": unit}
        ).raise_for_status()
        calls.append(_place(app, _seed_lead(app, _number("8", n=n))))
        assert sandbox.sandbox.dispatcher.idle(10)
    assert all(d.attempts == [200] for d in sandbox.sandbox.dispatcher.sent)
    for placed in calls:
        assert _call(app, placed.call_id).outcome == "callback_requested"
    # And the CRM refuses the sandbox's messages when it holds another secret.
    sandbox.sandbox.config.keys["vapi_secret"] = "rotated-away"
    sandbox.sandbox.dispatcher.retries = 0
    httpx.post(f"{sandbox.url}/vapi/sandbox/server-auth", json={"mode": "both"}).raise_for_status()
    before = _counts(app)
    lost = _place(app, _seed_lead(app, _number("8", n=9)))
    assert sandbox.sandbox.dispatcher.idle(15)
    assert [d.attempts for d in sandbox.sandbox.dispatcher.sent[-4:]] == [[401]] * 4
    assert _counts(app) == (before[0], before[1] + 1)  # only the chain's own queued record
    assert _call(app, lost.call_id).status == "queued"


@SQLITE_ONLY
def test_other_message_types_answer_200_and_store_nothing(app, vapi, crm_server):  # noqa: F811
    lead_id = _seed_lead(app, _number("1"))
    before = _counts(app)
    tool_call = {"id": "call_X", "type": "function", "function": {"name": "book_meeting", "arguments": {"when": "Tue"}}}
    others = [
        {"type": "transcript", "role": "user", "transcriptType": "final", "transcript": "Tuesday works."},
        {"type": 'transcript[transcriptType="final"]', "role": "user", "transcript": "Tuesday works."},
        {"type": "conversation-update", "messages": [], "messagesOpenAIFormatted": []},
        {"type": "speech-update", "status": "started", "role": "assistant", "turn": 2},
        {"type": "hang"},
        {"type": "user-interrupted"},
        {"type": "model-output", "output": "Hi"},
        {"type": "tool-calls", "toolCalls": [tool_call], "toolCallList": [tool_call]},
        {"type": "status-update", "status": "deletion-failed"},
    ]
    for extra in others:
        body = _message(lead_id, extra.pop("type"), **extra)
        r = _post(crm_server, body, {"X-Vapi-Secret": SECRET})
        assert r.status_code == 200 and r.json()["received"] == 0, body
    for broken in (b'{"message": {"status": "ringing"}}', b"[]", b'{"message": {"type": "status-update"}}'):
        assert _post(crm_server, broken, {"X-Vapi-Secret": SECRET}).status_code == 400
    assert _counts(app) == before


# ---- duplicated and reordered deliveries ----------------------------------------------------------------


def _projection(call: Interaction) -> dict:
    record = _record(call)
    data = dict(call.data)
    record.update(
        analysis=data.get("analysis"),
        stage=data.get("stage"),
        currency=call.currency,
        talk=(call.ended_at - call.started_at).total_seconds(),
        transcript_full=call.transcript,
        events=sorted(e.split(":")[0] + ":" + e.split(":")[-1] for e in data.get("events", [])),
    )
    return record


def test_duplicated_and_reordered_deliveries_end_like_a_clean_run(app, vapi, sandbox):  # noqa: F811
    runs: dict[str, dict[str, dict]] = {}
    for n, mode in enumerate([{}, {"duplicate": 2}, {"reorder": True}, {"duplicate": 1, "reorder": True}]):
        httpx.post(f"{sandbox.url}/sandbox/webhook-mode", json={"provider": "vapi", **mode}).raise_for_status()
        placed = {digit: _place(app, _seed_lead(app, _number(digit, n=n))) for digit in "05"}
        assert sandbox.sandbox.dispatcher.idle(20)
        runs[json.dumps(mode)] = {digit: _projection(_call(app, call.call_id)) for digit, call in placed.items()}
    clean = runs.pop("{}")
    for digit, record in clean.items():
        assert record["final"] and record["stage"] == "analyzed"
        assert record["outcome"] == (PERSONAS[BY_LAST_DIGIT[digit]].classification or "no_answer")
    for mode, records in runs.items():
        assert records == clean, mode
    deliveries = _db(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)))
    assert deliveries == 4 * (4 + 3)  # one per (message, call), however often sent
    # Every copy got a 2xx; the chain was always told the same result.
    assert all(d.attempts == [200] for d in sandbox.sandbox.dispatcher.sent)
    by_call: dict[str, set] = {}
    for _, result in vapi.told:
        by_call.setdefault(result.call_id, set()).add((result.status, result.classification, result.duration_s))
    assert len(by_call) == 8 and all(len(v) == 1 for v in by_call.values())


# ---- one lead chain with the real provider ----------------------------------------------------------------


class VapiChainHarness(ChainHarness):
    """tests/workflows' ChainHarness with the real VapiProvider: a Vapi campaign, the CRM on a real port,
    and the sandbox's server messages delivering the results to the chains through /webhooks/vapi."""

    def __init__(self, app, client, settings, provider: VapiProvider, sandbox) -> None:
        super().__init__(app, client, settings)
        self.provider, self.sandbox = provider, sandbox
        self.deliver_webhooks = False

    async def start(self) -> VapiChainHarness:
        self.executor = ThreadPoolExecutor(max_workers=8)
        acts = ProviderActivities(self.app, ProviderRegistry({"vapi": self.provider}), self.email)
        self.db(
            lambda: (
                db.session.add(
                    Campaign(
                        name="vapi", provider="vapi", agent_id=ASSISTANT, from_number=PHONE_NUMBER_ID, is_default=True
                    )
                ),
                db.session.commit(),
            )
        )
        workers = [
            chain_mod.chain_worker(self.client, self.app, self.executor, task_queue=self.chain_queue),
            chain_mod.provider_worker(self.client, acts, self.executor, task_queue=self.provider_queue),
        ]
        relay = Relay(self.app, self.client, self.settings, poll_s=0.1, task_queue=self.chain_queue)
        self._tasks = [asyncio.create_task(chain_mod.worker_runner(w)(self._stop)) for w in workers]
        self._tasks.append(asyncio.create_task(relay.run(self._stop)))
        return self


@pytest.fixture
async def vapi_chain(temporal_env, migrated_urls):  # noqa: F811
    secrets = make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex)
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"],
        },
        secrets=secrets,
        gate_policy=always_open_policy(),
        settings=Settings(temporal_address=_target(temporal_env)),
    )
    _wipe(app)
    with ServerThread(app) as crm:
        sandbox_app = create_sandbox_app(SandboxConfig(webhook_base=crm.url, step_s=0.05))
        with ServerThread(sandbox_app) as sandbox_server:
            set_settings(
                app, "providers", sandbox_url=sandbox_server.url
            )  # webhook_secret(app, "vapi"): the sandbox's secret
            provider = VapiProvider(api_key=KEY, base_url=f"{sandbox_server.url}/vapi")
            harness = VapiChainHarness(app, temporal_env.client, FAST, provider, sandbox_app.extensions["sandbox"])
            await harness.start()
            try:
                yield harness
            finally:
                await harness.stop()
    _wipe(app)


async def test_chain_with_real_vapi_books(vapi_chain):
    accepted = vapi_chain.post_lead(
        {
            "first_name": "Jürgen",
            "last_name": "Weber",
            "company": "Kfz-Werkstatt Krause GmbH",
            "email": "juergen@krause.de",
            "phone": "+49 30 23125100",
            "phone_consent": "ja",
            "interest": "Angebot für 5 Standorte",
        }
    )
    started = time.monotonic()
    outcome = await vapi_chain.outcome(accepted["chain_id"])
    assert outcome.stage == "booked"
    # The webhook, not the poll after call_result_timeout_s, told the chain.
    assert time.monotonic() - started < FAST.call_result_timeout_s
    history = await vapi_chain.handle(accepted["chain_id"]).fetch_history()
    scheduled = [
        e.activity_task_scheduled_event_attributes.activity_type.name
        for e in history.events
        if e.HasField("activity_task_scheduled_event_attributes")
    ]
    assert scheduled.count("place_call") == 1 and "fetch_call_result" not in scheduled
    assert vapi_chain.sandbox.state.stats()["created"] == {"vapi": 1}
    [sandbox_call] = vapi_chain.sandbox.state.list("vapi")
    assert sandbox_call.request["assistantOverrides"]["metadata"]["chain_id"] == accepted["chain_id"]
    call = vapi_chain.db(
        lambda: db.session.scalars(sa.select(Interaction).where(Interaction.kind == InteractionKind.CALL)).one()
    )
    assert (call.provider, call.provider_ref, call.outcome, call.data["final"]) == (
        "vapi",
        sandbox_call.call_id,
        "booked",
        True,
    )
    assert call.transcript and call.summary == scripted_summary(PERSONAS["books"], "de")
    assert vapi_chain.email.templates_to(outcome.lead_id) == ["booking_confirmation"]
