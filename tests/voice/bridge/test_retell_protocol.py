"""The bridge speaking Retell's Custom LLM WebSocket (docs/providers.md §1.8; docs/voice-bridge.md §V1, §V3, §V4,
§V7, §V8): scripted Retell event sequences played over a real socket against a running bridge."""

from __future__ import annotations

import asyncio
import json
import time

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from tests.voice.bridge.conftest import (
    DISCLOSURE,
    REMINDER,
    RETELL_SECRETS,
    FakeBackend,
    RetellPeer,
    ScriptPolicy,
    call_details,
    turns,
)
from tests.voice.content_timing import CONTENT_TIMING
from voice.bridge.crm_tools import filler_text


async def opened(bridge, call_id: str, *, details: bool = True, status: str = "registered") -> RetellPeer:
    """Connect, check the config frame, send call_details (unless told not to)."""
    peer = await RetellPeer.open(bridge.retell_url(call_id))
    config = await peer.recv()
    assert config == {
        "response_type": "config",
        "config": {"auto_reconnect": True, "call_details": True, "transcript_with_tool_calls": True},
    }
    if details:
        await peer.send(interaction_type="call_details", call=call_details(call_id, status))
    return peer


def metric(text: str, name: str, **labels) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in labels.items())
    for line in text.splitlines():
        if line.startswith(f"{name}{{{wanted}}}" if labels else f"{name} "):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


async def metrics_text(bridge) -> str:
    async with httpx.AsyncClient() as client:
        return (await client.get(bridge.metrics_url)).text


async def test_config_then_begin_message_with_the_callee_from_call_details(start_bridge):
    bridge = await start_bridge()
    peer = await opened(bridge, "call_begin1")
    text, final, frames = await peer.response(0)
    assert text == DISCLOSURE.format(name="Dana")
    assert len(frames) >= 3 and all(not f["content_complete"] for f in frames[:-1])
    assert final["content_complete"] is True and "end_call" not in final
    # The lead was looked up with the call's metadata.
    assert bridge.backend.lookups == [("call_begin1", "retell", {"lead_id": "7", "chain_id": "chain-7"})]
    await peer.close()


async def test_begin_message_without_call_details_looks_the_lead_up_by_call_id(start_bridge):
    bridge = await start_bridge()
    peer = await opened(bridge, "call_nodetails", details=False)
    started = time.monotonic()
    text, _, _ = await peer.response(0)
    assert text.startswith("Hallo Dana")
    assert time.monotonic() - started >= 0.25  # waited (call_details_wait_s 0.3) for call_details
    assert bridge.backend.lookups == [("call_nodetails", "retell", {})]
    await peer.close()


async def test_ping_pong_is_echoed_and_update_only_gets_no_answer(start_bridge):
    bridge = await start_bridge()
    peer = await opened(bridge, "call_ping")
    await peer.response(0)
    await peer.send(interaction_type="ping_pong", timestamp=1703302407333)
    assert await peer.recv() == {"response_type": "ping_pong", "timestamp": 1703302407333}
    await peer.send(
        interaction_type="update_only", transcript=turns(("agent", "Hallo"), ("user", "Ja?")), turntaking="agent_turn"
    )
    assert await peer.silent_for(0.3)
    await peer.close()


async def test_response_required_is_streamed_in_chunks_and_timed(start_bridge):
    bridge = await start_bridge()
    peer = await opened(bridge, "call_stream")
    begin, _, _ = await peer.response(0)
    transcript = turns(("agent", begin), ("user", "Ja, am Apparat."))
    await peer.send(interaction_type="response_required", response_id=1, transcript=transcript)
    text, final, frames = await peer.response(1)
    assert text == "Sie sagten: Ja, am Apparat.. Das war Ihre 1. Antwort."
    assert [f["content_complete"] for f in frames] == [False, False, True]
    assert final.get("end_call") is None
    body = await metrics_text(bridge)
    assert metric(body, "leadchain_bridge_turn_seconds_count", provider="retell") == 1
    assert metric(body, "leadchain_bridge_sessions_total", provider="retell") == 1
    # The bridge's own time is in the histogram; a rules-like policy answers in milliseconds.
    assert metric(body, "leadchain_bridge_turn_seconds_sum", provider="retell") < 0.2
    await peer.close()


