"""Cal.com (API v2 over httpx; Cal.com has no Python SDK) as a CalendarPort (docs/calendars.md §C1).

Cal.com is a booking page, not a calendar: its accepted bookings are busy time of the rep who hosts them, and
a booking made there reaches the CRM at once through the signed webhook (crm/webhooks/calcom.py) and within
one round through this sync.

* Sync: Cal.com has no sync token, so every round lists the bookings from a day back (paged with
  take/skip) and compares a digest of (uid, status, updatedAt) with the stored one (the "ctag"): an
  unchanged digest writes nothing. The listing is full from `listed_from`, so only a link to a booking after
  that moment can be taken as deleted by its absence.
* The href of a booking is its uid. A reschedule makes a new booking with a new uid; the old one is
  cancelled and names the new one (`rescheduledToUid`).
* Writes: the CRM does not create Cal.com bookings (a booking mails the attendee, which needs the rep's
  decision), so `put` without an etag is refused; `put` with one reschedules a linked booking and `delete`
  cancels it. The API key is the connection's secret; `cal-api-version` is sent per endpoint family."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from crm.calendars import ics_convert
from crm.calendars.port import (
    CalendarConflict,
    CalendarError,
    CalendarUnauthorized,
    CalendarUnavailable,
    Changes,
    RemoteObject,
    WriteResult,
)

BOOKINGS_VERSION = "2026-02-25"
PAGE_SIZE = 100
MAX_PAGES = 50
LISTED_BACK = timedelta(days=1)


def _utc(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


def to_object(booking: dict[str, Any]) -> RemoteObject:
    href, etag = str(booking.get("uid", "")), str(booking.get("updatedAt") or "") or None
    start, end = _utc(booking.get("start")), _utc(booking.get("end"))
    if str(booking.get("status", "")).lower() not in ("accepted", "pending") or start is None or end is None:
        return RemoteObject(href=href, etag=etag, ics=None)
    return RemoteObject(href=href, etag=etag, ics=ics_convert.vevent(str(booking.get("icsUid") or href), start, end))


class CalComCalendar:
    def __init__(self, api_base: str, api_key: str | None, http: httpx.Client, *, now: datetime | None = None) -> None:
        self.base = api_base.rstrip("/")
        self._key = api_key
        self.http = http
        self.now = now

    def __repr__(self) -> str:
        return f"CalComCalendar(base={self.base!r})"  # never the key

    def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if not self._key:
            raise CalendarUnauthorized("no Cal.com API key stored: connect the calendar again")
        headers = {"Authorization": f"Bearer {self._key}", "cal-api-version": BOOKINGS_VERSION}
        try:
            response = self.http.request(method, self.base + path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise CalendarUnavailable(f"Cal.com unreachable ({type(exc).__name__})") from None
        if response.status_code in (401, 403):
            raise CalendarUnauthorized(f"Cal.com refused the API key (HTTP {response.status_code})")
        if response.status_code == 429 or response.status_code >= 500:
            raise CalendarUnavailable(f"Cal.com answered HTTP {response.status_code}")
        return response

    def _bookings(self, **params: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            query = {**params, "take": str(PAGE_SIZE), "skip": str(page * PAGE_SIZE), "sortStart": "asc"}
            response = self._request("GET", "/bookings", params=query)
            if response.status_code != 200:
                raise CalendarUnavailable(f"Cal.com answered HTTP {response.status_code}")
            body = response.json()
            out.extend(body.get("data") or [])
            if not (body.get("pagination") or {}).get("hasNextPage"):
                return out
        raise CalendarUnavailable(f"Cal.com listed more than {MAX_PAGES} pages")

    def changes(self, ctag: str | None, sync_token: str | None) -> Changes | None:
        since = (self.now or datetime.now(UTC)) - LISTED_BACK
        bookings = self._bookings(afterStart=since.strftime("%Y-%m-%dT%H:%M:%S.000Z"))
        digest = hashlib.sha256(
            "\n".join(f"{b.get('uid')}|{b.get('status')}|{b.get('updatedAt')}" for b in bookings).encode()
        ).hexdigest()
        if ctag is not None and ctag == digest:
            return None
        objects = [o for o in map(to_object, bookings) if o.ics is not None]
        return Changes(objects=objects, full=True, ctag=digest, sync_token=None, listed_from=since)

    def busy_objects(self, start: datetime, end: datetime) -> list[RemoteObject]:
        bookings = self._bookings(
            afterStart=(start - timedelta(days=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
            beforeEnd=(end + timedelta(days=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        )
        return [o for o in map(to_object, bookings) if o.ics is not None]

    def href_for(self, uid: str) -> str:
        return uid

    def get(self, uid: str) -> RemoteObject | None:
        response = self._request("GET", f"/bookings/{uid}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise CalendarUnavailable(f"Cal.com answered HTTP {response.status_code}")
        found = to_object(response.json().get("data") or {})
        return found if found.ics is not None else None

    def put(self, uid: str, ics: bytes, *, etag: str | None = None) -> WriteResult:
        if etag is None:
            raise CalendarError("the CRM does not create Cal.com bookings (Cal.com would mail the attendee)")
        start = ics_convert.written_fields(ics)["start"]
        assert isinstance(start, datetime)
        response = self._request(
            "POST", f"/bookings/{uid}/reschedule", json={"start": start.strftime("%Y-%m-%dT%H:%M:%S.000Z")}
        )
        if response.status_code in (400, 404):
            raise CalendarConflict("the booking cannot be moved (cancelled, moved or the time is taken)")
        if response.status_code not in (200, 201):
            raise CalendarUnavailable(f"Cal.com answered HTTP {response.status_code}")
        new = response.json().get("data") or {}
        return WriteResult(href=str(new.get("uid", uid)), etag=new.get("updatedAt"), created=False)

    def delete(self, uid: str) -> bool:
        response = self._request("POST", f"/bookings/{uid}/cancel", json={"cancellationReason": "cancelled in the CRM"})
        if response.status_code in (400, 404):
            return False
        if response.status_code != 200:
            raise CalendarUnavailable(f"Cal.com answered HTTP {response.status_code}")
        return True
