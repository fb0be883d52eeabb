"""Bland: the real adapter (providers/bland.py) against the live sandbox over HTTP, and the CRM
receiving the sandbox's signed post-call webhooks over HTTP, on SQLite and PostgreSQL.

The expected values are computed here from the personas and from docs/providers.md §3 (minutes, seconds,
dollars), not with the adapter's own helpers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import hmac
import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError

from activities.provider_activities import ProviderActivities
from crm.extensions import db
from crm.models import (
    Campaign,
    Channel,
    ConsentRecord,
    Interaction,
    InteractionKind,
    Lead,
    LegalBasis,
    SideEffect,
    WebhookDelivery,
)
from crm.services import call_outbox
from crm.tenancy.context import company_scope
from providers.base import CallRequest, ProviderRegistry, ProviderRejected, ProviderUnavailable
from providers.bland import BlandProvider, event_from_details
from providers.factory import provider_endpoint
from sandbox import personas
from sandbox.summary import scripted_summary
from tests.activity_env import activity_env
from tests.conftest import WEBHOOK_SECRETS, make_test_secrets, set_settings
from tests.fakes import FakeEmailSender
from tests.helpers import in_app, signed_headers
from tests.workflows.conftest import FAST, always_open_policy
from workflows.payloads import CallResult, PlaceCallInput

SANDBOX_KEY = "sandbox-bland-key"
SIGNING_SECRET = "sandbox-bland-webhook-secret"
PATHWAY = "3f1c2b8e-0d4a-4c55-9a5e-bland-pathway"


# ------------------------------------------------------------------------------------------ helpers


def hex_sig(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def in_db(app, fn):
    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def number(digit: int, region: str = "DE") -> str:
    tail = f"{uuid.uuid4().int % 10**6:06d}"
    return f"+4930{tail}{digit}" if region == "DE" else f"+1415{tail}{digit}"


def seed_lead(app, phone: str) -> int:
    region = "DE" if phone.startswith("+49") else "US"

    def add():
        lead = Lead(
            first_name="Jürgen",
            last_name="Weber",
            company="Kfz-Werkstatt Krause GmbH",
            phone_e164=phone,
            phone_region=region,
            phone_timezone="Europe/Berlin" if region == "DE" else "America/Los_Angeles",
            phone_status="valid",
            source="website",
            score=80,
            tags=[],
            language="de" if region == "DE" else "en",
        )
        db.session.add(lead)
        db.session.flush()
        db.session.add(
            ConsentRecord(
                lead_id=lead.id,
                channel=Channel.PHONE,
                legal_basis=LegalBasis.EXPRESS_CONSENT,
                source="website",
                proof_text="form",
                proof_key=f"k-{lead.id}",
                given_at=datetime.now(UTC) - timedelta(days=1),
            )
        )
        db.session.commit()
        return lead.id

    return in_db(app, add)


def seed_campaign(app) -> None:
    in_db(
        app,
        lambda: (
            db.session.add(
                Campaign(name="bland", provider="bland", agent_id=PATHWAY, from_number="+4930555000", is_default=True)
            ),
            db.session.commit(),
        ),
    )


def the_call(app, call_id: str) -> Interaction:
    return in_db(
        app,
        lambda: db.session.scalars(
            sa.select(Interaction).where(Interaction.provider == "bland", Interaction.provider_ref == call_id)
        ).one(),
    )


def bland_deliveries(app) -> int:
    return in_db(
        app,
        lambda: db.session.scalar(
            sa.select(sa.func.count()).select_from(WebhookDelivery).where(WebhookDelivery.source == "provider:bland")
        ),
    )


def call_count(app) -> int:
    return in_db(
        app,
        lambda: db.session.scalar(
            sa.select(sa.func.count()).select_from(Interaction).where(Interaction.kind == InteractionKind.CALL)
        ),
    )


def expected_record(persona: personas.Persona, language: str) -> dict:
    """What the CRM must hold once a persona's call is over (from the persona, in our units)."""
    connected = bool(persona.transcript[language])
    return {
        "status": "ended",
        "outcome": persona.classification or persona.end_status,
        "duration_s": persona.duration_s,
        "sentiment": persona.sentiment if connected else None,
        "cost_cents": (-(-persona.duration_s // 60)) * personas.CENTS_PER_MINUTE,
        "summary": scripted_summary(persona, language) or None,
        "transcript": [list(t) for t in persona.transcript[language]],
        "end_status": persona.end_status,
        "answered": persona.answered,
        "final": True,
    }


def record_of(call: Interaction) -> dict:
    data = call.data or {}
    return {
        "status": call.status,
        "outcome": call.outcome,
        "duration_s": call.duration_s,
        "sentiment": call.sentiment,
        "cost_cents": call.cost_cents,
        "summary": call.summary,
        "transcript": [[t["speaker"], t["text"]] for t in call.transcript or []],
        "end_status": data.get("end_status"),
        "answered": data.get("answered"),
        "final": data.get("final"),
    }


class Told:
    """What the CRM hands to the lead chains: the results in the provider-event outbox, (chain id, result)
    pairs read when iterated (the relay that delivers them is not running in these tests)."""

    def __init__(self, app) -> None:
        self.app = app

    def __iter__(self):
        return iter(in_app(self.app, call_outbox.results))


@pytest.fixture
def told(app):
    return Told(app)


class Env:
    def __init__(self, app, crm, box, provider: BlandProvider) -> None:
        self.app, self.crm, self.box, self.provider = app, crm, box, provider
        self.sandbox = box.sandbox
        self.acts = ProviderActivities(app, ProviderRegistry({"bland": provider}), None)

    def place(self, lead_id: int, key: str | None = None, attempt: int = 1):
        key = key or f"chain-{uuid.uuid4().hex[:8]}:call:0:1"
        env = activity_env()
        env.info = dataclasses.replace(env.info, attempt=attempt)
        return env.run(self.acts.place_call, PlaceCallInput(lead_id, key.split(":")[0], 1, key))

    def idle(self) -> None:
        # The webhook is scheduled when the call is created; wait until it (and its retries) went out.
        time.sleep(0.05)
        assert self.sandbox.dispatcher.idle(timeout_s=20)

    def set_mode(self, **mode) -> None:
        r = httpx.post(f"{self.box.url}/sandbox/webhook-mode", json={"provider": "bland", **mode})
        assert r.status_code == 200


@pytest.fixture
def bland(app, crm_server, sandbox, told):  # noqa: F811
    set_settings(app, "providers", sandbox_url=sandbox.url)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    # keyless sandbox mode: the sandbox's key and URL
    key, base_url = provider_endpoint(app.config["LEADCHAIN"].providers, app.extensions["leadchain.secrets"], "bland")
    provider = BlandProvider(api_key=key, base_url=base_url, webhook_url=f"{crm_server.url}/webhooks/bland")
    app.extensions["leadchain.providers"] = ProviderRegistry({"bland": provider})
    seed_campaign(app)
    yield Env(app, crm_server, sandbox, provider)
    provider.close()


# ------------------------------------------------------------------------------------------ the API


def test_place_and_fetch_with_units(bland):
    # The factory's keyless sandbox mode: the sandbox's key, the base URL under the sandbox's /bland.
    app = bland.app
    endpoint = provider_endpoint(app.config["LEADCHAIN"].providers, app.extensions["leadchain.secrets"], "bland")
    assert endpoint == (SANDBOX_KEY, f"{bland.box.url}/bland")
    bland.sandbox.config.step_s = 1.0  # time to look at the call while it is still queued (it ends at 3 steps)
    phone = number(0)
    request = CallRequest(
        lead_id=1,
        chain_id="chain-x",
        idempotency_key="chain-x:call:0:1",
        to_number=phone,
        language="de",
        variables={"first_name": "Jürgen"},
        agent_id=PATHWAY,
        from_number="+4930555000",
    )
    placed = bland.provider.place_call(request)
    assert placed.provider == "bland" and placed.call_id
    assert bland.provider.get_call(placed.call_id) is None  # queued: not ended yet

    sent = bland.sandbox.state.get("bland", placed.call_id).request
    assert sent["phone_number"] == phone and sent["from"] == "+4930555000" and sent["pathway_id"] == PATHWAY
    assert "task" not in sent and sent["language"] == "de"
    assert sent["request_data"] == {"first_name": "Jürgen"}
    assert sent["metadata"] == {"lead_id": "1", "chain_id": "chain-x", "idempotency_key": "chain-x:call:0:1"}
    assert sent["webhook"] == f"{bland.crm.url}/webhooks/bland" and sent["max_duration"] == 15

    deadline = time.monotonic() + 10
    while (result := bland.provider.get_call(placed.call_id)) is None:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    raw = httpx.get(f"{bland.box.url}/bland/v1/calls/{placed.call_id}", headers={"authorization": SANDBOX_KEY}).json()
    persona = personas.PERSONAS["books"]
    # Independent of the adapter: Bland's call_length is minutes, corrected_duration seconds (a string).
    assert raw["call_length"] == pytest.approx(persona.duration_s / 60, abs=1e-3)
    assert round(raw["call_length"] * 60) == int(raw["corrected_duration"]) == persona.duration_s == 142
    assert result == CallResult("bland", placed.call_id, f"bland:{placed.call_id}", True, "completed", "booked", 142)
    # Without corrected_duration the minutes are converted: 3.45 min = 207 s; price in dollars -> cents.
    event = event_from_details({**raw, "corrected_duration": None, "call_length": 3.45, "price": 0.31})
    assert (event.duration_s, event.cost_cents) == (207, 31)

    listed = httpx.get(
        f"{bland.box.url}/bland/v1/calls", params={"to_number": phone}, headers={"authorization": SANDBOX_KEY}
    ).json()
    assert listed["count"] == 1 and listed["calls"][0]["call_id"] == placed.call_id
    assert bland.provider.find_call("chain-x:call:0:1").call_id == placed.call_id
    assert bland.provider.find_call("chain-x:call:0:2") is None
    # Without a per-call `webhook` the post-call webhook goes to the account's URL (the sandbox's config).
    plain = BlandProvider(api_key=SANDBOX_KEY, base_url=f"{bland.box.url}/bland")
    other = plain.place_call(CallRequest(1, "c", "c:call:0:9", number(5), "en"))
    assert "webhook" not in bland.sandbox.state.get("bland", other.call_id).request
    bland.idle()
    crm_hook = f"{bland.crm.url}/webhooks/bland"
    assert [(json.loads(d.body)["call_id"], d.url, d.attempts) for d in bland.sandbox.dispatcher.sent] == [
        (placed.call_id, crm_hook, [200]),
        (other.call_id, crm_hook, [200]),
    ]

    # The key goes raw in `authorization`: "Bearer <key>" and no key are refused, and so is a wrong key.
    url = f"{bland.box.url}/bland/v1/calls"
    assert (
        httpx.post(
            url, json={"phone_number": number(1), "task": "hi"}, headers={"authorization": f"Bearer {SANDBOX_KEY}"}
        ).status_code
        == 401
    )
    assert httpx.get(url).status_code == 401
    wrong = BlandProvider(api_key="nope", base_url=f"{bland.box.url}/bland")
    with pytest.raises(ProviderRejected, match="401"):
        wrong.place_call(CallRequest(1, "c", "c:call:0:1", number(1), "en"))
    assert bland.sandbox.state.created["bland"] == 2


def test_errors_map_to_rejected_and_unavailable_without_retrying_the_post(bland):
    state = bland.sandbox.state
    with pytest.raises(ProviderRejected, match="phone_number"):
        bland.provider.place_call(CallRequest(1, "c", "c:call:0:1", "", "de"))
    before = state.create_requests["bland"]
    r = httpx.post(
        f"{bland.box.url}/sandbox/faults", json={"provider": "bland", "status": 429, "count": 1, "retry_after_s": 7}
    )
    assert r.status_code == 200
    with pytest.raises(ProviderUnavailable) as caught:
        bland.provider.place_call(CallRequest(1, "c", "c:call:0:1", number(1), "de"))
    assert caught.value.retry_after_s == 7
    httpx.post(f"{bland.box.url}/sandbox/faults", json={"provider": "bland", "status": 503, "count": 1})
    with pytest.raises(ProviderUnavailable, match="503"):
        bland.provider.place_call(CallRequest(1, "c", "c:call:0:1", number(1), "de"))
    assert state.create_requests["bland"] == before + 2  # one POST per attempt: no hidden retries
    assert state.created.get("bland", 0) == 0
    closed = BlandProvider(api_key=SANDBOX_KEY, base_url="http://127.0.0.1:9")
    with pytest.raises(ProviderUnavailable):
        closed.place_call(CallRequest(1, "c", "c:call:0:1", number(1), "de"))
    with pytest.raises(NotImplementedError, match="no endpoint"):
        bland.provider.delete_call("any")

    # Through the activity: a 503, then a dial that reached Bland but was never recorded, then a retry.
    lead_id = seed_lead(bland.app, number(8))
    key = f"chain-{uuid.uuid4().hex[:8]}:call:0:1"
    # Attempt 1 fails on a 503 (Temporal will retry the activity)...
    httpx.post(
        f"{bland.box.url}/sandbox/faults", json={"provider": "bland", "status": 503, "count": 1, "retry_after_s": 2}
    )
    with pytest.raises(ApplicationError) as caught:
        bland.place(lead_id, key)
    assert caught.value.type == "ProviderUnavailable" and caught.value.next_retry_delay == timedelta(seconds=2)

    # ...attempt 2 counts itself in the ledger and its dial reaches Bland, but the worker dies there...
    def count_attempt():
        db.session.scalars(sa.select(SideEffect).where(SideEffect.key == key)).one().attempts += 1
        db.session.commit()

    in_db(bland.app, count_attempt)
    lead_phone = in_db(bland.app, lambda: db.session.get(Lead, lead_id).phone_e164)
    dialled = bland.provider.place_call(
        CallRequest(lead_id, key.split(":")[0], key, lead_phone, "de", agent_id=PATHWAY)
    )
    # ... and the next attempt looks the call up by our key rather than dialling again.
    placed = bland.place(lead_id, key, attempt=3)
    assert placed.call_id == dialled.call_id
    assert state.created["bland"] == 1
    row = in_db(bland.app, lambda: db.session.scalars(sa.select(SideEffect).where(SideEffect.key == key)).one())
    assert (row.status, row.provider_ref, row.attempts) == ("done", dialled.call_id, 2)
    bland.idle()


def _attempt(bland, lead_id: int, key: str, *, attempt: int, start_to_close_s: float, started_ago_s: float = 0):
    env = activity_env(start_to_close_s)
    env.info = dataclasses.replace(
        env.info, attempt=attempt, started_time=datetime.now(UTC) - timedelta(seconds=started_ago_s)
    )
    return env.run(bland.acts.place_call, PlaceCallInput(lead_id, key.split(":")[0], 1, key))


def test_a_dial_ends_inside_its_attempts_window(bland):
    """A dial must not outlive its activity attempt: once the start-to-close window closes, the next attempt
    looks the call up and, finding none, dials; a POST of the old attempt still on the wire would then be a
    second call (seen in CI: two Bland and two Vapi calls for one lead, the worker starved of CPU). Bland
    holds its answer 10 s here; the attempt has a 6 s window, so its request is given up before it closes,
    and the next attempt finds the call the first one made."""
    state = bland.sandbox.state
    lead_id = seed_lead(bland.app, number(0))
    key = f"chain-{uuid.uuid4().hex[:8]}:call:0:1"
    httpx.post(f"{bland.box.url}/sandbox/response-delay", json={"provider": "bland", "seconds": 10}).raise_for_status()
    try:
        started = time.monotonic()
        with pytest.raises(ApplicationError) as caught:
            _attempt(bland, lead_id, key, attempt=1, start_to_close_s=6)
        took = time.monotonic() - started
    finally:
        httpx.post(f"{bland.box.url}/sandbox/response-delay", json={"provider": "bland", "seconds": 0})
    assert caught.value.type == "ProviderUnavailable" and "timed out" in caught.value.message
    assert took < 6 - 1, took  # the window less its margin (activities.provider_activities.DIAL_MARGIN_S)
    assert state.created.get("bland", 0) == 1  # Bland has the call; its answer never came
    placed = _attempt(bland, lead_id, key, attempt=2, start_to_close_s=6)
    assert state.created["bland"] == 1
    row = in_db(bland.app, lambda: db.session.scalars(sa.select(SideEffect).where(SideEffect.key == key)).one())
    assert (row.status, row.provider_ref, row.attempts) == ("done", placed.call_id, 1)
    bland.idle()


def test_an_attempt_with_too_little_window_left_dials_nothing(bland):
    state = bland.sandbox.state
    lead_id = seed_lead(bland.app, number(0))
    key = f"chain-{uuid.uuid4().hex[:8]}:call:0:1"
    before = state.create_requests.get("bland", 0)
    with pytest.raises(ApplicationError) as caught:
        _attempt(bland, lead_id, key, attempt=1, start_to_close_s=60, started_ago_s=58)
    assert caught.value.type == "DialWindowClosed" and not caught.value.non_retryable
    assert state.create_requests.get("bland", 0) == before and state.created.get("bland", 0) == 0
    # The next attempt, with its own window, looks first (nothing), then dials once.
    placed = _attempt(bland, lead_id, key, attempt=2, start_to_close_s=60)
    assert state.created["bland"] == 1 and placed.call_id
    bland.idle()


# ------------------------------------------------------------------------------------------ personas to the CRM


def test_every_persona_reaches_the_crm(bland, told):
    def dial(digit: int):
        region = "DE" if digit % 2 == 0 else "US"
        lead_id = seed_lead(bland.app, number(digit, region))
        call = bland.place(lead_id)
        assert call.provider == "bland" and not call.refused
        return digit, (lead_id, call.call_id, "de" if region == "DE" else "en")

    def dial_in_company(digit: int):
        # A pool thread starts with an empty context: it enters the test company as the activity's
        # company header would (crm.tenancy.temporal_headers).
        with company_scope(1):
            return dial(digit)

    with ThreadPoolExecutor(max_workers=5) as pool:  # activities run on worker threads side by side
        placed = dict(pool.map(dial_in_company, range(10)))
    bland.idle()
    assert all(d.attempts[-1] == 200 for d in bland.sandbox.dispatcher.sent)
    for digit, (lead_id, call_id, language) in placed.items():
        persona = personas.PERSONAS[personas.BY_LAST_DIGIT[str(digit)]]
        call = the_call(bland.app, call_id)
        assert call.lead_id == lead_id
        assert record_of(call) == expected_record(persona, language), persona.name
        expected = CallResult(
            "bland",
            call_id,
            f"bland:{call_id}",
            persona.answered,
            persona.end_status,
            persona.classification,
            persona.duration_s,
        )
        assert [r for _, r in told if r.call_id == call_id] == [expected], persona.name
        assert bland.provider.get_call(call_id) == expected  # the poll path agrees with the webhook
    assert bland_deliveries(bland.app) == 10 and call_count(bland.app) == 10


# ------------------------------------------------------------------------------------------ webhook security


def _hand_made(call_id: str, lead_id: int) -> bytes:
    details = {
        "call_id": call_id,
        "c_id": call_id,
        "status": "completed",
        "completed": True,
        "answered_by": "human",
        "call_length": 3.45,
        "corrected_duration": "207",
        "to": "+14155550123",
        "from": "+14155550100",
        "concatenated_transcript": "assistant: Hi Dana. \n user: Hi Alex",
        "transcripts": [
            {
                "id": 1,
                "created_at": "2026-01-05T17:00:41+00:00",
                "text": "Hi Dana.",
                "user": "assistant",
                "c_id": call_id,
            },
            {"id": 2, "created_at": "2026-01-05T17:00:44+00:00", "text": "Hi Alex", "user": "user", "c_id": call_id},
        ],
        "summary": "Dana agreed to a demo; appointment booked for Tuesday 3pm.",
        "recording_url": "https://example.invalid/r.mp3",
        "price": 0.31,
        "variables": {},
        "metadata": {"lead_id": str(lead_id), "chain_id": "", "idempotency_key": ""},
        "request_data": {},
        "error_message": None,
        "call_ended_by": "USER",
        "started_at": "2026-01-05T17:00:40+00:00",
        "end_at": "2026-01-05T17:04:07+00:00",
    }
    return json.dumps(details, separators=(",", ":")).encode()


def test_bad_signatures_store_nothing(bland):
    lead_id = seed_lead(bland.app, number(0))
    call_id = str(uuid.uuid4())
    body = _hand_made(call_id, lead_id)
    url = f"{bland.crm.url}/webhooks/bland"
    good = hex_sig(SIGNING_SECRET, body)
    flipped = body.replace(b'"207"', b'"208"')
    assert len(flipped) == len(body) and flipped != body
    attempts = [
        ({}, body),  # missing
        ({"X-Webhook-Signature": hex_sig("not-the-secret", body)}, body),  # forged
        ({"X-Webhook-Signature": good}, flipped),  # 1 byte changed
        ({"X-Webhook-Signature": good[:-1]}, body),  # truncated
        ({"X-Webhook-Signature": "ü".encode()}, body),
    ]
    for headers, content in attempts:
        r = httpx.post(url, content=content, headers={"Content-Type": "application/json", **headers})
        assert r.status_code == 401, headers
    signed_garbage = b"{not json"
    garbage_signature = {"X-Webhook-Signature": hex_sig(SIGNING_SECRET, signed_garbage)}
    r = httpx.post(url, content=signed_garbage, headers=garbage_signature)
    assert r.status_code == 415  # not sent as JSON
    assert bland_deliveries(bland.app) == 0 and call_count(bland.app) == 0
    # Sent as JSON but unreadable: Bland may retry a 4xx for ever, so the body is kept for a person and
    # acknowledged (docs/providers.md §0.1); its delivery record is the only other thing stored.
    r = httpx.post(url, content=signed_garbage, headers={"Content-Type": "application/json", **garbage_signature})
    assert r.status_code == 200 and r.json()["status"] == "unparseable"
    assert bland_deliveries(bland.app) == 1 and call_count(bland.app) == 0
    # The control: the same body, rightly signed, is stored (so the 401s were the signature's doing).
    r = httpx.post(url, content=body, headers={"X-Webhook-Signature": good.upper(), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text
    call = the_call(bland.app, call_id)
    assert (call.duration_s, call.cost_cents, call.outcome, call.status) == (207, 31, "booked", "ended")
    assert [t["speaker"] for t in call.transcript] == ["agent", "callee"] and call.transcript[1]["at_s"] == 4.0
    assert bland_deliveries(bland.app) == 2


def _run_personas(bland, digits) -> list[dict]:
    ids = []
    for digit in digits:
        ids.append(bland.place(seed_lead(bland.app, number(digit))).call_id)
    bland.idle()
    return [record_of(the_call(bland.app, i)) for i in ids]


def test_duplicated_reordered_and_replayed_webhooks_end_like_a_clean_run(bland, told):
    digits = [0, 3, 5, 7]
    clean = _run_personas(bland, digits)
    sent_clean = len(bland.sandbox.dispatcher.sent)
    booked_call = bland.sandbox.dispatcher.sent[0]
    call_id = json.loads(booked_call.body)["call_id"]
    first = the_call(bland.app, call_id)
    before = (record_of(first), first.updated_at, first.data["events"])
    bland.set_mode(duplicate=2, reorder=True)
    messy = _run_personas(bland, digits)
    assert messy == clean
    noisy = bland.sandbox.dispatcher.sent[sent_clean:]
    assert len(noisy) == 3 * len(digits) and all(d.attempts == [200] for d in noisy)
    # One delivery record per call however often it came; every copy told the chain the same result.
    assert bland_deliveries(bland.app) == 2 * len(digits)
    by_call: dict[str, list] = {}
    for _, result in told:
        by_call.setdefault(result.call_id, []).append(result)
    assert len(by_call) == 2 * len(digits)
    assert all(r == results[0] for results in by_call.values() for r in results)

    # Later: Bland's own resend (same bytes, same signature: there is no timestamp), then a replay of
    # the captured request by anyone. Both are answered as the first time and change nothing.
    deliveries_before = bland_deliveries(bland.app)
    r = httpx.post(
        f"{bland.box.url}/bland/v1/postcall/webhooks/resend",
        json={"call_ids": [call_id]},
        headers={"authorization": SANDBOX_KEY},
    )
    assert r.json()["call_ids"] == [call_id]
    bland.idle()
    assert bland.sandbox.dispatcher.sent[-1].attempts == [200]
    r = httpx.post(
        f"{bland.crm.url}/webhooks/bland",
        content=booked_call.body,
        headers={"Content-Type": "application/json", **booked_call.sign(booked_call.body)},
    )
    assert r.status_code == 200 and r.json()["results"][0]["status"] == "recorded"
    again = the_call(bland.app, call_id)
    assert (record_of(again), again.updated_at, again.data["events"]) == before
    assert bland_deliveries(bland.app) == deliveries_before


# ------------------------------------------------------------------------------------------ the whole chain


class BlandChain:
    """The lead chain on the dev server with the REAL BlandProvider: workers and relay here, the CRM over
    HTTP receiving the sandbox's webhooks and handing the result to the chain itself."""

    def __init__(self, app, client, crm_url: str, sandbox_url: str) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.chain_queue, self.provider_queue = f"chain-bland-{suffix}", f"provider-bland-{suffix}"
        # The result must come by webhook: the chain's own poll would only start after two minutes.
        self.settings = dataclasses.replace(
            FAST, call_result_timeout_s=120, chain_task_queue=self.chain_queue, provider_task_queue=self.provider_queue
        )
        self.app, self.client = app, client
        self.provider = BlandProvider(
            api_key=SANDBOX_KEY, base_url=f"{sandbox_url}/bland", webhook_url=f"{crm_url}/webhooks/bland"
        )
        self.email = FakeEmailSender()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> BlandChain:
        from workers import chain as chain_mod
        from workers.relay import Relay

        self.executor = ThreadPoolExecutor(max_workers=8)
        acts = ProviderActivities(self.app, ProviderRegistry({"bland": self.provider}), self.email)
        seed_campaign(self.app)
        workers = [
            chain_mod.chain_worker(self.client, self.app, self.executor, task_queue=self.chain_queue),
            chain_mod.provider_worker(self.client, acts, self.executor, task_queue=self.provider_queue),
        ]
        relay = Relay(self.app, self.client, self.settings, poll_s=0.1, task_queue=self.chain_queue)
        self._tasks = [asyncio.create_task(chain_mod.worker_runner(w)(self._stop)) for w in workers]
        self._tasks.append(asyncio.create_task(relay.run(self._stop)))
        return self

    async def stop(self) -> None:
        from crm.models import LeadSubmission

        for chain_id in in_db(self.app, lambda: set(db.session.scalars(sa.select(LeadSubmission.chain_id)))):
            try:
                await self.client.get_workflow_handle(chain_id).terminate("test finished")
            except RPCError:
                pass
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)
        self.provider.close()

    def post_lead(self, payload: dict) -> dict:
        body = json.dumps(payload).encode()
        r = self.app.test_client().post(
            "/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body)
        )
        assert r.status_code == 202, r.get_json()
        return r.get_json()

    async def outcome(self, chain_id: str, timeout: float = 30):
        from workflows.payloads import ChainOutcome

        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            handle = self.client.get_workflow_handle(chain_id, result_type=ChainOutcome)
            try:
                return await asyncio.wait_for(
                    handle.result(), timeout=max(0.1, deadline - asyncio.get_running_loop().time())
                )
            except (RPCError, RuntimeError):
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)


@pytest.fixture
async def bland_chain(temporal_env, app, crm_server, sandbox):  # noqa: F811
    # This test's own chain key: its workflow ids never meet another test's chains.
    app.extensions["leadchain.secrets"] = make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex)
    set_settings(app, "providers", sandbox_url=sandbox.url)
    set_settings(app, temporal_address=temporal_env.client.service_client.config.target_host)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    harness = await BlandChain(app, temporal_env.client, crm_server.url, sandbox.url).start()
    yield harness
    await harness.stop()


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_chain_books_through_bland(bland_chain, sandbox):  # noqa: F811
    accepted = bland_chain.post_lead(
        {
            "first_name": "Jürgen",
            "last_name": "Weber",
            "company": "Kfz-Werkstatt Krause GmbH",
            "email": "juergen.weber@kfz-krause.de",
            "phone": "+49 30 23125100",
            "phone_consent": "ja",
            "interest": "Angebot für 5 Standorte",
        }
    )
    outcome = await bland_chain.outcome(accepted["chain_id"])
    assert outcome.stage == "booked"
    assert sandbox.sandbox.state.created["bland"] == 1
    assert bland_chain.email.templates_to(outcome.lead_id) == ["booking_confirmation"]
    call = in_db(
        bland_chain.app,
        lambda: db.session.scalars(sa.select(Interaction).where(Interaction.kind == InteractionKind.CALL)).one(),
    )
    assert (call.provider, call.outcome, call.duration_s, call.status) == ("bland", "booked", 142, "ended")
    assert call.data["final"] and call.data["chain_id"] == accepted["chain_id"]
    assert bland_deliveries(bland_chain.app) == 1
