"""Three own-agent calls at once, end to end (tests/voice/twilio_e2e/conftest.py): the twilio SDK places
each against the sandbox's Twilio, the callee speaks real espeak μ-law over a Media Stream to the real
bridge, the bridge talks to the Realtime stand-in through the openai SDK, the CRM tools write a real
database (SQLite, then PostgreSQL), and the signed status callbacks reach the CRM's real webhook, which
hands the chain one result per call.

* books_tuesday: "Tuesday after 2 pm." → exactly one appointment, on that Tuesday from 14:00;
* barge_in: the callee talks over the opening → Twilio `clear` (the agent's audio stops), then the answer;
* never_call: "Never call me again." → the lead is do-not-contact;

then the same persona through a whole lead chain (webhook → relay → chain and provider workers on the
real Temporal dev server → this call → the outbox → the chain), which ends do-not-contact; then
`leadchain demo-call`'s code books a demo lead over the same stack.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time as time_module
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import date, time, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Appointment, Interaction, Lead, LeadStatus
from crm.tenancy.context import company_scope
from sandbox.call_scripts import SCENARIOS
from sandbox.twilio_media import MediaCallResult
from tests.conftest import TEST_COMPANY_ID, WEBHOOK_SECRETS
from tests.helpers import signed_headers
from tests.voice.twilio.conftest import number, the_call
from tests.voice.twilio_e2e.conftest import BERLIN, Stack, seed_lead
from tests.workflows.conftest import FAST
from tests.workflows.test_worker_kill import lead_payload
from tests.workflows.test_worker_kill_twilio import all_runs_results
from workers import chain as chain_mod
from workers import demo_call, launcher
from workers.relay import Relay
from workflows.payloads import ChainOutcome

TUESDAY = date(2030, 11, 19)  # the Tuesday after the bridge's Monday


@pytest.fixture(scope="module")
def calls(stack: Stack) -> dict[str, dict[str, Any]]:
    """The three scenarios dialled one after another and run concurrently; their ends awaited."""
    placed: dict[str, dict[str, Any]] = {}
    with company_scope(TEST_COMPANY_ID):  # a module fixture runs before the per-test company scope
        place_all(stack, placed)
    for call in placed.values():
        stack.env.wait_ended(call["sid"], timeout_s=45)
        media = stack.env.twilio()[call["sid"]].media
        assert media is not None and media.error is None, media and media.error
        call["media"] = media.result
    return placed


def place_all(stack: Stack, placed: dict[str, dict[str, Any]]) -> None:
    for name in ("books_tuesday", "barge_in", "never_call"):
        phone = number(1)  # "interested": the call is answered (the script says what the callee says)
        stack.sandbox.twilio_scripts[phone] = SCENARIOS[name]
        lead_id = seed_lead(stack.app, phone)
        result, key = stack.env.place(lead_id)
        placed[name] = {"lead_id": lead_id, "sid": result.call_id, "key": key}
        # The bridge passes ids only, so the Realtime stand-in pairs a session with the oldest script no
        # session has claimed: the next call is dialled once this one's greeting has begun (claimed).
        deadline = time_module.monotonic() + 15
        while not stack.sandbox.call_scripts.progress(result.call_id)[0]:
            assert time_module.monotonic() < deadline, f"{name}: the agent never began its greeting"
            time_module.sleep(0.02)


def media_of(calls: dict[str, dict[str, Any]], name: str) -> MediaCallResult:
    media = calls[name]["media"]
    assert isinstance(media, MediaCallResult)
    assert media.error is None and media.ended_by == "caller", (media.error, media.ended_by)
    assert not media.protocol_errors, media.protocol_errors
    return media


def test_every_call_is_reported_once_through_signed_callbacks(stack: Stack, calls: dict[str, dict[str, Any]]):
    results = stack.env.results()
    for call in calls.values():
        record = the_call(stack.app, call["sid"])
        assert record.status == "ended" and record.data["final"] and record.data["call_key"] == call["key"]
        assert "bridge" in record.data, "the bridge wrote no end-of-call record"
        assert [r.call_id for _chain, r in results].count(call["sid"]) == 1
    assert stack.sandbox.state.created["twilio_realtime"] == 3


def test_a_callee_books_inside_tuesday_after_2_pm(stack: Stack, calls: dict[str, dict[str, Any]]):
    media = media_of(calls, "books_tuesday")
    assert [t.text for t in media.turns] == ["Tuesday after 2 pm.", "Yes, please."]
    assert len(media.reply_latencies_ms()) == 2  # the agent answered each turn with audio
    lead_id = calls["books_tuesday"]["lead_id"]

    def crm() -> tuple[list[Appointment], Lead]:
        found = db.session.scalars(sa.select(Appointment).where(Appointment.lead_id == lead_id)).all()
        return list(found), db.session.get(Lead, lead_id)

    appointments, lead = stack.db(crm)
    assert len(appointments) == 1, appointments
    start = appointments[0].starts_at.astimezone(BERLIN)
    end = appointments[0].ends_at.astimezone(BERLIN)
    assert start.date() == TUESDAY and time(14, 0) <= start.time() and end.time() <= time(18, 0), (start, end)
    assert end - start == timedelta(minutes=30)
    assert appointments[0].idempotency_key.startswith(f"{calls['books_tuesday']['sid']}:")  # booked in the call
    assert lead.status == LeadStatus.BOOKED
    record = the_call(stack.app, calls["books_tuesday"]["sid"])
    assert record.outcome == "booked" or (record.data.get("analysis") or {}).get("outcome") == "booked", record.data


def test_a_barge_in_stops_the_agents_audio(stack: Stack, calls: dict[str, dict[str, Any]]):
    media = media_of(calls, "barge_in")
    [turn] = media.turns
    assert turn.barge_in and turn.clear_ms is not None, media.clears
    [latency] = media.clear_latencies_ms()
    # The clear came while the opening still had unplayed audio queued (it dropped bytes), within one
    # batch of the stand-in's VAD (4 voiced frames of 6) plus the bridge's hop.
    dropped = media.clears[0][1]
    assert dropped > 0 and latency < 250, f"clear {latency:.0f} ms after the callee began; {dropped} bytes dropped"
    # No audio of the cut opening after the clear: the next agent audio is the answer, after the callee
    # stopped speaking.
    after = [ms for ms, _n in media.media if ms > turn.clear_ms]
    assert after and turn.ended_ms is not None and min(after) >= turn.ended_ms, (
        f"agent audio {min(after, default=-1):.0f} ms, callee done {turn.ended_ms} ms (clear {latency:.0f} ms)"
    )
    print(f"barge-in: clear {latency:.0f} ms after the callee began to speak; {dropped} unplayed bytes dropped")


def test_never_call_again_makes_the_lead_do_not_contact(stack: Stack, calls: dict[str, dict[str, Any]]):
    media = media_of(calls, "never_call")
    assert [t.text for t in media.turns] == ["Never call me again."]
    lead = stack.db(lambda: db.session.get(Lead, calls["never_call"]["lead_id"]))
    assert lead.do_not_contact and lead.status == LeadStatus.DO_NOT_CONTACT


async def test_never_call_again_ends_the_chain_do_not_contact(stack: Stack, temporal_env):
    """The chain's view: Twilio's `completed` carries no classification, the bridge's record does; the chain
    is handed the bridge's do_not_call once, whichever reached the CRM first, and ends do-not-contact."""
    suffix = uuid.uuid4().hex[:8]
    # The first poll of the provider at 60 s: the result must come through the outbox, not Twilio's look-up.
    settings = dataclasses.replace(
        FAST,
        call_result_timeout_s=60,
        chain_task_queue=f"chain-{suffix}",
        provider_task_queue=f"provider-{suffix}",
    )
    phone = number(1)
    stack.sandbox.twilio_scripts[phone] = SCENARIOS["never_call"]
    client = temporal_env.client
    executor = ThreadPoolExecutor(max_workers=8)
    stop = asyncio.Event()
    workers = [
        chain_mod.chain_worker(client, stack.app, executor, task_queue=settings.chain_task_queue),
        chain_mod.provider_worker(client, stack.env.acts, executor, task_queue=settings.provider_task_queue),
    ]
    relay = Relay(stack.app, client, settings, poll_s=0.1, task_queue=settings.chain_task_queue)
    tasks = [asyncio.create_task(chain_mod.worker_runner(w)(stop)) for w in workers]
    tasks.append(asyncio.create_task(relay.run(stop)))
    chain_id = None
    try:
        body = json.dumps({**lead_payload(1), "email": f"dnc-{suffix}@example.de", "phone": phone}).encode()
        r = stack.app.test_client().post(
            "/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body)
        )
        assert r.status_code == 202, r.get_json()
        chain_id = r.get_json()["chain_id"]
        outcome = await wait_for_outcome(client, chain_id, timeout_s=90)
        assert outcome.stage == "do_not_contact", outcome
        results = await all_runs_results(client, chain_id)
        # One result through the outbox (chain_results also lists polls that brought one, which are not counted).
        assert len([r for r in results if r != "fetch_call_result"]) == 1, results

        def crm() -> tuple[Lead, list[Interaction]]:
            lead = db.session.get(Lead, outcome.lead_id)
            calls = db.session.scalars(sa.select(Interaction).where(Interaction.lead_id == outcome.lead_id)).all()
            return lead, [c for c in calls if c.provider == "twilio_realtime"]

        lead, [call] = stack.db(crm)
        assert lead.do_not_contact and lead.status == LeadStatus.DO_NOT_CONTACT
        assert call.outcome == "do_not_call" and call.data["final"] and "bridge" in call.data
    finally:
        stop.set()
        await asyncio.gather(*tasks, return_exceptions=True)
        executor.shutdown(wait=False, cancel_futures=True)
        stack.sandbox.twilio_scripts.pop(phone, None)
        if chain_id:
            try:
                await client.get_workflow_handle(chain_id).terminate("test finished")
            except Exception:  # noqa: BLE001 - already closed
                pass


