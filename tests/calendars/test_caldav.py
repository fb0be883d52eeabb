"""External calendars against a real Radicale (tests/calendars/conftest.py), on SQLite and PostgreSQL: busy
times from the rep's calendar remove exactly the right slots (single, weekly recurring with an EXDATE and an
overridden instance, another zone, all-day), bookings are written once under retries, the rep's own moves
and deletions flow back, a revoked credential breaks the connection without freeing its slots."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from crm.calendars.connections import open_port
from crm.calendars.sync import sync_connection
from crm.calendars.writeout import event_ics, push_pending
from crm.email.ics import uid_for
from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Task
from crm.models.calendars import CalendarBusy, CalendarEvent, CalendarStatus
from voice.bridge import availability
from voice.bridge.timeprefs.calendar import resolve
from voice.bridge.timeprefs.constraint import TimeConstraint

BERLIN = ZoneInfo("Europe/Berlin")
# Monday 4 January 2027, 07:00 Berlin; reps work Mon-Fri 09-17 (the team default).
NOW = datetime(2027, 1, 4, 6, 0, tzinfo=UTC)
MON, TUE, WED, THU = (date(2027, 1, 4) + timedelta(days=i) for i in range(4))
ALL_DAY = [f"{h:02d}:{m:02d}" for h in range(9, 17) for m in (0, 30)]


def _ics(*events: str) -> str:
    body = "".join(f"BEGIN:VEVENT\r\nDTSTAMP:20261201T000000Z\r\n{e.strip()}\r\nEND:VEVENT\r\n" for e in events)
    return f"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n{body}END:VCALENDAR\r\n".replace("\n    ", "\n")


def _free(user, day: date) -> list[str]:
    rep = availability._load_reps([user], NOW)[0]
    slots = resolve(
        TimeConstraint(dates=(day,)),
        rep.calendar,
        NOW,
        busy=rep.busy,
        duration=timedelta(minutes=30),
        step=timedelta(minutes=30),
        horizon_days=14,
        lead_time=timedelta(hours=1),
    )
    return [s.start.astimezone(BERLIN).strftime("%H:%M") for s in slots]


def _without(*taken: str) -> list[str]:
    return [s for s in ALL_DAY if s not in taken]


def _sync(rep) -> None:
    summary = sync_connection(rep.connection.id, now=NOW)
    assert summary.error is None, summary.error


def test_busy_events_remove_exactly_their_slots(app, connect_rep):
    with app.app_context():
        rep = connect_rep()
        cal = rep.dav()
        # 10:15-11:00 Berlin on Monday: the 10:00 and 10:30 slots go, nothing else.
        cal.save_event(
            _ics(
                "UID:single-1\r\nDTSTART;TZID=Europe/Berlin:20270104T101500\r\nDTEND;TZID=Europe/Berlin:20270104T110000"
            )
        )
        # Weekly on Tuesdays 14:00-15:00 Berlin from 5 January, the 12th excluded, the 19th moved to 09:00-10:00.
        cal.save_event(
            _ics(
                "UID:weekly-1\r\nDTSTART;TZID=Europe/Berlin:20270105T140000\r\nDTEND;TZID=Europe/Berlin:20270105T150000\r\n"
                "RRULE:FREQ=WEEKLY;COUNT=6\r\nEXDATE;TZID=Europe/Berlin:20270112T140000",
                "UID:weekly-1\r\nRECURRENCE-ID;TZID=Europe/Berlin:20270119T140000\r\n"
                "DTSTART;TZID=Europe/Berlin:20270119T090000\r\nDTEND;TZID=Europe/Berlin:20270119T100000",
            )
        )
        # Wednesday 09:00-10:00 in New York = 15:00-16:00 Berlin.
        cal.save_event(
            _ics(
                "UID:ny-1\r\nDTSTART;TZID=America/New_York:20270106T090000\r\nDTEND;TZID=America/New_York:20270106T100000"
            )
        )
        # Thursday all day; and a "free" (transparent) event on Monday that must block nothing.
        cal.save_event(_ics("UID:allday-1\r\nDTSTART;VALUE=DATE:20270107\r\nDTEND;VALUE=DATE:20270108"))
        cal.save_event(_ics("UID:free-1\r\nDTSTART:20270104T150000Z\r\nDTEND:20270104T160000Z\r\nTRANSP:TRANSPARENT"))

        assert _free(rep.user, MON) == ALL_DAY  # nothing synced yet
        _sync(rep)

        assert _free(rep.user, MON) == _without("10:00", "10:30")
        assert _free(rep.user, TUE) == _without("14:00", "14:30")
        assert _free(rep.user, TUE + timedelta(days=7)) == ALL_DAY  # EXDATE
        assert _free(rep.user, TUE + timedelta(days=14)) == _without("09:00", "09:30")  # the overridden instance
        assert _free(rep.user, WED) == _without("15:00", "15:30")
        assert _free(rep.user, THU) == []
        weekly = db.session.scalars(
            sa.select(CalendarBusy.recurrence_id).where(CalendarBusy.uid == "weekly-1").order_by(CalendarBusy.starts_at)
        ).all()
        assert len(weekly) == 5 and all(weekly)  # six weeks, one excluded


def test_incremental_sync_follows_changes_and_deletions(app, connect_rep):
    with app.app_context():
        rep = connect_rep()
        cal = rep.dav()
        event = cal.save_event(_ics("UID:dentist\r\nDTSTART:20270104T150000Z\r\nDTEND:20270104T160000Z"))
        _sync(rep)
        assert _free(rep.user, MON) == _without("16:00", "16:30")
        token = db.session.get(type(rep.connection), rep.connection.id).sync_token
        assert token

        # Unchanged calendar: the ctag says so and the token stays.
        assert sync_connection(rep.connection.id, now=NOW).changed == 0

        event.delete()
        cal.save_event(_ics("UID:gym\r\nDTSTART:20270104T080000Z\r\nDTEND:20270104T090000Z"))
        summary = sync_connection(rep.connection.id, now=NOW)
        assert summary.changed == 2
        assert _free(rep.user, MON) == _without("09:00", "09:30")


def test_booking_is_written_once_even_when_retried_after_the_put(app, connect_rep):
    with app.app_context():
        rep = connect_rep()
        appointment = Appointment(
            owner_id=rep.user.id,
            starts_at=datetime(2027, 1, 5, 10, 0, tzinfo=UTC),
            ends_at=datetime(2027, 1, 5, 10, 30, tzinfo=UTC),
            title="Demo",
        )
        db.session.add(appointment)
        db.session.commit()
        port = open_port(rep.connection)
        # The first attempt's PUT reached the server, then the activity died before recording anything.
        first = port.put(uid_for(appointment.id), event_ics(appointment, uid_for(appointment.id)))
        assert first.created

        assert push_pending(rep.connection, now=NOW).written == [appointment.id]
        assert push_pending(rep.connection, now=NOW).written == []  # in step: nothing to write
        objects = port.changes(None, None).objects
        assert [o.href for o in objects] == [port.href_for(uid_for(appointment.id))]

        # A move in the CRM replaces the event (If-Match), still one event; a cancellation deletes it.
        appointment.starts_at += timedelta(hours=1)
        appointment.ends_at += timedelta(hours=1)
        db.session.commit()
        assert push_pending(rep.connection, now=NOW).written == [appointment.id]
        objects = port.changes(None, None).objects
        assert len(objects) == 1 and b"20270105T110000Z" in objects[0].ics
        # Our own event is not an external busy row: the appointment blocks the time itself.
        _sync(rep)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(CalendarBusy)) == 0
        appointment.status = AppointmentStatus.CANCELLED
        db.session.commit()
        assert push_pending(rep.connection, now=NOW).deleted == [appointment.id]
        assert port.changes(None, None).objects == []


def test_the_reps_move_and_delete_flow_back_with_a_task(app, connect_rep):
    with app.app_context():
        rep = connect_rep()
        moved, deleted = (
            Appointment(
                owner_id=rep.user.id,
                starts_at=datetime(2027, 1, 5, h, 0, tzinfo=UTC),
                ends_at=datetime(2027, 1, 5, h, 30, tzinfo=UTC),
                title="Demo",
            )
            for h in (9, 12)
        )
        db.session.add_all([moved, deleted])
        db.session.commit()
        push_pending(rep.connection, now=NOW)
        _sync(rep)
        cal = rep.dav()
        event = cal.event_by_uid(uid_for(moved.id))
        event.icalendar_component["DTSTART"].dt = datetime(2027, 1, 6, 13, 0, tzinfo=UTC)
        event.icalendar_component["DTEND"].dt = datetime(2027, 1, 6, 14, 0, tzinfo=UTC)
        event.save()
        cal.event_by_uid(uid_for(deleted.id)).delete()

        summary = sync_connection(rep.connection.id, now=NOW)
        assert summary.moved == [moved.id] and summary.cancelled == [deleted.id]
        db.session.expire_all()
        assert db.session.get(Appointment, moved.id).starts_at == datetime(2027, 1, 6, 13, 0, tzinfo=UTC)
        assert db.session.get(Appointment, moved.id).ends_at == datetime(2027, 1, 6, 14, 0, tzinfo=UTC)
        assert db.session.get(Appointment, deleted.id).status == AppointmentStatus.CANCELLED
        tasks = db.session.scalars(sa.select(Task).order_by(Task.id)).all()
        assert [(t.owner_id, t.kind) for t in tasks] == [(rep.user.id, "calendar")] * 2
        # The next round changes nothing more: no task twice, and the cancelled event is not recreated.
        assert sync_connection(rep.connection.id, now=NOW).moved == []
        assert push_pending(rep.connection, now=NOW).written == []
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Task)) == 2
        link = db.session.scalar(sa.select(CalendarEvent).where(CalendarEvent.appointment_id == deleted.id))
        assert link.deleted


def test_revoked_credentials_break_the_connection_and_keep_its_slots_busy(app, connect_rep, radicale_server):
    with app.app_context():
        rep = connect_rep()
        rep.dav().save_event(_ics("UID:busy\r\nDTSTART:20270104T090000Z\r\nDTEND:20270104T100000Z"))
        _sync(rep)
        assert _free(rep.user, MON) == _without("10:00", "10:30")

        radicale_server.add_user(rep.login, "changed-by-the-rep")  # the app password is revoked
        summary = sync_connection(rep.connection.id, now=NOW + timedelta(minutes=1))
        assert summary.status == "broken" and "Unauthorized" in summary.error
        connection = db.session.get(type(rep.connection), rep.connection.id)
        assert connection.status == CalendarStatus.BROKEN and connection.last_error
        assert rep.password not in connection.last_error
        assert _free(rep.user, MON) == _without("10:00", "10:30")  # not "free"


def test_the_booking_recheck_asks_the_calendar_itself(app, connect_rep):
    from crm.calendars.recheck import slot_still_free

    with app.app_context():
        rep = connect_rep()
        start = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
        _sync(rep)
        assert slot_still_free(rep.user.id, start, start + timedelta(minutes=30)) is True
        # Made busy after the last sync (between the offer and the caller's yes): the busy table does not
        # know yet, the calendar does.
        rep.dav().save_event(_ics("UID:late\r\nDTSTART:20270105T091500Z\r\nDTEND:20270105T094500Z"))
        assert slot_still_free(rep.user.id, start, start + timedelta(minutes=30)) is False
        assert slot_still_free(rep.user.id, start + timedelta(hours=1), start + timedelta(hours=2)) is True
        rep.connection.url = "http://127.0.0.1:9/nowhere/"  # nothing listens: no answer, not "taken"
        db.session.commit()
        assert slot_still_free(rep.user.id, start, start + timedelta(minutes=30), timeout_s=1) is None


def test_the_bridge_does_not_book_a_slot_taken_in_the_reps_calendar(app, connect_rep):
    from crm.models import Lead
    from voice.bridge.booking import book

    with app.app_context():
        rep = connect_rep()
        lead = Lead(first_name="Kim", last_name="Kunde", source="test", owner_id=rep.user.id)
        db.session.add(lead)
        db.session.commit()
        _sync(rep)
        start = datetime(2027, 1, 5, 9, 0, tzinfo=UTC)
        # Taken between the offer and the caller's yes: only the calendar itself knows yet.
        rep.dav().save_event(_ics("UID:late\r\nDTSTART:20270105T090000Z\r\nDTEND:20270105T100000Z"))
        taken = book(lead.id, "call-1", start, start + timedelta(minutes=30), now=NOW)
        assert taken.status == "taken"
        # Known to the busy table (synced) while the calendar cannot be asked: still taken.
        _sync(rep)
        rep.connection.url = "http://127.0.0.1:9/nowhere/"
        db.session.commit()
        assert book(lead.id, "call-2", start, start + timedelta(minutes=30), now=NOW).status == "taken"
        booked = book(lead.id, "call-3", start + timedelta(hours=2), start + timedelta(hours=2, minutes=30), now=NOW)
        assert booked.status == "booked"
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Appointment)) == 1
