"""The signed links in an appointment's mail (/appointment/<token>): no sign-in, once per change, a clear 4xx
page for a used, expired or forged link (never a 500)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

from itsdangerous import URLSafeSerializer

from crm.email.appointment_links import make_token, read_token
from crm.extensions import db
from crm.models import Appointment
from crm.services import appointments as service
from crm.services.appointment_sweep import sweep
from tests.appointments.conftest import appointment, booked

_LINK = re.compile(r"https?://[^\s\"<>]+/appointment/([A-Za-z0-9_.\-]+)")


def _link_in_mail(mailbox, appointment_id: int) -> str:
    [mail] = mailbox.mails(appointment_id)
    return _LINK.search(mail.text).group(1)


def test_a_link_replayed_twice_moves_the_appointment_once(ui_app, team, leads, mailbox, anon):
    appt_id, start = booked(ui_app, leads.own, team.sales_a.id)
    with ui_app.app_context():
        sweep(mailbox.sender)  # the confirmation, with the link
        target = service.free_slots(db.session.get(Appointment, appt_id))[0]
    token = _link_in_mail(mailbox, appt_id)
    page = anon.get(f"/appointment/{token}")
    assert page.status_code == 200 and target.isoformat() in page.get_data(as_text=True)
    assert page.headers["Cache-Control"] == "no-store"

    first = anon.post(f"/appointment/{token}/reschedule", data={"start": target.isoformat()})
    replay = anon.post(f"/appointment/{token}/reschedule", data={"start": target.isoformat()})
    assert first.status_code == 200
    assert replay.status_code == 409 and "Der Termin hat sich geändert" in replay.get_data(as_text=True)
    assert anon.get(f"/appointment/{token}").status_code == 409  # the old link now only says so
    assert anon.post(f"/appointment/{token}/cancel").status_code == 409
    moved = appointment(ui_app, appt_id)
    assert (moved.starts_at, moved.ics_sequence, moved.status.value) == (target, 1, "confirmed")
    with ui_app.app_context():
        sweep(mailbox.sender)
        sweep(mailbox.sender)
    # One mail per change (the move lands within 24 hours here, so its reminder comes too).
    changes = [m for m in mailbox.mails(appt_id) if "reminder" not in m.custom_args["message_key"]]
    assert [m.custom_args["message_key"].rsplit(":", 2)[1:] for m in changes] == [["0", "booked"], ["1", "moved"]]
    # The new mail's link works (once) and cancels.
    new_token = _LINK.search(changes[1].text).group(1)
    assert new_token != token
    assert anon.post(f"/appointment/{new_token}/cancel").status_code == 200
    assert anon.post(f"/appointment/{new_token}/cancel").status_code == 409
    assert appointment(ui_app, appt_id).status.value == "cancelled"


def test_forged_expired_and_closed_links_are_clear_4xx_pages(ui_app, team, leads, anon):
    appt_id, start = booked(ui_app, leads.own, team.sales_a.id)
    appt = appointment(ui_app, appt_id)
    with ui_app.app_context():
        genuine = make_token(appt)
        assert read_token(genuine).appointment_id == appt_id
        past = SimpleNamespace(
            id=appt_id, company_id=appt.company_id, ics_sequence=0, starts_at=start - timedelta(days=9)
        )
        expired = make_token(past)
        other_company = make_token(SimpleNamespace(id=appt_id, company_id=2, ics_sequence=0, starts_at=start))
    forged = URLSafeSerializer("not-our-key", salt="leadchain.appointment.link.v1").dumps(
        [appt_id, appt.company_id, 0, int(start.timestamp())]
    )
    tampered = genuine[:-3] + ("AAA" if not genuine.endswith("AAA") else "BBB")
    for token, status in (
        (forged, 404),
        (tampered, 404),
        ("x" * 400, 404),
        ("not-a-token", 404),
        (other_company, 404),  # signed, but the appointment is not that company's: not there
        (expired, 410),
    ):
        for method, path in (("GET", ""), ("POST", "/reschedule"), ("POST", "/cancel")):
            r = anon.open(f"/appointment/{token}{path}", method=method, data={"start": "2030-01-07T09:00:00+00:00"})
            assert r.status_code == status, (token[:20], method, path, r.status_code)
            assert "<h1>" in r.get_data(as_text=True)
    bad_start = anon.post(f"/appointment/{genuine}/reschedule", data={"start": "tomorrow"})
    assert bad_start.status_code == 422
    outside = anon.post(f"/appointment/{genuine}/reschedule", data={"start": "2031-01-05T03:00:00+00:00"})
    assert outside.status_code in (409, 422)
    assert appointment(ui_app, appt_id).ics_sequence == 0  # nothing above changed it
    with ui_app.app_context():
        assert service.cancel(appt_id, actor="test").changed
    assert anon.get(f"/appointment/{genuine}").status_code == 409  # cancelled since: the link is used up
    with ui_app.app_context():
        current = make_token(db.session.get(Appointment, appt_id))
    closed = anon.get(f"/appointment/{current}")
    assert closed.status_code == 410 and datetime.now(UTC) < start


def test_the_chains_booking_confirmation_carries_the_link_and_the_current_sequence(ui_app, team, leads, mailbox, anon):
    """A booking on a call is confirmed by the chain (booking_confirmation): its mail has the same link."""
    from crm.email.port import EmailMessage

    appt_id, _ = booked(ui_app, leads.own, team.sales_a.id)
    with ui_app.app_context():
        message = EmailMessage(leads.own, "olga@example.test", "de", "booking_confirmation", 0, f"c1:{leads.own}:x")
        outgoing = mailbox.sender.build(message)
        [token] = _LINK.findall(outgoing.rendered.text)
        assert read_token(token).appointment_id == appt_id
    [invite] = outgoing.attachments
    assert "SEQUENCE:0" in invite.content.decode() and f"appointment-{appt_id}@" in invite.content.decode()
    assert anon.get(f"/appointment/{token}").status_code == 200
