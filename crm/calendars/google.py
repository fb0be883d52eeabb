"""Google Calendar (API v3 over httpx) as a CalendarPort (docs/calendars.md §C2).

Google's Python SDK can be pointed at a base URL, but it brings httplib2 and a discovery document for what
is here six REST calls; a plain client keeps timeouts and error mapping the same as the other services.

* Sync: events.list pages (`pageToken`) until the page that carries `nextSyncToken`; later rounds list with
  `syncToken` only (Google refuses it combined with a time window) and get deleted events as
  `"status":"cancelled"`. 410 `fullSyncRequired` is SyncTokenInvalid: the caller lists everything again.
* Writes: the event id is derived from the appointment's stable UID (base32hex of its SHA-256, as Google
  requires), so a retried insert answers 409 "identifier already exists" and the existing event is taken,
  never a second one. A move is a PATCH with If-Match on the etag we wrote (412: the rep changed it).
* The href of an event (the key of busy rows and of CalendarEvent links) is its event id."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

import httpx

from crm.calendars import ics_convert
from crm.calendars.oauth import BearerApi
from crm.calendars.port import (
    CalendarConflict,
    CalendarUnavailable,
    Changes,
    RemoteObject,
    SyncTokenInvalid,
    WriteResult,
)

PAGE_SIZE = 250
MAX_PAGES = 200


def event_id(uid: str) -> str:
    """Google's event id for our UID: base32hex (a-v, 0-9), 52 characters, the same on every retry."""
    return base64.b32hexencode(hashlib.sha256(uid.encode("utf-8")).digest()).decode().rstrip("=").lower()


def _when(value: dict[str, Any] | None) -> tuple[datetime | date | None, str | None]:
    value = value or {}
    if isinstance(value.get("date"), str):
        return date.fromisoformat(value["date"]), None
    if isinstance(value.get("dateTime"), str):
        moment = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
        return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)), value.get("timeZone")
    return None, None


def to_object(event: dict[str, Any]) -> RemoteObject:
    """One listed event as the sync sees it; a cancelled one (deleted) without data."""
    href, etag = str(event.get("id", "")), event.get("etag")
    if event.get("status") == "cancelled":
        return RemoteObject(href=href, etag=etag, ics=None)
    start, tzid = _when(event.get("start"))
    end, _ = _when(event.get("end"))
    if start is None or end is None:
        return RemoteObject(href=href, etag=etag, ics=None)
    ics = ics_convert.vevent(
        str(event.get("iCalUID") or href),
        start,
        end,
        tzid=tzid if event.get("recurrence") else None,
        transparent=event.get("transparency") == "transparent",
        recurrence=[str(line) for line in event.get("recurrence") or []],
    )
    return RemoteObject(href=href, etag=etag, ics=ics)


def _body(ics: bytes, uid: str) -> dict[str, Any]:
    fields = ics_convert.written_fields(ics)
    body: dict[str, Any] = {
        "summary": fields["summary"],
        "start": {"dateTime": fields["start"].isoformat(), "timeZone": "UTC"},  # type: ignore[attr-defined]
        "end": {"dateTime": fields["end"].isoformat(), "timeZone": "UTC"},  # type: ignore[attr-defined]
        "transparency": "opaque",
        "extendedProperties": {"private": {"leadchainUid": uid}},
    }
    if fields["location"]:
        body["location"] = fields["location"]
    return body


class GoogleCalendar:
    def __init__(self, calendar_id: str, api: BearerApi) -> None:
        self.calendar_id = calendar_id or "primary"
        self.api = api
        self._events = f"/calendars/{quote(self.calendar_id, safe='')}/events"

    def __repr__(self) -> str:
        return f"GoogleCalendar(calendar_id={self.calendar_id!r})"

    def _json(self, response: httpx.Response, *ok: int) -> dict[str, Any]:
        if response.status_code not in ok:
            raise CalendarUnavailable(f"Google Calendar answered HTTP {response.status_code}")
        body = response.json()
        return body if isinstance(body, dict) else {}

    def _list(self, params: dict[str, str]) -> tuple[list[dict[str, Any]], str | None]:
        items: list[dict[str, Any]] = []
        page_token: str | None = None
        for _ in range(MAX_PAGES):
            query = {**params, "maxResults": str(PAGE_SIZE)} | ({"pageToken": page_token} if page_token else {})
            response = self.api.request("GET", self._events, params=query)
            if response.status_code == 410:
                raise SyncTokenInvalid("Google no longer knows the sync token (fullSyncRequired)")
            page = self._json(response, 200)
            items.extend(page.get("items") or [])
            page_token = page.get("nextPageToken")
            if not page_token:
                return items, page.get("nextSyncToken")
        raise CalendarUnavailable(f"Google Calendar listed more than {MAX_PAGES} pages")

    def changes(self, ctag: str | None, sync_token: str | None) -> Changes | None:
        items, token = self._list({"syncToken": sync_token} if sync_token else {})
        objects = [to_object(e) for e in items]
        if not sync_token:
            objects = [o for o in objects if o.ics is not None]
        return Changes(objects=objects, full=not sync_token, ctag=None, sync_token=token)

    def busy_objects(self, start: datetime, end: datetime) -> list[RemoteObject]:
        window = {"timeMin": start.astimezone(UTC).isoformat(), "timeMax": end.astimezone(UTC).isoformat()}
        items, _ = self._list(window)
        return [o for o in map(to_object, items) if o.ics is not None]

    def href_for(self, uid: str) -> str:
        return event_id(uid)

    def get(self, uid: str) -> RemoteObject | None:
        response = self.api.request("GET", f"{self._events}/{event_id(uid)}")
        if response.status_code in (404, 410):
            return None
        found = to_object(self._json(response, 200))
        return found if found.ics is not None else None

    def put(self, uid: str, ics: bytes, *, etag: str | None = None) -> WriteResult:
        body = _body(ics, uid)
        if etag is None:
            response = self.api.request(
                "POST", self._events, params={"sendUpdates": "none"}, json={**body, "id": event_id(uid)}
            )
            if response.status_code == 409:  # a retry after an insert that went through: take the event
                existing = self.get(uid)
                if existing is None:  # deleted in the calendar: Google keeps the id taken; not recreated
                    raise CalendarConflict("the event was deleted in the calendar")
                return WriteResult(href=existing.href, etag=existing.etag, created=False)
            made = self._json(response, 200)
            return WriteResult(href=str(made["id"]), etag=made.get("etag"), created=True)
        response = self.api.request(
            "PATCH",
            f"{self._events}/{event_id(uid)}",
            params={"sendUpdates": "none"},
            json=body,
            headers={"If-Match": etag},
        )
        if response.status_code in (404, 410, 412):
            raise CalendarConflict("the event changed in the calendar since it was written")
        changed = self._json(response, 200)
        return WriteResult(href=str(changed["id"]), etag=changed.get("etag"), created=False)

    def delete(self, uid: str) -> bool:
        response = self.api.request("DELETE", f"{self._events}/{event_id(uid)}", params={"sendUpdates": "none"})
        if response.status_code in (404, 410):
            return False
        if response.status_code not in (200, 204):
            raise CalendarUnavailable(f"Google Calendar answered HTTP {response.status_code}")
        return True
