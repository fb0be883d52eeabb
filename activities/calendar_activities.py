"""The calendar sync workflow's one activity: sync the connection into calendar_busy (crm.calendars.sync), then
write the rep's pending appointments out (crm.calendars.writeout). Runs in the company the workflow's
leadchain-company header names (crm.tenancy.temporal_headers binds it)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Flask
from temporalio import activity

from crm.calendars.port import CalendarError, CalendarUnauthorized
from crm.calendars.sync import sync_connection
from crm.calendars.writeout import PushSummary, push_pending
from crm.extensions import db
from crm.models.calendars import CalendarConnection, CalendarStatus
from workflows.calendar_payloads import CalendarSyncInput, CalendarSyncResult


class CalendarActivities:
    def __init__(self, app: Flask) -> None:
        self.app = app

    @activity.defn(name="sync_calendar")
    def sync_calendar(self, inp: CalendarSyncInput) -> CalendarSyncResult:
        with self.app.app_context():
            try:
                summary = sync_connection(inp.connection_id)
                if summary.status != CalendarStatus.OK.value:
                    return CalendarSyncResult(status=summary.status, error=summary.error)
                connection = db.session.get(CalendarConnection, inp.connection_id)
                pushed, error = PushSummary(), None
                if connection is not None:
                    try:
                        pushed = push_pending(connection)
                    except CalendarError as exc:
                        db.session.rollback()
                        error = str(exc)
                        if isinstance(exc, CalendarUnauthorized):
                            connection.status, connection.last_error = CalendarStatus.BROKEN, error[:500]
                            db.session.commit()
                return CalendarSyncResult(
                    status=connection.status.value if connection is not None else "gone",
                    changed=summary.changed,
                    written=len(pushed.written) + len(pushed.deleted),
                    moved=len(summary.moved),
                    cancelled=len(summary.cancelled),
                    error=error,
                )
            finally:
                db.session.remove()

    def all(self) -> list[Callable[..., Any]]:
        return [self.sync_calendar]