async def test_a_newer_response_id_supersedes_the_running_stream(start_bridge):
    bridge = await start_bridge(policy=ScriptPolicy(chunk_delay_s=0.4))
    peer = await opened(bridge, "call_supersede")
    await peer.response(0)
    await peer.send(
        interaction_type="response_required",
        response_id=1,
        transcript=turns(("agent", "Hallo"), ("user", "Erste Frage")),
    )
    first = await peer.recv()
    assert first["response_id"] == 1 and first["content_complete"] is False
    # The callee goes on talking: Retell asks again before response 1 is complete.
    await peer.send(
        interaction_type="response_required",
        response_id=2,
        transcript=turns(("agent", "Hallo"), ("user", "Erste Frage und noch etwas")),
    )
    text, _, frames = await peer.response(2)
    assert {f["response_id"] for f in frames} == {2}, "a chunk of the old response followed the new request"
    assert text.startswith("Sie sagten: Erste Frage und noch etwas")
    assert await peer.silent_for(0.6)  # and nothing of 1 arrives later either
    body = await metrics_text(bridge)
    assert metric(body, "leadchain_bridge_superseded_responses_total", provider="retell") == 1
    await peer.close()


async def test_an_older_response_id_arriving_late_is_ignored(start_bridge):
    bridge = await start_bridge()
    peer = await opened(bridge, "call_late")
    await peer.response(0)
    await peer.send(interaction_type="response_required", response_id=5, transcript=turns(("user", "A")))
    await peer.response(5)
    await peer.send(interaction_type="response_required", response_id=4, transcript=turns(("user", "B")))
    assert await peer.silent_for(0.3)
    await peer.close()


async def test_two_reminders_get_re_prompts_then_the_call_ends(start_bridge):
    bridge = await start_bridge()
    peer = await opened(bridge, "call_silent")
    begin, _, _ = await peer.response(0)
    history = [("agent", begin), ("user", "Ja?")]
    await peer.send(interaction_type="response_required", response_id=1, transcript=turns(*history))
    answer, _, _ = await peer.response(1)
    history.append(("agent", answer))
    for response_id in (2, 3):
        await peer.send(interaction_type="reminder_required", response_id=response_id, transcript=turns(*history))
        text, final, _ = await peer.response(response_id)
        assert text == REMINDER and not final.get("end_call")
        history.append(("agent", text))
    await peer.send(interaction_type="reminder_required", response_id=4, transcript=turns(*history))
    text, final, _ = await peer.response(4)
    assert final["end_call"] is True and "Wiederhören" in text
    await peer.close()


async def test_reconnect_mid_call_continues_the_same_call(start_bridge):
    bridge = await start_bridge(policy=ScriptPolicy(chunk_delay_s=0.2))
    peer = await opened(bridge, "call_reconnect")
    begin, _, _ = await peer.response(0)
    history = [("agent", begin), ("user", "Ja, am Apparat.")]
    await peer.send(interaction_type="response_required", response_id=1, transcript=turns(*history))
    answer, _, _ = await peer.response(1)
    history += [("agent", answer), ("user", "Worum geht es?")]
    await peer.send(interaction_type="response_required", response_id=2, transcript=turns(*history))
    await peer.recv()  # the first chunk of 2 ... and then the line drops
    peer.ws.transport.abort()

    # Retell reconnects to the same URL; call_details now says the call is ongoing.
    again = await opened(bridge, "call_reconnect", status="ongoing")
    text, final, _ = await again.response(0)
    assert text == "" and final["content_complete"] is True  # no second introduction
    await again.send(interaction_type="response_required", response_id=3, transcript=turns(*history))
    text, _, _ = await again.response(3)
    assert text == "Sie sagten: Worum geht es?. Das war Ihre 2. Antwort."  # from the transcript, not memory
    # The second session was a new lookup, not state carried over.
    assert [c for c, _, _ in bridge.backend.lookups] == ["call_reconnect", "call_reconnect"]
    await again.close()


