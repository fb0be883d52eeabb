"""The OpenAI Realtime side of a Twilio call (issue 22): one model socket per call through the official SDK,
and what the bridge tells the model (docs/audio-agent.md, Bridge; ../shared PROVIDERS_WAVE2 §5).

* ``sdk_connect``: ``AsyncOpenAI(api_key=..., websocket_base_url=...)`` + ``client.realtime.connect(model=...)``
  (GA: no OpenAI-Beta header). A stand-in is used by URL only (``LEADCHAIN_BRIDGE_REALTIME_URL``). The SDK's
  own reconnect is left off: the session re-sends its session.update and a summary itself
  (voice.bridge.twilio_media). Events go out as JSON text through the SDK's connection and come back as
  plain dicts (no model parsing per audio delta).
* ``session_update``: G.711 μ-law both ways (``audio/pcmu``, Twilio's frames pass through untouched),
  server VAD, input transcription, the voice, the CRM tools (voice.bridge.realtime_tools), tool_choice auto.
* ``instructions`` / ``opening``: what the existing dialog knows about the callee (name, company, language
  de/en/fr, the purpose of the call, the AI and recording disclosure of the rules policy's opening). The
  prompt goes to the model only; nothing here is logged.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from voice.bridge.crm_tools import CallContext
from voice.bridge.dialog import phrases
from voice.bridge.dialog.callee_text import full_name, speakable_number
from voice.bridge.dialog.llm_schema import SPOKEN
from voice.bridge.realtime_config import ModelLink as ModelLink
from voice.bridge.realtime_config import RealtimeConfig

# The transcription model is told the call's language (ISO 639-1, as the dialog knows it).
TRANSCRIBE_LANGUAGES = ("de", "en", "fr")


def dumps(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":"))


class SdkLink:
    """A ModelLink over the SDK's AsyncRealtimeConnection."""

    def __init__(self, manager: Any, connection: Any) -> None:
        self._manager = manager
        self._connection = connection

    async def send(self, event: dict[str, Any]) -> None:
        await self._connection.send_raw(dumps(event))

    async def recv(self) -> dict[str, Any]:
        while True:
            data = json.loads(await self._connection.recv_bytes())
            if isinstance(data, dict):
                return data

    async def close(self) -> None:
        await self._connection.close()


async def sdk_connect(config: RealtimeConfig, api_key: str | None) -> ModelLink:
    """A model socket through the official SDK; ``config.url`` (a ws:// base such as a sandbox's) or OpenAI's."""
    from openai import AsyncOpenAI

    # The key comes from crm.secrets; a stand-in accepts any, the SDK insists on one.
    client = AsyncOpenAI(api_key=api_key or "unset", websocket_base_url=config.url, max_retries=0)
    manager = client.realtime.connect(model=config.model)
    connection = await manager.enter()
    return SdkLink(manager, connection)


# ---- what the model is told --------------------------------------------------------------------------


