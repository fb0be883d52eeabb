"""The real openai SDK against the Realtime stand-in: a call script, a pcmu session, event helpers."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

from openai import AsyncOpenAI
from openai.types.realtime import RealtimeServerEvent
from pydantic import TypeAdapter

from sandbox.call_scripts import CallerTurn, CallScript, ToolCall
from sandbox.openai_realtime import API_KEY, RealtimeServer

SERVER_EVENT = TypeAdapter(RealtimeServerEvent)

BOOKING = CallScript(
    "en",
    "Hello, this is an AI system calling on behalf of Leadchain.",
    (
        CallerTurn(
            "Tuesday after 10 am would be best.",
            "I have a free slot on Tuesday at 10 am, does that work?",
            (ToolCall("find_slots", {"wish": "Tuesday after 10 am would be best."}),),
        ),
        CallerTurn("Yes, please.", "Your appointment is booked. Thank you and goodbye!"),
    ),
    "booking",
)
PCMU_SESSION = {
    "type": "realtime",
    "instructions": "You call leads for Leadchain.",
    "audio": {
        "input": {
            "format": {"type": "audio/pcmu"},
            "transcription": {"model": "gpt-4o-transcribe", "language": "en"},
            "turn_detection": {"type": "server_vad", "silence_duration_ms": 500, "prefix_padding_ms": 300},
        },
        "output": {"format": {"type": "audio/pcmu"}, "voice": "marin"},
    },
    "tools": [
        {"type": "function", "name": "find_slots", "description": "free slots", "parameters": {"type": "object"}}
    ],
}


def client_for(server: RealtimeServer, key: str = API_KEY) -> AsyncOpenAI:
    return AsyncOpenAI(api_key=key, websocket_base_url=server.url)


async def events_until(conn, kind: str, timeout: float = 5.0) -> list[dict[str, Any]]:
    """Server events up to and including the first of `kind`, each checked against the SDK's GA types."""
    seen = []
    while True:
        raw = json.loads(await asyncio.wait_for(conn.recv_bytes(), timeout))
        SERVER_EVENT.validate_python(raw)
        seen.append(raw)
        if raw["type"] == kind:
            return seen


async def append(conn, audio: bytes, frame: int = 160) -> None:
    for start in range(0, len(audio), frame):
        await conn.input_audio_buffer.append(audio=base64.b64encode(audio[start : start + frame]).decode())


def types(events: list[dict[str, Any]]) -> list[str]:
    return [e["type"] for e in events]
