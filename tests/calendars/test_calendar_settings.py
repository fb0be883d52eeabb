"""Settings → calendars (on SQLite and PostgreSQL): only admins; bad fields named (422); Google connected
through the sandbox's consent page and back (the state checked); Cal.com connected with its webhook
registered at Cal.com; a broken grant told on the page; disconnect."""

from __future__ import annotations

import httpx
import pytest
import sqlalchemy as sa

from crm.calendars.sync import sync_connection
from crm.extensions import db
from crm.models.calendars import CalendarConnection, CalendarKind
from tests.ui.conftest import Team, UIClient, create_team, signed_in

PAGE = "/settings/calendars"


@pytest.fixture
def ui_app(app):
    app.test_client_class = UIClient
    return app


@pytest.fixture
def team(ui_app) -> Team:
    return create_team(ui_app)


@pytest.fixture
def as_admin(ui_app, team) -> UIClient:
    return signed_in(ui_app, team.admin)


def _connections(app) -> list[CalendarConnection]:
    with app.app_context():
        found = db.session.scalars(sa.select(CalendarConnection).order_by(CalendarConnection.id)).all()
        db.session.expunge_all()
        return list(found)


def test_only_admins_and_bad_fields_are_named(ui_app, as_admin, team):
    assert signed_in(ui_app, team.sales_a).get(PAGE).status_code == 403
    assert as_admin.get(PAGE).status_code == 200
    answer = as_admin.submit(PAGE, {"owner": f"user:{team.sales_a.id}", "kind": "caldav", "url": "ftp://x"})
    assert answer.status_code == 422
    text = answer.get_data(as_text=True)
    assert all(f"<li>{field}:" in text for field in ("url", "username", "password"))
    answer = as_admin.submit(PAGE, {"owner": "user:999999", "kind": "nonsense"})
    assert answer.status_code == 422 and "<li>owner:" in answer.get_data(as_text=True)


def test_google_through_the_consent_page_then_broken_then_disconnected(ui_app, as_admin, team, services):
    start = as_admin.submit(PAGE, {"owner": f"user:{team.sales_a.id}", "kind": "google"})
    assert start.status_code == 303 and start.headers["Location"].startswith(f"{services.url}/google/o/oauth2/v2/auth")
    consent = httpx.get(start.headers["Location"], follow_redirects=False)
    back = httpx.URL(consent.headers["Location"])
    assert back.path == f"{PAGE}/oauth"
    # A return with another state (a planted code) is refused and connects nothing.
    forged = as_admin.get(f"{PAGE}/oauth", query_string={"code": back.params["code"], "state": "forged"})
    assert forged.status_code == 303 and _connections(ui_app) == []
    again = as_admin.submit(PAGE, {"owner": f"user:{team.sales_a.id}", "kind": "google"})
    back = httpx.URL(httpx.get(again.headers["Location"], follow_redirects=False).headers["Location"])
    assert as_admin.get(f"{PAGE}/oauth", query_string=dict(back.params)).status_code == 303
    [connection] = _connections(ui_app)
    assert connection.kind == CalendarKind.GOOGLE and connection.user_id == team.sales_a.id
    assert ui_app.extensions["leadchain.secrets"].get(connection.secret_ref)

    httpx.post(f"{services.url}/google/sandbox/revoke-account", json={"email": team.sales_a.email})
    with ui_app.app_context():
        sync_connection(connection.id)
    page = as_admin.get(PAGE).get_data(as_text=True)
    assert 'id="calendars-broken"' in page and "invalid_grant" in page

    assert as_admin.submit(f"{PAGE}/{connection.id}/disconnect").status_code == 303
    assert _connections(ui_app) == []
    assert not ui_app.extensions["leadchain.secrets"].get(connection.secret_ref)


def test_calcom_is_connected_with_its_webhook_registered(ui_app, as_admin, team, services):
    answer = as_admin.submit(
        PAGE,
        {
            "owner": f"user:{team.sales_b.id}",
            "kind": "calcom",
            "api_key": "cal_live_sandbox0000000000000000",
            "event_type": "5077497",
        },
    )
    assert answer.status_code == 303
    [connection] = _connections(ui_app)
    assert connection.kind == CalendarKind.CALCOM and not connection.write_bookings
    [hook] = services.sandbox.calcom.webhooks
    assert hook["subscriberUrl"].endswith(f"/webhooks/calcom/{connection.id}") and hook["_secret"]
    assert as_admin.submit(f"{PAGE}/{connection.id}/busy", {}).status_code == 303
    assert _connections(ui_app)[0].counts_as_busy is False


def test_the_appointment_page_shows_where_the_event_lives(ui_app, as_admin, team):
    from crm.models import Appointment
    from crm.models.calendars import CalendarEvent
    from tests.calendars.service_helpers import at
    from tests.ui.conftest import create_leads

    leads = create_leads(ui_app, team)
    with ui_app.app_context():
        appointment = Appointment(lead_id=leads.own, owner_id=team.sales_a.id, starts_at=at(1, 9), ends_at=at(1, 10))
        connection = CalendarConnection(user_id=team.sales_a.id, kind=CalendarKind.GOOGLE, name="Work", url="primary")
        db.session.add_all([appointment, connection])
        db.session.flush()
        db.session.add(
            CalendarEvent(connection_id=connection.id, appointment_id=appointment.id, uid="u", href="h",
                          starts_at=at(1, 9), ends_at=at(1, 10), deleted=False)
        )  # fmt: skip
        db.session.commit()
        ids = (appointment.id, connection.id)
    page = as_admin.get(f"/leads/{leads.own}/appointments/{ids[0]}").get_data(as_text=True)
    assert 'id="appointment-calendars"' in page and "google (Work)" in page