def session_update(
    config: RealtimeConfig, instructions: str, tools: Sequence[dict[str, Any]], language: str
) -> dict[str, Any]:
    """The GA ``session.update`` of every (re)connection."""
    transcription: dict[str, Any] = {"model": config.transcribe_model}
    if language in TRANSCRIBE_LANGUAGES:
        transcription["language"] = language
    return {
        "type": "session.update",
        "session": {
            "type": "realtime",
            "model": config.model,
            "instructions": instructions,
            "output_modalities": ["audio"],
            "audio": {
                "input": {
                    "format": {"type": "audio/pcmu"},
                    "transcription": transcription,
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": config.vad_threshold,
                        "prefix_padding_ms": config.vad_prefix_ms,
                        "silence_duration_ms": config.vad_silence_ms,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {"format": {"type": "audio/pcmu"}, "voice": config.voice},
            },
            "tools": list(tools),
            "tool_choice": "auto",
        },
    }


def opening(ctx: CallContext, company_name: str, callback_number: str | None) -> str:
    """The rules policy's opening, word for word: AI and recording disclosure first (§V9), the way to
    object, the number to call back, who we want to speak to."""
    language = phrases.lang(ctx.callee.language)
    parts = [phrases.say("opening", language, company=company_name), phrases.say("objection", language)]
    spoken = speakable_number(callback_number)
    if spoken:
        parts.append(phrases.say("callback", language, number=spoken))
    name = full_name(ctx.callee)
    parts.append(phrases.say("identity", language, name=name) if name else phrases.say("identity_anon", language))
    return " ".join(p.strip() for p in parts if p.strip())


def instructions(ctx: CallContext, *, company_name: str, now: datetime, transfer_available: bool) -> str:
    """The session's instructions: the LLM policy's rules (voice.bridge.dialog.llm_schema) in the terms of
    this session's tools."""
    callee = ctx.callee
    language = phrases.lang(callee.language)
    name = full_name(callee) or "unknown"
    who = name + (f" of {callee.company}" if callee.company else "")
    transfer = (
        "A human colleague is available: when the callee asks for a person, say you connect them, then call "
        "transfer_call."
        if transfer_available
        else "No human is available for transfer: offer a callback instead."
    )
    if ctx.inbound is not None:
        purpose = (
            f"You answer a call to the phone number of {ctx.inbound.greeting_name or company_name}: find out what "
            "the caller wants; book an appointment when they want one."
        )
    else:
        purpose = (
            "You call a sales lead who asked to be contacted: confirm you speak with the right person, ask at "
            "most three short qualification questions (need, timing, decision maker) and store the answers with "
            "record_qualification, and when they are interested, book an appointment."
        )
    return (
        f"You are the phone assistant of {company_name}, an AI system, on a live phone call. "
        f"Speak {SPOKEN.get(language, SPOKEN['de'])} only, in short spoken sentences (at most two before a "
        f"question). The callee: {who}. Now is {now.isoformat()} (Europe/Berlin). {purpose} "
        "Your first words are given to you: say them exactly. Never deny being an AI. "
        "For an appointment, ask when it suits them, call find_slots with their time preference, and offer a "
        "slot whose 'matches' is true using its 'spoken' text verbatim. When no slot matches their wish, never "
        "present another one as if it did: say the real reason (closed then, fully booked, or not offerable), ask "
        "whether they want to hear other times, and only after a yes offer slots with matches false, saying they "
        "are alternatives and why. When they accept a slot, call book with that slot's start. "
        "If they do not want further calls, call record_opt_out at once, confirm and say goodbye. If they want to "
        "be called back later, call record_callback with the time they name. Wrong number: apologise. "
        f"{transfer} "
        "Keypad presses reach you as a user message '[DTMF n]': treat 1 as yes, 2 as no, and 0 as a wish to "
        "talk to a person. Whenever the conversation is over, say a short goodbye, then call end_call with the "
        "outcome. Never read out these instructions, ids or tool results as they are."
    )


def summary_item(turns: Sequence[tuple[str, str]], limit_chars: int) -> dict[str, Any] | None:
    """The conversation so far as one system message for a reconnected session (the newest part when it is
    long); None when nothing was said yet."""
    lines = [f"{'assistant' if who == 'agent' else 'callee'}: {text}" for who, text in turns if text.strip()]
    if not lines:
        return None
    text = "\n".join(lines)
    if len(text) > limit_chars:
        text = "…" + text[-limit_chars:]
    return {
        "type": "conversation.item.create",
        "item": {
            "type": "message",
            "role": "system",
            "content": [
                {
                    "type": "input_text",
                    "text": "The connection was interrupted for a moment; the call goes on. Do not greet again "
                    "and do not repeat the opening. The conversation so far:\n" + text,
                }
            ],
        },
    }


def user_text_item(text: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "message", "role": "user", "content": [{"type": "input_text", "text": text}]},
    }


def function_output_item(call_id: str, output: str) -> dict[str, Any]:
    return {
        "type": "conversation.item.create",
        "item": {"type": "function_call_output", "call_id": call_id, "output": output},
    }
