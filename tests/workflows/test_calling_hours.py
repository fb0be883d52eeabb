"""Outside calling hours the chain sleeps until the window opens: real durations, skipped time.

Runs on the time-skipping test server (temporal-test-server from PyPI), so a wait of a day costs
milliseconds, with the same workers, activities and PostgreSQL as the other chain tests.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from temporalio.api.enums.v1 import EventType, IndexedValueType
from temporalio.api.operatorservice.v1 import AddSearchAttributesRequest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from crm import create_app
from crm.services.compliance import CallingWindow, GatePolicy
from crm.tenancy.temporal_headers import CompanyInterceptor
from tests.conftest import _wipe, make_test_secrets
from tests.workflows.conftest import FAST, ChainHarness, binary
from tests.workflows.test_lead_chain import HOT

BERLIN = ZoneInfo("Europe/Berlin")


async def test_outside_calling_hours_the_chain_sleeps_until_the_window(migrated_urls):
    env = await WorkflowEnvironment.start_time_skipping(
        test_server_existing_path=binary("temporal-test-server"),
        data_converter=pydantic_data_converter,
        # As the dev server fixture (tests/temporal_fixtures.py): starts carry the scope's company and the
        # workers' activities bind it; without it every activity runs with no scope.
        interceptors=[CompanyInterceptor()],
        test_server_startup_timeout=timedelta(seconds=60),
    )
    try:
        await env.client.operator_service.add_search_attributes(
            AddSearchAttributesRequest(
                namespace="default",
                search_attributes={
                    "LeadStage": IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
                    # The relay sets it on every chain it starts (docs/tenancy.md rule 4).
                    "CompanyId": IndexedValueType.INDEXED_VALUE_TYPE_INT,
                },
            )
        )
        # Calls only on the day after tomorrow (Berlin), 09:00-20:00: right now is always outside.
        now = await env.get_current_time()
        day = (now.astimezone(BERLIN) + timedelta(days=2)).date()
        window_start = datetime.combine(day, time(9), BERLIN).astimezone(UTC)
        policy = GatePolicy(
            windows={"DE": CallingWindow((day.weekday(),), time(9), time(20))},
            max_attempts_per_day=5,
            german_public_holidays=False,
        )
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"],
            },
            secrets=make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex),
            gate_policy=policy,
        )
        _wipe(app)
        chain = await ChainHarness(app, env.client, FAST).start()
        try:
            accepted = chain.post_lead(HOT)
            status = await chain.stage(accepted["chain_id"], "waiting_for_window")
            assert status.next_at == window_start and chain.provider.calls_to("+493023125101") == 0
            # Jump the server's clock to the window (the chain's timer fires there, not earlier).
            await env.sleep(window_start - await env.get_current_time() + timedelta(seconds=1))
            outcome = await chain.outcome(accepted["chain_id"], timeout=60)
            assert outcome.stage == "booked"
            assert chain.provider.calls_to("+493023125101") == 1
            history = await chain.handle(accepted["chain_id"]).fetch_history()
            placed = [
                e
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                and e.activity_task_scheduled_event_attributes.activity_type.name == "place_call"
            ]
            assert len(placed) == 1
            # (Later timers belong to waiting for the call's result.)
            timers = [
                e
                for e in history.events
                if e.event_type == EventType.EVENT_TYPE_TIMER_STARTED and e.event_id < placed[0].event_id
            ]
            # The chain slept through one durable timer, and dialled only once the window was open.
            assert len(timers) == 1
            dialled_at = placed[0].event_time.ToDatetime(tzinfo=UTC)
            assert window_start <= dialled_at < window_start + timedelta(minutes=5)
            slept = timers[0].timer_started_event_attributes.start_to_fire_timeout.ToTimedelta()
            assert abs((timers[0].event_time.ToDatetime(tzinfo=UTC) + slept) - window_start) < timedelta(seconds=2)
        finally:
            await chain.stop()
            _wipe(app)
    finally:
        await env.shutdown()
