"""Cal.com through the sandbox's API v2 and its signed webhooks (over HTTP to a served CRM), on SQLite and
PostgreSQL: bookings synced as busy time (an unchanged digest writes nothing), webhooks make a booking busy,
move it and free it at once, a booking linked to an appointment moves and cancels it, and the webhook route
refuses bad and stale signatures (401) and names bad fields (400), never a 500."""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import sqlalchemy as sa

from crm.calendars.connections import webhook_secret_name
from crm.calendars.sync import sync_connection
from crm.extensions import db
from crm.models import Appointment, AppointmentStatus, Task
from crm.models.calendars import CalendarEvent, CalendarKind
from tests.calendars.service_helpers import MONDAY, at, busy

KEY = {"Authorization": "Bearer cal_live_sandbox0000000000000000", "cal-api-version": "2026-02-25"}
SECRET = "whsec-calcom-test-secret"


def _iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _book(base: str, start: datetime) -> dict:
    body = {
        "eventTypeId": 5077497,
        "start": _iso(start),
        "attendee": {"name": "Dana Lee", "email": "dana@example.org", "timeZone": "Europe/Berlin", "language": "de"},
        "metadata": {"source": "test"},
    }
    answer = httpx.post(f"{base}/calcom/v2/bookings", json=body, headers=KEY)
    assert answer.status_code == 201, answer.text
    return answer.json()["data"]


@pytest.fixture
def calcom_rep(app, connect_service, services, crm_server):
    with app.app_context():
        rep = connect_service(CalendarKind.CALCOM)
        secret_ref = webhook_secret_name(rep.connection.company_id, rep.connection.id)
        app.extensions["leadchain.secrets"].put(secret_ref, SECRET)
        hook = {
            "subscriberUrl": f"{crm_server.url}/webhooks/calcom/{rep.connection.id}",
            "triggers": ["BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED"],
            "active": True,
            "secret": SECRET,
        }
        assert httpx.post(f"{services.url}/calcom/v2/webhooks", json=hook, headers=KEY).status_code == 201
        yield rep


def test_bookings_sync_as_busy_time_and_an_unchanged_listing_writes_nothing(app, calcom_rep, services):
    with app.app_context():
        first = _book(services.url, at(0, 9))
        _book(services.url, at(1, 14))
        services.sandbox.calcom.wait_deliveries()
        summary = sync_connection(calcom_rep.connection.id, now=MONDAY)
        assert summary.error is None
        assert busy(calcom_rep.connection.id) == [(at(0, 9), at(0, 9, 30)), (at(1, 14), at(1, 14, 30))]
        assert sync_connection(calcom_rep.connection.id, now=MONDAY).changed == 0  # same digest
        httpx.post(
            f"{services.url}/calcom/v2/bookings/{first['uid']}/cancel", json={"cancellationReason": "x"}, headers=KEY
        )
        services.sandbox.calcom.wait_deliveries()
        assert sync_connection(calcom_rep.connection.id, now=MONDAY).error is None
        assert busy(calcom_rep.connection.id) == [(at(1, 14), at(1, 14, 30))]
        assert {v for p, v in services.sandbox.calcom.versions if p.endswith("/v2/bookings")} == {"2026-02-25"}


def test_webhooks_make_busy_move_and_free_a_booking_at_once(app, calcom_rep, services):
    with app.app_context():
        booking = _book(services.url, at(2, 10))
        services.sandbox.calcom.wait_deliveries()
        assert busy(calcom_rep.connection.id) == [(at(2, 10), at(2, 10, 30))]
        moved = httpx.post(
            f"{services.url}/calcom/v2/bookings/{booking['uid']}/reschedule",
            json={"start": _iso(at(2, 15))},
            headers=KEY,
        ).json()["data"]
        assert moved["uid"] != booking["uid"]
        services.sandbox.calcom.wait_deliveries()
        assert busy(calcom_rep.connection.id) == [(at(2, 15), at(2, 15, 30))]
        httpx.post(f"{services.url}/calcom/v2/bookings/{moved['uid']}/cancel", json={}, headers=KEY)
        services.sandbox.calcom.wait_deliveries()
        assert busy(calcom_rep.connection.id) == []
        assert [d["status"] for d in services.sandbox.calcom.deliveries] == [200, 200, 200]


