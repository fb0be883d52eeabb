"""The bridge between a Twilio Media Streams peer and a Realtime GA peer: exact event sequences."""

from __future__ import annotations

import asyncio
import base64
import json
import time

from tests.voice.realtime.conftest import CALL_SID, FRAME, STREAM_SID, TwilioPeer, b64, tone
from voice.bridge.realtime_tools import tool_definitions

TOOLS = {"find_slots", "book", "record_qualification", "record_opt_out", "record_callback", "transfer_call", "end_call"}


async def test_wrong_path_secret_is_closed_1008_before_anything(harness):
    twilio = await TwilioPeer.open(harness.media_url("not-the-secret"))
    assert await twilio.closed() == 1008
    assert twilio.log == []
    assert harness.model.all == []  # no model session was opened


async def test_an_old_secret_of_a_rotation_still_works(harness):
    twilio = await TwilioPeer.open(harness.media_url("old-secret-abcdef"))
    await twilio.begin()
    assert (await (await harness.model.accept()).next())["type"] == "session.update"
    await twilio.close()


async def test_session_update_pcmu_both_ways_server_vad_and_the_crm_tools(harness):
    twilio = await TwilioPeer.open(harness.media_url())
    await twilio.begin(direction="outbound", lead_id="7", call_key="k-7", chain="abc", language="de")
    model = await harness.model.accept()
    # Through the SDK, GA: /v1/realtime?model=..., bearer key, no beta header.
    assert model.path == "/v1/realtime?model=gpt-realtime"
    assert model.headers["authorization"] == "Bearer sk-test-realtime-key"
    assert "openai-beta" not in model.headers
    update = await model.next()
    assert update["type"] == "session.update"
    session = update["session"]
    assert session["type"] == "realtime"
    assert session["audio"]["input"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"]["format"] == {"type": "audio/pcmu"}
    assert session["audio"]["output"]["voice"] == "marin"
    vad = session["audio"]["input"]["turn_detection"]
    assert vad["type"] == "server_vad" and vad["interrupt_response"] is True and vad["create_response"] is True
    assert session["audio"]["input"]["transcription"] == {"model": "gpt-4o-transcribe", "language": "de"}
    assert session["tool_choice"] == "auto"
    assert {t["name"] for t in session["tools"]} == TOOLS
    assert all(t["type"] == "function" and "parameters" in t for t in session["tools"])
    assert session["tools"] == tool_definitions()
    # The lead from the CRM (the fake backend's Dana Weber), German, the company's name.
    assert "Dana Weber of Krause GmbH" in session["instructions"]
    assert "German" in session["instructions"] and "Leadchain" in session["instructions"]
    opening = await model.next()
    assert opening["type"] == "response.create"
    assert "KI" in opening["response"]["instructions"] and "Leadchain" in opening["response"]["instructions"]
    # The CRM was asked with the stream's ids, the call key as the ledger's idempotency key.
    call_id, provider, metadata = harness.backend.lookups[0]
    assert (call_id, provider) == (CALL_SID, "twilio_realtime")
    assert metadata["idempotency_key"] == "k-7" and metadata["lead_id"] == "7"
    await twilio.close()


async def test_audio_passes_through_byte_exact_both_ways(harness):
    twilio, model = await harness.call()
    frames = [tone(20, hz) for hz in (300, 440, 660, 880, 1000)]
    for frame in frames:
        assert len(frame) == FRAME
        await twilio.media(frame)
    appended = [await model.next("input_audio_buffer.append", skip_audio=False) for _ in frames]
    assert [base64.b64decode(e["audio"]) for e in appended] == frames
    # Out: each delta as one Twilio media (same bytes), then a mark.
    out = [tone(40, 500), tone(60, 700)]
    await model.send(type="response.created", response={"id": "resp_1", "status": "in_progress"})
    await model.send(
        type="response.output_item.added",
        response_id="resp_1",
        item={"id": "item_a", "type": "message", "role": "assistant"},
    )
    for data in out:
        await model.send(
            type="response.output_audio.delta",
            response_id="resp_1",
            item_id="item_a",
            output_index=0,
            content_index=0,
            delta=b64(data),
        )
    got = [await twilio.next() for _ in range(4)]
    assert [m["event"] for m in got] == ["media", "mark", "media", "mark"]
    assert [base64.b64decode(m["media"]["payload"]) for m in got[::2]] == out
    assert all(m["streamSid"] == STREAM_SID for m in got)
    assert set(got[0]) == {"event", "streamSid", "media"} and set(got[0]["media"]) == {"payload"}
    assert set(got[1]) == {"event", "streamSid", "mark"} and set(got[1]["mark"]) == {"name"}
    await twilio.close()


async def _speak(model, twilio, response_id: str, item_id: str, chunks: list[bytes]) -> list[str]:
    """The model speaks `chunks`; the mark names Twilio got after each."""
    await model.send(type="response.created", response={"id": response_id, "status": "in_progress"})
    await model.send(
        type="response.output_item.added",
        response_id=response_id,
        item={"id": item_id, "type": "message", "role": "assistant"},
    )
    marks = []
    for data in chunks:
        await model.send(type="response.output_audio.delta", response_id=response_id, item_id=item_id, delta=b64(data))
        assert (await twilio.next())["event"] == "media"
        marks.append((await twilio.next())["mark"]["name"])
    return marks


async def test_barge_in_clears_twilio_cancels_and_truncates_at_the_played_audio(harness):
    twilio, model = await harness.call()
    marks = await _speak(model, twilio, "resp_1", "item_a", [tone(200, 400), tone(200, 500), tone(200, 600)])
    await model.send(
        type="response.output_audio_transcript.done",
        response_id="resp_1",
        item_id="item_a",
        transcript="eins zwei drei vier fünf sechs",
    )
    await twilio.mark(marks[0])  # Twilio played the first 200 ms only
    await asyncio.sleep(0.05)
    sent = time.perf_counter()
    await model.send(type="input_audio_buffer.speech_started", audio_start_ms=1200, item_id="item_user_1")
    clear = await twilio.next()
    took = time.perf_counter() - sent
    assert clear == {"event": "clear", "streamSid": STREAM_SID}
    assert took < 0.02, f"clear {took * 1000:.1f} ms after speech_started: more than one 20 ms frame"
    assert await model.next() == {"type": "response.cancel", "response_id": "resp_1"}
    truncate = await model.next()
    assert truncate == {
        "type": "conversation.item.truncate",
        "item_id": "item_a",
        "content_index": 0,
        "audio_end_ms": 200,
    }
    # Twilio echoes the marks of the cleared audio: they are not counted as played; a late delta of the
    # cancelled response is not forwarded.
    for name in marks[1:]:
        await twilio.mark(name)
    await model.send(type="response.output_audio.delta", response_id="resp_1", item_id="item_a", delta=b64(tone(100)))
    assert await twilio.quiet_for(0.15)
    await model.send(type="response.done", response={"id": "resp_1", "status": "cancelled", "output": [], "usage": {}})
    await model.send(
        type="conversation.item.input_audio_transcription.completed", item_id="item_user_1", transcript="Moment mal"
    )
    await twilio.stop()
    report = await harness.ended()
    # The stored assistant text is the played third.
    assert [(t.speaker, t.text) for t in report.transcript] == [("agent", "eins zwei"), ("callee", "Moment mal")]


async def test_speech_while_silent_sends_no_clear(harness):
    twilio, model = await harness.call()
    await model.send(type="response.done", response={"id": "resp_0", "status": "completed", "output": []})
    await model.send(type="input_audio_buffer.speech_started", audio_start_ms=100, item_id="item_user_1")
    assert await twilio.quiet_for(0.15)
    assert "response.cancel" not in model.types()
    await twilio.close()


async def test_dtmf_becomes_a_user_message_and_a_response(harness):
    twilio, model = await harness.call()
    await model.send(type="response.done", response={"id": "resp_0", "status": "completed", "output": []})
    await twilio.dtmf("1")
    item = await model.next()
    assert item == {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": "[DTMF 1]"}]},
    }
    assert await model.next() == {"type": "response.create"}
    await twilio.close()


async def _function_call(model, response_id: str, call_id: str, name: str, arguments: dict) -> None:
    await model.send(type="response.created", response={"id": response_id, "status": "in_progress"})
    await model.send(
        type="response.function_call_arguments.done",
        response_id=response_id,
        item_id=f"fc_{call_id}",
        call_id=call_id,
        name=name,
        arguments=json.dumps(arguments),
    )
    await model.send(
        type="response.done",
        response={
            "id": response_id,
            "status": "completed",
            "output": [{"type": "function_call", "call_id": call_id, "name": name, "arguments": json.dumps(arguments)}],
            "usage": {
                "input_token_details": {"audio_tokens": 50, "text_tokens": 300, "cached_tokens": 100},
                "output_token_details": {"audio_tokens": 0, "text_tokens": 20},
            },
        },
    )


async def test_tool_call_runs_the_crm_tool_and_answers_function_call_output(harness):
    twilio, model = await harness.call()
    await model.send(type="response.done", response={"id": "resp_0", "status": "completed", "output": []})
    wish = {"time_preference": {"weekdays": ["TH"], "windows": [{"start": "16:00", "end": None}], "raw": "Do ab 16"}}
    await _function_call(model, "resp_1", "call_1", "find_slots", wish)
    output = await model.next()
    assert output["type"] == "conversation.item.create"
    assert output["item"]["type"] == "function_call_output" and output["item"]["call_id"] == "call_1"
    offer = json.loads(output["item"]["output"])
    slot = offer["wished"]
    assert slot["matches"] is True and slot["spoken"]
    assert await model.next() == {"type": "response.create"}
    # Book the slot; the same function call again (a replay) books nothing more.
    await _function_call(model, "resp_2", "call_2", "book", {"start": slot["start"]})
    booked = await model.next()
    assert booked["item"]["call_id"] == "call_2"
    assert json.loads(booked["item"]["output"])["status"] == "booked"
    assert await model.next() == {"type": "response.create"}
    await _function_call(model, "resp_3", "call_3", "book", {"start": slot["start"]})
    again = await model.next()
    assert json.loads(again["item"]["output"])["status"] == "already_booked"
    assert len(harness.backend.bookings) == 1
    await twilio.stop()
    report = await harness.ended()
    assert report.classification == "booked" and report.appointment_id == 101
    assert report.responses == 4  # the opening's plus three
    assert (report.usage.audio_tokens_in, report.usage.text_tokens_in, report.usage.cached_tokens_in) == (150, 900, 300)
    assert report.usage.text_tokens_out == 60 and report.usage.call_sid == CALL_SID


async def test_stop_closes_the_model_session_and_reports(harness):
    twilio, model = await harness.call()
    await model.send(
        type="response.done",
        response={
            "id": "resp_0",
            "status": "completed",
            "output": [],
            "usage": {"input_token_details": {"audio_tokens": 0}, "output_token_details": {"audio_tokens": 120}},
        },
    )
    await twilio.stop()
    await asyncio.wait_for(model.closed.wait(), 3)
    assert await twilio.closed() == 1000
    report = await harness.ended()
    assert report.ended_by == "stop" and report.usage.audio_tokens_out == 120
    assert report.metadata == {"direction": "outbound", "lead_id": "7", "call_key": "k-7"}
    assert CALL_SID not in harness.bridge.sessions


async def test_model_socket_dropped_mid_call_reconnects_and_the_call_goes_on(harness):
    twilio, model = await harness.call()
    await _speak(model, twilio, "resp_0", "item_a", [tone(100)])
    await model.send(type="response.output_audio_transcript.done", item_id="item_a", transcript="Guten Tag")
    await model.send(type="response.done", response={"id": "resp_0", "status": "completed", "output": []})
    await model.send(type="input_audio_buffer.committed", item_id="item_u1")
    await model.send(
        type="conversation.item.input_audio_transcription.completed", item_id="item_u1", transcript="Ja hallo"
    )
    await asyncio.sleep(0.05)
    harness.model.refuse = 1  # the first reconnect is refused too
    await model.drop()
    second = await harness.model.accept()
    update = await second.next()
    assert update["type"] == "session.update" and update["session"]["audio"]["input"]["format"]["type"] == "audio/pcmu"
    summary = await second.next()
    assert summary["item"]["role"] == "system"
    text = summary["item"]["content"][0]["text"]
    assert "assistant: Guten Tag" in text and "callee: Ja hallo" in text
    # Audio keeps flowing, now to the new session; Twilio's socket never closed.
    frame = tone(20, 350)
    await twilio.media(frame)
    assert base64.b64decode((await second.next("input_audio_buffer.append", skip_audio=False))["audio"]) == frame
    assert not twilio.reader.done()
    await twilio.stop()
    report = await harness.ended()
    assert report.reconnects == 1 and report.ended_by == "stop"


async def test_end_call_hangs_up_after_the_goodbye_was_played(harness):
    twilio, model = await harness.call()
    marks = await _speak(model, twilio, "resp_1", "item_bye", [tone(100)])
    await _function_call(model, "resp_1", "call_9", "end_call", {"outcome": "not_interested"})
    output = await model.next()
    assert output["item"]["type"] == "function_call_output"
    assert await twilio.quiet_for(0.1)  # the goodbye is still playing: no hang-up yet
    await twilio.mark(marks[0])
    assert await twilio.closed() == 1000
    report = await harness.ended()
    assert report.ended_by == "end_call" and report.classification == "not_interested"
    assert "response.create" not in model.types()[2:]


async def test_transfer_goes_to_the_providers_transfer(harness):
    twilio, model = await harness.call()
    await model.send(type="response.done", response={"id": "resp_0", "status": "completed", "output": []})
    await _function_call(model, "resp_1", "call_5", "transfer_call", {"reason": "wants a person"})
    assert (await model.next())["item"]["output"] == json.dumps({"ok": True})
    for _ in range(100):
        if harness.transfers:
            break
        await asyncio.sleep(0.01)
    assert harness.transfers and harness.transfers[0][:2] == (CALL_SID, "+4930123456")
    await twilio.stop()  # Twilio ends the stream when the call's TwiML changes
    assert (await harness.ended()).transferred is True


async def test_model_lost_during_the_opening_starts_the_opening_over(harness):
    twilio, model = await harness.call()
    marks = await _speak(model, twilio, "resp_0", "item_open", [tone(200)])
    await model.drop()  # no transcript yet: the disclosure was not heard whole
    second = await harness.model.accept()
    assert (await twilio.next()) == {"event": "clear", "streamSid": "MZ" + "fedcba9876543210" * 2}
    assert (await second.next())["type"] == "session.update"
    opening = await second.next()
    assert opening["type"] == "response.create" and "KI" in opening["response"]["instructions"]
    await twilio.mark(marks[0])  # echoed after the clear: not played
    await twilio.stop()
    assert (await harness.ended()).reconnects == 1
