"""The appointment lifecycle through crm.services.appointments and the relay's sweep, mails through the sandbox's
SendGrid: the .ics sequence (parsed by `icalendar`), one mail per change, reminders once, no-shows, tenancy."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from icalendar import Calendar

from crm.extensions import db
from crm.models import (
    Appointment,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    Role,
    SideEffect,
    Task,
    User,
)
from crm.services import appointments as service
from crm.services.appointment_sweep import sweep
from crm.tenancy.context import operator_scope
from tests.appointments.conftest import appointment, booked
from tests.tenancy.companies import second_company
from tests.ui.conftest import PASSWORD, Member, signed_in


def _event(mail) -> tuple[str, object]:
    [attachment] = [a for a in mail.attachments if a["filename"] == "invite.ics"]
    calendar = Calendar.from_ical(attachment["content"])
    [event] = calendar.walk("VEVENT")
    return str(calendar["METHOD"]), event


def _what(mail) -> str:
    return mail.custom_args["message_key"].rsplit(":", 1)[1]


def test_book_move_cancel_is_one_mail_each_with_the_ics_sequence(ui_app, team, leads, mailbox):
    appt_id, start = booked(ui_app, leads.own, team.sales_a.id)
    with ui_app.app_context():
        sweep(mailbox.sender)
        # A day later: beyond the reminders' 24 hours, so the mails are the changes' only.
        target = service.free_times(team.sales_a.id, timedelta(minutes=30), start + timedelta(days=1), 1)[0]
        assert service.reschedule(appt_id, target, actor="test", expected_sequence=0).changed
        # The same change again (a replayed request naming the sequence it saw) changes nothing.
        assert service.reschedule(appt_id, target, actor="test", expected_sequence=0).outcome == "stale"
        sweep(mailbox.sender)
        assert service.cancel(appt_id, actor="test", expected_sequence=1).changed
        assert service.cancel(appt_id, actor="test", expected_sequence=1).outcome == "stale"
        first = sweep(mailbox.sender)
        again = sweep(mailbox.sender)
        timeline = db.session.scalars(
            sa.select(Interaction.data).where(Interaction.lead_id == leads.own, Interaction.provider == "appointments")
        ).all()
    assert first.mails_sent == 1 and again.mails_sent == 0

    mails = mailbox.mails(appt_id)
    assert [_what(m) for m in mails] == ["booked", "moved", "cancelled"]
    events = [_event(m) for m in mails]
    assert [method for method, _ in events] == ["REQUEST", "REQUEST", "CANCEL"]
    assert [int(e["SEQUENCE"]) for _, e in events] == [0, 1, 2]
    assert len({str(e["UID"]) for _, e in events}) == 1
    assert [str(e["STATUS"]) for _, e in events] == ["CONFIRMED", "CONFIRMED", "CANCELLED"]
    assert events[0][1].decoded("DTSTART").astimezone(UTC) == start
    assert events[1][1].decoded("DTSTART").astimezone(UTC) == target
    assert sorted(d["change"] for d in timeline) == ["cancelled", "moved"]  # the timeline: once per change
    # The booked mail carries the change link; the cancellation has nothing left to change.
    assert "/appointment/" in mails[0].text and "/appointment/" not in mails[2].text


def test_a_move_onto_a_taken_slot_is_refused_and_changes_nothing(ui_app, team, leads):
    first_id, first_start = booked(ui_app, leads.own, team.sales_a.id)
    second_id, _ = booked(ui_app, leads.unassigned, team.sales_a.id, days=5)
    with ui_app.app_context():
        assert service.reschedule(second_id, first_start, actor="test").outcome == "taken"
        moved = db.session.get(Appointment, second_id)
        assert moved.ics_sequence == 0
        assert [a.id for a in service.upcoming(leads.unassigned)] == [second_id]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(SideEffect)) == 2  # the two bookings


def test_reminders_each_once_new_after_a_move_none_after_cancel(ui_app, team, leads, mailbox):
    appt_id, start = booked(ui_app, leads.own, team.sales_a.id)
    with ui_app.app_context():
        for now in (start - timedelta(hours=23), start - timedelta(hours=22), start - timedelta(minutes=90)):
            sweep(mailbox.sender, now)
            sweep(mailbox.sender, now)
        before_move = [_what(m) for m in mailbox.mails(appt_id)]
        moved_to = service.free_times(team.sales_a.id, timedelta(minutes=30), start + timedelta(days=1), 1)[0]
        assert service.reschedule(appt_id, moved_to, actor="test", now=start - timedelta(minutes=80)).changed
        sweep(mailbox.sender, moved_to - timedelta(hours=23))
        sweep(mailbox.sender, moved_to - timedelta(hours=23))
        assert service.cancel(appt_id, actor="test", now=moved_to - timedelta(hours=3)).changed
        sweep(mailbox.sender, moved_to - timedelta(minutes=90))
    assert before_move == ["booked", "reminder_24h", "reminder_2h"]
    after = mailbox.mails(appt_id)[3:]
    assert [(_what(m), m.custom_args["message_key"].split(":")[2]) for m in after] == [
        ("moved", "1"),
        ("reminder_24h", "1"),
        ("cancelled", "2"),
    ]


def test_no_reminder_for_the_window_the_booking_or_the_move_fell_in(ui_app, team, leads, mailbox):
    """A call at 16:00 that books 10:00 tomorrow sends the confirmation; a 24 h reminder at the same moment
    would only repeat it. The 2 h reminder still comes; a move into the next 24 hours is the same."""
    now = datetime.now(UTC).replace(microsecond=0)
    soon, soon_start = booked(ui_app, leads.own, team.sales_a.id, start=now + timedelta(hours=17))
    later, start = booked(ui_app, leads.unassigned, team.sales_a.id)
    with ui_app.app_context():
        sweep(mailbox.sender, now + timedelta(minutes=1))
        sweep(mailbox.sender, soon_start - timedelta(minutes=90))
        # Moved 20 hours ahead of its new time, while the booked time is still to come.
        free = service.free_times(team.sales_a.id, timedelta(minutes=30), now + timedelta(hours=21), 200)
        moved_to = next(t for t in free if t < start + timedelta(hours=20))
        moved_at = moved_to - timedelta(hours=20)
        assert service.reschedule(later, moved_to, actor="test", now=moved_at).changed
        for at in (moved_at + timedelta(minutes=1), moved_to - timedelta(hours=19), moved_to - timedelta(minutes=90)):
            sweep(mailbox.sender, at)
    assert [_what(m) for m in mailbox.mails(soon)] == ["booked", "reminder_2h"]
    assert [(_what(m), m.custom_args["message_key"].split(":")[2]) for m in mailbox.mails(later)] == [
        ("booked", "0"),
        ("moved", "1"),
        ("reminder_2h", "1"),
    ]


def test_no_show_by_the_rep_and_automatic(ui_app, team, leads, as_sales_a, mailbox):
    now = datetime.now(UTC).replace(microsecond=0)
    # Appointments that began before now (booked directly: the sweep does not care about working hours).
    by_rep, _ = booked(ui_app, leads.own, team.sales_a.id, start=now - timedelta(hours=3))
    automatic, _ = booked(ui_app, leads.unassigned, team.sales_a.id, start=now - timedelta(hours=5))
    logged, logged_start = booked(ui_app, leads.foreign, team.sales_b.id, start=now - timedelta(hours=3))
    with ui_app.app_context():
        lead = db.session.get(Lead, leads.own)
        lead.status = LeadStatus.BOOKED
        # Something logged on the third lead after its appointment began: the sweep leaves it alone.
        db.session.add(
            Interaction(
                lead_id=leads.foreign, kind=InteractionKind.MEETING, direction=Direction.INTERNAL, status="held",
                created_by="ui:1", created_at=logged_start + timedelta(minutes=5),
            )
        )  # fmt: skip
        db.session.commit()

    url = f"/leads/{leads.own}/appointments/{by_rep}/no-show"
    assert as_sales_a.submit(url).status_code == 303
    assert as_sales_a.submit(url).status_code == 303  # a second mark: refused with a message, nothing changes

    with ui_app.app_context():
        done = sweep(mailbox.sender, now)
        again = sweep(mailbox.sender, now + timedelta(minutes=1))
        marks = {a.id: a.no_show_by for a in db.session.scalars(sa.select(Appointment))}
        tasks = db.session.scalars(sa.select(Task.lead_id).where(Task.dedupe_key.like("appointment:%"))).all()
        status = db.session.get(Lead, leads.own).status
    assert done.no_shows == 1 and again.no_shows == 0
    assert marks == {by_rep: f"ui:{team.sales_a.id}", automatic: "sweep", logged: None}
    assert sorted(tasks) == sorted([leads.own, leads.unassigned])  # back to follow-up: one callback task each
    assert status == LeadStatus.CONTACTED


def test_a_cancel_sends_the_lead_back_to_follow_up_once(ui_app, team, leads, mailbox):
    """A cancel (by phone, link or UI: all go through service.cancel) leaves the lead without its next step: the
    owner gets one callback task and the lead is contacted again, as after a no-show. A lead with another
    appointment ahead keeps it as its next step: booked, no task."""
    alone, _ = booked(ui_app, leads.own, team.sales_a.id)
    first, start = booked(ui_app, leads.unassigned, team.sales_a.id)
    second, _ = booked(ui_app, leads.unassigned, team.sales_a.id, start=start + timedelta(days=1))
    with ui_app.app_context():
        for lead_id in (leads.own, leads.unassigned):
            db.session.get(Lead, lead_id).status = LeadStatus.BOOKED
        db.session.commit()
        assert service.cancel(alone, actor="phone:call_1", expected_sequence=0).changed
        assert service.cancel(alone, actor="phone:call_1", expected_sequence=0).outcome == "stale"
        assert service.cancel(first, actor="test", expected_sequence=0).changed
        tasks = db.session.execute(
            sa.select(Task.lead_id, Task.owner_id, Task.title, Task.kind).where(Task.dedupe_key.like("appointment:%"))
        ).all()
        statuses = {i: db.session.get(Lead, i).status for i in (leads.own, leads.unassigned)}
        db.session.remove()
        # The second appointment cancelled too: now nothing is ahead, so back to follow-up.
        assert service.cancel(second, actor="test", expected_sequence=0).changed
        after = db.session.scalars(sa.select(Task.lead_id).where(Task.dedupe_key.like("appointment:%"))).all()
        status = db.session.get(Lead, leads.unassigned).status
    assert tasks == [(leads.own, team.sales_a.id, "Call back: cancelled appointment", "callback")]
    assert statuses == {leads.own: LeadStatus.CONTACTED, leads.unassigned: LeadStatus.BOOKED}
    assert sorted(after) == sorted([leads.own, leads.unassigned]) and status == LeadStatus.CONTACTED


def test_another_companys_user_cannot_see_or_change_the_appointment(ui_app, team, leads):
    appt_id, _ = booked(ui_app, leads.own, team.sales_a.id)
    other = second_company(ui_app)
    from crm.ui.auth import hasher

    with ui_app.app_context(), operator_scope("tests", "a user of the second company"):
        intruder = User(
            email="boss@zweite.test", name="Boss", role=Role.MANAGER, company_id=other,
            password_hash=hasher().hash(PASSWORD),
        )  # fmt: skip
        db.session.add(intruder)
        db.session.commit()
        member = Member(intruder.id, intruder.email, PASSWORD, Role.MANAGER, intruder.name)
    client = signed_in(ui_app, member)
    base = f"/leads/{leads.own}/appointments/{appt_id}"
    assert client.get(base).status_code == 404
    target = (appointment(ui_app, appt_id).starts_at + timedelta(days=1)).isoformat()
    assert client.submit(f"{base}/reschedule", {"start": target, "sequence": "0"}).status_code == 404
    assert client.submit(f"{base}/cancel", {"sequence": "0"}).status_code == 404
    after = appointment(ui_app, appt_id)
    assert after.ics_sequence == 0 and after.status.value == "confirmed"


def test_a_rep_may_not_change_a_colleagues_appointment_but_the_manager_may(ui_app, team, leads, as_sales_a, as_manager):
    # Sales A may see the unassigned lead, but the appointment is sales B's: 403.
    appt_id, _ = booked(ui_app, leads.unassigned, team.sales_b.id)
    base = f"/leads/{leads.unassigned}/appointments/{appt_id}"
    assert as_sales_a.get(base).status_code == 403
    assert as_sales_a.submit(f"{base}/cancel", {"sequence": "0"}).status_code == 403
    page = as_manager.get(base)
    assert page.status_code == 200
    start = appointment(ui_app, appt_id).starts_at
    with ui_app.app_context():
        slot = service.free_slots(db.session.get(Appointment, appt_id))[0]
    assert slot.isoformat() in page.get_data(as_text=True)
    assert as_manager.submit(f"{base}/reschedule", {"start": slot.isoformat(), "sequence": "0"}).status_code == 303
    moved = appointment(ui_app, appt_id)
    assert moved.starts_at != start and moved.ics_sequence == 1
    # The page left open: its form still says sequence 0, so a second submit is refused.
    assert as_manager.submit(f"{base}/cancel", {"sequence": "0"}).status_code == 303
    assert appointment(ui_app, appt_id).status.value == "confirmed"


def test_a_mail_whose_attempt_died_in_flight_is_not_sent_again(ui_app, team, leads, mailbox):
    """At most once: an attempt that may have reached SendGrid (journal in_flight) is recorded as sent under
    the unconfirmed placeholder, never sent twice (crm/email/sendgrid_sender.py's journal)."""
    appt_id, _ = booked(ui_app, leads.own, team.sales_a.id)
    key = service.ledger_key(appt_id, 0, "booked")
    with ui_app.app_context():
        row = db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key))
        row.attempts, row.result = 1, {"sendgrid": {"state": "in_flight"}}
        db.session.commit()
        sweep(mailbox.sender)
        sweep(mailbox.sender)
        row = db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key))
        assert (row.status, row.provider_ref.startswith("unconfirmed-")) == ("done", True)
    assert mailbox.mails(appt_id) == []


def test_free_times_leave_out_the_reps_external_calendar(ui_app, team, leads):
    """A busy block from the rep's own calendar (issue 18's calendar_busy) is not offered to move to."""
    from crm.models.calendars import CalendarBusy, CalendarConnection, CalendarKind

    length = timedelta(minutes=30)
    with ui_app.app_context():
        after = datetime.now(UTC) + timedelta(days=3)
        first = service.free_times(team.sales_a.id, length, after, 1)[0]
        connection = CalendarConnection(user_id=team.sales_a.id, kind=CalendarKind.CALDAV, url="https://dav.example/a")
        db.session.add(connection)
        db.session.flush()
        db.session.add(
            CalendarBusy(
                connection_id=connection.id, user_id=team.sales_a.id, starts_at=first, ends_at=first + length,
                uid="dentist@example", href="/a/dentist.ics",
            )
        )  # fmt: skip
        db.session.commit()
        assert first not in service.free_times(team.sales_a.id, length, after, 4)
        assert first in service.free_times(team.sales_b.id, length, after, 4)  # a colleague's time is not theirs
