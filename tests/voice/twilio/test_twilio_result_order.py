"""The chain's result of an own-agent call carries the bridge's classification whichever arrives first: the
bridge's end-of-call record (voice.bridge.realtime_records.store_report) or Twilio's signed `completed`
callback, which carries none (docs/audio-agent.md §T4). One outbox row per call, due once both are in (or
after twilio_calls.REPORT_WAIT_S without the bridge's record). SQLite and PostgreSQL, through the webhook
and the bridge's own write."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import CallResultDelivery, Interaction
from crm.models.types import utcnow
from crm.services import call_outbox, twilio_calls
from providers.events import Turn
from providers.twilio_cost import RealtimeUsage
from tests.conftest import set_settings
from tests.voice.twilio.conftest import in_db, number, seed_campaign, seed_lead
from tests.voice.twilio.test_twilio_webhooks import PUBLIC, SID, STREAM, fields_of, post
from tests.workflows.conftest import always_open_policy
from voice.bridge.realtime_records import store_report
from voice.bridge.realtime_report import RealtimeCallReport

CHAIN = "lead-chain-order"
KEY = f"{CHAIN}:call:0:1"


@pytest.fixture
def hooks(app):
    # As test_twilio_webhooks's: the sandbox account's token verifies; nothing is served at the sandbox URL.
    set_settings(app, "providers", sandbox_url="http://127.0.0.1:9", public_url=PUBLIC, twilio_stream_url=STREAM)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    return app


@pytest.fixture
def call_path(hooks):
    seed_campaign(hooks)
    lead_id = seed_lead(hooks, number(1))
    return f"/webhooks/twilio/status?lead={lead_id}&chain={CHAIN}&key={KEY.replace(':', '%3A')}"


def report(classification: str | None = "do_not_call") -> RealtimeCallReport:
    return RealtimeCallReport(
        call_id=SID,
        stream_sid="MZ" + "2" * 32,
        ended_by="stop",
        usage=RealtimeUsage(SID, audio_tokens_in=400, audio_tokens_out=300),
        responses=2,
        transcript=(Turn("agent", "Hello", 0.5), Turn("callee", "Never call me again.", 3.0)),
        classification=classification,
        idempotency_key=KEY,
    )


def bridge_reports(app, classification: str | None = "do_not_call") -> None:
    assert in_db(app, lambda: store_report(report(classification))) is not None


def answered(client, path: str) -> None:
    for sequence, status in enumerate(("initiated", "ringing", "in-progress")):
        assert post(client, path, fields_of(status, sequence)).status_code == 200


def completed(client, path: str, status: str = "completed") -> None:
    r = post(client, path, fields_of(status, 3, CallDuration="42"))
    assert r.status_code == 200 and r.json["results"][0]["status"] == "recorded", r.json


def outbox(app) -> list[tuple[str, str | None, str, bool]]:
    """Every outbox row: (chain, classification, end status, due now)."""

    def read() -> list[tuple[str, str | None, str, bool]]:
        rows = db.session.scalars(sa.select(CallResultDelivery)).all()
        now = utcnow() + timedelta(seconds=1)
        return [(r.chain_id, r.result["classification"], r.result["status"], r.next_attempt_at <= now) for r in rows]

    return in_db(app, read)


def the_record(app) -> Interaction:
    return in_db(app, lambda: db.session.scalars(sa.select(Interaction).where(Interaction.provider_ref == SID)).one())


def test_the_bridges_record_first_then_twilios_end(hooks, client, call_path):
    answered(client, call_path)
    bridge_reports(hooks)
    assert outbox(hooks) == []  # not ended: nothing for the chain yet
    completed(client, call_path)
    assert outbox(hooks) == [(CHAIN, "do_not_call", "completed", True)]
    call = the_record(hooks)
    assert call.outcome == "do_not_call" and call.data["final"] and call.data["bridge"]["ended_by"] == "stop"


def test_twilios_end_first_waits_for_the_bridges_record(hooks, client, call_path):
    answered(client, call_path)
    completed(client, call_path)
    # Held for the bridge: the relay finds nothing due.
    assert outbox(hooks) == [(CHAIN, None, "completed", False)]
    assert in_db(hooks, lambda: call_outbox.due(10)) == []
    bridge_reports(hooks)
    assert outbox(hooks) == [(CHAIN, "do_not_call", "completed", True)]
    [(_id, chain, result)] = in_db(hooks, lambda: call_outbox.due(10))
    assert chain == CHAIN and result.classification == "do_not_call" and result.answered
    assert result.event_id == f"twilio_realtime:{SID}"  # the id the chain takes one result by
    assert the_record(hooks).outcome == "do_not_call"


def test_a_bridge_record_without_a_classification_releases_the_result_as_it_is(hooks, client, call_path):
    answered(client, call_path)
    completed(client, call_path)
    bridge_reports(hooks, classification=None)
    assert outbox(hooks) == [(CHAIN, None, "completed", True)]


def test_without_the_bridges_record_the_end_status_goes_after_the_wait(hooks, client, call_path):
    answered(client, call_path)
    completed(client, call_path)
    later = utcnow() + timedelta(seconds=twilio_calls.REPORT_WAIT_S + 1)
    [(_id, _chain, result)] = in_db(hooks, lambda: call_outbox.due(10, now=later))
    assert result.status == "completed" and result.classification is None


def test_a_record_after_delivery_changes_the_call_not_what_the_chain_was_told(hooks, client, call_path):
    answered(client, call_path)
    completed(client, call_path)
    later = utcnow() + timedelta(seconds=twilio_calls.REPORT_WAIT_S + 1)
    [(row_id, _chain, _result)] = in_db(hooks, lambda: call_outbox.due(10, now=later))
    in_db(hooks, lambda: call_outbox.mark_delivered([(row_id, "update")]))
    bridge_reports(hooks)
    # Delivered as it was (one row, left as the chain got it): the chain takes one result per call.
    assert [r.classification for _chain, r in in_db(hooks, call_outbox.results)] == [None]
    assert the_record(hooks).outcome == "do_not_call"  # the CRM's record has the bridge's word


@pytest.mark.parametrize("status", ["busy", "no-answer"])
def test_an_unanswered_call_is_told_at_once(hooks, client, call_path, status):
    for sequence, live in enumerate(("initiated", "ringing")):
        assert post(client, call_path, fields_of(live, sequence)).status_code == 200
    completed(client, call_path, status)
    [(chain, classification, end_status, due)] = outbox(hooks)
    assert (chain, classification, due) == (CHAIN, None, True) and end_status == status.replace("-", "_")


def test_a_replayed_completed_after_the_record_keeps_the_classification(hooks, client, call_path):
    answered(client, call_path)
    completed(client, call_path)
    bridge_reports(hooks)
    completed(client, call_path)  # Twilio's retry of the same callback: answered as the first time
    assert outbox(hooks) == [(CHAIN, "do_not_call", "completed", True)]
