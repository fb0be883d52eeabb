"""The OpenAI Realtime stand-in with the real openai SDK (AsyncOpenAI(websocket_base_url=...) and
client.realtime.connect): every server event read here is validated against the SDK's GA event types."""

from __future__ import annotations

import base64
import json

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from sandbox import speech
from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.call_scripts import script_for
from sandbox.personas import PERSONAS
from tests.sandbox_realtime.helpers import BOOKING, PCMU_SESSION, append, client_for, events_until, types

SPEECH_END_TOLERANCE_MS = 160


async def _session(conn, **changes):
    await events_until(conn, "session.created")
    await conn.session.update(session={**PCMU_SESSION, **changes})
    return (await events_until(conn, "session.updated"))[-1]["session"]


async def test_session_update_round_trip(realtime):
    async with client_for(realtime).realtime.connect(model="gpt-realtime") as conn:
        created = (await events_until(conn, "session.created"))[-1]["session"]
        assert created["audio"]["input"]["format"] == {"type": "audio/pcm", "rate": 24000}
        await conn.session.update(session=PCMU_SESSION)
        session = (await events_until(conn, "session.updated"))[-1]["session"]
        assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
        assert session["audio"]["output"]["voice"] == "marin"
        assert session["audio"]["input"]["turn_detection"]["silence_duration_ms"] == 500
        assert session["audio"]["input"]["turn_detection"]["interrupt_response"] is True  # default kept
        assert [t["name"] for t in session["tools"]] == ["find_slots"]
        assert session["model"] == "gpt-realtime"


@pytest.mark.parametrize(
    ("session", "code", "param"),
    [
        ({"type": "realtime", "input_audio_format": "g711_ulaw"}, "unknown_parameter", "session.input_audio_format"),
        ({"instructions": "hi"}, "missing_required_parameter", "session.type"),
        (
            {"type": "realtime", "audio": {"input": {"format": {"type": "g711_ulaw"}}}},
            "invalid_value",
            "session.audio.input.format.type",
        ),
        (
            {"type": "realtime", "audio": {"input": {"turn_detection": {"type": "server_vad", "threshold": 1.5}}}},
            "invalid_value",
            "session.audio.input.turn_detection.threshold",
        ),
        ({"type": "realtime", "audio": {"output": {"voice": "robot"}}}, "invalid_value", "session.audio.output.voice"),
    ],
)
async def test_bad_session_update_is_an_error_event(realtime, session, code, param):
    async with client_for(realtime).realtime.connect(model="gpt-realtime") as conn:
        await events_until(conn, "session.created")
        await conn.send({"type": "session.update", "event_id": "evt_client_1", "session": session})
        error = (await events_until(conn, "error"))[-1]["error"]
        assert (error["code"], error["param"], error["event_id"]) == (code, param, "evt_client_1")
        # nothing of the bad update applied: the next good one still starts from the defaults
        await conn.session.update(session={"type": "realtime"})
        after = (await events_until(conn, "session.updated"))[-1]["session"]
        assert after["audio"]["input"]["format"]["type"] == "audio/pcm"


async def test_bad_key_is_refused_with_401(realtime):
    with pytest.raises(InvalidStatus) as refused:
        async with client_for(realtime, key="sk-wrong").realtime.connect(model="gpt-realtime"):
            pass
    assert refused.value.response.status_code == 401
    assert b"invalid_api_key" in refused.value.response.body


async def test_vad_transcript_function_call_and_spoken_answer(realtime):
    realtime.scripts.register("CA-vad-1", BOOKING)
    try:
        async with client_for(realtime).realtime.connect(model="gpt-realtime") as conn:
            await _session(conn, instructions="Call CA-vad-1 for Leadchain.")
            await conn.response.create()
            greeting = await events_until(conn, "response.done")
            said = b"".join(
                base64.b64decode(e["delta"]) for e in greeting if e["type"] == "response.output_audio.delta"
            )
            assert said == speech.speak(BOOKING.greeting, "en")  # real speech, all of it
            assert greeting[-1]["response"]["usage"]["output_token_details"]["audio_tokens"] == len(said) // 8 // 50

            # one second of silence: nothing is detected
            await append(conn, speech.silence(1000))
            wish = speech.speak(BOOKING.turns[0].text, "en")
            await append(conn, wish + speech.silence(1200))
            events = await events_until(conn, "response.done")
            started = next(e for e in events if e["type"] == "input_audio_buffer.speech_started")
            stopped = next(e for e in events if e["type"] == "input_audio_buffer.speech_stopped")
            assert 1000 - 300 - 60 <= started["audio_start_ms"] <= 1000 - 300 + 60  # prefix padding included
            speech_end_ms = 1000 + len(wish) // 8
            assert abs(stopped["audio_end_ms"] - 500 - speech_end_ms) <= SPEECH_END_TOLERANCE_MS
            assert stopped["item_id"] == started["item_id"]
            heard = next(e for e in events if e["type"] == "conversation.item.input_audio_transcription.completed")
            assert heard["transcript"] == BOOKING.turns[0].text
            assert types(events).index("input_audio_buffer.committed") < types(events).index("response.created")
            call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
            assert call["name"] == "find_slots"
            assert call["arguments"] == '{"wish": "Tuesday after 10 am would be best."}'
            assert not any(e["type"] == "response.output_audio.delta" for e in events)

            await conn.conversation.item.create(
                item={"type": "function_call_output", "call_id": call["call_id"], "output": '{"slots": ["Tue 10:00"]}'}
            )
            added = (await events_until(conn, "conversation.item.done"))[-1]["item"]
            assert added["type"] == "function_call_output"
            await conn.response.create()
            answer = await events_until(conn, "response.done")
            transcript = next(e for e in answer if e["type"] == "response.output_audio_transcript.done")
            assert transcript["transcript"] == BOOKING.turns[0].reply
            assert answer[-1]["response"]["status"] == "completed"
            usage = answer[-1]["response"]["usage"]
            assert usage["input_token_details"]["audio_tokens"] > 0
        assert realtime.delays and all(d.ms < 1000 for d in realtime.delays)
    finally:
        realtime.scripts.release("CA-vad-1")


