"""Retell end to end over HTTP: the real retell SDK against the sandbox, the sandbox's signed webhooks
against the CRM served on a real port, and one lead chain on the Temporal dev server."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import time
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import retell as retell_sdk
import sqlalchemy as sa

from activities.provider_activities import ProviderActivities
from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import Campaign, Channel, ConsentRecord, Interaction, InteractionKind, Lead, LegalBasis, WebhookDelivery
from providers.base import CallRequest, ProviderRejected, ProviderUnavailable
from providers.factory import SANDBOX_KEYS, registry
from providers.retell import RetellProvider
from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.personas import BY_LAST_DIGIT, PERSONAS, cost_cents
from sandbox.summary import scripted_summary
from tests.activity_env import activity_env
from tests.conftest import _wipe, make_test_secrets, set_settings
from tests.helpers import in_app
from tests.sandbox_fixtures import ServerThread
from tests.workflows.conftest import FAST, ChainHarness, always_open_policy
from workflows.payloads import PlaceCallInput

KEY = SANDBOX_KEYS["retell"]
FROM = "+4930555000"
STEP_S = 0.15
ADAPTER_ONLY = pytest.mark.parametrize("backend", ["sqlite"])  # the database plays no part


def _target(temporal_env) -> str:
    return temporal_env.client.service_client.config.target_host


@pytest.fixture
def retell(app, crm_server, sandbox, temporal_env):  # noqa: F811
    """The CRM wired to the sandbox: its registry builds the real RetellProvider; a default campaign."""
    set_settings(app, "providers", sandbox_url=sandbox.url)
    set_settings(app, temporal_address=_target(temporal_env))
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    with app.app_context():
        db.session.add(
            Campaign(name="default", provider="retell", agent_id="agent_test", from_number=FROM, is_default=True)
        )
        db.session.commit()
        db.session.remove()
    # Webhooks start a little after the dial answers: place_call's own Interaction insert races an early
    # webhook's (activities/provider_activities.py _placed has no savepoint; Temporal's retry heals it).
    sandbox.sandbox.config.step_s = STEP_S
    provider = registry(app).get("retell")
    assert isinstance(provider, RetellProvider)
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


def _place(app, provider, lead_id: int, chain_id: str = "lead-chain-that-does-not-exist"):
    """The real dial path: the place_call activity with the app's provider registry."""
    acts = ProviderActivities(app, registry(app), None)
    placed = activity_env().run(acts.place_call, PlaceCallInput(lead_id, chain_id, 1, f"{chain_id}:{lead_id}"))
    assert placed.refused is None and placed.provider == "retell"
    return placed


