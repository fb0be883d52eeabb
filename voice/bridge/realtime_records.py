"""The record of a Twilio + OpenAI Realtime call, as the bridge keeps it (issue 22).

Retell, Vapi and Bland send the transcript in their post-call webhooks and the CRM merges it into the call's
interaction (crm.services.calls.apply_event). This path has no such webhook for the conversation: the
bridge is the only one that heard it, so at the end of the stream it hands the same kind of event to the
same merge (stage in_progress: the Twilio status callbacks still decide how the call ended), with the
usage of the model session in ``data["realtime_usage"]`` (providers.twilio_cost.RealtimeUsage, which
the provider's cost model reads) and the outcome the tools saw as the event's classification (and as
``analysis.outcome``).

Twilio's `completed` callback carries no classification, so the chain's result is the merged record's:
when the bridge's record comes first, Twilio's callback queues the result with the classification in it;
when Twilio's comes first, its result waits in the outbox (crm.services.twilio_calls.REPORT_WAIT_S) and
the record here refreshes it and makes it due at once (crm.services.calls.queue_result). One outbox row per
call either way: the chain is told once (docs/audio-agent.md §T4).

``store_report`` is synchronous, for a worker thread inside the Flask app context and the call's company
(voice.bridge.crm_tools.ToolRunner); it commits. ``provider_transfer`` is the production transfer seam:
the call's company's ``twilio_realtime`` provider (providers/twilio_realtime.py) moves the call to a person.
"""

from __future__ import annotations

from typing import Any

from crm.extensions import db
from crm.services.calls import apply_event, queue_result
from crm.services.twilio_calls import record_usage
from providers.events import CallEvent
from providers.factory import registry
from voice.bridge.crm_tools import ToolRunner
from voice.bridge.lead_records import as_int, begin_write
from voice.bridge.realtime_config import PROVIDER, Transfer
from voice.bridge.realtime_report import RealtimeCallReport


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
        classification=report.classification or None,
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
    queue_result(call)  # Twilio's end came first: its waiting result now carries the classification
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
