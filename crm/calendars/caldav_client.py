"""CalDAV through the `caldav` library (Nextcloud, iCloud, Fastmail, mailbox.org, Google's CalDAV; Radicale in
tests and `make up`). What the library and Radicale send was checked on the wire (Radicale 3.9, caldav 3.6).

* Incremental sync: a Depth 0 PROPFIND for the collection's ctag (unchanged ctag: nothing to do, one cheap
  request), then an RFC 6578 sync-collection REPORT with the stored token that asks for getetag *and*
  calendar-data, so changed objects come in the same answer; deleted ones answer 404. An unknown or expired
  token answers 403 (valid-sync-token): the caller syncs everything again.
* Writes: PUT with If-None-Match: * creates (412 when it exists: a retry after a PUT that went through, so
  the existing event is taken, never a second one); If-Match replaces only the version we know.
* Every request has a timeout (the library hands it to its HTTP client); 401 and 403 outside the sync token
  mean the credential is refused."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote, unquote, urlsplit

import niquests
from caldav.davclient import DAVClient
from caldav.lib import error as dav_error
from lxml import etree  # type: ignore[import-untyped]

from crm.calendars.port import (
    CalendarConflict,
    CalendarUnauthorized,
    CalendarUnavailable,
    Changes,
    RemoteObject,
    SyncTokenInvalid,
    WriteResult,
)

TIMEOUT_S = 10
NS = {"D": "DAV:", "C": "urn:ietf:params:xml:ns:caldav", "CS": "http://calendarserver.org/ns/"}
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)
_PROPS = (
    '<?xml version="1.0" encoding="utf-8"?><D:propfind xmlns:D="DAV:" xmlns:CS="http://calendarserver.org/ns/">'
    "<D:prop><CS:getctag/><D:sync-token/></D:prop></D:propfind>"
)
_SYNC = (
    '<?xml version="1.0" encoding="utf-8"?><D:sync-collection xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    "<D:sync-token>{token}</D:sync-token><D:sync-level>1</D:sync-level>"
    "<D:prop><D:getetag/><C:calendar-data/></D:prop></D:sync-collection>"
)
_QUERY = (
    '<?xml version="1.0" encoding="utf-8"?><C:calendar-query xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav">'
    '<D:prop><D:getetag/><C:calendar-data/></D:prop><C:filter><C:comp-filter name="VCALENDAR">'
    '<C:comp-filter name="VEVENT"><C:time-range start="{start}" end="{end}"/></C:comp-filter>'
    "</C:comp-filter></C:filter></C:calendar-query>"
)
ICS_TYPE = "text/calendar; charset=utf-8"


def _path(href: str) -> str:
    """An href as the calendar's objects are keyed: the decoded path (servers answer encoded or not)."""
    return unquote(urlsplit(href).path)


def _xml_text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


