"""A callback the caller asked for at a stated time (issue 15 item 3): "melden Sie sich Ende Februar wieder",
"try me again next month", "call me back after the holidays" land as a callback task due at the window's
start inside calling hours, and the chain's next call at that moment.

The stated windows run on the time-skipping test server (a wait of months costs seconds) with the real
workers, activities, PostgreSQL, the real time parser and the bridge's own CRM tools sending the window;
the other paths (no window, a window over or too far away, a short window end to end) on the dev server.
The expected moments are computed here from the calendar (weekdays, German public holidays), not by the
code under test.
"""

from __future__ import annotations

import dataclasses
import uuid
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import holidays
import pytest
import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from crm import create_app
from crm.extensions import db
from crm.models import AuditEntry, Task
from crm.services.compliance import CallingWindow, GatePolicy
from crm.services.task_due import CALLBACK_GRACE, CALLBACK_LEAD_TIME
from tests.conftest import _wipe, make_test_secrets
from tests.fakes import Script
from tests.voice.content_timing import CONTENT_TIMING
from tests.workflows.conftest import FAST, ChainHarness, binary
from tests.workflows.test_lead_chain import HOT
from voice.bridge.chain_notify import notify_callback
from voice.bridge.config import BridgeConfig
from voice.bridge.crm_tools import CrmToolsFactory, temporal_notifier
from voice.bridge.dialog.timetalk import default_timetalk
from voice.bridge.metrics import BridgeMetrics
from workflows.chain_policies import PATCH_CALLBACK_AT
from workflows.payloads import CallbackRequest

BERLIN = ZoneInfo("Europe/Berlin")
NUMBER = "+493023125101"
# Calling hours of these tests: weekdays 09:00-18:00 Berlin, German public holidays off.
HOURS = CallingWindow((0, 1, 2, 3, 4), time(9), time(18))
POLICY = GatePolicy(windows={"DE": HOURS}, max_attempts_per_day=5, german_public_holidays=True)


def first_calling_moment(day: date) -> datetime:
    """09:00 Berlin on the first weekday on or after `day` that is not a German public holiday."""
    while day.weekday() >= 5 or day in holidays.Germany(years=day.year):
        day += timedelta(days=1)
    return datetime.combine(day, time(9), BERLIN).astimezone(UTC)


def reference_moment(now: datetime) -> datetime:
    """The first Monday 10:00 Berlin after `now` between 2 November and 20 December: a working morning from
    which the three windows below all start within the chain's 180-day horizon, whatever day the test runs."""
    day = now.astimezone(BERLIN).date() + timedelta(days=1)
    while not (day.weekday() == 0 and (date(day.year, 11, 2) <= day <= date(day.year, 12, 20))):
        day += timedelta(days=1)
    return datetime.combine(day, time(10), BERLIN).astimezone(UTC)


@asynccontextmanager
async def skipping_env():
    """A time-skipping server (its clock shared by the whole environment) with the LeadStage and CompanyId
    attributes."""
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        test_server_startup_timeout=timedelta(seconds=60),
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace="default",
                search_attributes={
                    "LeadStage": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                    "CompanyId": IndexedValueType.INDEXED_VALUE_TYPE_INT,
                },
            )
        )
        yield env
    finally:
        await env.shutdown()


def _app(migrated_urls, policy):
    return create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]},
        secrets=make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex),
        gate_policy=policy,
    )


async def _send_window_as_the_bridge(chain: ChainHarness, client, text: str, language: str, now: datetime):
    """What the bridge does when the dialog ends with a callback: the parsed window through CrmTools."""
    call_id = next(iter(chain.provider.results))
    window = default_timetalk().preference(text, language, now.astimezone(BERLIN))
    assert window is not None, text
    factory = CrmToolsFactory(
        chain.app, config=BridgeConfig(**CONTENT_TIMING), metrics=BridgeMetrics(), notifier=temporal_notifier(client)
    )
    try:
        ctx = await factory.context(call_id, "retell", {})
        assert ctx.chain_id is not None and ctx.callee.lead_id is not None
        await factory.tools(ctx, speak=None, now=now.astimezone(BERLIN)).record_callback(window)
        await factory.drain()
    finally:
        factory.close()
    return window