async def test_reconnect_without_call_details_is_recognised_by_the_transcript(start_bridge):
    bridge = await start_bridge()
    peer = await opened(bridge, "call_reconnect2", details=False)
    await peer.send(interaction_type="update_only", transcript=turns(("agent", "Hallo Dana ..."), ("user", "Ja")))
    text, final, _ = await peer.response(0)
    assert text == "" and final["content_complete"] is True
    await peer.close()


async def test_a_request_before_the_begin_message_is_answered_and_no_stale_begin_follows(start_bridge):
    bridge = await start_bridge()
    peer = await opened(bridge, "call_early", details=False)
    await peer.send(interaction_type="response_required", response_id=1, transcript=turns(("user", "Hallo?")))
    text, _, frames = await peer.response(1)
    assert text.startswith("Sie sagten: Hallo?") and all(f.get("response_id") == 1 for f in frames)
    assert await peer.silent_for(0.5)
    await peer.close()


@pytest.mark.parametrize("secret", ["wrong-secret", RETELL_SECRETS[0][:-1], ""])
async def test_a_wrong_path_secret_is_closed_with_1008(start_bridge, secret):
    bridge = await start_bridge()
    if not secret:
        with pytest.raises(InvalidStatus):  # /llm-websocket/<call_id> alone matches no route
            await RetellPeer.open(f"{bridge.server.ws_url}/llm-websocket/call_x")
        return
    peer = await RetellPeer.open(bridge.retell_url("call_x", secret=secret))
    with pytest.raises(ConnectionClosed) as closed:
        await peer.recv()
    assert closed.value.rcvd.code == 1008 and peer.frames == []
    body = await metrics_text(bridge)
    assert metric(body, "leadchain_bridge_auth_failures_total", provider="retell") == 1
    assert bridge.backend.lookups == []


async def test_both_secrets_of_a_rotation_are_accepted(start_bridge):
    bridge = await start_bridge()
    for secret in RETELL_SECRETS:
        peer = await RetellPeer.open(bridge.retell_url(f"call_rot{len(secret)}{secret[:3]}", secret=secret))
        assert (await peer.recv())["response_type"] == "config"
        await peer.close()


async def test_a_binary_frame_is_closed_with_1007(start_bridge):
    bridge = await start_bridge()
    peer = await opened(bridge, "call_binary")
    await peer.response(0)
    await peer.ws.send(b"\x00\x01")
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await peer.recv()
    assert closed.value.rcvd.code == 1007


async def test_agent_interrupt_is_pushed_and_cancels_the_response_in_flight(start_bridge):
    bridge = await start_bridge(policy=ScriptPolicy(chunk_delay_s=0.4))
    peer = await opened(bridge, "call_interrupt")
    await peer.response(0)
    await peer.send(interaction_type="response_required", response_id=1, transcript=turns(("user", "Frage")))
    assert (await peer.recv())["response_id"] == 1
    assert await bridge.bridge.interrupt("call_interrupt", "Der Termin ist jetzt bestätigt.")
    frame = await peer.recv()
    assert frame["response_type"] == "agent_interrupt" and frame["content"] == "Der Termin ist jetzt bestätigt."
    assert frame["content_complete"] is True and isinstance(frame["interrupt_id"], int)
    assert await peer.silent_for(0.6)  # response 1 does not go on after the interrupt
    assert await bridge.bridge.interrupt("no_such_call", "x") is False
    second = await bridge.bridge.interrupt("call_interrupt", "Noch etwas.")
    assert second and (await peer.recv())["interrupt_id"] > frame["interrupt_id"]
    await peer.close()