class CalDavCalendar:
    """One CalDAV calendar collection (the connection's URL), as a CalendarPort."""

    def __init__(self, url: str, username: str | None, password: str | None, *, timeout_s: int = TIMEOUT_S) -> None:
        self.url = url if url.endswith("/") else url + "/"
        self._client = DAVClient(
            url=self.url, username=username, password=password, timeout=timeout_s, auth_type="basic"
        )

    def __repr__(self) -> str:
        return f"CalDavCalendar(url={self.url!r})"  # never the credential

    # -- requests -----------------------------------------------------------------------------------------

    def _call(self, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except dav_error.AuthorizationError as exc:
            raise CalendarUnauthorized(f"CalDAV refused the credential ({_reason(exc)})") from None
        except (niquests.exceptions.RequestException, OSError) as exc:
            raise CalendarUnavailable(f"CalDAV unreachable ({type(exc).__name__})") from None
        except dav_error.DAVError as exc:
            raise CalendarUnavailable(f"CalDAV error ({type(exc).__name__})") from None

    @staticmethod
    def _check(response, *ok: int) -> None:
        if response.status in (401, 403):
            raise CalendarUnauthorized(f"CalDAV refused the credential (HTTP {response.status})")
        if response.status not in ok:
            raise CalendarUnavailable(f"CalDAV answered HTTP {response.status}")

    # -- sync ---------------------------------------------------------------------------------------------

    def properties(self) -> tuple[str | None, str | None]:
        """(ctag, sync token) of the collection."""
        response = self._call(self._client.propfind, self.url, _PROPS, depth=0)
        self._check(response, 207, 200)
        root = etree.fromstring(response._raw, _PARSER)
        ctag = root.findtext(".//CS:getctag", namespaces=NS)
        token = root.findtext(".//D:sync-token", namespaces=NS)
        return (ctag or None), (token or None)

    def changes(self, ctag: str | None, sync_token: str | None) -> Changes | None:
        current_ctag, _ = self.properties()
        if ctag is not None and sync_token and current_ctag == ctag:
            return None
        body = _SYNC.format(token=_xml_text(sync_token or ""))
        try:
            response = self._client.report(self.url, body, depth=1)
        except dav_error.AuthorizationError as exc:
            if sync_token and _reason(exc) == "Forbidden":
                # RFC 6578: 403 valid-sync-token. A revoked credential answers 401 first, so this is the token.
                raise SyncTokenInvalid("the server no longer knows the sync token") from None
            raise CalendarUnauthorized(f"CalDAV refused the credential ({_reason(exc)})") from None
        except (niquests.exceptions.RequestException, OSError, dav_error.DAVError) as exc:
            raise CalendarUnavailable(f"CalDAV unreachable ({type(exc).__name__})") from None
        self._check(response, 207)
        root = etree.fromstring(response._raw, _PARSER)
        objects = self._objects(root)
        if not sync_token:
            # An initial sync lists tombstones of deleted objects too (Radicale does): a full list holds only
            # what exists.
            objects = [o for o in objects if o.ics is not None]
        token = root.findtext("D:sync-token", namespaces=NS)
        return Changes(objects=objects, full=not sync_token, ctag=current_ctag, sync_token=token or None)

    def _objects(self, root) -> list[RemoteObject]:
        collection = _path(self.url)
        out: list[RemoteObject] = []
        for response in root.findall("D:response", NS):
            href = _path(response.findtext("D:href", namespaces=NS) or "")
            if not href or href == collection:
                continue
            status = response.findtext("D:status", namespaces=NS) or ""
            if " 404 " in status:
                out.append(RemoteObject(href=href, etag=None, ics=None))
                continue
            for propstat in response.findall("D:propstat", NS):
                if " 200 " not in (propstat.findtext("D:status", namespaces=NS) or ""):
                    continue
                data = propstat.findtext("D:prop/C:calendar-data", namespaces=NS)
                etag = propstat.findtext("D:prop/D:getetag", namespaces=NS)
                if data is not None:
                    out.append(RemoteObject(href=href, etag=etag, ics=data.encode("utf-8")))
        return out

    def busy_objects(self, start: datetime, end: datetime) -> list[RemoteObject]:
        body = _QUERY.format(start=_stamp(start), end=_stamp(end))
        response = self._call(self._client.report, self.url, body, depth=1)
        self._check(response, 207)
        return self._objects(etree.fromstring(response._raw, _PARSER))

    # -- events by UID ------------------------------------------------------------------------------------

    def _url(self, uid: str) -> str:
        return self.url + quote(uid, safe="") + ".ics"

    def href_for(self, uid: str) -> str:
        return _path(self._url(uid))

    def get(self, uid: str) -> RemoteObject | None:
        response = self._call(self._client.request, self._url(uid), "GET")
        if response.status == 404:
            return None
        self._check(response, 200)
        raw = response._raw if isinstance(response._raw, bytes) else str(response._raw).encode("utf-8")
        return RemoteObject(href=self.href_for(uid), etag=response.headers.get("ETag"), ics=raw)

    def put(self, uid: str, ics: bytes, *, etag: str | None = None) -> WriteResult:
        headers = {"Content-Type": ICS_TYPE}
        if etag is None:
            headers["If-None-Match"] = "*"
        else:
            headers["If-Match"] = etag
        response = self._call(self._client.put, self._url(uid), ics.decode("utf-8"), headers)
        if response.status == 412:
            if etag is not None:
                raise CalendarConflict("the event changed in the calendar since it was written")
            existing = self.get(uid)
            if existing is None:  # deleted between the two requests: the next round writes it again
                raise CalendarUnavailable("the event vanished while it was being written")
            return WriteResult(href=existing.href, etag=existing.etag, created=False)
        self._check(response, 200, 201, 204)
        return WriteResult(href=self.href_for(uid), etag=response.headers.get("ETag"), created=response.status == 201)

    def delete(self, uid: str) -> bool:
        response = self._call(self._client.delete, self._url(uid))
        if response.status == 404:
            return False
        self._check(response, 200, 204)
        return True


def _reason(exc: Exception) -> str:
    return str(getattr(exc, "reason", "") or type(exc).__name__)[:80]
