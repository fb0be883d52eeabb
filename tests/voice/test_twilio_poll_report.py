"""A polled twilio_realtime result takes the bridge's classification from the call's record
(crm.services.twilio_calls.with_bridge_report): Twilio's end carries none, and a poll that came between Twilio's
end and the bridge's record gave the chain a bare "completed" for a callee who had asked never to be called again
(seen in tests/workflows/test_worker_kill_twilio.py on a loaded CI host). Real database, both backends."""

from __future__ import annotations

import threading
import time

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Lead
from crm.services import twilio_calls
from providers.twilio_wire import NAME
from workflows.payloads import CallResult

SID = "CA" + "0" * 31 + "1"


def _call(app, *, reported: bool) -> int:
    with app.app_context():
        lead = Lead(first_name="Poll", last_name="Report", source="test")
        db.session.add(lead)
        db.session.flush()
        call = Interaction(
            lead_id=lead.id, kind=InteractionKind.CALL, direction=Direction.OUTBOUND, provider=NAME,
            provider_ref=SID, status="ended", created_by="chain",
            data={"answered": True, **({"bridge": {"ended_by": "callee"}} if reported else {})},
            outcome="do_not_call" if reported else None,
        )  # fmt: skip
        db.session.add(call)
        db.session.commit()
        return call.id


def _polled(answered: bool = True) -> CallResult:
    return CallResult(NAME, SID, f"{SID}:poll", answered, "completed", None, 42)


def test_a_reported_call_gets_the_bridges_classification_at_once(app):
    _call(app, reported=True)
    with app.app_context():
        start = time.monotonic()
        got = twilio_calls.with_bridge_report(_polled())
    assert got.classification == "do_not_call" and got.status == "completed" and got.duration_s == 42
    assert time.monotonic() - start < 2


def test_a_report_written_while_the_poll_waits_is_taken(app):
    call_id = _call(app, reported=False)

    def bridge_reports() -> None:
        time.sleep(0.6)
        with app.app_context():
            row = db.session.get(Interaction, call_id)
            row.data = {**(row.data or {}), "bridge": {"ended_by": "callee"}}
            row.outcome = "do_not_call"
            db.session.commit()

    from crm.tenancy.context import company_scope

    def in_company() -> None:
        with company_scope(1):
            bridge_reports()

    thread = threading.Thread(target=in_company)
    thread.start()
    with app.app_context():
        got = twilio_calls.with_bridge_report(_polled(), wait_s=10)
    thread.join()
    assert got.classification == "do_not_call"


def test_without_a_report_the_polled_result_goes_as_it_is(app):
    _call(app, reported=False)
    with app.app_context():
        start = time.monotonic()
        waited = twilio_calls.with_bridge_report(_polled(), wait_s=0.5)
        unanswered = twilio_calls.with_bridge_report(_polled(answered=False), wait_s=5)
    assert waited.classification is None and 0.4 < time.monotonic() - start < 3
    assert unanswered.classification is None
