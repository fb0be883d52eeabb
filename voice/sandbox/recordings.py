"""Call recordings in the sandbox, served at the URLs the providers' call objects name:

* Retell  `/retell/recordings/<call_id>.wav` (and `<call_id>_multichannel.wav`)
* Vapi    `/vapi/recordings/<call_id>-mono.wav` (and `-stereo.wav`)
* Bland   `/bland/recordings/<call_id>.mp3` (only when the call was created with `record: true`)

Each is a real, playable WAV as long as the call (8 kHz, 8-bit mono): a quiet tone per turn, agent and
callee at different pitches, so a player has something to seek through. Bland's `.mp3` name is kept
as Bland gives it; its bytes are WAV, sent as `audio/wav` (browsers go by the type, not the name).
Range requests are answered 206 (werkzeug's conditional responses), as the providers' storage does, so
an audio element can seek. Unknown, erased, unconnected or unrecorded calls are 404.
"""
from __future__ import annotations

import io
import math
import re
import wave
from functools import lru_cache

from flask import Flask, abort, send_file

from voice.sandbox.personas import PERSONAS
from voice.sandbox.state import SandboxCall

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


def _recorded(call: SandboxCall | None) -> bool:
    if call is None or call.extra.get("deleted"):
        return False
    persona = PERSONAS[call.persona]
    if call.provider == "bland" and not call.request.get("record"):
        return False
    return persona.end_status in ("completed", "voicemail") and persona.duration_s > 0


def register(app: Flask, sandbox) -> None:
    @app.get("/<any(retell, vapi, bland):provider>/recordings/<name>")
    def recording(provider: str, name: str):
        match = NAMES[provider].match(name)
        call = sandbox.state.get(provider, match["id"]) if match else None
        if not _recorded(call):
            abort(404)
        persona = PERSONAS[call.persona]
        live = call.extra.get("live_transcript")
        turns = tuple(who for who, _ in (live if live is not None else persona.transcript.get(call.language, [])))
        data = render(turns, persona.duration_s)
        return send_file(io.BytesIO(data), mimetype="audio/wav", conditional=True, etag=f"{provider}-{name}",
                         max_age=0, download_name=name.rsplit(".", 1)[0] + ".wav")
