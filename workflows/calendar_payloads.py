"""Payloads of the calendar sync workflow (issue 18). Ids and counts only: no address, no event data, no
credential (docs/tenancy.md rule 4: identifiers carry the company, never a person)."""

from __future__ import annotations

from dataclasses import dataclass

CALENDARS_TASK_QUEUE = "leadchain-calendars"


def sync_workflow_id(company_id: int, connection_id: int) -> str:
    return f"c{int(company_id)}-cal-{int(connection_id)}"


@dataclass(frozen=True)
class CalendarSyncInput:
    connection_id: int
    # Where the activities run (tests use their own queue); None = the workflow's own task queue.
    activity_task_queue: str | None = None


@dataclass(frozen=True)
class CalendarSyncResult:
    # "ok", "broken" (the credential was refused: the admin must reconnect), "syncing" (not synced yet or a
    # transient failure), "gone" (the connection was removed: the workflow ends).
    status: str
    changed: int = 0
    written: int = 0
    moved: int = 0
    cancelled: int = 0
    error: str | None = None
