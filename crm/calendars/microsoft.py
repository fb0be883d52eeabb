"""Microsoft 365 calendars (Microsoft Graph v1.0 over httpx) as a CalendarPort (docs/calendars.md §C3).

msgraph-sdk's Kiota adapter could take a base URL, but it is async-only and large for six calls; httpx keeps
the error mapping the same as the other services.

* Sync: `calendarView/delta` over the busy table's window (a day back to sync.HORIZON ahead), pages by
  `@odata.nextLink` until `@odata.deltaLink`; the deltaLink is stored as the sync token and requested
  verbatim next round (the window lives in it). `@removed` entries are deletions; 410 is SyncTokenInvalid.
  calendarView lists occurrences of a series one by one, so no recurrence is expanded here.
* Writes: our UID travels as a single-value extended property (looked up with Graph's documented
  `singleValueExtendedProperties/Any(...)` filter) and as `transactionId`, Graph's create-idempotency key:
  a retried create finds the event by the property, and two racing creates are one event by transactionId.
  Graph assigns the event id, which is the href. A move is a PATCH with If-Match on `@odata.etag`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

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

# Our own property set GUID: the name space of the UID property (any fixed GUID; this one is leadchain's).
UID_PROPERTY = "String {7f0c8a52-4c1e-4d5b-9a37-1b8e6d2f0c41} Name leadchainUid"
WINDOW_BACK = timedelta(days=1)
WINDOW_AHEAD = timedelta(days=62)  # sync.HORIZON: the busy table's window
PAGE_SIZE = 100
MAX_PAGES = 200


def _time(value: dict[str, Any] | None, all_day: bool) -> datetime | date | None:
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    moment = datetime.fromisoformat(value["dateTime"][:19])
    if all_day:  # midnight to midnight in the event's zone: the rep's days
        return moment.date()
    # Graph answers in UTC unless a Prefer: outlook.timezone header asked otherwise (we never ask).
    return moment.replace(tzinfo=UTC)


def to_object(event: dict[str, Any]) -> RemoteObject:
    href, etag = str(event.get("id", "")), event.get("@odata.etag")
    if "@removed" in event or event.get("isCancelled"):
        return RemoteObject(href=href, etag=etag, ics=None)
    all_day = bool(event.get("isAllDay"))
    start, end = _time(event.get("start"), all_day), _time(event.get("end"), all_day)
    if start is None or end is None or event.get("type") == "seriesMaster":
        return RemoteObject(href=href, etag=etag, ics=None)
    ics = ics_convert.vevent(
        str(event.get("iCalUId") or href), start, end, transparent=event.get("showAs") in ("free", "workingElsewhere")
    )
    return RemoteObject(href=href, etag=etag, ics=ics)


def _graph_time(moment: object) -> dict[str, str]:
    assert isinstance(moment, datetime)
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "timeZone": "UTC"}


class MicrosoftCalendar:
    def __init__(self, api: BearerApi, *, now: datetime | None = None) -> None:
        self.api = api
        self.now = now

    def __repr__(self) -> str:
        return "MicrosoftCalendar(me/calendar)"

    def _json(self, response: httpx.Response, *ok: int) -> dict[str, Any]:
        if response.status_code not in ok:
            raise CalendarUnavailable(f"Microsoft Graph answered HTTP {response.status_code}")
        body = response.json()
        return body if isinstance(body, dict) else {}

    def changes(self, ctag: str | None, sync_token: str | None) -> Changes | None:
        headers = {"Prefer": f"odata.maxpagesize={PAGE_SIZE}"}
        if sync_token:
            url, params = sync_token, None
        else:
            now = self.now or datetime.now(UTC)
            url = "/me/calendarView/delta"
            params = {
                "startDateTime": (now - WINDOW_BACK).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "endDateTime": (now + WINDOW_AHEAD).strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
        items: list[dict[str, Any]] = []
        for _ in range(MAX_PAGES):
            response = self.api.request("GET", url, params=params, headers=dict(headers))
            if response.status_code == 410:
                raise SyncTokenInvalid("Graph no longer knows the delta token")
            page = self._json(response, 200)
            items.extend(page.get("value") or [])
            if page.get("@odata.deltaLink"):
                objects = [to_object(e) for e in items]
                if not sync_token:
                    objects = [o for o in objects if o.ics is not None]
                link = str(page["@odata.deltaLink"])
                # calendar_connections.sync_token holds 1000 characters; a longer link is not kept and the next
                # round lists the window again (correct, only dearer).
                return Changes(
                    objects=objects, full=not sync_token, ctag=None, sync_token=link if len(link) <= 1000 else None
                )
            next_link = page.get("@odata.nextLink")
            if not isinstance(next_link, str) or not next_link:
                raise CalendarUnavailable("Graph's delta page had neither nextLink nor deltaLink")
            url, params = next_link, None
        raise CalendarUnavailable(f"Graph's delta had more than {MAX_PAGES} pages")

    def busy_objects(self, start: datetime, end: datetime) -> list[RemoteObject]:
        params: dict[str, str] | None = {
            "startDateTime": start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "endDateTime": end.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        url: str | None = "/me/calendarView"
        out: list[RemoteObject] = []
        while url:
            page = self._json(self.api.request("GET", url, params=params), 200)
            out.extend(o for o in map(to_object, page.get("value") or []) if o.ics is not None)
            url, params = page.get("@odata.nextLink"), None
        return out

    def _find(self, uid: str) -> dict[str, Any] | None:
        escaped = uid.replace("'", "''")
        query = f"singleValueExtendedProperties/Any(ep: ep/id eq '{UID_PROPERTY}' and ep/value eq '{escaped}')"
        page = self._json(self.api.request("GET", "/me/events", params={"$filter": query}), 200)
        found = page.get("value") or []
        return found[0] if found else None

    def href_for(self, uid: str) -> str:
        found = self._find(uid)
        return str(found["id"]) if found else ""

    def get(self, uid: str) -> RemoteObject | None:
        found = self._find(uid)
        if found is None:
            return None
        obj = to_object(found)
        return obj if obj.ics is not None else None

    def put(self, uid: str, ics: bytes, *, etag: str | None = None) -> WriteResult:
        fields = ics_convert.written_fields(ics)
        body: dict[str, Any] = {
            "subject": fields["summary"],
            "start": _graph_time(fields["start"]),
            "end": _graph_time(fields["end"]),
            "showAs": "busy",
        }
        if fields["location"]:
            body["location"] = {"displayName": fields["location"]}
        existing = self._find(uid)
        if etag is None:
            if existing is not None:  # a retry after a create that went through
                return WriteResult(href=str(existing["id"]), etag=existing.get("@odata.etag"), created=False)
            body["transactionId"] = uid[:250]
            body["singleValueExtendedProperties"] = [{"id": UID_PROPERTY, "value": uid}]
            made = self._json(self.api.request("POST", "/me/events", json=body), 201)
            return WriteResult(href=str(made["id"]), etag=made.get("@odata.etag"), created=True)
        if existing is None:
            raise CalendarConflict("the event was deleted in the calendar")
        response = self.api.request("PATCH", f"/me/events/{existing['id']}", json=body, headers={"If-Match": etag})
        if response.status_code in (404, 409, 412):
            raise CalendarConflict("the event changed in the calendar since it was written")
        changed = self._json(response, 200)
        return WriteResult(href=str(changed["id"]), etag=changed.get("@odata.etag"), created=False)

    def delete(self, uid: str) -> bool:
        existing = self._find(uid)
        if existing is None:
            return False
        response = self.api.request("DELETE", f"/me/events/{existing['id']}")
        if response.status_code == 404:
            return False
        if response.status_code not in (200, 204):
            raise CalendarUnavailable(f"Microsoft Graph answered HTTP {response.status_code}")
        return True