async def test_cancel_stops_the_audio_at_once(paced):
    async with client_for(paced).realtime.connect(model="gpt-realtime") as conn:
        await _session(conn)
        await conn.response.create()
        await events_until(conn, "response.output_audio.delta")
        await conn.response.create()  # a second one while the first runs
        error = (await events_until(conn, "error"))[-1]["error"]
        assert error["code"] == "conversation_already_has_active_response"
        await conn.response.cancel()
        rest = await events_until(conn, "response.done")
        assert rest[-1]["response"]["status"] == "cancelled"
        assert rest[-1]["response"]["status_details"]["reason"] == "client_cancelled"
        assert rest[-1]["response"]["output"][0]["status"] == "incomplete"
        assert types(rest).count("response.output_audio.delta") <= 1  # at most one already on its way
        await conn.response.cancel()
        assert (await events_until(conn, "error"))[-1]["error"]["code"] == "response_cancel_not_active"


async def test_truncate_acknowledged_and_bounded_by_the_audio_sent(realtime):
    async with client_for(realtime).realtime.connect(model="gpt-realtime") as conn:
        await _session(conn)
        await conn.response.create()
        done = (await events_until(conn, "response.done"))[-1]["response"]
        item_id = done["output"][0]["id"]
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=200)
        truncated = (await events_until(conn, "conversation.item.truncated"))[-1]
        assert (truncated["item_id"], truncated["audio_end_ms"]) == (item_id, 200)
        await conn.conversation.item.truncate(item_id=item_id, content_index=0, audio_end_ms=60_000)
        error = (await events_until(conn, "error"))[-1]["error"]
        assert "already shorter than 60000ms" in error["message"]


async def test_fault_drops_the_socket_mid_answer(paced):
    paced.drop_next(after_audio_deltas=2)
    async with client_for(paced).realtime.connect(model="gpt-realtime") as conn:
        await _session(conn)
        await conn.response.create()
        with pytest.raises(ConnectionClosed):
            await events_until(conn, "response.done")
    async with client_for(paced).realtime.connect(model="gpt-realtime") as conn:  # the next connection is fine
        await _session(conn)


async def test_the_sandbox_app_starts_it_on_the_configured_port():
    app = create_sandbox_app(SandboxConfig(realtime_port=0))
    sandbox = app.extensions["sandbox"]
    try:
        assert sandbox.realtime.url.startswith("ws://127.0.0.1:") and sandbox.realtime.scripts is sandbox.call_scripts
        web = app.test_client()
        assert web.post("/sandbox/realtime/drop", json={"after_audio_deltas": 0}).status_code == 200
        async with client_for(sandbox.realtime).realtime.connect(model="gpt-realtime") as conn:
            await _session(conn)
            await conn.response.create()
            with pytest.raises(ConnectionClosed):
                await events_until(conn, "response.done")
        stats = web.get("/sandbox/realtime").get_json()
        assert stats["sessions"] == 1 and stats["url"] == sandbox.realtime.url
    finally:
        sandbox.realtime.stop()
    assert create_sandbox_app(SandboxConfig()).extensions["sandbox"].realtime is None


async def test_opt_out_is_called_by_the_name_the_session_offers(realtime):
    script = script_for(PERSONAS["do_not_call"], "de")
    realtime.scripts.register("CA-opt-out", script)
    try:
        async with client_for(realtime).realtime.connect(model="gpt-realtime") as conn:
            opt_out = {"type": "function", "name": "record_opt_out", "parameters": {"type": "object"}}
            await _session(conn, instructions="Call CA-opt-out.", tools=[opt_out])
            await append(conn, speech.speak(script.turns[0].text, "de") + speech.silence(800))
            events = await events_until(conn, "response.done")
            call = next(e for e in events if e["type"] == "response.function_call_arguments.done")
            assert call["name"] == "record_opt_out"
            assert json.loads(call["arguments"]) == {"reason": "Rufen Sie mich nie wieder an!"}
    finally:
        realtime.scripts.release("CA-opt-out")


async def test_the_user_starting_to_talk_cancels_the_answer(paced):
    async with client_for(paced).realtime.connect(model="gpt-realtime") as conn:
        await _session(conn)
        await conn.response.create()
        await events_until(conn, "response.output_audio.delta")
        await append(conn, speech.speak("Wait a moment, please.", "en"))
        events = await events_until(conn, "response.done")
        assert "input_audio_buffer.speech_started" in types(events)
        assert events[-1]["response"]["status_details"] == {"type": "cancelled", "reason": "turn_detected"}
        started = types(events).index("input_audio_buffer.speech_started")
        assert "response.output_audio.delta" not in types(events)[started + 1 :]
