"""The sandbox's Twilio Media Streams client against a small test server standing in for the bridge: the
exact messages Twilio sends, 20 ms real-time pacing, marks echoed only after their audio has played, clear
dropping the unplayed audio (and echoing pending marks), the callee's turn after the agent went quiet, a
barge-in, stop at the end."""

from __future__ import annotations

import asyncio
import base64
import json
import time

from websockets.asyncio.server import serve

from sandbox import speech
from sandbox.call_scripts import CallerTurn, CallScript
from sandbox.twilio_media import Pacing, media_call, run_media_call

PACING = Pacing(reply_gap_ms=300, turn_timeout_s=5, final_wait_s=1.5)
STREAM = "MZ" + "0" * 32
CALL = "CA" + "1" * 32
ACCOUNT = "AC" + "2" * 32


class Bridge:
    """The test's server side of the stream: records what arrives (with times) and plays a scenario."""

    def __init__(self, scenario) -> None:
        self.scenario = scenario
        self.messages: list[tuple[float, dict]] = []
        self.arrived = asyncio.Queue()

    async def handler(self, ws) -> None:
        reader = asyncio.create_task(self._read(ws))
        await self.scenario(self, ws)
        await reader

    async def _read(self, ws) -> None:
        async for raw in ws:
            message = json.loads(raw)
            self.messages.append((time.monotonic(), message))
            await self.arrived.put(message)

    async def next(self, event: str) -> dict:
        while True:
            message = await asyncio.wait_for(self.arrived.get(), 10)
            if message["event"] == event:
                return message

    async def caller_talks(self) -> float:
        while True:
            message = await self.next("media")
            if set(base64.b64decode(message["media"]["payload"])) != {speech.MULAW_SILENCE}:
                return time.monotonic()

    async def caller_quiet(self) -> None:
        while True:
            message = await self.next("media")
            if set(base64.b64decode(message["media"]["payload"])) == {speech.MULAW_SILENCE}:
                return

    async def send_audio(self, ws, audio: bytes) -> None:
        for frame in speech.frames(audio):
            payload = base64.b64encode(frame).decode()
            await ws.send(json.dumps({"event": "media", "streamSid": STREAM, "media": {"payload": payload}}))

    def events(self, event: str) -> list[tuple[float, dict]]:
        return [(t, m) for t, m in self.messages if m["event"] == event]


async def _run(scenario, script: CallScript, sync: bool = False):
    bridge = Bridge(scenario)
    async with serve(bridge.handler, "127.0.0.1", 0) as server:
        url = f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/media"
        kwargs = dict(account_sid=ACCOUNT, call_sid=CALL, stream_sid=STREAM, persona=script, pacing=PACING)
        kwargs["custom_parameters"] = {"lead_id": "42"}
        if sync:
            result = await asyncio.to_thread(run_media_call, url, **kwargs)
        else:
            result = await media_call(url, **kwargs)
    return bridge, result


GREETING = "Hello, this is Leadchain calling."
ANSWER = "Yes, speaking."


async def test_messages_pacing_marks_and_turn_taking():
    agent = speech.speak(GREETING, "en")
    played_s = len(agent) / speech.SAMPLE_RATE

    async def scenario(bridge, ws):
        await bridge.next("start")
        sent_at = time.monotonic()
        await bridge.send_audio(ws, agent)
        await ws.send(json.dumps({"event": "mark", "streamSid": STREAM, "mark": {"name": "greeting"}}))
        bridge.greeting_sent = sent_at
        bridge.caller_started = await bridge.caller_talks()
        await bridge.next("stop")

    script = CallScript("en", None, (CallerTurn(ANSWER),))
    bridge, result = await _run(scenario, script, sync=True)

    first = bridge.messages[0][1]
    assert first == {"event": "connected", "protocol": "Call", "version": "1.0.0"}
    start = bridge.messages[1][1]
    assert start == {
        "event": "start",
        "sequenceNumber": "1",
        "start": {
            "accountSid": ACCOUNT,
            "streamSid": STREAM,
            "callSid": CALL,
            "tracks": ["inbound"],
            "customParameters": {"lead_id": "42"},
            "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
        },
        "streamSid": STREAM,
    }
    numbered = [m for _, m in bridge.messages[1:]]
    assert [m["sequenceNumber"] for m in numbered] == [str(n) for n in range(1, len(numbered) + 1)]
    media = bridge.events("media")
    assert all(set(m) == {"event", "sequenceNumber", "media", "streamSid"} for _, m in media)
    assert all(set(m["media"]) == {"track", "chunk", "timestamp", "payload"} for _, m in media)
    assert [m["media"]["chunk"] for _, m in media] == [str(n) for n in range(1, len(media) + 1)]
    assert all(
        m["media"]["track"] == "inbound" and len(base64.b64decode(m["media"]["payload"])) == 160 for _, m in media
    )
    # real-time pacing: one frame per 20 ms on average, no burst
    span = media[-1][0] - media[0][0]
    assert abs(span / (len(media) - 1) - 0.020) < 0.002
    stamps = [int(m["media"]["timestamp"]) for _, m in media]
    assert stamps == sorted(stamps) and abs((stamps[-1] - stamps[0]) / (len(stamps) - 1) - 20) < 2

    # the mark comes back once the greeting has played at real-time rate, not when it arrived
    ((echoed_at, echoed),) = bridge.events("mark")
    assert echoed["mark"] == {"name": "greeting"} and echoed["streamSid"] == STREAM
    assert echoed_at - bridge.greeting_sent >= played_s - 0.05
    assert result.echoed[0][1:] == ("greeting", True)
    # the callee waited for the greeting to end and the reply gap before speaking
    assert bridge.caller_started - bridge.greeting_sent >= played_s + PACING.reply_gap_ms / 1000 - 0.05
    spoken = b"".join(base64.b64decode(m["media"]["payload"]) for _, m in media)
    assert speech.speak(ANSWER, "en") in spoken  # the callee's real speech, frame-aligned
    stop = bridge.messages[-1][1]
    assert stop == {
        "event": "stop",
        "sequenceNumber": str(len(numbered)),
        "streamSid": STREAM,
        "stop": {"accountSid": ACCOUNT, "callSid": CALL},
    }
    assert result.ended_by == "caller" and result.error is None
    assert bytes(result.agent_audio) == agent + speech.silence(20)[: -len(agent) % 160 or 0]
    assert result.turns[0].ended_ms is not None


