"""Microsoft Graph calendar and the Microsoft identity platform in the provider sandbox (docs/calendars.md §C3).

Under the blueprint prefix /microsoft (Graph's base is http://host/microsoft/v1.0, the login host's is
http://host/microsoft):

* ``GET /{tenant}/oauth2/v2.0/authorize`` (consent, approved at once for ``login_hint``) and ``POST
  /{tenant}/oauth2/v2.0/token``: ``authorization_code`` and ``refresh_token`` grants; the refresh token
  rotates on every refresh; a revoked grant answers 400 ``invalid_grant`` with AADSTS50173 and
  ``error_codes``. ``POST /v1.0/me/revokeSignInSessions`` revokes every refresh token of the user.
* ``GET /v1.0/me/calendarView/delta?startDateTime=&endDateTime=``: pages linked by ``@odata.nextLink``
  (``$skiptoken``, page size from ``Prefer: odata.maxpagesize``) and a last page with ``@odata.deltaLink``
  (``$deltatoken``; the window lives in the token); later rounds list changed events and ``@removed``
  entries; an expired token answers 410. ``GET /v1.0/me/calendarView`` lists a window.
* ``POST /v1.0/me/events`` (201; a repeated ``transactionId`` answers the event it made the first time),
  ``GET|PATCH|DELETE /v1.0/me/events/{id}`` (``If-Match`` on ``@odata.etag`` → 412), ``GET /v1.0/me/events``
  with the ``singleValueExtendedProperties/Any(...)`` filter, ``POST /v1.0/me/calendar/getSchedule``.
* Test controls: ``POST /sandbox/expire-delta-tokens``, ``POST /sandbox/expire-access-tokens``.

Limits: times in and out are UTC or an IANA zone (Windows zone names are refused with a 400); series
(``recurrence``) are stored but not expanded into occurrences."""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Blueprint, Response, jsonify, redirect, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox
from sandbox.oauth_grants import Grants

CLIENT_ID = "00000000-0000-0000-0000-00000000c0de"
CLIENT_SECRET = "sandbox-microsoft-client-secret"
_FILTER = re.compile(r"singleValueExtendedProperties/Any\(ep:\s*ep/id eq '([^']*)' and ep/value eq '([^']*)'\)")


def error(status: int, code: str, message: str) -> Response:
    response = jsonify(
        error={
            "code": code,
            "message": message,
            "innerError": {"date": _stamp(), "request-id": str(uuid.uuid4()), "client-request-id": str(uuid.uuid4())},
        }
    )
    response.status_code = status
    return response


def _stamp() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S")


def _token(**fields: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def _untoken(raw: str) -> dict[str, Any] | None:
    try:
        found = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError):
        return None
    return found if isinstance(found, dict) else None


def parse_time(value: Any) -> datetime | None:
    """A dateTimeTimeZone (``dateTime`` without offset, ``timeZone``) as UTC; None when malformed."""
    if not isinstance(value, dict) or not isinstance(value.get("dateTime"), str):
        return None
    try:
        moment = datetime.fromisoformat(value["dateTime"][:19])
        zone = ZoneInfo(str(value.get("timeZone") or "UTC"))
    except (ValueError, ZoneInfoNotFoundError):
        return None
    return moment.replace(tzinfo=zone).astimezone(UTC)


