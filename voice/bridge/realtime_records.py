"""The record of a Twilio + OpenAI Realtime call, as the bridge keeps it (issue 22).

Retell, Vapi and Bland send the transcript in their post-call webhooks and the CRM merges it into the call's
interaction (crm.services.calls.apply_event). This path has no such webhook for the conversation: the
bridge is the only one that heard it, so at the end of the stream it hands the same kind of event to the
same merge (stage in_progress: the Twilio status callbacks still decide how the call ended), with the
usage of the model session in ``data["realtime_usage"]`` (providers.realtime_usage.RealtimeUsage, which
the provider's cost model reads) and the outcome the tools saw as ``analysis.outcome``.

``store_report`` is synchronous, for a worker thread inside the Flask app context and the call's company
(voice.bridge.crm_tools.ToolRunner); it commits. ``provider_transfer`` is the production transfer seam:
the call's company's ``twilio_realtime`` provider (providers/twilio_realtime.py) moves the call to a person.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from crm.extensions import db
from crm.services.calls import apply_event
from crm.services.twilio_calls import record_usage
from providers.events import CallEvent, Turn
from providers.factory import registry
from providers.twilio_cost import RealtimeUsage
from voice.bridge.crm_tools import ToolRunner
from voice.bridge.lead_records import as_int, begin_write
from voice.bridge.realtime_config import PROVIDER, Transfer


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


def store_report(report: RealtimeCallReport) -> int | None:
    """Merge the transcript, the usage and the outcome into the call's interaction (in the call's company's
    unit of work); the interaction's id, or None for a call the CRM does not know (not ours)."""
    begin_write()
    analysis = {"outcome": report.classification} if report.classification else None
    event = CallEvent(
        provider=PROVIDER,
        call_id=report.call_id,
        event_id=f"bridge:{report.stream_sid}",
        event_type="bridge_stream_ended",
        stage="in_progress",
        transcript=list(report.transcript) or None,
        analysis=analysis,
        lead_id=report.lead_id or as_int(report.metadata.get("lead_id")),
        chain_id=report.chain_id,
        idempotency_key=report.idempotency_key,
    )
    call = apply_event(event)
    if call is None:
        db.session.rollback()
        return None
    record_usage(report.usage)
    data = dict(call.data or {})
    bridge = {"ended_by": report.ended_by, "reconnects": report.reconnects, "transferred": report.transferred}
    if report.appointment_id is not None:
        data.setdefault("appointment_id", report.appointment_id)
    data["bridge"] = bridge
    call.data = data
    db.session.commit()
    return call.id


def provider_transfer(app: Any, runner: ToolRunner) -> Transfer:
    """The transfer seam over the company's twilio_realtime provider: its REST update of the call's TwiML
    (<Dial>) ends the stream. Runs in a worker thread in the call's company (the registry of that company's
    keys); False when the company has no such provider."""

    def move(call_sid: str, number: str) -> bool:
        provider: Any = registry(app).get(PROVIDER)
        if provider is None or not hasattr(provider, "transfer"):
            return False
        provider.transfer(call_sid, number)
        return True

    async def transfer(call_sid: str, number: str, summary: str, company_id: int | None) -> bool:
        # The summary is for a warm hand-over; Twilio's <Dial> has no place for it (docs/audio-agent.md).
        moved: bool = await runner.call("transfer", move, call_sid, number, company_id=company_id)
        return moved

    return transfer
