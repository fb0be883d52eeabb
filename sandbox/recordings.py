"""Call recordings in the sandbox, served at the URLs the providers' call objects name:

* Retell  `/retell/recordings/<call_id>.wav` (and `<call_id>_multichannel.wav`)
* Vapi    `/vapi/recordings/<call_id>-mono.wav` (and `-stereo.wav`)
* Bland   `/bland/recordings/<call_id>.mp3` (only when the call was created with `record: true`)

Each is a real, playable WAV as long as the call (8 kHz, 8-bit mono): a quiet tone per turn, agent and
callee at different pitches, so a player has something to seek through. Bland's `.mp3` name is kept
as Bland gives it; its bytes are WAV, sent as `audio/wav` (browsers go by the type, not the name).
Range requests are answered 206 (werkzeug's conditional responses), as the providers' storage does, so
an audio element can seek. Unknown, erased, unconnected or unrecorded calls are 404.

`POST /sandbox/recording-faults {"status": 503, "delay_s": 2, "content_type": "text/html", "count": 1}`
makes the next `count` recording requests fail like a provider's storage can: answer late, with an
error status, or with a body that is not audio.
"""

from __future__ import annotations

import io
import math
import re
import threading
import time
import wave
from dataclasses import dataclass
from functools import lru_cache
from typing import Protocol, TypeGuard

from flask import Flask, abort, jsonify, request, send_file
from flask.typing import ResponseReturnValue

from sandbox.personas import PERSONAS
from sandbox.state import SandboxCall, SandboxState

RATE = 8000
NAMES = {
    "retell": re.compile(r"^(?P<id>call_[0-9a-f]{1,64})(?:_multichannel)?\.wav$"),
    "vapi": re.compile(r"^(?P<id>[0-9a-f-]{36})-(?:mono|stereo)\.wav$"),
    "bland": re.compile(r"^(?P<id>[0-9a-f-]{36})\.mp3$"),
}


def _cycle(pitch: int) -> bytes:
    # One period of a quiet sine (unsigned 8-bit); pitches divide the rate, so periods tile seamlessly.
    period = RATE // pitch
    return bytes(128 + int(24 * math.sin(2 * math.pi * n / period)) for n in range(period))


PITCH = {"agent": _cycle(250), "callee": _cycle(400)}


@lru_cache(maxsize=64)
def render(turns: tuple[str, ...], seconds: int) -> bytes:
    """A WAV of `seconds`, the turns spread evenly: 250 Hz for the agent, 400 Hz for the callee."""
    total = max(1, seconds) * RATE
    turns = turns or ("agent",)
    per_turn = total // len(turns)
    frames = bytearray()
    for i, speaker in enumerate(turns):
        length = per_turn if i < len(turns) - 1 else total - per_turn * (len(turns) - 1)
        cycle = PITCH["agent" if speaker == "agent" else "callee"]
        frames += (cycle * (length // len(cycle) + 1))[:length]
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(1)
        w.setframerate(RATE)
        w.writeframes(bytes(frames))
    return out.getvalue()


@dataclass
class RecordingFault:
    status: int | None = None
    delay_s: float = 0.0
    content_type: str | None = None
    remaining: int = 1


def _recorded(call: SandboxCall | None) -> TypeGuard[SandboxCall]:
    # TypeGuard: True means a recorded call, so the caller may use it; False says nothing more.
    if call is None or call.extra.get("deleted"):
        return False
    persona = PERSONAS[call.persona]
    if call.provider == "bland" and not call.request.get("record"):
        return False
    return persona.end_status in ("completed", "voicemail") and persona.duration_s > 0


class HasState(Protocol):
    """The sandbox app's part the recordings read (sandbox.app builds it; no import back up there)."""

    state: SandboxState


def register(app: Flask, sandbox: HasState) -> None:
    faults: list[RecordingFault] = []
    lock = threading.Lock()

    def take_fault() -> RecordingFault | None:
        with lock:
            while faults and faults[0].remaining <= 0:
                faults.pop(0)
            if not faults:
                return None
            faults[0].remaining -= 1
            return faults[0]

    @app.post("/sandbox/recording-faults")
    def recording_faults() -> ResponseReturnValue:
        body = request.get_json(force=True, silent=True) or {}
        try:
            fault = RecordingFault(
                status=int(body["status"]) if body.get("status") is not None else None,
                delay_s=float(body.get("delay_s", 0)),
                content_type=body.get("content_type"),
                remaining=int(body.get("count", 1)),
            )
        except (TypeError, ValueError):
            return jsonify(error="status: int, delay_s: number, content_type: string, count: int"), 422
        with lock:
            faults.append(fault)
        return jsonify(ok=True)

    @app.get("/<any(retell, vapi, bland):provider>/recordings/<name>")
    def recording(provider: str, name: str) -> ResponseReturnValue:
        fault = take_fault()
        if fault is not None and fault.delay_s:
            time.sleep(fault.delay_s)
        if fault is not None and fault.status:
            return jsonify(error="injected fault"), fault.status
        match = NAMES[provider].match(name)
        call = sandbox.state.get(provider, match["id"]) if match else None
        if not _recorded(call):
            abort(404)
        persona = PERSONAS[call.persona]
        live = call.extra.get("live_transcript")
        turns = tuple(who for who, _ in (live if live is not None else persona.transcript.get(call.language, [])))
        data = render(turns, persona.duration_s)
        if fault is not None and fault.content_type:
            return data, 200, {"Content-Type": fault.content_type}
        return send_file(
            io.BytesIO(data),
            mimetype="audio/wav",
            conditional=True,
            etag=f"{provider}-{name}",
            max_age=0,
            download_name=name.rsplit(".", 1)[0] + ".wav",
        )