def _dtz(moment: datetime) -> dict[str, str]:
    return {"dateTime": moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.0000000"), "timeZone": "UTC"}


def _bound(raw: str | None) -> datetime | None:
    try:
        moment = datetime.fromisoformat((raw or "").replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)


class GraphCalendarSandbox:
    def __init__(self) -> None:
        self.grants = Grants(CLIENT_ID, CLIENT_SECRET, rotate_refresh=True)
        self.events: dict[str, dict[str, dict[str, Any]]] = {}  # account -> id -> event (deleted kept, marked)
        self.requests: list[tuple[str, str]] = []
        self._seq = itertools.count(1)
        self.last_seq = 0
        self._epoch = 1
        self._lock = threading.Lock()

    def mine(self, account: str) -> dict[str, dict[str, Any]]:
        return self.events.setdefault(account, {})

    def _touch(self, event: dict[str, Any]) -> None:
        self.last_seq = next(self._seq)
        event["_seq"] = self.last_seq
        event["lastModifiedDateTime"] = _stamp() + "Z"
        event["changeKey"] = base64.b64encode(secrets.token_bytes(12)).decode()
        event["@odata.etag"] = f'W/"{event["changeKey"]}"'

    def create(self, account: str, body: dict[str, Any]) -> tuple[dict[str, Any] | Response, int]:
        start, end = parse_time(body.get("start")), parse_time(body.get("end"))
        for name, value in (("start", start), ("end", end)):
            if value is None:
                return error(400, "ErrorInvalidRequest", f"The property '{name}' is missing or invalid."), 400
        if end <= start:  # type: ignore[operator]
            return error(400, "ErrorInvalidRequest", "The end of the event is before its start."), 400
        with self._lock:
            events = self.mine(account)
            tid = body.get("transactionId")
            if tid:
                for existing in events.values():
                    if existing.get("transactionId") == tid and not existing.get("_deleted"):
                        return existing, 201
            event_id = "AAMkAG" + base64.urlsafe_b64encode(secrets.token_bytes(30)).decode()
            event = {
                "id": event_id,
                "createdDateTime": _stamp() + "Z",
                "iCalUId": "040000008200E00074C5B7101A82E008" + secrets.token_hex(28).upper(),
                "isAllDay": False,
                "isCancelled": False,
                "showAs": "busy",
                "type": "singleInstance",
                "webLink": f"https://outlook.office365.com/owa/?itemid={event_id}",
                "subject": "",
            }
            event.update({k: v for k, v in body.items() if k not in ("id", "start", "end")})
            event["start"], event["end"] = _dtz(start), _dtz(end)  # type: ignore[arg-type]
            self._touch(event)
            events[event_id] = event
            return event, 201

    def update(self, account: str, event_id: str, body: dict[str, Any]) -> tuple[dict[str, Any] | Response, int]:
        with self._lock:
            event = self.mine(account).get(event_id)
            if event is None or event.get("_deleted"):
                return error(404, "ErrorItemNotFound", "The specified object was not found in the store."), 404
            if_match = request.headers.get("If-Match")
            if if_match and if_match != event["@odata.etag"]:
                return error(
                    412,
                    "ErrorIrresolvableConflict",
                    "The change key passed in the request does not match the current change key for the item.",
                ), 412
            merged = {**event, **{k: v for k, v in body.items() if k not in ("id", "@odata.etag", "changeKey")}}
            start, end = parse_time(merged.get("start")), parse_time(merged.get("end"))
            if start is None or end is None or end <= start:
                return error(400, "ErrorInvalidRequest", "The event's start or end is invalid."), 400
            merged["start"], merged["end"] = _dtz(start), _dtz(end)
            self._touch(merged)
            self.mine(account)[event_id] = merged
            return merged, 200

    def delete(self, account: str, event_id: str) -> Response | None:
        with self._lock:
            event = self.mine(account).get(event_id)
            if event is None or event.get("_deleted"):
                return error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            event["_deleted"] = True
            self._touch(event)
            return None

    def in_window(self, event: dict[str, Any], low: datetime, high: datetime) -> bool:
        start, end = parse_time(event.get("start")), parse_time(event.get("end"))
        return bool(start and end and start < high and low < end)

    def delta(self, account: str, args: dict[str, str], page_size: int) -> Response | dict[str, Any]:
        base = request.base_url
        if args.get("$deltatoken"):
            state = _untoken(args["$deltatoken"])
            if state is None or state.get("epoch") != self._epoch:
                return error(410, "SyncStateNotFound", "The sync state generation is not found. Resync required.")
            low, high, since = _bound(state["low"]), _bound(state["high"]), int(state["seq"])
            offset, snapshot = 0, self.last_seq
        elif args.get("$skiptoken"):
            state = _untoken(args["$skiptoken"])
            if state is None:
                return error(400, "ErrorInvalidUrlQuery", "The $skiptoken is invalid.")
            low, high, since = _bound(state["low"]), _bound(state["high"]), int(state["since"])
            offset, snapshot = int(state["offset"]), int(state["snapshot"])
        else:
            low, high = _bound(args.get("startDateTime")), _bound(args.get("endDateTime"))
            if low is None or high is None:
                return error(
                    400,
                    "ErrorInvalidParameter",
                    "This request requires a time window specified by the "
                    "query string parameters StartDateTime and EndDateTime.",
                )
            since, offset, snapshot = 0, 0, self.last_seq
        assert low is not None and high is not None
        with self._lock:
            changed = sorted(
                (e for e in self.mine(account).values() if since < e["_seq"] <= snapshot), key=lambda e: e["_seq"]
            )
        items: list[dict[str, Any]] = []
        for event in changed:
            inside = not event.get("_deleted") and self.in_window(event, low, high)
            if inside:
                items.append(_public(event))
            elif since:  # a later round tells what left the window or was deleted
                items.append(
                    {"@odata.type": "#microsoft.graph.event", "id": event["id"], "@removed": {"reason": "deleted"}}
                )
        page = items[offset : offset + page_size]
        window = {"low": low.isoformat(), "high": high.isoformat()}
        body: dict[str, Any] = {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(event)",
            "value": page,
        }
        if offset + page_size < len(items):
            skip = _token(offset=offset + page_size, since=since, snapshot=snapshot, **window)
            body["@odata.nextLink"] = f"{base}?{urlencode({'$skiptoken': skip})}"
        else:
            body["@odata.deltaLink"] = (
                f"{base}?{urlencode({'$deltatoken': _token(seq=snapshot, epoch=self._epoch, **window)})}"
            )
        return body

    def by_property(self, account: str, raw_filter: str) -> Response | dict[str, Any]:
        match = _FILTER.fullmatch(raw_filter.strip())
        if match is None:
            return error(400, "ErrorInvalidUrlQueryFilter", "The $filter is not supported by the sandbox.")
        prop_id, value = match.groups()
        found = [
            _public(e, expand=True)
            for e in self.mine(account).values()
            if not e.get("_deleted")
            and any(
                p.get("id") == prop_id and p.get("value") == value for p in e.get("singleValueExtendedProperties", [])
            )
        ]
        return {"value": found}

    def schedule(self, account: str, body: dict[str, Any]) -> Response | dict[str, Any]:
        low, high = parse_time(body.get("startTime")), parse_time(body.get("endTime"))
        if low is None or high is None or not isinstance(body.get("schedules"), list):
            return error(400, "ErrorInvalidParameter", "schedules, startTime and endTime are required.")
        interval = int(body.get("availabilityViewInterval") or 30)
        out = []
        for schedule_id in body["schedules"]:
            busy = [
                e
                for e in self.mine(str(schedule_id)).values()
                if not e.get("_deleted") and e.get("showAs", "busy") != "free" and self.in_window(e, low, high)
            ]
            view = ""
            slot = low
            while slot < high:
                nxt = min(high, datetime.fromtimestamp(slot.timestamp() + interval * 60, UTC))
                view += "2" if any(self.in_window(e, slot, nxt) for e in busy) else "0"
                slot = nxt
            items = [
                {
                    "isPrivate": False,
                    "status": e.get("showAs", "busy"),
                    "subject": e.get("subject", ""),
                    "start": e["start"],
                    "end": e["end"],
                }
                for e in busy
            ]
            out.append({"scheduleId": schedule_id, "availabilityView": view, "scheduleItems": items})
        return {
            "@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Collection(scheduleInformation)",
            "value": out,
        }

    def expire_delta_tokens(self) -> None:
        with self._lock:
            self._epoch += 1


def _public(event: dict[str, Any], expand: bool = False) -> dict[str, Any]:
    hidden = {"_seq", "_deleted"} | (set() if expand else {"singleValueExtendedProperties"})
    return {k: v for k, v in event.items() if k not in hidden}


def blueprint(sandbox: Sandbox) -> Blueprint:
    state = GraphCalendarSandbox()
    sandbox.microsoft = state  # type: ignore[attr-defined]
    bp = Blueprint("microsoft", __name__)
    _register_identity(bp, state)
    _register_graph(bp, state)
    return bp


def _aadsts(code: int, text: str) -> Response:
    trace = str(uuid.uuid4())
    response = jsonify(
        error="invalid_grant",
        error_description=(
            f"AADSTS{code}: {text} Trace ID: {trace} Correlation ID: {uuid.uuid4()} Timestamp: {_stamp()}Z"
        ),
        error_codes=[code],
        timestamp=_stamp() + "Z",
        trace_id=trace,
        correlation_id=str(uuid.uuid4()),
        error_uri=f"https://login.microsoftonline.com/error?code={code}",
    )
    response.status_code = 400
    return response


def _register_identity(bp: Blueprint, state: GraphCalendarSandbox) -> None:
    @bp.get("/<tenant>/oauth2/v2.0/authorize")
    def authorize(tenant: str) -> ResponseReturnValue:
        if request.args.get("client_id") != CLIENT_ID or not request.args.get("redirect_uri"):
            return Response("AADSTS700016: Application not found in the directory.", status=400)
        code = state.grants.authorize(request.args.get("login_hint") or "rep@example.com")
        query = urlencode({"code": code, "state": request.args.get("state", "")})
        return redirect(f"{request.args['redirect_uri']}?{query}", code=302)

    @bp.post("/<tenant>/oauth2/v2.0/token")
    def token(tenant: str) -> ResponseReturnValue:
        form = request.form
        if not state.grants.client_ok(form.get("client_id"), form.get("client_secret")):
            return jsonify(
                error="invalid_client", error_description="AADSTS7000215: Invalid client secret provided."
            ), 401
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = state.grants.exchange(form.get("code", ""))
            if issued is None:
                return _aadsts(70008, "The provided authorization code or refresh token has expired due to inactivity.")
        elif grant == "refresh_token":
            issued = state.grants.refresh(form.get("refresh_token", ""))
            if issued is None:
                return _aadsts(
                    50173,
                    "The provided grant has expired due to it being revoked, a fresh auth token is "
                    "needed. The user might have changed or reset their password.",
                )
        else:
            return jsonify(
                error="unsupported_grant_type", error_description="AADSTS70003: grant type not supported."
            ), 400
        return jsonify(
            token_type="Bearer",
            scope="offline_access Calendars.ReadWrite",
            expires_in=state.grants.access_ttl_s,
            ext_expires_in=state.grants.access_ttl_s,
            access_token=issued[0],
            refresh_token=issued[1],
        )

    @bp.post("/sandbox/expire-delta-tokens")
    def expire_delta() -> ResponseReturnValue:
        state.expire_delta_tokens()
        return jsonify(ok=True)

    @bp.post("/sandbox/expire-access-tokens")
    def expire_access() -> ResponseReturnValue:
        state.grants.expire_access_tokens()
        return jsonify(ok=True)


class _Requests:
    """What every Graph route of the sandbox does first: count the request, find the caller's account."""

    def __init__(self, state: GraphCalendarSandbox) -> None:
        self.state = state

    def account(self) -> str | None:
        self.state.requests.append((request.method, request.path))
        return self.state.grants.bearer(request.headers.get("Authorization"))

    @staticmethod
    def unauthorised() -> Response:
        return error(401, "InvalidAuthenticationToken", "Access token has expired or is not yet valid.")

    @staticmethod
    def body() -> dict[str, Any] | Response:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return error(400, "BadRequest", "Empty Payload. JSON content expected.")
        return data


def _register_graph(bp: Blueprint, state: GraphCalendarSandbox) -> None:
    r = _Requests(state)
    account, unauthorised, body = r.account, r.unauthorised, r.body
    _register_events(bp, r)

    @bp.post("/v1.0/me/revokeSignInSessions")
    def revoke_sessions() -> ResponseReturnValue:
        who = account()
        if who is None:
            return unauthorised()
        state.grants.revoke(who)
        return jsonify({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#Edm.Boolean", "value": True})

    @bp.get("/v1.0/me/calendarView/delta")
    def delta() -> ResponseReturnValue:
        who = account()
        if who is None:
            return unauthorised()
        size = re.search(r"odata\.maxpagesize=(\d+)", request.headers.get("Prefer", ""))
        result = state.delta(who, request.args.to_dict(), int(size.group(1)) if size else 100)
        return result if isinstance(result, Response) else jsonify(result)

    @bp.get("/v1.0/me/calendarView")
    def calendar_view() -> ResponseReturnValue:
        who = account()
        if who is None:
            return unauthorised()
        low, high = _bound(request.args.get("startDateTime")), _bound(request.args.get("endDateTime"))
        if low is None or high is None:
            return error(400, "ErrorInvalidParameter", "startDateTime and endDateTime are required.")
        found = [
            _public(e) for e in state.mine(who).values() if not e.get("_deleted") and state.in_window(e, low, high)
        ]
        return jsonify(value=found)

    @bp.post("/v1.0/me/calendar/getSchedule")
    def get_schedule() -> ResponseReturnValue:
        who = account()
        if who is None:
            return unauthorised()
        data = body()
        if isinstance(data, Response):
            return data
        result = state.schedule(who, data)
        return result if isinstance(result, Response) else jsonify(result)


def _register_events(bp: Blueprint, r: _Requests) -> None:
    state, account, unauthorised, body = r.state, r.account, r.unauthorised, r.body

    @bp.route("/v1.0/me/events", methods=["GET", "POST"])
    def events() -> ResponseReturnValue:
        who = account()
        if who is None:
            return unauthorised()
        if request.method == "GET":
            result = state.by_property(who, request.args.get("$filter", ""))
            return result if isinstance(result, Response) else jsonify(result)
        data = body()
        if isinstance(data, Response):
            return data
        made, status = state.create(who, data)
        return made if isinstance(made, Response) else (jsonify(_public(made)), status)

    @bp.route("/v1.0/me/events/<event_id>", methods=["GET", "PATCH", "DELETE"])
    def event(event_id: str) -> ResponseReturnValue:
        who = account()
        if who is None:
            return unauthorised()
        if request.method == "GET":
            found = state.mine(who).get(event_id)
            if found is None or found.get("_deleted"):
                return error(404, "ErrorItemNotFound", "The specified object was not found in the store.")
            return jsonify(_public(found))
        if request.method == "DELETE":
            failed = state.delete(who, event_id)
            return failed if failed is not None else Response(status=204)
        data = body()
        if isinstance(data, Response):
            return data
        changed, status = state.update(who, event_id, data)
        return changed if isinstance(changed, Response) else (jsonify(_public(changed)), status)