def _tasks(chain: ChainHarness, lead_id: int) -> list[Task]:
    return chain.db(lambda: list(db.session.scalars(sa.select(Task).where(Task.lead_id == lead_id).order_by(Task.id))))


def _timeline(chain: ChainHarness, lead_id: int) -> list[str]:
    rows = chain.db(
        lambda: list(
            db.session.scalars(
                sa.select(AuditEntry)
                .where(AuditEntry.entity_type == "lead", AuditEntry.entity_id == lead_id)
                .order_by(AuditEntry.id)
            )
        )
    )
    return [r.after["detail"] for r in rows if r.action.startswith("chain.")]


async def _place_call_times(chain: ChainHarness, chain_id: str) -> list[datetime]:
    history = await chain.handle(chain_id).fetch_history()
    return [
        e.event_time.ToDatetime(tzinfo=UTC)
        for e in history.events
        if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
        and e.activity_task_scheduled_event_attributes.activity_type.name == "place_call"
    ]


@pytest.mark.parametrize(
    "text, language",
    [
        ("melden Sie sich Ende Februar wieder", "de"),
        ("try me again next month", "en"),
        ("call me back after the holidays", "en"),
    ],
)
async def test_a_stated_window_makes_the_task_and_the_next_call_at_its_start(migrated_urls, text, language):
    async with skipping_env() as env:
        await env.sleep(reference_moment(await env.get_current_time()) - await env.get_current_time())
        app = _app(migrated_urls, POLICY)
        _wipe(app)
        chain = await ChainHarness(app, env.client, FAST).start()
        try:
            chain.provider.scripts[NUMBER] = Script([("completed", "callback_requested"), ("completed", "booked")])
            chain.deliver_webhooks = False  # the call is live until the window is sent
            chain_id = chain.post_lead(HOT)["chain_id"]
            status = await chain.stage(chain_id, "waiting_for_result")
            said_at = await env.get_current_time()
            window = await _send_window_as_the_bridge(chain, env.client, text, language, said_at)
            chain.deliver_webhooks = True

            status = await chain.stage(chain_id, "waiting_for_window")
            # The chain waits for the window's first moment (midnight, the caller's zone), then for calling hours.
            window_start = datetime.combine(window.date_from, time(0), BERLIN).astimezone(UTC)
            assert status.next_at == window_start and status.next_at > said_at + timedelta(days=7)
            expected = first_calling_moment(window.date_from)
            tasks = _tasks(chain, status.lead_id)
            assert [(t.kind, t.due_at) for t in tasks] == [("callback", expected)]
            assert HOURS.start <= tasks[0].due_at.astimezone(BERLIN).time() < HOURS.end
            assert chain.provider.calls_to(NUMBER) == 1

            await env.sleep(expected - await env.get_current_time() + timedelta(seconds=1))
            outcome = await chain.outcome(chain_id, timeout=60)
            assert outcome.stage == "booked" and chain.provider.calls_to(NUMBER) == 2
            first, second = await _place_call_times(chain, chain_id)
            assert first < said_at + timedelta(minutes=1)
            assert expected <= second < expected + timedelta(minutes=5)  # the next call: at the window's start
            assert chain.email.templates_to(outcome.lead_id) == ["callback_confirmation", "booking_confirmation"]
            assert any(d.startswith("callback requested ") for d in _timeline(chain, outcome.lead_id))
        finally:
            await chain.stop()
            _wipe(app)


async def _call_ends_with_callback(chain, request_for) -> tuple[str, int]:
    """A call that ends callback_requested; `request_for(call_id, now)` is the window sent during it (or None)."""
    chain.provider.scripts[NUMBER] = Script([("completed", "callback_requested"), ("completed", "booked")])
    chain.deliver_webhooks = False
    chain_id = chain.post_lead(HOT)["chain_id"]
    status = await chain.stage(chain_id, "waiting_for_result")
    request = request_for(next(iter(chain.provider.results)), datetime.now(UTC))
    if request is not None:
        assert await notify_callback(chain.client, chain_id, request) == "signalled"
    chain.deliver_webhooks = True
    return chain_id, status.lead_id