def _call(app, call_id: str) -> Interaction:
    return _db(
        app,
        lambda: db.session.scalars(
            sa.select(Interaction).where(Interaction.provider == "retell", Interaction.provider_ref == call_id)
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


def _number(digit: str, us: bool = False, n: int = 0) -> str:
    return f"+121255501{n}{digit}" if us else f"+4930231251{n}{digit}"


# ---- the adapter against the sandbox -----------------------------------------------------------------


@ADAPTER_ONLY
def test_place_fetch_and_idempotent_dial(retell, sandbox):  # noqa: F811
    # Slow enough to look at the call before it ends (about 3 steps), even on a loaded 2-core box.
    sandbox.sandbox.config.step_s = 1.0
    request = CallRequest(
        lead_id=1,
        chain_id="lead-x",
        idempotency_key="lead-x:call:0:1",
        to_number=_number("0"),
        language="de",
        variables={"first_name": "Dana"},
        agent_id="agent_test",
        from_number=FROM,
    )
    first = retell.place_call(request)
    assert retell.get_call(first.call_id) is None  # still ringing: looked at first, before the other requests
    again = retell.place_call(request)
    assert first.call_id == again.call_id and first.call_id.startswith("call_")
    stats = sandbox.sandbox.state.stats()
    assert stats["created"] == {"retell": 1} and stats["create_requests"] == {"retell": 2}
    sent = sandbox.sandbox.state.get("retell", first.call_id).request
    assert sent["metadata"] == {"lead_id": "1", "chain_id": "lead-x", "idempotency_key": "lead-x:call:0:1"}
    assert sent["retell_llm_dynamic_variables"] == {"first_name": "Dana", "language": "de"}
    assert sent["override_agent_id"] == "agent_test"

    # The Idempotency-Key header is honoured as well as the body field.
    raw = {"from_number": FROM, "to_number": _number("1")}
    answers = [
        httpx.post(
            f"{sandbox.url}/retell/v2/create-phone-call",
            json=raw,
            headers={"Authorization": f"Bearer {KEY}", "Idempotency-Key": "hdr-1"},
        )
        for _ in range(2)
    ]
    assert [a.status_code for a in answers] == [201, 201]
    assert answers[0].json()["call_id"] == answers[1].json()["call_id"]
    assert answers[0].json()["call_status"] == "registered"
    assert sandbox.sandbox.state.stats()["created"] == {"retell": 2}

    assert retell.find_call("lead-x:call:0:1").call_id == first.call_id
    assert retell.find_call("lead-x:call:0:2") is None
    assert sandbox.sandbox.dispatcher.idle(15)
    result = retell.get_call(first.call_id)
    assert (result.status, result.answered, result.classification, result.duration_s) == (
        "completed",
        True,
        "booked",
        142,
    )
    assert result.event_id == f"retell:{first.call_id}"


@ADAPTER_ONLY
def test_errors_are_mapped_and_create_is_not_retried(retell, sandbox):  # noqa: F811
    request = CallRequest(
        lead_id=1, chain_id="lead-y", idempotency_key="k-503", to_number=_number("1"), language="de", from_number=FROM
    )
    httpx.post(
        f"{sandbox.url}/sandbox/faults", json={"provider": "retell", "status": 503, "count": 1, "retry_after_s": 7}
    )
    with pytest.raises(ProviderUnavailable) as unavailable:
        retell.place_call(request)
    assert unavailable.value.retry_after_s == 7
    assert sandbox.sandbox.state.stats()["create_requests"] == {"retell": 1}  # exactly one POST: no SDK retry
    with pytest.raises(ProviderRejected):
        retell.place_call(
            CallRequest(
                lead_id=1,
                chain_id="lead-y",
                idempotency_key="k-bad",
                to_number="030 1234",
                language="de",
                from_number=FROM,
            )
        )
    with pytest.raises(retell_sdk.BadRequestError):  # dynamic variables are strings only (the adapter converts)
        retell.client.call.create_phone_call(
            from_number=FROM, to_number=_number("1"), retell_llm_dynamic_variables={"seats": 5}
        )
    wrong_key = RetellProvider(api_key="key_wrong", base_url=f"{sandbox.url}/retell")
    with pytest.raises(ProviderRejected):
        wrong_key.place_call(request)
    assert sandbox.sandbox.state.stats()["created"] == {}


@ADAPTER_ONLY
def test_list_pages_and_delete(retell, sandbox):  # noqa: F811
    ids = [
        retell.place_call(
            CallRequest(
                lead_id=1,
                chain_id="c",
                idempotency_key=f"k{i}",
                to_number=_number(str(i)),
                language="en",
                from_number=FROM,
            )
        ).call_id
        for i in range(3)
    ]
    first = retell.client.call.list(limit=2, sort_order="ascending")
    assert first.has_more and [c.call_id for c in first.items] == ids[:2]
    rest = retell.client.call.list(limit=2, sort_order="ascending", pagination_key=first.pagination_key)
    assert not rest.has_more and [c.call_id for c in rest.items] == ids[2:]
    retell.delete_call(ids[0])
    retell.delete_call(ids[0])  # already erased: not an error
    assert retell.get_call(ids[0]) is None
    assert retell.find_call("k0") is None and retell.find_call("k1").call_id == ids[1]


# ---- every persona's outcome reaches the CRM --------------------------------------------------------------


def _expected(digit: str, language: str) -> dict:
    persona = PERSONAS[BY_LAST_DIGIT[digit]]
    return {
        "status": "ended",
        "outcome": persona.classification or persona.end_status,
        "duration_s": persona.duration_s,
        "cost_cents": cost_cents(persona.duration_s),
        "sentiment": persona.sentiment,
        "summary": scripted_summary(persona, language) or None,
        "transcript": [{"speaker": s, "text": t} for s, t in persona.transcript[language]],
        "answered": persona.answered,
        "end_status": persona.end_status,
        "final": True,
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
    }


def test_every_persona_outcome_reaches_the_crm(app, retell, sandbox):  # noqa: F811
    placed = {}
    for digit in "0123456789":
        us = digit in "13579"  # odd digits: US numbers, English calls
        placed[digit] = (_place(app, retell, _seed_lead(app, _number(digit, us))), "en" if us else "de")
    assert sandbox.sandbox.dispatcher.idle(20)
    for digit, (call, language) in placed.items():
        record = _call(app, call.call_id)
        assert _record(record) == _expected(digit, language), digit
        assert record.currency == "USD" and record.started_at is not None and record.ended_at is not None
    # Every delivery was accepted at once, though none of these chains exists in Temporal (ended chains too).
    sent = sandbox.sandbox.dispatcher.sent
    assert len(sent) == 10 * 3 - 2 and all(d.attempts == [200] for d in sent)
    # The wire shape (docs/providers.md §1.5): no call_started for calls nobody picked up; analysis only at the end.
    events: dict[str, dict[str, dict]] = {}
    for delivery in sent:
        payload = json.loads(delivery.body)
        events.setdefault(payload["call"]["call_id"], {})[payload["event"]] = payload["call"]
    for digit, (call, _) in placed.items():
        seen = events[call.call_id]
        unanswered = BY_LAST_DIGIT[digit] in ("no_answer", "busy")
        assert set(seen) == (
            {"call_ended", "call_analyzed"} if unanswered else {"call_started", "call_ended", "call_analyzed"}
        ), digit
        assert "call_analysis" not in seen["call_ended"] and "duration_ms" in seen["call_ended"]
        assert seen["call_analyzed"]["call_analysis"]["user_sentiment"][0].isupper()


# ---- webhook security -----------------------------------------------------------------------------------


def _signature(body: bytes, key: str = KEY, ts_ms: int | None = None) -> str:
    ts_ms = int(time.time() * 1000) if ts_ms is None else ts_ms
    return f"v={ts_ms},d={hmac.new(key.encode(), body + str(ts_ms).encode(), hashlib.sha256).hexdigest()}"


def _event_body(lead_id: int, call_id: str = "call_forged0001") -> bytes:
    call = {
        "call_type": "phone_call",
        "call_id": call_id,
        "agent_id": "agent_test",
        "call_status": "ended",
        "direction": "outbound",
        "from_number": FROM,
        "to_number": _number("0"),
        "metadata": {"lead_id": str(lead_id), "chain_id": "lead-nope", "idempotency_key": "k"},
        "start_timestamp": 1767632340000,
        "end_timestamp": 1767632400000,
        "duration_ms": 60000,
        "disconnection_reason": "user_hangup",
        "transcript": "Agent: Hallo.\nUser: Ja, gern – Termin?\n",
        "call_analysis": {
            "call_summary": "Termin gebucht.",
            "user_sentiment": "Positive",
            "custom_analysis_data": {"outcome": "booked"},
        },
    }
    return json.dumps({"event": "call_analyzed", "call": call}, separators=(",", ":"), ensure_ascii=False).encode()


def test_bad_signatures_store_nothing(app, retell, crm_server):  # noqa: F811
    lead_id = _seed_lead(app, _number("0"))
    body = _event_body(lead_id)
    now = int(time.time() * 1000)
    tampered = body.replace(b"Termin gebucht", b"Termin gebuchT")
    cases = {
        "forged": (body, {"X-Retell-Signature": _signature(body, key="key_someone_else")}),
        "stale": (body, {"X-Retell-Signature": _signature(body, ts_ms=now - 6 * 60 * 1000)}),
        "future": (body, {"X-Retell-Signature": _signature(body, ts_ms=now + 6 * 60 * 1000)}),
        "missing": (body, {}),
        "one byte changed": (tampered, {"X-Retell-Signature": _signature(body)}),
        "uppercase hex": (
            body,
            {"X-Retell-Signature": re.sub(r"d=(\w+)", lambda m: "d=" + m[1].upper(), _signature(body))},
        ),
        "seconds": (body, {"X-Retell-Signature": _signature(body, ts_ms=now // 1000)}),
    }
    before = _counts(app)
    for name, (data, headers) in cases.items():
        r = httpx.post(
            f"{crm_server.url}/webhooks/retell", content=data, headers={"Content-Type": "application/json", **headers}
        )
        assert r.status_code == 401, name
        assert _counts(app) == before, name
    # Signed but not JSON: 415 when not sent as JSON, 400 when it is; nothing stored either way.
    junk = b"{not json"
    r = httpx.post(f"{crm_server.url}/webhooks/retell", content=junk, headers={"X-Retell-Signature": _signature(junk)})
    assert r.status_code == 415 and _counts(app) == before
    r = httpx.post(
        f"{crm_server.url}/webhooks/retell",
        content=junk,
        headers={"Content-Type": "application/json", "X-Retell-Signature": _signature(junk)},
    )
    assert r.status_code == 400 and _counts(app) == before
    # The control: the same body, properly signed, is stored (and its chain, which does not exist, is no error).
    r = httpx.post(
        f"{crm_server.url}/webhooks/retell",
        content=body,
        headers={"Content-Type": "application/json", "X-Retell-Signature": _signature(body)},
    )
    assert r.status_code == 200, r.text
    assert _counts(app) == (before[0] + 1, before[1] + 1)
    call = _call(app, "call_forged0001")
    assert call.outcome == "booked" and call.duration_s == 60 and call.sentiment == "positive"
    assert [t["speaker"] for t in call.transcript] == ["agent", "callee"]
    # A replay of the same delivery (fresh signature) changes nothing.
    r = httpx.post(
        f"{crm_server.url}/webhooks/retell",
        content=body,
        headers={"Content-Type": "application/json", "X-Retell-Signature": _signature(body)},
    )
    assert r.status_code == 200 and _counts(app) == (before[0] + 1, before[1] + 1)


# ---- duplicated and reordered deliveries ----------------------------------------------------------------


def _projection(call: Interaction) -> dict:
    record = _record(call)
    data = dict(call.data)
    record.update(
        analysis=data.get("analysis"),
        stage=data.get("stage"),
        currency=call.currency,
        recording=bool(call.recording_url),
        events=sorted(e.split(":")[0] for e in data.get("events", [])),
    )
    return record


def test_duplicated_and_reordered_deliveries_end_like_a_clean_run(app, retell, sandbox):  # noqa: F811
    digits = ("0", "5", "7")  # answered, never connected (call_ended is final too), voicemail
    placed: dict[str, dict] = {}
    for n, mode in enumerate([{}, {"duplicate": 2}, {"reorder": True}, {"duplicate": 1, "reorder": True}]):
        # A call takes the webhook mode in force when it is created: the four runs overlap.
        httpx.post(f"{sandbox.url}/sandbox/webhook-mode", json={"provider": "retell", **mode}).raise_for_status()
        placed[json.dumps(mode)] = {d: _place(app, retell, _seed_lead(app, _number(d, n=n))) for d in digits}
    assert sandbox.sandbox.dispatcher.idle(20)
    runs = {
        mode: {d: _projection(_call(app, call.call_id)) for d, call in calls.items()} for mode, calls in placed.items()
    }
    clean = runs.pop("{}")
    for digit in digits:
        persona = PERSONAS[BY_LAST_DIGIT[digit]]
        assert clean[digit]["final"] and clean[digit]["outcome"] == (persona.classification or persona.end_status)
    for mode, records in runs.items():
        assert records == clean, mode
    deliveries = _db(app, lambda: db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)))
    assert deliveries == 4 * (3 + 2 + 3)  # one per (event, call), however often it was sent


# ---- one lead chain with the real provider ----------------------------------------------------------------


@pytest.fixture
async def retell_chain(temporal_env, migrated_urls):  # noqa: F811
    """tests/workflows' ChainHarness, with the real RetellProvider instead of the fake, the CRM on a real
    port, and the sandbox's webhooks delivering the results to the chains."""
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
            set_settings(app, "providers", sandbox_url=sandbox_server.url)
            sandbox_app.extensions["sandbox"].config.step_s = STEP_S
            harness = ChainHarness(app, temporal_env.client, FAST)
            harness.provider = RetellProvider(api_key=KEY, base_url=f"{sandbox_server.url}/retell")
            harness.deliver_webhooks = False  # the sandbox does it, through the CRM's webhook
            harness.sandbox = sandbox_app.extensions["sandbox"]
            await harness.start()
            try:
                yield harness
            finally:
                await harness.stop()
    _wipe(app)


LEAD = {
    "first_name": "Jürgen",
    "last_name": "Weber",
    "company": "Kfz-Werkstatt Krause GmbH",
    "phone_consent": "ja",
    "interest": "Angebot für 5 Standorte",
}


async def test_chain_with_real_retell(retell_chain):
    booked = retell_chain.post_lead({**LEAD, "email": "juergen@krause.de", "phone": "+49 30 23125100"})
    refused = retell_chain.post_lead(
        {**LEAD, "last_name": "Krause", "email": "anna@krause.de", "phone": "+49 30 23125103"}
    )
    started = time.monotonic()
    outcomes = await asyncio.gather(retell_chain.outcome(booked["chain_id"]), retell_chain.outcome(refused["chain_id"]))
    # The webhooks, not the poll after call_result_timeout_s, told the chains.
    assert time.monotonic() - started < FAST.call_result_timeout_s
    assert [o.stage for o in outcomes] == ["booked", "do_not_contact"]
    assert retell_chain.sandbox.state.stats()["created"] == {"retell": 2}

    def calls():
        return {
            c.lead_id: c
            for c in db.session.scalars(sa.select(Interaction).where(Interaction.kind == InteractionKind.CALL))
        }

    by_lead = retell_chain.db(calls)
    assert by_lead[outcomes[0].lead_id].outcome == "booked" and by_lead[outcomes[0].lead_id].data["final"]
    assert by_lead[outcomes[1].lead_id].outcome == "do_not_call" and by_lead[outcomes[1].lead_id].transcript
    assert retell_chain.email.templates_to(outcomes[0].lead_id) == ["booking_confirmation"]
    lead = retell_chain.db(lambda: db.session.get(Lead, outcomes[1].lead_id))
    assert lead.do_not_contact
