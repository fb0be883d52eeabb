"""The end-of-call record of a Twilio + Realtime call in the CRM: the transcript, the model's usage (the
provider's RealtimeUsage, read back by its cost model) and the outcome the tools saw."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind
from crm.services.twilio_calls import usage_of
from providers.events import Turn
from tests.voice.bridge.test_booking import add_lead
from tests.voice.realtime.conftest import CALL_SID
from voice.bridge.config import BridgeConfig
from voice.bridge.realtime_records import store_report
from voice.bridge.realtime_report import RealtimeCallReport, UsageTally
from voice.bridge.server import build_bridge


def _report(**changes) -> RealtimeCallReport:
    usage = UsageTally().add(
        {
            "input_token_details": {"audio_tokens": 476, "text_tokens": 313, "cached_tokens": 640},
            "output_token_details": {"audio_tokens": 23, "text_tokens": 9},
        }
    )
    base = {
        "call_id": CALL_SID,
        "stream_sid": "MZ" + "1" * 32,
        "ended_by": "end_call",
        "usage": usage.add(None).usage(CALL_SID),
        "responses": 2,
        "transcript": (Turn("agent", "Guten Tag", 0.5), Turn("callee", "Ja bitte", 2.0)),
        "classification": "interested",
    }
    return RealtimeCallReport(**{**base, **changes})


def test_the_report_lands_on_the_calls_interaction(app, ctx):
    lead = add_lead()
    call = Interaction(
        lead_id=lead.id,
        kind=InteractionKind.CALL,
        direction=Direction.OUTBOUND,
        provider="twilio_realtime",
        provider_ref=CALL_SID,
        status="in_progress",
        data={"call_key": "k-1"},
    )
    db.session.add(call)
    db.session.commit()
    assert store_report(_report()) == call.id
    db.session.expire_all()
    stored = db.session.scalars(sa.select(Interaction).where(Interaction.provider_ref == CALL_SID)).one()
    assert stored.transcript == [
        {"speaker": "agent", "text": "Guten Tag", "at_s": 0.5},
        {"speaker": "callee", "text": "Ja bitte", "at_s": 2.0},
    ]
    usage = usage_of(stored)
    assert usage is not None and (usage.audio_tokens_in, usage.audio_tokens_out, usage.cached_tokens_in) == (
        476,
        23,
        640,
    )
    assert stored.data["analysis"] == {"outcome": "interested"}
    assert stored.data["bridge"] == {"ended_by": "end_call", "reconnects": 0, "transferred": False}
    assert stored.data["call_key"] == "k-1"


def test_a_call_the_crm_does_not_know_stores_nothing(app, ctx):
    assert store_report(_report(call_id="CA" + "f" * 32)) is None
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Interaction)) == 0


def test_the_production_wiring_sets_up_the_realtime_path(app):
    bridge = build_bridge(app, config=BridgeConfig(port=0, metrics_port=0))
    try:
        assert bridge.realtime is not None
        assert bridge.realtime.store is store_report and bridge.realtime.transfer is not None
        assert bridge.realtime.config.model == app.config["LEADCHAIN"].bridge.realtime_model
    finally:
        bridge.tools_factory.close()
