"""Handing a Realtime call to a person (voice.bridge.twilio_media, docs/audio-agent.md): the number (the
company's inbound transfer target when the call came in on one of its numbers, else the bridge's
configured one), what that person is told (the outcome so far, the qualification answers) and the
provider's transfer (RealtimeDeps.transfer)."""

from __future__ import annotations

import logging

from voice.bridge.crm_tools import CallContext
from voice.bridge.dialog.callee_text import e164
from voice.bridge.realtime_config import RealtimeDeps
from voice.bridge.realtime_tools import CallFacts

log = logging.getLogger(__name__)


def transfer_number(default: str | None, ctx: CallContext | None) -> str | None:
    """The E.164 number to transfer to, or None (no valid number: no transfer is offered)."""
    target = default
    if ctx is not None and ctx.inbound is not None and ctx.inbound.transfer_target:
        target = ctx.inbound.transfer_target
    return e164(target)


def transfer_summary(facts: CallFacts | None) -> str:
    parts = ["Call handed over by the AI assistant."]
    if facts is not None and facts.classification:
        parts.append(f"Outcome so far: {facts.classification}.")
    if facts is not None and facts.qualification:
        parts.append("Answers: " + "; ".join(f"{k}: {v}" for k, v in sorted(facts.qualification.items())))
    return " ".join(parts)


async def hand_over(
    deps: RealtimeDeps, call_sid: str, stream_sid: str, number: str, summary: str, company: int | None
) -> bool:
    """The provider's transfer (deps.transfer): True when it moved the call; a failure is logged, never raised."""
    if deps.transfer is None:
        return False
    try:
        return await deps.transfer(call_sid, number, summary, company)
    except Exception as e:  # noqa: BLE001 - the call goes on with the agent
        log.warning("twilio stream %s: transfer failed (%s)", stream_sid, type(e).__name__)
        return False
