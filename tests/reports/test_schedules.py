"""The reports worker on the real Temporal dev server: its schedules after two starts, and a triggered
run that stores one report and sends one email with the PDF attached (a second run sends nothing)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from temporalio.client import Client, ScheduleActionStartWorkflow, ScheduleOverlapPolicy

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Lead, Role, SideEffect, User
from crm.models.reports import Report, ReportDocument
from tests.conftest import _wipe, make_test_secrets
from tests.reports.conftest import RecordingMailer
from workers import reports as reports_worker
from workers.schedules import schedule_id
from workflows.report_payloads import ReportOutcome, ReportRequest
from workflows.reports import ReportWorkflow

BERLIN = ZoneInfo("Europe/Berlin")
COMPANY = 1  # the test company (tests/conftest.py), the only active one: its schedules are the set


@pytest.fixture
def app(migrated_urls):
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"],
        },
        settings=Settings.from_env({"LEADCHAIN_COMPANY_NAME": "Testfirma GmbH"}),
        secrets=make_test_secrets(),
    )
    _wipe(app)
    yield app
    _wipe(app)


class Worker:
    """`serve` (upsert the schedules, run the worker) as a task, stopped on exit."""

    def __init__(self, app, client: Client, mailer, task_queue: str, prefix: str) -> None:
        self.args = (app, client)
        self.kw = dict(mailer=mailer, task_queue=task_queue, schedule_prefix=prefix)

    async def __aenter__(self):
        self.stop = asyncio.Event()
        self.task = asyncio.create_task(reports_worker.serve(*self.args, self.stop, **self.kw))
        return self

    async def __aexit__(self, *exc):
        self.stop.set()
        await asyncio.wait_for(self.task, 30)


async def _described(client: Client, sid: str, timeout: float = 15):
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            return await client.get_schedule_handle(sid).describe()
        except Exception:
            if asyncio.get_running_loop().time() > deadline:
                raise
            await asyncio.sleep(0.1)


def _local_times(now: datetime, count: int, hour: int, keep) -> list[datetime]:
    """The next `count` local `hour`:00 instants after `now` on days `keep` accepts, in UTC (by hand)."""
    out, day = [], now.astimezone(BERLIN).date()
    while len(out) < count:
        moment = datetime.combine(day, time(hour), tzinfo=BERLIN)
        if moment > now and keep(day):
            out.append(moment.astimezone(UTC))
        day += timedelta(days=1)
    return out


async def _delete(client: Client, prefix: str) -> None:
    for kind in ("daily", "weekly", "monthly"):
        try:
            await client.get_schedule_handle(schedule_id(kind, COMPANY, prefix)).delete()
        except Exception:
            pass


async def test_schedules_after_the_worker_starts_twice(temporal_env, app):
    client = temporal_env.client
    prefix, queue = f"test-report-{uuid.uuid4().hex[:8]}", f"reports-{uuid.uuid4().hex[:8]}"
    try:
        async with Worker(app, client, RecordingMailer(), f"{queue}-old", prefix):
            daily = await _described(client, schedule_id("daily", COMPANY, prefix))
        # An operator pauses the daily report between the deploys; the next start must keep that.
        await client.get_schedule_handle(schedule_id("daily", COMPANY, prefix)).pause(note="paused by ops")
        async with Worker(app, client, RecordingMailer(), queue, prefix):
            await asyncio.sleep(0.5)
        now = datetime.now(UTC)
        found = {}
        for kind in ("daily", "weekly", "monthly"):
            desc = await _described(client, schedule_id(kind, COMPANY, prefix))
            found[kind] = desc
            action = desc.schedule.action
            assert isinstance(action, ScheduleActionStartWorkflow)
            assert (action.workflow, action.task_queue) == ("ReportWorkflow", queue)  # updated, not duplicated
            assert desc.schedule.spec.time_zone_name == "Europe/Berlin"
            assert desc.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP
        assert found["daily"].schedule.state.paused and found["daily"].schedule.state.note == "paused by ops"
        assert not found["weekly"].schedule.state.paused
        assert daily.info.created_at == found["daily"].info.created_at  # the same schedule, updated
        assert found["daily"].info.last_updated_at is not None
        listed = [s.id async for s in await client.list_schedules()]
        assert sorted(s for s in listed if s.startswith(prefix)) == [
            schedule_id(k, COMPANY, prefix) for k in ("daily", "monthly", "weekly")
        ]

        # Next run times: 18:00 / Monday 08:00 / the 1st 08:00 in Berlin.
        daily_next = found["daily"].info.next_action_times
        weekly_next = found["weekly"].info.next_action_times
        monthly_next = found["monthly"].info.next_action_times
        assert daily_next == _local_times(now, len(daily_next), 18, lambda d: True)[: len(daily_next)]
        assert weekly_next == _local_times(now, len(weekly_next), 8, lambda d: d.weekday() == 0)
        assert monthly_next == _local_times(now, len(monthly_next), 8, lambda d: d.day == 1)
        assert len(daily_next) >= 5 and len(monthly_next) >= 8
        # 18:00 CET is 17:00 UTC, 18:00 CEST 16:00 UTC; the 1st of Nov..Mar is CET, of Apr..Oct CEST.
        for t in daily_next:
            assert (t.hour, t.minute) == (
                (17, 0) if t.astimezone(BERLIN).utcoffset() == timedelta(hours=1) else (16, 0)
            )
        assert {(t.hour, t.minute) for t in monthly_next} == {(7, 0), (6, 0)}
        for t in monthly_next:
            assert t.hour == (7 if t.month in (11, 12, 1, 2, 3) else 6)
    finally:
        await _delete(client, prefix)


def _seed() -> tuple[int, datetime]:
    now = datetime.now(UTC)
    # The daily report is of the Berlin day: just after its midnight a few minutes ago was yesterday.
    midnight = now.astimezone(BERLIN).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)

    def earlier(minutes: int) -> datetime:
        return max(midnight, now - timedelta(minutes=minutes))

    boss = User(email="chefin@example.test", name="Chefin Chef", role=Role.MANAGER, language="de")
    db.session.add_all(
        [
            boss,
            User(email="former@example.test", name="Former Boss", role=Role.MANAGER, active=False),
            User(email="rep@example.test", name="Rep", role=Role.SALES),
        ]
    )
    lead = Lead(first_name="Heute", source="website", score=70, created_at=earlier(5))
    db.session.add(lead)
    db.session.flush()
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.CALL,
            direction=Direction.OUTBOUND,
            provider="retell",
            provider_ref="today-1",
            status="ended",
            outcome="booked",
            started_at=earlier(4),
            data={"answered": True},
            duration_s=61,
        )
    )
    db.session.commit()
    return boss.id, now


async def test_triggered_run_stores_one_report_and_sends_one_email(temporal_env, app):
    client = temporal_env.client
    prefix, queue = f"test-report-{uuid.uuid4().hex[:8]}", f"reports-{uuid.uuid4().hex[:8]}"
    with app.app_context():
        boss_id, _ = _seed()
        db.session.remove()
    mailer = RecordingMailer()
    try:
        async with Worker(app, client, mailer, queue, prefix):
            handle = client.get_schedule_handle(schedule_id("daily", COMPANY, prefix))
            await _described(client, schedule_id("daily", COMPANY, prefix))
            await handle.trigger()
            deadline = asyncio.get_running_loop().time() + 30
            while not (desc := await handle.describe()).info.recent_actions:
                assert asyncio.get_running_loop().time() < deadline, "the trigger started nothing"
                await asyncio.sleep(0.2)
            started = desc.info.recent_actions[0].action
            run = client.get_workflow_handle(started.workflow_id, result_type=ReportOutcome)
            outcome = await asyncio.wait_for(run.result(), 90)
            today = datetime.now(UTC).astimezone(BERLIN).date()

            assert outcome.report.kind == "daily" and outcome.report.created
            assert outcome.report.period_start == datetime.combine(today, time(0), tzinfo=BERLIN)
            assert (outcome.delivery.recipients, outcome.delivery.sent, outcome.delivery.already_sent) == (1, 1, 0)
            assert len(mailer.sent) == 1
            mail = mailer.sent[0]
            assert mail.to_email == "chefin@example.test" and mail.language == "de"
            assert (
                mail.content.startswith(b"%PDF")
                and mail.filename == f"leadchain-report-daily-{today.isoformat()}-de.pdf"
            )
            assert "Tagesbericht Testfirma GmbH" in mail.subject and "Termine gebucht: 1" in mail.text

            # The same period again (a retry, a manual rerun): the stored report, no second email.
            again = await client.execute_workflow(
                ReportWorkflow.run,
                ReportRequest(kind="daily", at=outcome.report.period_start + timedelta(hours=18)),
                id=f"{prefix}-rerun",
                task_queue=queue,
                result_type=ReportOutcome,
            )
            assert again.report.report_id == outcome.report.report_id and not again.report.created
            assert (again.delivery.sent, again.delivery.already_sent) == (0, 1)
            assert len(mailer.sent) == 1
        with app.app_context():
            reports = db.session.scalars(sa.select(Report)).all()
            assert [(r.kind, r.has_data) for r in reports] == [("daily", True)]
            assert reports[0].figures["current"]["calls"]["booked"] == 1
            docs = db.session.scalars(sa.select(ReportDocument)).all()
            assert [(d.language, d.content[:4]) for d in docs] == [("de", b"%PDF")]
            ledger = db.session.scalars(sa.select(SideEffect)).all()
            assert [(s.key, s.status, s.provider_ref) for s in ledger] == [
                (f"report:{reports[0].id}:user:{boss_id}", "done", "report-msg-1")
            ]
            db.session.remove()
    finally:
        await _delete(client, prefix)