async def test_a_slow_tool_gets_a_filler_and_tool_calls_are_recorded(start_bridge):
    bridge = await start_bridge(backend=FakeBackend(latency={"find_slots": 0.6}))
    peer = await opened(bridge, "call_filler")
    await peer.response(0)
    sent = time.perf_counter()
    await peer.send(
        interaction_type="response_required", response_id=1, transcript=turns(("user", "Ich hätte gern einen Termin"))
    )
    first = await peer.recv()
    waited = time.perf_counter() - sent
    assert first["content"] == filler_text("de") and not first["content_complete"]
    assert first["content"].startswith("Einen Moment, ich schaue kurz in den Kalender")
    assert 0.35 <= waited < 0.6
    text, _, frames = await peer.response(1)
    kinds = [f["response_type"] for f in frames]
    assert kinds.index("tool_call_invocation") < kinds.index("tool_call_result") < len(kinds) - 1
    invocation = frames[kinds.index("tool_call_invocation")]
    assert invocation["name"] == "book_appointment" and "start" in json.loads(invocation["arguments"])
    assert frames[kinds.index("tool_call_result")] == {
        "response_type": "tool_call_result",
        "tool_call_id": "tc_book",
        "content": "booked",
        "successful": True,
    }
    assert text.endswith("Termin booked.")
    await asyncio.sleep(0.05)
    assert bridge.notifications.sent == [("chain-7", "call_filler", 101)]
    body = await metrics_text(bridge)
    assert metric(body, "leadchain_bridge_fillers_total", tool="find_slots") == 1
    await peer.close()


async def test_a_fast_tool_gets_no_filler(start_bridge):
    bridge = await start_bridge(backend=FakeBackend(latency={"find_slots": 0.05}))
    peer = await opened(bridge, "call_fast")
    await peer.response(0)
    await peer.send(interaction_type="response_required", response_id=1, transcript=turns(("user", "Termin bitte")))
    text, _, _ = await peer.response(1)
    assert "Moment" not in text and text == "Termin booked."
    await peer.close()


async def test_past_the_hard_timeout_the_policy_falls_back_and_a_late_booking_still_reaches_the_chain(start_bridge):
    bridge = await start_bridge(backend=FakeBackend(latency={"book": 1.2}), filler_after_s=0.2, tool_timeout_s=0.6)
    peer = await opened(bridge, "call_timeout")
    await peer.response(0)
    sent = time.perf_counter()
    await peer.send(interaction_type="response_required", response_id=1, transcript=turns(("user", "Termin bitte")))
    text, _, frames = await peer.response(1)
    elapsed = time.perf_counter() - sent
    assert text == filler_text("de") + "Ich bestätige Ihnen den Termin per E-Mail."
    assert 0.55 <= elapsed < 1.0
    body = await metrics_text(bridge)
    assert metric(body, "leadchain_bridge_tool_timeouts_total", tool="book") == 1
    # The booking thread finished later: the appointment exists, so the chain hears of it.
    for _ in range(40):
        if bridge.notifications.sent:
            break
        await asyncio.sleep(0.05)
    assert bridge.notifications.sent == [("chain-7", "call_timeout", 101)]
    await peer.close()


async def test_a_replayed_turn_books_once(start_bridge):
    bridge = await start_bridge()
    transcript = turns(("agent", "Hallo"), ("user", "Ein Termin am Donnerstag"))
    for attempt in range(2):  # the same turn after a reconnect
        peer = await opened(bridge, "call_replay", status="ongoing" if attempt else "registered")
        await peer.response(0)
        await peer.send(interaction_type="response_required", response_id=1, transcript=transcript)
        text, _, _ = await peer.response(1)
        assert text == ("Termin booked." if attempt == 0 else "Termin already_booked.")
        await peer.close()
    assert len(bridge.backend.bookings) == 1


async def test_shutdown_closes_open_sessions_with_going_away(start_bridge):
    bridge = await start_bridge()
    peer = await opened(bridge, "call_shutdown")
    await peer.response(0)
    stopping = asyncio.create_task(bridge.server.stop())
    with pytest.raises(ConnectionClosed) as closed:
        while True:
            await peer.recv()
    assert closed.value.rcvd.code == 1001
    await stopping


