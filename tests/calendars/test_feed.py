"""The rep's secret ICS feed (GET /calendar/feed/<token>.ics): parses with icalendar and holds exactly the rep's
appointments, not a colleague's and not another company's; rotating and revoking close the old URL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from icalendar import Calendar

from crm.calendars import feed
from crm.email.ics import uid_for
from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Role, User
from crm.tenancy.context import company_scope
from tests.tenancy.companies import second_company

SOON = datetime.now(UTC).replace(microsecond=0) + timedelta(days=2)


def _rep_with_appointments(email: str, hours: list[int]) -> tuple[int, list[int]]:
    user = User(email=email, name="Rep", role=Role.SALES)
    db.session.add(user)
    db.session.flush()
    appointments = [
        Appointment(
            owner_id=user.id,
            starts_at=SOON + timedelta(hours=h),
            ends_at=SOON + timedelta(hours=h, minutes=30),
            title=f"Demo {h}",
        )
        for h in hours
    ]
    db.session.add_all(appointments)
    db.session.commit()
    return user.id, [a.id for a in appointments]


@pytest.mark.tenancy  # scopes entered here; the route binds the company from the token, with no test fallback
def test_feed_holds_exactly_the_reps_appointments(app, client):
    other_company = second_company(app)
    with app.app_context(), company_scope(1):
        rep, mine = _rep_with_appointments("a@example.com", [0, 2])
        _, colleagues = _rep_with_appointments("b@example.com", [1])
        cancelled = db.session.get(Appointment, mine[1])
        cancelled.status = AppointmentStatus.CANCELLED
        db.session.commit()
        token = feed.issue(rep)
        db.session.remove()
    with app.app_context(), company_scope(other_company):
        foreign_rep, foreign = _rep_with_appointments("c@example.com", [0])
        other_token = feed.issue(foreign_rep)
        db.session.remove()
    with app.app_context():
        expected = {uid_for(i) for i in mine}
        not_expected = {uid_for(i) for i in colleagues + foreign}

    response = client.get(f"/calendar/feed/{token}.ics")
    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("text/calendar")
    events = Calendar.from_ical(response.data).walk("VEVENT")
    assert {str(e["UID"]) for e in events} == expected and not expected & not_expected
    by_uid = {str(e["UID"]): e for e in events}
    assert str(by_uid[uid_for(mine[1])]["STATUS"]) == "CANCELLED"
    assert by_uid[uid_for(mine[0])]["DTSTART"].dt == SOON

    other = Calendar.from_ical(client.get(f"/calendar/feed/{other_token}.ics").data).walk("VEVENT")
    assert {str(e["UID"]) for e in other} == {uid_for(i) for i in foreign}


def test_unknown_rotated_and_revoked_tokens_answer_404(app, client):
    with app.app_context():
        rep, _ = _rep_with_appointments("a@example.com", [0])
        old = feed.issue(rep)
        new = feed.issue(rep)  # rotation: the old URL closes
    assert client.get(f"/calendar/feed/{old}.ics").status_code == 404
    assert client.get(f"/calendar/feed/{new}.ics").status_code == 200
    assert client.get("/calendar/feed/not-a-token.ics").status_code == 404
    with app.app_context():
        assert feed.revoke(rep) == 1
    assert client.get(f"/calendar/feed/{new}.ics").status_code == 404
