"""The end of one Realtime call (voice.bridge.twilio_media, docs/audio-agent.md): its report built from
what the session knows, logged (ids and labels only), stored on the call's interaction
(voice.bridge.realtime_records, through the CRM tools' runner when there is one, else in a worker thread)
and handed to the provider's hook (RealtimeDeps.on_end). A failing store or hook is logged, never raised."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from providers.events import Turn
from voice.bridge.crm_tools import CallContext
from voice.bridge.realtime_config import RealtimeDeps
from voice.bridge.realtime_report import EndedBy, RealtimeCallReport, UsageTally
from voice.bridge.realtime_tools import CallFacts
from voice.bridge.twilio_frames import call_metadata

log = logging.getLogger(__name__)


def build_report(
    *,
    call_sid: str,
    stream_sid: str,
    ended_by: EndedBy,
    usage: UsageTally,
    transcript: tuple[Turn, ...],
    facts: CallFacts | None,
    ctx: CallContext | None,
    transferred: bool,
    reconnects: int,
    duration_s: float,
    parameters: dict[str, str],
) -> RealtimeCallReport:
    return RealtimeCallReport(
        call_id=call_sid,
        stream_sid=stream_sid,
        ended_by=ended_by,
        usage=usage.usage(call_sid),
        responses=usage.responses,
        transcript=transcript,
        classification=facts.classification if facts is not None else None,
        appointment_id=facts.appointment_id if facts is not None else None,
        transferred=transferred,
        reconnects=reconnects,
        duration_s=duration_s,
        lead_id=ctx.callee.lead_id if ctx is not None else None,
        chain_id=ctx.chain_id if ctx is not None else None,
        idempotency_key=call_metadata(parameters).get("idempotency_key"),
        metadata=dict(parameters),
    )


async def deliver_report(report: RealtimeCallReport, deps: RealtimeDeps, runner: Any, company_id: int | None) -> None:
    """Log the call's end, store its record (deps.store), then call deps.on_end."""
    log.info(
        "twilio stream %s of call %s ended (%s): %d responses, audio tokens in %d out %d, %d reconnects",
        report.stream_sid,
        report.call_id,
        report.ended_by,
        report.responses,
        report.usage.audio_tokens_in,
        report.usage.audio_tokens_out,
        report.reconnects,
    )
    if deps.store is not None:
        try:
            if runner is not None:
                await runner.call("store_realtime_call", deps.store, report, company_id=company_id)
            else:
                await asyncio.to_thread(deps.store, report)
        except Exception as e:  # noqa: BLE001 - the provider's webhooks still end the call
            log.warning("twilio call %s: record not stored (%s)", report.call_id, type(e).__name__)
    if deps.on_end is not None:
        try:
            await deps.on_end(report)
        except Exception as e:  # noqa: BLE001 - the hook's failure is the hook's
            log.warning("twilio call %s: end-of-call hook failed (%s)", report.call_id, type(e).__name__)
