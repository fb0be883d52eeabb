"""The typed record of one Twilio + OpenAI Realtime call at its end (issue 22, docs/audio-agent.md): the
model's usage summed over the call and what the session reports. Data only, below both the session
(voice.bridge.twilio_media) and the CRM write (voice.bridge.realtime_records), so the seams in
voice.bridge.realtime_config can name it without an import cycle."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from providers.events import Turn
from providers.twilio_cost import RealtimeUsage


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0


@dataclass(frozen=True)
class UsageTally:
    """The model's usage summed over the call's responses (cancelled ones too: interrupted audio is billed)."""

    responses: int = 0
    audio_in: int = 0
    audio_out: int = 0
    cached_in: int = 0
    text_in: int = 0
    text_out: int = 0

    def add(self, usage: Any) -> UsageTally:
        """Plus one ``response.done`` ``response.usage`` (a missing or odd one counts no tokens)."""
        usage = usage if isinstance(usage, dict) else {}
        given = usage.get("input_token_details")
        inp = given if isinstance(given, dict) else {}
        given = usage.get("output_token_details")
        out = given if isinstance(given, dict) else {}
        return replace(
            self,
            responses=self.responses + 1,
            audio_in=self.audio_in + _count(inp.get("audio_tokens")),
            audio_out=self.audio_out + _count(out.get("audio_tokens")),
            cached_in=self.cached_in + _count(inp.get("cached_tokens")),
            text_in=self.text_in + _count(inp.get("text_tokens")),
            text_out=self.text_out + _count(out.get("text_tokens")),
        )

    def usage(self, call_sid: str) -> RealtimeUsage:
        """The provider's typed payload (providers.twilio_cost)."""
        return RealtimeUsage(
            call_sid=call_sid,
            audio_tokens_in=self.audio_in,
            audio_tokens_out=self.audio_out,
            cached_tokens_in=self.cached_in,
            text_tokens_in=self.text_in,
            text_tokens_out=self.text_out,
        )


EndedBy = Literal["stop", "end_call", "transfer", "twilio_closed", "model_lost", "shutdown"]


@dataclass(frozen=True)
class RealtimeCallReport:
    """What one call's bridge session reports at its end (typed; ids, labels, counts and the transcript)."""

    call_id: str  # Twilio's CallSid (the interaction's provider_ref)
    stream_sid: str
    ended_by: EndedBy
    usage: RealtimeUsage  # providers.twilio_cost's payload: token counts and the CallSid
    responses: int = 0
    transcript: tuple[Turn, ...] = ()
    classification: str | None = None
    appointment_id: int | None = None
    transferred: bool = False
    reconnects: int = 0
    duration_s: float = 0.0
    lead_id: int | None = None
    chain_id: str | None = None
    idempotency_key: str | None = None
    metadata: dict[str, str] = field(default_factory=dict)  # the <Parameter>s: non-personal ids only
