"""The report schedules: one set per active company, in the company's time zone, created or updated
idempotently whenever the reports worker starts.

| id                              | when (the company's time zone) | reports on            |
|---------------------------------|--------------------------------|-----------------------|
| leadchain-report-c<id>-daily    | every day 18:00                | that day so far       |
| leadchain-report-c<id>-weekly   | Monday 08:00                   | the previous ISO week |
| leadchain-report-c<id>-monthly  | the 1st, 08:00                 | the previous month    |

Calendar specs with the time zone name, so DST is Temporal's business (18:00 in Berlin is 17:00 UTC in
winter, 16:00 UTC in summer). Overlap SKIP: a run still going when the next one is due is not doubled.
A missed run (server or workers down) is caught up within CATCHUP. `upsert_schedules` creates each
schedule, and on ScheduleAlreadyRunningError updates it to the current definition, keeping its state
(an operator's pause and note survive a deploy).

Each schedule's action starts the report workflow with the company's `leadchain-company` header (what
scopes its activities, crm.tenancy.temporal_headers) and the CompanyId search attribute; a schedule is an
action stored on the server, so no client interceptor sees its starts and the header is set here. The
schedules of before tenancy (`leadchain-report-<kind>`, no company) and those of inactive companies are
deleted, so no run starts without a company or for a company that left.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleCalendarSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleRange,
    ScheduleSpec,
    ScheduleUpdate,
    ScheduleUpdateInput,
)
from temporalio.common import SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from crm.tenancy.temporal_headers import HEADER, encode
from workflows.payloads import COMPANY_ID
from workflows.report_payloads import REPORTS_TASK_QUEUE, ReportRequest
from workflows.reports import ReportWorkflow

log = logging.getLogger(__name__)
TIME_ZONE = "Europe/Berlin"  # a company's default (crm.models.companies.Company.timezone)
SCHEDULE_PREFIX = "leadchain-report"
CATCHUP = timedelta(hours=12)


@dataclass(frozen=True)
class When:
    hour: int
    day_of_week: int | None = None  # 0 Sunday .. 6 Saturday (Temporal's numbering)
    day_of_month: int | None = None
    comment: str = ""


WHEN = {
    "daily": When(18, comment="every day 18:00"),
    "weekly": When(8, day_of_week=1, comment="Monday 08:00"),
    "monthly": When(8, day_of_month=1, comment="1st of the month 08:00"),
}
KINDS = tuple(WHEN)


@dataclass(frozen=True)
class CompanySchedule:
    """Whose schedules, and in which time zone (read from the companies table by the reports worker)."""

    company_id: int
    time_zone: str = TIME_ZONE


def schedule_id(kind: str, company_id: int, prefix: str = SCHEDULE_PREFIX) -> str:
    return f"{prefix}-c{company_id}-{kind}"


def report_schedule(
    kind: str,
    company: CompanySchedule,
    *,
    task_queue: str = REPORTS_TASK_QUEUE,
    prefix: str = SCHEDULE_PREFIX,
) -> Schedule:
    when = WHEN[kind]
    calendar = ScheduleCalendarSpec(
        hour=[ScheduleRange(when.hour)],
        minute=[ScheduleRange(0)],
        second=[ScheduleRange(0)],
        day_of_week=[ScheduleRange(when.day_of_week)] if when.day_of_week is not None else [ScheduleRange(0, 6)],
        day_of_month=[ScheduleRange(when.day_of_month)] if when.day_of_month is not None else [ScheduleRange(1, 31)],
        comment=f"{when.comment} {company.time_zone}",
    )
    action = ScheduleActionStartWorkflow(
        ReportWorkflow.run,
        ReportRequest(kind=kind, company_id=company.company_id),
        id=f"{prefix}-c{company.company_id}-run-{kind}",
        task_queue=task_queue,
        execution_timeout=timedelta(hours=6),
        typed_search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, company.company_id)]),
    )
    # The constructor takes headers, but its typed overloads do not name them; encoded when the schedule
    # is sent (ScheduleActionStartWorkflow._to_proto).
    action.headers = {HEADER: encode(company.company_id)}
    return Schedule(
        action=action,
        spec=ScheduleSpec(calendars=[calendar], time_zone_name=company.time_zone),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
    )


async def upsert_schedules(
    client: Client,
    companies: list[CompanySchedule],
    *,
    task_queue: str = REPORTS_TASK_QUEUE,
    prefix: str = SCHEDULE_PREFIX,
    kinds: tuple[str, ...] = KINDS,
    retired: Sequence[int] = (),
) -> dict[str, str]:
    """Create or update every report schedule of `companies`; delete the pre-tenancy ones and those of
    the `retired` (inactive) companies. Returns {schedule id: "created" | "updated" | "deleted"}."""
    done: dict[str, str] = {}
    for company in companies:
        for kind in kinds:
            sid = schedule_id(kind, company.company_id, prefix)
            schedule = report_schedule(kind, company, task_queue=task_queue, prefix=prefix)
            done[sid] = await upsert_schedule(client, sid, schedule)
            log.info("report schedule %s %s (%s %s)", sid, done[sid], WHEN[kind].comment, company.time_zone)
    gone = [f"{prefix}-{kind}" for kind in kinds] + [schedule_id(k, c, prefix) for c in retired for k in kinds]
    for sid in gone:
        try:
            await client.get_schedule_handle(sid).delete()
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
            continue
        done[sid] = "deleted"
        log.info("report schedule %s deleted (no company, or the company is inactive)", sid)
    return done


async def upsert_schedule(client: Client, sid: str, schedule: Schedule) -> str:
    """Create the schedule, or update it to `schedule` keeping its state (an operator's pause survives a
    deploy): "created" or "updated". The report, retention and billing schedules all go through here."""
    try:
        await client.create_schedule(sid, schedule)
        return "created"
    except ScheduleAlreadyRunningError:

        def keep_state(current: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
            new.state = current.description.schedule.state
            return ScheduleUpdate(schedule=new)

        await client.get_schedule_handle(sid).update(keep_state)
        return "updated"
