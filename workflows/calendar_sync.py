"""CalendarSyncWorkflow: one per calendar connection (id `c<company>-cal-<connection id>`), syncing it into the
local busy table and writing the rep's appointments out, every INTERVAL (≤ 60 s freshness for the bridge),
or at once on the `sync_now` signal (after a booking, a reconnect).

Deterministic: the timers and the activity are all it does. A broken connection (credential refused) is
tried only every BROKEN_INTERVAL until someone reconnects it; a removed one ends the workflow. It continues
as new after ROUNDS_PER_RUN rounds so its history stays small."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from workflows.calendar_payloads import CalendarSyncInput, CalendarSyncResult

SYNC_ACTIVITY = "sync_calendar"
INTERVAL = timedelta(seconds=30)
BROKEN_INTERVAL = timedelta(minutes=5)
ROUNDS_PER_RUN = 200
TIMEOUT = timedelta(minutes=2)
RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    backoff_coefficient=2.0,
    maximum_interval=timedelta(seconds=30),
    maximum_attempts=3,
)


@workflow.defn(name="CalendarSyncWorkflow")
class CalendarSyncWorkflow:
    def __init__(self) -> None:
        self._poked = False

    @workflow.signal
    def sync_now(self) -> None:
        self._poked = True

    @workflow.run
    async def run(self, inp: CalendarSyncInput) -> CalendarSyncResult:
        queue = inp.activity_task_queue or workflow.info().task_queue
        for _ in range(ROUNDS_PER_RUN):
            self._poked = False
            last: CalendarSyncResult = await workflow.execute_activity(
                SYNC_ACTIVITY,
                inp,
                result_type=CalendarSyncResult,
                task_queue=queue,
                start_to_close_timeout=TIMEOUT,
                retry_policy=RETRY,
            )
            if last.status == "gone":
                return last
            wait = BROKEN_INTERVAL if last.status == "broken" else INTERVAL
            try:
                await workflow.wait_condition(lambda: self._poked, timeout=wait)
            except TimeoutError:
                pass
        workflow.continue_as_new(inp)
