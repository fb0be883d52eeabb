"""Twilio Media Streams frames for the Realtime bridge (voice.bridge.twilio_media, docs/audio-agent.md).

Inbound text frames: ``connected``, ``start`` (streamSid, callSid, customParameters, mediaFormat
audio/x-mulaw 8000 1), ``media`` (base64 μ-law, 20 ms), ``mark`` (our marks echoed when played), ``dtmf``,
``stop``. Outbound: ``media`` {streamSid, media.payload}, ``mark`` {streamSid, mark.name}, ``clear``
{streamSid}. Here: the JSON form, the ``start`` frame read into a ``StreamStart`` (ids and custom
parameters capped) and the byte count of a payload; no sockets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

BYTES_PER_MS = 8  # G.711 μ-law, 8 kHz mono
MAX_PARAMETERS = 20
MEDIA_FORMAT = ("audio/x-mulaw", 8000, 1)


def dumps(obj: Any) -> str:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"))


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def ulaw_bytes(payload: str) -> int:
    """The number of bytes in a base64 payload (without decoding it)."""
    n = len(payload)
    return n * 3 // 4 - payload[-2:].count("=") if n else 0


@dataclass(frozen=True)
class StreamStart:
    """What a ``start`` frame says: the ids (64 chars at most), the custom parameters (20, values of 256
    chars at most, strings only) and the media format as (encoding, sampleRate, channels)."""

    stream_sid: str
    call_sid: str
    parameters: dict[str, str] | None = None  # None: the frame had no customParameters object
    media_format: tuple[Any, Any, Any] = MEDIA_FORMAT

    @property
    def format_ok(self) -> bool:
        return self.media_format == MEDIA_FORMAT


def parse_start(message: dict[str, Any]) -> StreamStart:
    start = as_dict(message.get("start"))
    params = start.get("customParameters")
    parameters = None
    if isinstance(params, dict):
        parameters = {str(k)[:64]: v[:256] for k, v in list(params.items())[:MAX_PARAMETERS] if isinstance(v, str)}
    fmt = as_dict(start.get("mediaFormat"))
    return StreamStart(
        stream_sid=str(message.get("streamSid") or start.get("streamSid") or "")[:64],
        call_sid=str(start.get("callSid") or "")[:64],
        parameters=parameters,
        media_format=(fmt.get("encoding"), fmt.get("sampleRate"), fmt.get("channels")),
    )


def call_metadata(parameters: dict[str, str]) -> dict[str, str]:
    """The stream's parameters as the CRM tools read call metadata (the call key is the ledger's
    idempotency key: company_for_call trusts a company only through it)."""
    metadata = dict(parameters)
    if "call_key" in metadata:
        metadata.setdefault("idempotency_key", metadata["call_key"])
    return metadata


def inbound_payload(message: dict[str, Any]) -> str | None:
    """The base64 audio of a ``media`` frame of the caller's track, or None."""
    media = message.get("media")
    if isinstance(media, dict) and media.get("track", "inbound") in ("inbound", "inbound_track"):
        payload = media.get("payload")
        if isinstance(payload, str) and payload:
            return payload
    return None


def mark_name(message: dict[str, Any]) -> str | None:
    mark = message.get("mark")
    return mark["name"] if isinstance(mark, dict) and isinstance(mark.get("name"), str) else None


def dtmf_digit(message: dict[str, Any]) -> str | None:
    dtmf = message.get("dtmf")
    digit = dtmf.get("digit") if isinstance(dtmf, dict) else None
    return digit if isinstance(digit, str) and len(digit) == 1 and digit in "0123456789*#" else None


def media_frame(stream_sid: str, payload: str) -> dict[str, Any]:
    return {"event": "media", "streamSid": stream_sid, "media": {"payload": payload}}


def mark_frame(stream_sid: str, name: str) -> dict[str, Any]:
    return {"event": "mark", "streamSid": stream_sid, "mark": {"name": name}}


def clear_frame(stream_sid: str) -> dict[str, Any]:
    return {"event": "clear", "streamSid": stream_sid}
