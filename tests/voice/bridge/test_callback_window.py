"""The bridge's side of a callback at the caller's stated time (issue 15 item 3): the window the caller said
is resolved in the lead's zone to UTC instants (chain_notify.callback_request) and reaches the lead's chain
as a `callback_request` signal carrying the call id and times only (CrmTools.record_callback), checked in
the chain's real history on the Temporal dev server."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from temporalio.api.enums.v1 import EventType

from crm.extensions import db
from crm.models import Lead
from tests.fakes import Script
from tests.voice.bridge.test_dialog_support import ANNA, Conversation, FakeCalendar
from tests.voice.content_timing import CONTENT_TIMING
from tests.workflows.conftest import chain  # noqa: F401  (the chain fixture: dev server, workers, relay)
from tests.workflows.test_lead_chain import HOT
from voice.bridge.chain_notify import callback_request, notify_callback
from voice.bridge.config import BridgeConfig
from voice.bridge.crm_tools import CallContext, CrmToolsFactory, temporal_notifier
from voice.bridge.dialog.rules import RulesPolicy
from voice.bridge.dialog.timetalk import default_timetalk
from voice.bridge.metrics import BridgeMetrics
from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow
from workflows.payloads import CallbackRequest

BERLIN, NEW_YORK = ZoneInfo("Europe/Berlin"), ZoneInfo("America/New_York")
NOW = datetime(2026, 12, 7, 10, 0, tzinfo=BERLIN)  # a Monday morning
TIMETALK = default_timetalk()


def local(zone: ZoneInfo, day: date, at: time = time(0)) -> datetime:
    return datetime.combine(day, at, zone).astimezone(UTC)


def window_of(text: str, language: str, now: datetime = NOW) -> TimeConstraint:
    window = TIMETALK.preference(text, language, now)
    assert window is not None, text
    return window


# ---------------------------------------------------------------- the window as UTC instants


@pytest.mark.parametrize("zone", [BERLIN, NEW_YORK], ids=["berlin", "new-york"])
@pytest.mark.parametrize(
    "text, language, first, last",
    [
        ("melden Sie sich Ende Februar wieder", "de", date(2027, 2, 21), date(2027, 3, 1)),
        ("try me again next month", "en", date(2027, 1, 1), date(2027, 2, 1)),
        ("call me back after the holidays", "en", date(2027, 1, 2), None),
        ("rappelez-moi fin février", "fr", date(2027, 2, 21), date(2027, 3, 1)),
    ],
)
def test_the_stated_window_starts_at_midnight_in_the_leads_zone(zone, text, language, first, last):
    request = callback_request("call-1", window_of(text, language), str(zone), NOW)
    assert request == CallbackRequest("call-1", local(zone, first), local(zone, last) if last is not None else None)


def test_clock_times_of_the_window_are_the_callers_wall_clock():
    tuesday = window_of("ruf mich Dienstag nach 15 Uhr zurück", "de")
    assert callback_request("c", tuesday, "Europe/Berlin", NOW) == CallbackRequest(
        "c", local(BERLIN, date(2026, 12, 8), time(15)), local(BERLIN, date(2026, 12, 9))
    )
    mornings = window_of("call me back next week in the morning", "en")
    request = callback_request("c", mornings, "America/New_York", NOW)
    assert request.not_before == local(NEW_YORK, date(2026, 12, 14), time(8))
    assert request.not_after == local(NEW_YORK, date(2026, 12, 20), time(12))


def test_a_day_whose_window_has_passed_moves_to_the_next_day():
    afternoons = TimeConstraint(windows=(TimeWindow(time(13), time(17)),))
    evening = datetime(2026, 12, 7, 18, 0, tzinfo=BERLIN)
    assert callback_request("c", afternoons, "Europe/Berlin", evening) == CallbackRequest(
        "c", local(BERLIN, date(2026, 12, 8), time(13)), None
    )
    # Said at 14:00, today's afternoon is still open: it starts today (the chain waits an hour at least).
    assert callback_request("c", afternoons, "Europe/Berlin", evening.replace(hour=14)).not_before == local(
        BERLIN, date(2026, 12, 7), time(13)
    )


def test_a_window_in_the_past_is_kept_so_the_chain_can_say_so_and_nothing_is_none():
    yesterday = TimeConstraint(dates=(date(2026, 12, 6),))
    assert callback_request("c", yesterday, "Europe/Berlin", NOW) == CallbackRequest(
        "c", local(BERLIN, date(2026, 12, 6)), local(BERLIN, date(2026, 12, 7))
    )
    assert callback_request("c", TimeConstraint(), "Europe/Berlin", NOW) is None
    reversed_range = TimeConstraint(date_from=date(2027, 3, 1), date_to=date(2027, 2, 1))
    assert callback_request("c", reversed_range, "Europe/Berlin", NOW) is None


# ---------------------------------------------------------------- the signal, on the real chain


async def test_the_window_reaches_the_chain_as_times_only(chain):  # noqa: F811
    chain.provider.scripts["+493023125101"] = Script([("completed", "callback_requested")])
    chain.deliver_webhooks = False  # the call is live while the dialog ends it
    chain_id = chain.post_lead(HOT)["chain_id"]
    status = await chain.stage(chain_id, "waiting_for_result")
    call_id = next(iter(chain.provider.results))

    def move_the_lead_to_new_york():
        db.session.get(Lead, status.lead_id).phone_timezone = "America/New_York"
        db.session.commit()

    chain.db(move_the_lead_to_new_york)  # the window is resolved in the lead's zone, not the bridge's
    factory = CrmToolsFactory(
        chain.app,
        config=BridgeConfig(**CONTENT_TIMING),
        metrics=BridgeMetrics(),
        notifier=temporal_notifier(chain.client),
    )
    try:
        ctx = await factory.context(call_id, "retell", {})
        assert ctx.chain_id == chain_id
        now = datetime.now(BERLIN)
        window = window_of("melden Sie sich Ende Februar wieder", "de", now)
        tools = factory.tools(ctx, speak=None, now=now)
        await tools.record_callback(window)  # returns at once: the call is ending
        await factory.drain()
    finally:
        factory.close()

    history = await chain.handle(chain_id).fetch_history()
    signals = [
        e.workflow_execution_signaled_event_attributes
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        and e.workflow_execution_signaled_event_attributes.signal_name == "callback_request"
    ]
    assert len(signals) == 1
    payload = json.loads(signals[0].input.payloads[0].data)
    assert payload == {
        "call_id": call_id,
        "not_before": local(NEW_YORK, window.date_from).isoformat().replace("+00:00", "Z"),
        "not_after": local(NEW_YORK, window.date_to + timedelta(days=1)).isoformat().replace("+00:00", "Z"),
    }
    raw = signals[0].SerializeToString()
    for personal in ("Jürgen", "Weber", "Krause", "kfz-krause", "23125101", "Ende", "Februar", "melden"):
        assert personal.encode() not in raw, personal

    chain.deliver_webhooks = True
    waiting = await chain.stage(chain_id, "waiting_for_window")
    assert waiting.next_at == local(NEW_YORK, window.date_from)


async def test_a_chain_that_is_gone_or_missing_is_no_error(chain):  # noqa: F811
    request = CallbackRequest("call-1", datetime.now(UTC) + timedelta(days=3))
    assert await notify_callback(chain.client, "lead-0000000000000000", request) == "gone"
    assert await notify_callback(chain.client, None, request) == "no_chain"


async def test_without_a_client_or_a_day_nothing_is_sent():
    sent: list[tuple] = []

    async def collect(chain_id, request):
        sent.append((chain_id, request))

    ctx = CallContext("call-1", "retell", ANNA, chain_id="lead-1")
    quiet = CrmToolsFactory(
        None, config=BridgeConfig(), metrics=BridgeMetrics(), zone_of_lead=lambda _: "Europe/Berlin"
    )
    await quiet.tools(ctx, speak=None, now=NOW).record_callback(window_of("try me again next month", "en"))
    await quiet.drain()
    told = CrmToolsFactory(
        None,
        config=BridgeConfig(),
        metrics=BridgeMetrics(),
        callback_notifier=collect,
        zone_of_lead=lambda _: "Europe/Berlin",
    )
    await told.tools(ctx, speak=None, now=NOW).record_callback(
        TimeConstraint(date_from=date(2027, 3, 1), date_to=date(2027, 2, 1))
    )
    await told.tools(ctx, speak=None, now=NOW).record_callback(window_of("try me again next month", "en"))
    await told.drain()
    assert sent == [
        ("lead-1", CallbackRequest("call-1", local(BERLIN, date(2027, 1, 1)), local(BERLIN, date(2027, 2, 1))))
    ]
    for factory in (quiet, told):
        factory.close()


# ---------------------------------------------------------------- the dialog's end of it


class CallbackCalendar(FakeCalendar):
    """The dialog tests' calendar, with the tool the callback step calls."""

    async def record_callback(self, window: TimeConstraint) -> None:
        self._enter("record_callback", window)


async def test_the_rules_policy_records_the_callers_window():
    calendar = CallbackCalendar()
    call = Conversation(RulesPolicy(TIMETALK), calendar, callee=ANNA)
    await call.play(["Ja, am Apparat.", "Unsere Terminvergabe.", "Bald.", "Das entscheide ich selbst."])
    reply = await call.hear("Melden Sie sich Ende Februar wieder.")
    assert reply.result.classification == "callback_requested" and reply.result.constraint is not None
    assert [(n, a) for n, a in calendar.calls if n == "record_callback"] == [
        ("record_callback", reply.result.constraint)
    ]
