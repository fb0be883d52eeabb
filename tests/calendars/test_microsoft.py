"""Microsoft 365 through the sandbox's Graph (over HTTP), on SQLite and PostgreSQL: calendarView delta over
pages (nextLink, deltaLink, @removed, 410 → full), a booking written once under retries (the UID property
and transactionId), a rep's deletion flows back, the refresh token rotates into the secrets store, and a
revoked sign-in (AADSTS50173) breaks the connection."""

from __future__ import annotations

from datetime import timedelta

import httpx
import sqlalchemy as sa

from crm.calendars.sync import sync_connection
from crm.calendars.writeout import push_pending
from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Task
from crm.models.calendars import CalendarEvent, CalendarKind, CalendarStatus
from tests.calendars.service_helpers import MONDAY, at, busy, rep_token


def _api(base: str, token: str) -> httpx.Client:
    return httpx.Client(base_url=f"{base}/microsoft/v1.0/me", headers={"Authorization": f"Bearer {token}"})


def _when(moment) -> dict:
    return {"dateTime": moment.strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


def test_delta_pages_removals_and_an_expired_delta_token(app, connect_service, services):
    with app.app_context():
        rep = connect_service(CalendarKind.MICROSOFT)
        own = _api(services.url, rep_token(services.url, "microsoft", rep.email))
        # 105 events: more than one page of 100.
        made = [
            own.post(
                "/events",
                json={"subject": "x", "start": _when(at(d % 5, 8 + d % 9)), "end": _when(at(d % 5, 8 + d % 9, 30))},
            ).json()
            for d in range(104)
        ]
        own.post("/events", json={"start": _when(at(0, 7)), "end": _when(at(0, 8)), "showAs": "free"})
        assert sync_connection(rep.connection.id, now=MONDAY).error is None
        requests = [p for m, p in services.sandbox.microsoft.requests if p.endswith("/calendarView/delta")]
        assert len(requests) == 2  # the first page and its nextLink
        assert len(busy(rep.connection.id)) == 104  # the "free" one is not busy
        connection = db.session.get(type(rep.connection), rep.connection.id)
        assert "$deltatoken" in (connection.sync_token or "") or "%24deltatoken" in (connection.sync_token or "")

        # The rep deletes one and moves another: the deltaLink lists exactly those two.
        assert own.delete(f"/events/{made[0]['id']}").status_code == 204
        own.patch(f"/events/{made[1]['id']}", json={"start": _when(at(4, 16)), "end": _when(at(4, 17))})
        summary = sync_connection(rep.connection.id, now=MONDAY)
        assert summary.error is None and summary.changed == 2
        rows = busy(rep.connection.id)
        assert len(rows) == 103 and (at(4, 16), at(4, 17)) in rows

        httpx.post(f"{services.url}/microsoft/sandbox/expire-delta-tokens")
        assert sync_connection(rep.connection.id, now=MONDAY).error is None
        assert busy(rep.connection.id) == rows


def test_a_booking_is_one_event_under_retries_and_a_rep_deletion_cancels_it(app, connect_service, services):
    with app.app_context():
        rep = connect_service(CalendarKind.MICROSOFT)
        appointment = Appointment(owner_id=rep.user.id, starts_at=at(1, 9), ends_at=at(1, 9, 30), title="Beratung")
        db.session.add(appointment)
        db.session.commit()
        connection = rep.connection
        assert push_pending(connection).written == [appointment.id]
        events = services.sandbox.microsoft.mine(rep.email)
        assert len(events) == 1
        # Killed before the link was recorded: the retry finds the event by its UID property.
        db.session.execute(sa.delete(CalendarEvent))
        db.session.commit()
        assert push_pending(connection).written == [appointment.id]
        assert len(events) == 1
        link = db.session.scalar(sa.select(CalendarEvent))
        assert link is not None and link.href in events

        appointment.starts_at, appointment.ends_at = at(1, 13), at(1, 14)
        db.session.commit()
        push_pending(connection)
        assert events[link.href]["start"]["dateTime"].startswith(at(1, 13).strftime("%Y-%m-%dT%H:%M"))

        own = _api(services.url, rep_token(services.url, "microsoft", rep.email))
        assert own.delete(f"/events/{link.href}").status_code == 204
        summary = sync_connection(connection.id, now=MONDAY)
        assert summary.cancelled == [appointment.id]
        db.session.refresh(appointment)
        assert appointment.status == AppointmentStatus.CANCELLED
        assert db.session.scalar(sa.select(sa.func.count(Task.id)).where(Task.kind == "calendar")) == 1


def test_the_refresh_token_rotates_into_the_store_and_a_revoked_sign_in_breaks_the_connection(
    app, connect_service, services
):
    with app.app_context():
        rep = connect_service(CalendarKind.MICROSOFT)
        store = app.extensions["leadchain.secrets"]
        first = store.get(rep.connection.secret_ref)
        own = _api(services.url, rep_token(services.url, "microsoft", rep.email))
        own.post("/events", json={"start": _when(at(2, 10)), "end": _when(at(2, 11))})
        assert sync_connection(rep.connection.id, now=MONDAY).error is None
        rotated = store.get(rep.connection.secret_ref)
        assert rotated and rotated != first  # Microsoft rotates; the new one was kept

        httpx.post(f"{services.url}/microsoft/sandbox/expire-access-tokens")
        assert sync_connection(rep.connection.id, now=MONDAY + timedelta(minutes=1)).error is None
        assert store.get(rep.connection.secret_ref) not in (first, rotated)

        own = _api(services.url, rep_token(services.url, "microsoft", rep.email))  # the old one was expired
        assert own.post("/revokeSignInSessions").json()["value"] is True
        httpx.post(f"{services.url}/microsoft/sandbox/expire-access-tokens")
        sync_connection(rep.connection.id, now=MONDAY)
        connection = db.session.get(type(rep.connection), rep.connection.id)
        assert connection.status == CalendarStatus.BROKEN
        assert "invalid_grant" in (connection.last_error or "") and "AADSTS50173" in (connection.last_error or "")
        assert busy(rep.connection.id) == [(at(2, 10), at(2, 11))]