def _assert_usual_callback(chain, lead_id: int, before: datetime) -> None:
    """Today's behaviour: one callback task, due inside the next calling window (always open here: an hour
    and a half from the call), and no second call."""
    (task,) = _tasks(chain, lead_id)
    assert task.kind == "callback"
    assert before + CALLBACK_LEAD_TIME + CALLBACK_GRACE <= task.due_at
    assert task.due_at <= datetime.now(UTC) + CALLBACK_LEAD_TIME + CALLBACK_GRACE
    assert chain.provider.calls_to(NUMBER) == 1


async def test_without_a_window_the_callback_is_as_before(chain):
    before = datetime.now(UTC)
    chain_id, lead_id = await _call_ends_with_callback(chain, lambda call_id, now: None)
    outcome = await chain.outcome(chain_id)
    assert outcome.stage == "handed_over" and outcome.detail == "callback_requested: handed to the owner"
    _assert_usual_callback(chain, lead_id, before)
    history = await chain.handle(chain_id).fetch_history()
    markers = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_MARKER_RECORDED]
    assert not any(PATCH_CALLBACK_AT.encode() in e.SerializeToString() for e in markers)


@pytest.mark.parametrize(
    "request_for, said",
    [
        (
            lambda call_id, now: CallbackRequest(call_id, now + timedelta(days=200), now + timedelta(days=230)),
            "callback window more than 180 days away: the usual callback",
        ),
        (
            lambda call_id, now: CallbackRequest(call_id, now - timedelta(days=3), now + timedelta(minutes=10)),
            "callback window ended",
        ),
    ],
    ids=["too-far", "over"],
)
async def test_a_window_over_or_too_far_away_falls_back_and_says_so(chain, request_for, said):
    before = datetime.now(UTC)
    chain_id, lead_id = await _call_ends_with_callback(chain, request_for)
    outcome = await chain.outcome(chain_id)
    assert outcome.stage == "handed_over"
    _assert_usual_callback(chain, lead_id, before)
    assert [d for d in _timeline(chain, lead_id) if d.startswith("callback window")][0].startswith(said)


@pytest.mark.parametrize("chain", [dataclasses.replace(FAST, callback_min_delay_s=1)], indirect=True)
async def test_a_near_window_end_to_end_on_the_dev_server(chain):
    """Always-open hours: the chain waits until the window's start, calls once then, and books."""
    starts: dict[str, datetime] = {}

    def request_for(call_id: str, now: datetime) -> CallbackRequest:
        starts["at"] = now + timedelta(seconds=4)
        return CallbackRequest(call_id, starts["at"], now + timedelta(hours=1))

    chain_id, lead_id = await _call_ends_with_callback(chain, request_for)
    status = await chain.stage(chain_id, "waiting_for_window")
    assert status.next_at == starts["at"]
    (task,) = _tasks(chain, lead_id)
    # The task rule keeps a callback at least CALLBACK_LEAD_TIME away from now.
    assert task.kind == "callback" and abs(task.due_at - (datetime.now(UTC) + CALLBACK_LEAD_TIME)) < timedelta(
        minutes=1
    )
    outcome = await chain.outcome(chain_id)
    assert outcome.stage == "booked"
    first, second = await _place_call_times(chain, chain_id)
    assert starts["at"] <= second < starts["at"] + timedelta(seconds=5)


def test_the_replayed_histories_are_the_two_paths():
    """tests/workflows/test_replay.py replays both: a callback without a window recorded with the code before
    the patch (no marker), and one at a stated time recorded with it (the marker and the signal, times only)."""
    from tests.workflows.test_replay import HISTORIES

    old = (HISTORIES / "callback_requested.json").read_text()
    new = (HISTORIES / "callback_at_stated_time.json").read_text()
    assert "MARKER_RECORDED" not in old and "callback_request" not in old
    assert "MARKER_RECORDED" in new and '"signalName": "callback_request"' in new
