"""The sandbox's calendar services answer in the services' own shapes (docs/calendars.md §C1-§C3), checked
over HTTP without the CRM: Google's paging (nextSyncToken on the last page only), error bodies and freeBusy;
Graph's getSchedule and error body; Cal.com's envelope, slots keyed by date in the asked zone, pagination and
refusals."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from sandbox.app import SandboxConfig, create_sandbox_app
from tests.calendars.service_helpers import at, rep_token
from tests.sandbox_fixtures import ServerThread

CAL = {"Authorization": "Bearer cal_live_sandbox0000000000000000", "cal-api-version": "2026-02-25"}


@pytest.fixture(scope="module")
def base():
    with ServerThread(create_sandbox_app(SandboxConfig())) as server:
        yield server.url


def _z(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_google_pages_errors_and_free_busy(base):
    api = httpx.Client(
        base_url=f"{base}/google/calendar/v3",
        headers={"Authorization": f"Bearer {rep_token(base, 'google', 'shapes@example.com')}"},
    )
    for hour in (9, 11, 13):
        body = {"start": {"dateTime": _z(at(0, hour))}, "end": {"dateTime": _z(at(0, hour, 30))}}
        assert api.post("/calendars/primary/events", json=body).status_code == 200
    first = api.get("/calendars/primary/events", params={"maxResults": 2}).json()
    assert first["kind"] == "calendar#events" and len(first["items"]) == 2
    assert "nextPageToken" in first and "nextSyncToken" not in first
    last = api.get("/calendars/primary/events", params={"maxResults": 2, "pageToken": first["nextPageToken"]}).json()
    assert len(last["items"]) == 1 and "nextSyncToken" in last and "nextPageToken" not in last
    event = last["items"][0]
    assert event["kind"] == "calendar#event" and event["status"] == "confirmed" and event["etag"].startswith('"')

    again = api.post("/calendars/primary/events", json={**event, "id": event["id"]})
    assert again.status_code == 409
    assert again.json()["error"]["errors"][0]["reason"] == "duplicate"
    assert api.delete(f"/calendars/primary/events/{event['id']}").status_code == 204
    gone = api.delete(f"/calendars/primary/events/{event['id']}")
    assert gone.status_code == 410 and gone.json()["error"]["message"] == "Resource has been deleted"
    assert (
        api.post("/calendars/primary/events", json={"start": {"dateTime": _z(at(1, 9))}}).json()["error"]["code"] == 400
    )

    busy = api.post(
        "/freeBusy", json={"timeMin": _z(at(0, 0)), "timeMax": _z(at(1, 0)), "items": [{"id": "shapes@example.com"}]}
    ).json()
    assert busy["kind"] == "calendar#freeBusy"
    assert busy["calendars"]["shapes@example.com"]["busy"] == [
        {"start": _z(at(0, 9)), "end": _z(at(0, 9, 30))},
        {"start": _z(at(0, 11)), "end": _z(at(0, 11, 30))},
    ]
    refused = httpx.get(f"{base}/google/calendar/v3/calendars/primary/events", headers={"Authorization": "Bearer x"})
    assert refused.status_code == 401 and refused.json()["error"]["status"] == "UNAUTHENTICATED"


def test_graph_schedule_and_errors(base):
    token = rep_token(base, "microsoft", "graph-shapes@example.com")
    api = httpx.Client(base_url=f"{base}/microsoft/v1.0/me", headers={"Authorization": f"Bearer {token}"})
    when = {"dateTime": at(0, 10).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
    until = {"dateTime": at(0, 11).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}
    made = api.post("/events", json={"subject": "x", "start": when, "end": until})
    assert made.status_code == 201 and made.json()["@odata.etag"].startswith('W/"')
    schedule = api.post(
        "/calendar/getSchedule",
        json={
            "schedules": ["graph-shapes@example.com"],
            "startTime": {"dateTime": at(0, 9).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "endTime": {"dateTime": at(0, 12).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"},
            "availabilityViewInterval": 60,
        },
    ).json()["value"][0]
    assert schedule["availabilityView"] == "020" and schedule["scheduleItems"][0]["status"] == "busy"
    missing = api.get("/calendarView/delta")
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "ErrorInvalidParameter"
    refused = httpx.get(f"{base}/microsoft/v1.0/me/calendarView/delta", headers={"Authorization": "Bearer x"})
    assert refused.json()["error"]["code"] == "InvalidAuthenticationToken"


def test_calcom_envelope_slots_pagination_and_refusals(base):
    assert (
        httpx.get(f"{base}/calcom/v2/bookings", headers={"Authorization": "Bearer nope"}).json()["error"]["code"]
        == "UNAUTHORIZED"
    )
    [event_type] = httpx.get(f"{base}/calcom/v2/event-types", headers=CAL).json()["data"]
    day = (at(2, 0)).date().isoformat()
    booked = httpx.post(
        f"{base}/calcom/v2/bookings",
        headers=CAL,
        json={
            "eventTypeId": event_type["id"],
            "start": _z(at(2, 8)),
            "attendee": {"name": "A", "email": "a@example.org", "timeZone": "Europe/Berlin"},
        },
    )
    assert booked.status_code == 201 and booked.json()["data"]["status"] == "accepted"
    slots = httpx.get(
        f"{base}/calcom/v2/slots",
        params={"eventTypeId": event_type["id"], "start": day, "end": day, "timeZone": "Europe/Berlin"},
    ).json()["data"][day]
    starts = [s["start"] for s in slots]
    berlin = at(2, 8).astimezone(ZoneInfo("Europe/Berlin"))
    offset = berlin.strftime("%z")
    assert all(s.endswith(f"{offset[:3]}:{offset[3:]}") for s in starts)  # the asked zone's offset
    assert not any(s.startswith(berlin.strftime("%Y-%m-%dT%H:%M")) for s in starts)  # the booked time
    taken = httpx.post(
        f"{base}/calcom/v2/bookings",
        headers=CAL,
        json={
            "eventTypeId": event_type["id"],
            "start": _z(at(2, 8)),
            "attendee": {"name": "B", "email": "b@example.org", "timeZone": "UTC"},
        },
    )
    assert taken.status_code == 400 and taken.json()["status"] == "error"
    uid = booked.json()["data"]["uid"]
    httpx.post(f"{base}/calcom/v2/bookings/{uid}/cancel", headers=CAL, json={})
    moved = httpx.post(f"{base}/calcom/v2/bookings/{uid}/reschedule", headers=CAL, json={"start": _z(at(2, 9))})
    assert moved.status_code == 400  # a cancelled booking cannot move
    page = httpx.get(f"{base}/calcom/v2/bookings", headers=CAL, params={"take": 1}).json()
    assert page["status"] == "success" and page["pagination"]["returnedItems"] == 1