async def test_metrics_are_on_the_internal_port_only(start_bridge):
    bridge = await start_bridge()
    async with httpx.AsyncClient() as client:
        assert (await client.get(f"{bridge.url}/metrics")).status_code == 404
        assert (await client.get(f"{bridge.url}/healthz")).json()["status"] == "ok"
        assert "leadchain_bridge_turn_seconds" in (await client.get(bridge.metrics_url)).text


async def test_a_replayed_turn_books_one_appointment_in_the_crm(start_bridge, app):
    """The real booking.py: the same turn twice (a reconnect replays it) leaves exactly one appointment."""
    import sqlalchemy as sa

    from crm.extensions import db
    from crm.models import Appointment, Lead, Role, User

    with app.app_context():
        rep = User(email="anna@leadchain.example", name="Anna", role=Role.SALES, timezone="Europe/Berlin")
        db.session.add(rep)
        db.session.flush()
        lead = Lead(
            first_name="Dana",
            last_name="Weber",
            company="Krause GmbH",
            email="dana@krause.example",
            phone_e164="+493023125190",
            language="de",
            source="website",
            owner_id=rep.id,
            chain_id="chain-replay",
        )
        db.session.add(lead)
        db.session.commit()
        lead_id = lead.id
        db.session.remove()
    bridge = await start_bridge(app=app, **CONTENT_TIMING)
    peer = await RetellPeer.open(bridge.retell_url("call_crm_replay"))
    await peer.recv()
    await peer.send(
        interaction_type="call_details",
        call=call_details("call_crm_replay", lead_id=str(lead_id), chain_id="chain-replay"),
    )
    begin, _, _ = await peer.response(0)
    assert begin.startswith("Hallo Dana")
    history = [("agent", begin), ("user", "Ein Angebot bitte")]
    await peer.send(interaction_type="response_required", response_id=1, transcript=turns(*history))
    offer, _, _ = await peer.response(1)
    history += [("agent", offer), ("user", "Ja")]
    answers = []
    for attempt in range(2):
        if attempt:  # the line dropped after the booking; Retell reconnects and asks again
            peer = await RetellPeer.open(bridge.retell_url("call_crm_replay"))
            await peer.recv()
            await peer.send(
                interaction_type="call_details",
                call=call_details("call_crm_replay", "ongoing", lead_id=str(lead_id), chain_id="chain-replay"),
            )
            assert (await peer.response(0))[0] == ""
        await peer.send(interaction_type="response_required", response_id=2 + attempt, transcript=turns(*history))
        answers.append((await peer.response(2 + attempt))[0])
        await peer.close()
    assert answers == ["Termin booked.", "Termin already_booked."]
    with app.app_context():
        appointments = db.session.scalars(sa.select(Appointment)).all()
        assert len(appointments) == 1 and appointments[0].lead_id == lead_id
        db.session.remove()
    await asyncio.sleep(0.05)
    # Both turns told the chain (a signal is idempotent); the appointment is the same one.
    assert {n[2] for n in bridge.notifications.sent} == {appointments[0].id}


async def test_a_booking_of_a_superseded_turn_still_reaches_the_chain(start_bridge):
    bridge = await start_bridge(backend=FakeBackend(latency={"book": 0.5}), filler_after_s=2.0)
    peer = await opened(bridge, "call_superseded_booking")
    await peer.response(0)
    await peer.send(interaction_type="response_required", response_id=1, transcript=turns(("user", "Termin bitte")))
    await asyncio.sleep(0.2)  # the booking thread is running
    await peer.send(
        interaction_type="response_required",
        response_id=2,
        transcript=turns(("user", "Termin bitte"), ("user", "und noch etwas")),
    )
    text, _, _ = await peer.response(2)
    assert text.startswith("Sie sagten: und noch etwas")
    for _ in range(40):
        if bridge.notifications.sent:
            break
        await asyncio.sleep(0.05)
    assert bridge.notifications.sent == [("chain-7", "call_superseded_booking", 101)]
    await peer.close()
