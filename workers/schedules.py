"""The report schedules: created or updated idempotently whenever the reports worker starts.

| id                       | when (Europe/Berlin)  | reports on            |
|--------------------------|-----------------------|-----------------------|
| leadchain-report-daily   | every day 18:00       | that day so far       |
| leadchain-report-weekly  | Monday 08:00          | the previous ISO week |
| leadchain-report-monthly | the 1st, 08:00        | the previous month    |

Calendar specs with the time zone name, so DST is Temporal's business (18:00 is 17:00 UTC in winter,
16:00 UTC in summer). Overlap SKIP: a run still going when the next one is due is not doubled.
A missed run (server or workers down) is caught up within CATCHUP. `upsert_schedules` creates each
schedule, and on ScheduleAlreadyRunningError updates it to the current definition, keeping its state
(an operator's pause and note survive a deploy).
"""

from __future__ import annotations

import logging
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

from workflows.report_payloads import REPORTS_TASK_QUEUE, ReportRequest
from workflows.reports import ReportWorkflow

log = logging.getLogger(__name__)
TIME_ZONE = "Europe/Berlin"
SCHEDULE_PREFIX = "leadchain-report"
CATCHUP = timedelta(hours=12)


@dataclass(frozen=True)
class When:
    hour: int
    day_of_week: int | None = None  # 0 Sunday .. 6 Saturday (Temporal's numbering)
    day_of_month: int | None = None
    comment: str = ""


WHEN = {
    "daily": When(18, comment="every day 18:00 Europe/Berlin"),
    "weekly": When(8, day_of_week=1, comment="Monday 08:00 Europe/Berlin"),
    "monthly": When(8, day_of_month=1, comment="1st of the month 08:00 Europe/Berlin"),
}


def schedule_id(kind: str, prefix: str = SCHEDULE_PREFIX) -> str:
    return f"{prefix}-{kind}"


def report_schedule(kind: str, *, task_queue: str = REPORTS_TASK_QUEUE, prefix: str = SCHEDULE_PREFIX) -> Schedule:
    when = WHEN[kind]
    calendar = ScheduleCalendarSpec(
        hour=[ScheduleRange(when.hour)],
        minute=[ScheduleRange(0)],
        second=[ScheduleRange(0)],
        day_of_week=[ScheduleRange(when.day_of_week)] if when.day_of_week is not None else [ScheduleRange(0, 6)],
        day_of_month=[ScheduleRange(when.day_of_month)] if when.day_of_month is not None else [ScheduleRange(1, 31)],
        comment=when.comment,
    )
    return Schedule(
        action=ScheduleActionStartWorkflow(
            ReportWorkflow.run,
            ReportRequest(kind=kind),
            id=f"{prefix}-run-{kind}",
            task_queue=task_queue,
            execution_timeout=timedelta(hours=6),
        ),
        spec=ScheduleSpec(calendars=[calendar], time_zone_name=TIME_ZONE),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP, catchup_window=CATCHUP),
    )


async def upsert_schedules(
    client: Client,
    *,
    task_queue: str = REPORTS_TASK_QUEUE,
    prefix: str = SCHEDULE_PREFIX,
    kinds: tuple[str, ...] = ("daily", "weekly", "monthly"),
) -> dict[str, str]:
    """Create or update every report schedule. Returns {schedule id: "created" | "updated"}."""
    done: dict[str, str] = {}
    for kind in kinds:
        sid = schedule_id(kind, prefix)
        schedule = report_schedule(kind, task_queue=task_queue, prefix=prefix)
        try:
            await client.create_schedule(sid, schedule)
            done[sid] = "created"
        except ScheduleAlreadyRunningError:

            def keep_state(current: ScheduleUpdateInput, new: Schedule = schedule) -> ScheduleUpdate:
                new.state = current.description.schedule.state
                return ScheduleUpdate(schedule=new)

            await client.get_schedule_handle(sid).update(keep_state)
            done[sid] = "updated"
        log.info("report schedule %s %s (%s)", sid, done[sid], WHEN[kind].comment)
    return done
