"""Google Calendar through the sandbox's API v3 (over HTTP), on SQLite and PostgreSQL: busy times synced
incrementally with syncToken (410 → full sync), bookings inserted once under retries and moved with If-Match,
a rep's own move flows back, the access token refreshed, a revoked grant breaks the connection and keeps
the busy rows."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import httpx
import sqlalchemy as sa

from crm.calendars.google import event_id
from crm.calendars.sync import sync_connection
from crm.calendars.writeout import push_pending
from crm.email.ics import uid_for
from crm.extensions import db
from crm.models import Appointment, Task
from crm.models.calendars import CalendarEvent, CalendarKind, CalendarStatus
from tests.calendars.service_helpers import MONDAY, at, busy, rep_token

NEW_YORK = ZoneInfo("America/New_York")


def _api(base: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=f"{base}/google/calendar/v3/calendars/primary", headers={"Authorization": f"Bearer {token}"}
    )


def _when(moment) -> dict:
    return {"dateTime": moment.isoformat().replace("+00:00", "Z")}


def test_sync_is_incremental_and_restarts_after_an_expired_token(app, connect_service, services):
    with app.app_context():
        rep = connect_service(CalendarKind.GOOGLE)
        own = _api(services.url, rep_token(services.url, "google", rep.email))
        first = own.post(
            "/events", json={"summary": "Dentist", "start": _when(at(0, 14)), "end": _when(at(0, 15))}
        ).json()
        own.post(
            "/events",
            json={"summary": "Free", "start": _when(at(0, 8)), "end": _when(at(0, 9)), "transparency": "transparent"},
        )
        own.post(
            "/events",
            json={"start": {"date": at(1, 0).date().isoformat()}, "end": {"date": at(2, 0).date().isoformat()}},
        )
        # Weekly at 09:00 New York time (14:00 UTC in winter), the second week excluded.
        ny_start = (at(2, 14)).astimezone(NEW_YORK)
        second = (ny_start + timedelta(days=7)).strftime("%Y%m%dT%H%M%S")
        own.post(
            "/events",
            json={
                "start": {"dateTime": ny_start.isoformat(), "timeZone": "America/New_York"},
                "end": {"dateTime": (ny_start + timedelta(hours=1)).isoformat(), "timeZone": "America/New_York"},
                "recurrence": ["RRULE:FREQ=WEEKLY;COUNT=3", f"EXDATE;TZID=America/New_York:{second}"],
            },
        )
        now = MONDAY - timedelta(days=1)
        assert sync_connection(rep.connection.id, now=now).error is None
        rows = busy(rep.connection.id)
        ny = [at(2, 14) + timedelta(days=7 * w) for w in (0, 2)]
        assert (at(0, 14), at(0, 15)) in rows
        assert not any(s == at(0, 8) for s, _ in rows)  # transparent: not busy
        assert [(s, e) for s, e in rows if s in ny] == [(s, s + timedelta(hours=1)) for s in ny]
        token = db.session.get(type(rep.connection), rep.connection.id).sync_token
        assert token

        # The rep deletes the dentist and adds a call: the next round lists only those two, by syncToken.
        assert own.delete(f"/events/{first['id']}").status_code == 204
        own.post("/events", json={"start": _when(at(3, 10)), "end": _when(at(3, 11))})
        services.sandbox.google.requests.clear()
        summary = sync_connection(rep.connection.id, now=now)
        assert summary.error is None and summary.changed == 2
        rows = busy(rep.connection.id)
        assert (at(0, 14), at(0, 15)) not in rows and (at(3, 10), at(3, 11)) in rows

        # An expired token (410 fullSyncRequired): the round lists everything again and ends with the same rows.
        httpx.post(f"{services.url}/google/sandbox/expire-sync-tokens")
        assert sync_connection(rep.connection.id, now=now).error is None
        assert busy(rep.connection.id) == rows


def test_a_booking_is_one_event_under_retries_moves_with_if_match_and_a_rep_move_flows_back(
    app, connect_service, services
):
    with app.app_context():
        rep = connect_service(CalendarKind.GOOGLE)
        appointment = Appointment(owner_id=rep.user.id, starts_at=at(1, 9), ends_at=at(1, 9, 30), title="Beratung")
        db.session.add(appointment)
        db.session.commit()
        connection = rep.connection
        assert push_pending(connection).written == [appointment.id]
        events = services.sandbox.google.calendar(rep.email, "primary")
        assert list(events) == [event_id(uid_for(appointment.id))]

        # The activity died after Google inserted the event and before the link was recorded: the retry's
        # insert answers 409 and the event is taken, not made twice.
        db.session.execute(sa.delete(CalendarEvent))
        db.session.commit()
        assert push_pending(connection).written == [appointment.id]
        assert len(events) == 1
        link = db.session.scalar(sa.select(CalendarEvent))
        assert link is not None and link.href == event_id(uid_for(appointment.id))

        # The CRM moves it: a PATCH on the etag it wrote.
        appointment.starts_at, appointment.ends_at = at(1, 11), at(1, 11, 30)
        db.session.commit()
        assert push_pending(connection).written == [appointment.id]
        assert events[link.href]["start"]["dateTime"].startswith(at(1, 11).strftime("%Y-%m-%dT%H:%M"))

        # The rep moves it in Google Calendar: the sync moves the appointment and gives the rep a task.
        own = _api(services.url, rep_token(services.url, "google", rep.email))
        own.patch(f"/events/{link.href}", json={"start": _when(at(2, 15)), "end": _when(at(2, 15, 30))})
        summary = sync_connection(connection.id, now=MONDAY)
        assert summary.moved == [appointment.id]
        db.session.refresh(appointment)
        assert (appointment.starts_at, appointment.ends_at) == (at(2, 15), at(2, 15, 30))
        assert db.session.scalar(sa.select(sa.func.count(Task.id)).where(Task.kind == "calendar")) == 1
        assert busy(connection.id) == []  # the CRM's own event is not a busy row: the appointment blocks it


def test_the_access_token_is_refreshed_and_a_revoked_grant_breaks_the_connection(app, connect_service, services):
    with app.app_context():
        rep = connect_service(CalendarKind.GOOGLE)
        own = _api(services.url, rep_token(services.url, "google", rep.email))
        own.post("/events", json={"start": _when(at(0, 10)), "end": _when(at(0, 11))})
        assert sync_connection(rep.connection.id, now=MONDAY).error is None
        refreshes = services.sandbox.google.grants.refreshes
        httpx.post(f"{services.url}/google/sandbox/expire-access-tokens")
        # The cached token is refused (401): one refresh and the same request again.
        assert sync_connection(rep.connection.id, now=MONDAY).error is None
        assert services.sandbox.google.grants.refreshes == refreshes + 1

        httpx.post(f"{services.url}/google/sandbox/revoke-account", json={"email": rep.email})
        summary = sync_connection(rep.connection.id, now=MONDAY)
        connection = db.session.get(type(rep.connection), rep.connection.id)
        assert connection.status == CalendarStatus.BROKEN
        assert "invalid_grant" in (connection.last_error or "") and summary.error
        # Never "free": what the calendar blocked stays blocked until someone reconnects it.
        assert busy(rep.connection.id) == [(at(0, 10), at(0, 11))]


def test_the_booking_time_recheck_asks_google_and_skips_the_crms_own_events(app, connect_service, services):
    from crm.calendars.recheck import slot_still_free

    with app.app_context():
        rep = connect_service(CalendarKind.GOOGLE)
        appointment = Appointment(owner_id=rep.user.id, starts_at=at(4, 9), ends_at=at(4, 9, 30), title="Demo")
        db.session.add(appointment)
        db.session.commit()
        push_pending(rep.connection)
        assert slot_still_free(rep.user.id, at(4, 9), at(4, 9, 30)) is True  # only the CRM's own event there
        own = _api(services.url, rep_token(services.url, "google", rep.email))
        own.post("/events", json={"start": _when(at(4, 14)), "end": _when(at(4, 15))})
        # Not synced yet: the table knows nothing, Google itself does.
        assert slot_still_free(rep.user.id, at(4, 14, 30), at(4, 15)) is False
        assert slot_still_free(rep.user.id, at(4, 15), at(4, 15, 30)) is True