def test_a_linked_booking_moved_or_cancelled_at_calcom_moves_or_cancels_the_appointment(app, calcom_rep, services):
    with app.app_context():
        booking = _book(services.url, at(3, 11))
        services.sandbox.calcom.wait_deliveries()
        appointment = Appointment(owner_id=calcom_rep.user.id, starts_at=at(3, 11), ends_at=at(3, 11, 30), title="Demo")
        db.session.add(appointment)
        db.session.flush()
        link = CalendarEvent(
            connection_id=calcom_rep.connection.id,
            appointment_id=appointment.id,
            uid=booking["uid"],
            href=booking["uid"],
            starts_at=at(3, 11),
            ends_at=at(3, 11, 30),
            deleted=False,
        )
        db.session.add(link)
        db.session.commit()
        moved = httpx.post(
            f"{services.url}/calcom/v2/bookings/{booking['uid']}/reschedule",
            json={"start": _iso(at(3, 16))},
            headers=KEY,
        ).json()["data"]
        services.sandbox.calcom.wait_deliveries()
        db.session.expire_all()
        assert (appointment.starts_at, appointment.ends_at) == (at(3, 16), at(3, 16, 30))
        assert link.href == moved["uid"]
        httpx.post(f"{services.url}/calcom/v2/bookings/{moved['uid']}/cancel", json={}, headers=KEY)
        services.sandbox.calcom.wait_deliveries()
        db.session.expire_all()
        assert appointment.status == AppointmentStatus.CANCELLED
        assert db.session.scalar(sa.select(sa.func.count(Task.id)).where(Task.kind == "calendar")) == 2


def _signed(body: bytes, secret: str = SECRET) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Cal-Signature-256": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
    }


def test_the_webhook_route_refuses_bad_and_stale_signatures_and_names_bad_fields(app, calcom_rep, client):
    url = f"/webhooks/calcom/{calcom_rep.connection.id}"
    now = datetime.now(UTC)
    payload = {"uid": "b1", "startTime": _iso(at(4, 9)), "endTime": _iso(at(4, 9, 30)), "status": "ACCEPTED"}
    good = json.dumps({"triggerEvent": "BOOKING_CREATED", "createdAt": _iso(now), "payload": payload}).encode()
    assert client.post(url, data=good, headers=_signed(good)).status_code == 200
    assert client.post(url, data=good, headers=_signed(good)).status_code == 200  # a duplicate: still one row
    with app.app_context():
        assert busy(calcom_rep.connection.id) == [(at(4, 9), at(4, 9, 30))]

    assert client.post(url, data=good, headers=_signed(good, "wrong-secret")).status_code == 401
    assert client.post(url, data=good, headers={"Content-Type": "application/json"}).status_code == 401
    tampered = good.replace(b"b1", b"b2")
    assert client.post(url, data=tampered, headers=_signed(good)).status_code == 401
    stale = json.dumps(
        {"triggerEvent": "BOOKING_CREATED", "createdAt": _iso(now - timedelta(minutes=30)), "payload": payload}
    ).encode()
    answer = client.post(url, data=stale, headers=_signed(stale))
    assert answer.status_code == 401 and "stale" in answer.get_json()["message"]

    bad = json.dumps(
        {"triggerEvent": "BOOKING_CREATED", "createdAt": _iso(now), "payload": {"uid": 7, "startTime": "soon"}}
    ).encode()
    answer = client.post(url, data=bad, headers=_signed(bad))
    assert answer.status_code == 400
    assert set(answer.get_json()["errors"]) == {"payload.uid", "payload.startTime", "payload.endTime"}
    for raw in (b"[1, 2]", b"not json", b'{"payload": "x"}'):
        answer = client.post(url, data=raw, headers=_signed(raw))
        assert answer.status_code == 400, raw
    assert client.post("/webhooks/calcom/999999", data=good, headers=_signed(good)).status_code == 404