async def test_barge_in_and_clear_drop_the_unplayed_audio():
    long_talk = speech.speak(GREETING + " " + GREETING + " " + GREETING, "en")

    async def scenario(bridge, ws):
        await bridge.next("start")
        await bridge.send_audio(ws, long_talk)
        await ws.send(json.dumps({"event": "mark", "streamSid": STREAM, "mark": {"name": "talk"}}))
        await bridge.caller_talks()  # the callee talks over the agent
        bridge.cleared_at = time.monotonic()
        await ws.send(json.dumps({"event": "clear", "streamSid": STREAM}))
        await bridge.next("mark")
        bridge.mark_back_at = time.monotonic()
        await bridge.caller_quiet()
        await bridge.send_audio(ws, speech.speak("Sure.", "en"))  # the answer after the callee's turn
        await bridge.next("stop")

    script = CallScript("en", None, (CallerTurn("Wait, wait.", barge_in_ms=400),))
    bridge, result = await _run(scenario, script)

    assert bridge.mark_back_at - bridge.cleared_at < 0.1  # pending marks are echoed at once on clear
    assert result.echoed[0][1:] == ("talk", False)
    ((cleared_ms, dropped),) = result.clears
    assert dropped > len(long_talk) - 1200 * 8  # most of the talk never played
    turn = result.turns[0]
    assert turn.barge_in and turn.started_ms >= 400
    assert 0 <= result.clear_latencies_ms()[0] < 200
    assert len(result.reply_latencies_ms()) == 1
    assert result.ended_by == "caller"


async def test_server_closing_ends_the_call():
    async def scenario(bridge, ws):
        await bridge.next("start")
        await ws.send(json.dumps({"event": "media", "streamSid": "MZ-wrong", "media": {"payload": ""}}))
        await ws.send(b"binary")
        await asyncio.sleep(0.1)
        await ws.close()

    bridge, result = await _run(scenario, CallScript("en", None, (CallerTurn(ANSWER),)))
    assert result.ended_by == "server"
    assert any("31951" in e for e in result.protocol_errors) and any("31950" in e for e in result.protocol_errors)


async def test_keys_are_dtmf_messages():
    async def scenario(bridge, ws):
        await bridge.next("start")
        await bridge.send_audio(ws, speech.speak("Press one.", "en"))
        bridge.keys = [await bridge.next("dtmf"), await bridge.next("dtmf")]
        await bridge.next("stop")

    bridge, result = await _run(scenario, CallScript("en", None, (CallerTurn("", dtmf="12"),)))
    first, second = bridge.keys
    assert set(first) == {"event", "sequenceNumber", "streamSid", "dtmf"}
    assert (first["dtmf"], second["dtmf"]) == (
        {"track": "inbound_track", "digit": "1"},
        {"track": "inbound_track", "digit": "2"},
    )
    assert int(second["sequenceNumber"]) == int(first["sequenceNumber"]) + 1
    assert [digit for _, digit in result.dtmf] == ["1", "2"] and result.ended_by == "caller"