async def wait_for_outcome(client: Any, chain_id: str, timeout_s: float) -> ChainOutcome:
    """The chain's end (the relay starts it shortly after the webhook's 202)."""
    deadline = time_module.monotonic() + timeout_s
    while True:
        handle = client.get_workflow_handle(chain_id, result_type=ChainOutcome)
        try:
            left = max(0.1, deadline - time_module.monotonic())
            outcome: ChainOutcome = await asyncio.wait_for(handle.result(), timeout=left)
            return outcome
        except Exception:  # noqa: BLE001 - not started yet
            if time_module.monotonic() > deadline:
                raise
            await asyncio.sleep(0.2)


# ---- `leadchain demo-call` (workers/demo_call.py) over the same parts, and the local stack's wiring ----


def test_demo_call_books_a_demo_lead(stack: Stack):
    seed_lead(stack.app, number(5))  # "no_answer": passed over
    lead_id = seed_lead(stack.app, number(1))
    seed_lead(stack.app, number(6))  # "busy": passed over (the newest)
    lines = list(
        demo_call.place(stack.app, "twilio_realtime", "books_tuesday", stack.env.crm.url, stack.env.box.url, 40)
    )
    assert lines[0].startswith("twilio_realtime call CA") and f"to lead {lead_id} " in lines[0], lines
    assert lines[-1] == f"ended: Twilio completed; the CRM's call record: booked (lead {lead_id})", lines
    booked = stack.db(lambda: db.session.scalars(sa.select(Appointment).where(Appointment.lead_id == lead_id)).all())
    assert len(booked) == 1
    assert stack.db(lambda: db.session.get(Lead, lead_id).status) == "booked"


