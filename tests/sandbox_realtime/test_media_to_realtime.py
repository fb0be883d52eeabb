"""Both stand-ins end to end: the Media Streams client (the callee) and the Realtime stand-in (the model),
joined by a small μ-law pass-through relay written here with the real openai SDK (the shape of the bridge:
Twilio media -> input_audio_buffer.append, output_audio.delta -> Twilio media, speech_started -> clear,
function calls answered). The script reaches the stand-in through the shared ScriptBook by the callSid in
the session's instructions; the latency figures come out of the media client's record."""

from __future__ import annotations

import asyncio
import json

from openai import AsyncOpenAI
from websockets.asyncio.server import serve

from sandbox import speech
from sandbox.call_scripts import CallerTurn, CallScript, ScriptBook, ToolCall, script_for
from sandbox.openai_realtime import API_KEY
from sandbox.personas import PERSONAS
from sandbox.twilio_media import Pacing, media_call
from tests.sandbox_realtime.helpers import PCMU_SESSION

SCRIPT = CallScript(
    "en",
    "Hello, Leadchain here.",
    (
        CallerTurn(
            "Tuesday after 10 am.",
            "Tuesday at 10 works.",
            (ToolCall("find_slots", {"wish": "Tuesday after 10 am."}),),
            barge_in_ms=500,
        ),
    ),
)


async def _relay(twilio, realtime_url: str, log: dict) -> None:
    start = json.loads(await twilio.recv())
    while start["event"] != "start":
        start = json.loads(await twilio.recv())
    sid, call_sid = start["streamSid"], start["start"]["callSid"]
    client = AsyncOpenAI(api_key=API_KEY, websocket_base_url=realtime_url)
    async with client.realtime.connect(model="gpt-realtime") as model:
        await model.session.update(session={**PCMU_SESSION, "instructions": f"Call {call_sid}."})
        await model.response.create()

        async def upstream() -> None:
            async for raw in twilio:
                message = json.loads(raw)
                if message["event"] == "media":
                    await model.input_audio_buffer.append(audio=message["media"]["payload"])
                elif message["event"] == "stop":
                    return

        async def downstream() -> None:
            async for event in model:
                if event.type == "response.output_audio.delta":
                    await twilio.send(
                        json.dumps({"event": "media", "streamSid": sid, "media": {"payload": event.delta}})
                    )
                elif event.type == "input_audio_buffer.speech_started":
                    await twilio.send(json.dumps({"event": "clear", "streamSid": sid}))
                elif event.type == "response.function_call_arguments.done":
                    log.setdefault("calls", []).append((event.name, json.loads(event.arguments)))
                    output = {"type": "function_call_output", "call_id": event.call_id, "output": '{"ok": true}'}
                    await model.conversation.item.create(item=output)
                    await model.response.create()
                elif event.type == "conversation.item.input_audio_transcription.completed":
                    log.setdefault("heard", []).append(event.transcript)

        down = asyncio.create_task(downstream())
        await upstream()
        down.cancel()


async def test_callee_and_model_talk_through_a_relay(realtime):
    log: dict = {}
    async with serve(lambda ws: _relay(ws, realtime.url, log), "127.0.0.1", 0) as relay:
        url = f"ws://127.0.0.1:{relay.sockets[0].getsockname()[1]}/media"
        result = await media_call(
            url,
            account_sid="AC" + "0" * 32,
            call_sid="CA" + "9" * 32,
            stream_sid="MZ" + "9" * 32,
            custom_parameters={},
            persona=SCRIPT,
            scripts=realtime.scripts,
            pacing=Pacing(reply_gap_ms=300, turn_timeout_s=8, final_wait_s=4),
        )
    assert result.error is None and result.ended_by == "caller"
    assert log["heard"] == ["Tuesday after 10 am."]
    assert log["calls"] == [("find_slots", {"wish": "Tuesday after 10 am."})]
    # the callee talked over the greeting: the model's VAD heard it start, the relay cleared Twilio's queue
    assert result.turns[0].barge_in and result.clears
    assert 0 < result.clear_latencies_ms()[0] < 400
    # caller audio end -> first answer frame: the VAD's 500 ms of silence plus the stand-in's own time
    (latency,) = result.reply_latencies_ms()
    own = max(d.ms for d in realtime.delays)
    assert 500 <= latency < 500 + own + 400
    assert len(result.agent_audio) > 8000  # a second and more of real speech came back


def test_personas_become_scripts_with_their_tools():
    books = script_for(PERSONAS["books_morning"], "de")
    assert books.greeting.startswith("Guten Tag")
    assert books.turns[4].text == "Am besten am Dienstag ab 10 Uhr."
    assert [t.name for t in books.turns[4].tools] == ["find_slots"]
    assert [t.name for t in books.turns[5].tools] == ["book"]
    assert books.turns[5].reply.startswith("Ihr Termin ist eingetragen")
    opt_out = script_for(PERSONAS["do_not_call"], "fr")
    assert opt_out.turns[0].tools[0].name == "do_not_contact"
    assert all(not turn.tools for turn in script_for(PERSONAS["interested"], "en").turns)


def test_the_book_hears_exact_turn_audio_and_pairs_concurrent_calls_by_it():
    book = ScriptBook()
    interested, refuses = script_for(PERSONAS["interested"], "en"), script_for(PERSONAS["not_interested"], "en")
    book.register("CA-a", interested)
    book.register("CA-b", refuses)
    assert book.claim("sess-1", hints="{}") == ("CA-a", interested)  # the oldest unclaimed: by order
    assert book.hear("sess-1", speech.silence(2000)) is None  # silence is nobody's turn
    # but sess-1 hears the other call's callee: it moves to that call, CA-a is free again
    heard = speech.silence(300) + speech.speak(refuses.turns[0].text, "en") + speech.silence(500)
    assert book.hear("sess-1", heard) == ("CA-b", refuses, 0)
    assert book.claim("sess-2", hints='{"instructions": "call CA-a"}') == ("CA-a", interested)
    book.advance("CA-b", greeted=True, next_turn=1)
    book.unclaim("sess-1")  # dropped: a reconnecting session picks the call up where it was
    assert book.claim("sess-3", hints="CA-b") == ("CA-b", refuses) and book.progress("CA-b") == (True, 1)
