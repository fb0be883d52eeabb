"""Which Twilio call our call key made: Twilio has no idempotency key, so the CRM remembers it from Twilio's
signed status callbacks, whose URL carries the key (providers/twilio_realtime.py, docs/audio-agent.md §T3).
`call_for_key` is handed to the provider through app.extensions[TWILIO_CALLS_EXTENSION]."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Interaction, SideEffect
from providers.twilio_cost import RealtimeUsage, call_cost_cents
from providers.twilio_wire import NAME
from providers.wire import MalformedPayload

CALL_KEY = "call_key"  # the key's place in the call's data
USAGE = "realtime_usage"  # the bridge's RealtimeUsage, as JSON
BRIDGE = "bridge"  # the bridge's end-of-call record (voice.bridge.realtime_records.store_report)
# How long an answered call's result waits in the outbox for the bridge's record (its classification)
# when Twilio's end status comes first. The bridge writes it as the stream stops, within a second or two;
# a bridge that died mid-call never does, and the chain is told the bare end status after this wait.
REPORT_WAIT_S = 30.0


def remember_key(call: Interaction, call_key: str | None) -> None:
    """Note on the call's record the key that dialled it (the first callback's; never overwritten)."""
    if call_key and CALL_KEY not in (call.data or {}):
        call.data = {**(call.data or {}), CALL_KEY: call_key}


def call_for_key(call_key: str) -> str | None:
    """The CallSid our key made, once one of its callbacks arrived; None otherwise. Read in the caller's
    company scope (the place_call activity's)."""
    lead_id = db.session.scalar(sa.select(SideEffect.lead_id).where(SideEffect.key == call_key))
    if lead_id is None:
        return None
    calls = db.session.scalars(
        sa.select(Interaction)
        .where(Interaction.lead_id == lead_id, Interaction.provider == NAME)
        .order_by(Interaction.id.desc())
        .limit(50)
    ).all()
    return next((c.provider_ref for c in calls if (c.data or {}).get(CALL_KEY) == call_key), None)


def report_wait_s(call: Interaction) -> float:
    """The outbox hold for an ended call's result (crm.services.calls.queue_result): REPORT_WAIT_S for an
    answered call the bridge has not reported yet, else none (nobody talked: nothing to classify)."""
    data = call.data or {}
    return REPORT_WAIT_S if data.get("answered") and BRIDGE not in data else 0.0


def usage_of(call: Interaction) -> RealtimeUsage | None:
    raw = (call.data or {}).get(USAGE)
    try:
        return RealtimeUsage.from_json(raw) if raw is not None else None
    except MalformedPayload:
        return None


def record_usage(usage: RealtimeUsage) -> bool:
    """The bridge's report of the model's tokens on call `usage.call_sid` (it sums every Realtime
    `response.done`). Kept on the call's record; a call that has already ended gets its cost recomputed.
    False: no such call. The caller commits (in the call's company scope)."""
    call = db.session.scalar(
        sa.select(Interaction)
        .where(Interaction.provider == NAME, Interaction.provider_ref == usage.call_sid)
        .with_for_update()
    )
    if call is None:
        return False
    call.data = {**(call.data or {}), USAGE: usage.to_json()}
    if call.duration_s is not None and (call.data or {}).get("final"):
        call.cost_cents = call_cost_cents(call.duration_s, None, usage)
        call.currency = "USD"
    return True