def test_the_local_stack_wires_the_own_agent(tmp_path: Path):
    secret = "LEADCHAIN_SECRET_BRIDGE_TWILIO_MEDIA_PATH_SECRET"
    made = launcher._new_local_secrets()
    assert made[secret] and made["LEADCHAIN_SECRET_BRIDGE_REALTIME_API_KEY"] == launcher.SANDBOX_OPENAI_KEY
    env = launcher.stack_environment(tmp_path, base={"PATH": "/usr/bin"})
    assert env["LEADCHAIN_BRIDGE_REALTIME_URL"] == f"ws://127.0.0.1:{launcher.REALTIME_PORT}/v1"
    twilio = launcher.twilio_env(env, "127.0.0.1", 5000)
    assert twilio["LEADCHAIN_PUBLIC_URL"] == "http://127.0.0.1:5000"
    assert twilio["LEADCHAIN_TWILIO_STREAM_URL"] == f"ws://127.0.0.1:8765/twilio/media/{env[secret]}"
    [sandbox] = [s for s in launcher.local_services("127.0.0.1", 5000, tmp_path, None) if s.name == "sandbox"]
    assert sandbox.argv[-2:] == ["--realtime-port", str(launcher.REALTIME_PORT)]
    assert launcher.DEMO_CALL == "leadchain demo-call --provider twilio_realtime"
