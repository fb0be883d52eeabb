"""Google Calendar API v3 and Google's OAuth endpoints in the provider sandbox (docs/calendars.md §C2).

Under the blueprint prefix /google (a client's `api_endpoint` is http://host/google/calendar/v3/):

* ``GET /o/oauth2/v2/auth``: the consent page, approved at once for ``login_hint`` (302 to redirect_uri with
  ``code`` and ``state``). ``POST /token``: ``authorization_code`` and ``refresh_token`` grants; a revoked or
  unknown refresh token answers 400 ``{"error":"invalid_grant","error_description":"Token has been expired
  or revoked."}``. ``POST /revoke?token=``: the app's own revocation.
* ``/calendar/v3/calendars/{calendarId}/events``: list (``pageToken`` paging, ``nextSyncToken`` on the last
  page only, ``syncToken`` incremental lists with deleted events as ``"status":"cancelled"``, 410
  ``fullSyncRequired`` for an expired token), insert with the client's own ``id`` (409 "The requested
  identifier already exists." also for a deleted one), get, patch (``If-Match`` → 412 ``conditionNotMet``),
  delete (204; 410 "Resource has been deleted" the second time). ``POST /calendar/v3/freeBusy``.
* Test controls: ``POST /sandbox/revoke-account {"email"}`` (the user removed the app's access),
  ``POST /sandbox/expire-sync-tokens``, ``POST /sandbox/expire-access-tokens``.

Limits: events are kept as sent; recurring events are stored and listed, but freeBusy counts single events
only."""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint, Response, jsonify, redirect, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox
from sandbox.oauth_grants import Grants

CLIENT_ID = "sandbox-google-client.apps.googleusercontent.com"
CLIENT_SECRET = "sandbox-google-client-secret"
EVENT_ID = re.compile(r"[a-v0-9]{5,1024}")
AUTH_ERROR = {
    "code": 401,
    "message": "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or "
    "other valid authentication credential.",
    "errors": [
        {
            "message": "Invalid Credentials",
            "domain": "global",
            "reason": "authError",
            "location": "Authorization",
            "locationType": "header",
        }
    ],
    "status": "UNAUTHENTICATED",
}


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def error(code: int, message: str, reason: str, **where: str) -> Response:
    item = {"domain": "global", "reason": reason, "message": message, **where}
    response = jsonify(error={"code": code, "message": message, "errors": [item]})
    response.status_code = code
    return response


def _token(**fields: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(fields).encode()).decode().rstrip("=")


def _untoken(raw: str) -> dict[str, Any] | None:
    try:
        found = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
    except (ValueError, TypeError):
        return None
    return found if isinstance(found, dict) else None


def parse_when(value: Any) -> datetime | None:
    """An event time (``{"dateTime"}`` with offset, or ``{"date"}``) as UTC, None when malformed."""
    if not isinstance(value, dict):
        return None
    try:
        if isinstance(value.get("dateTime"), str):
            moment = datetime.fromisoformat(value["dateTime"].replace("Z", "+00:00"))
            return moment.astimezone(UTC) if moment.tzinfo else None
        if isinstance(value.get("date"), str):
            return datetime.fromisoformat(value["date"]).replace(tzinfo=UTC)
    except ValueError:
        return None
    return None


class GoogleCalendarSandbox:
    def __init__(self) -> None:
        self.grants = Grants(CLIENT_ID, CLIENT_SECRET, rotate_refresh=False)
        self.events: dict[tuple[str, str], dict[str, dict[str, Any]]] = {}  # (account, calendar) -> id -> event
        self.requests: list[tuple[str, str]] = []  # (method, path) of every API request, for tests
        self._seq = itertools.count(1)
        self.last_seq = 0
        self._epoch = 1  # bumped to expire every sync token
        self._lock = threading.Lock()

    def calendar(self, account: str, calendar_id: str) -> dict[str, dict[str, Any]]:
        key = (account, account if calendar_id == "primary" else calendar_id)
        return self.events.setdefault(key, {})

    # -- events -------------------------------------------------------------------------------------------

    def insert(self, account: str, calendar_id: str, body: dict[str, Any]) -> Response | dict[str, Any]:
        start, end = parse_when(body.get("start")), parse_when(body.get("end"))
        if start is None:
            return error(400, "Missing start time." if "start" not in body else "Invalid start time.", "required")
        if end is None:
            return error(400, "Missing end time." if "end" not in body else "Invalid end time.", "required")
        if end <= start:
            return error(400, "The specified time range is empty.", "timeRangeEmpty")
        event_id = body.get("id")
        if event_id is not None and (not isinstance(event_id, str) or not EVENT_ID.fullmatch(event_id)):
            return error(400, "Invalid resource id value.", "invalid")
        with self._lock:
            events = self.calendar(account, calendar_id)
            event_id = event_id or secrets.token_hex(13)  # hex digits are base32hex too
            if event_id in events:  # deleted ones too: Google keeps the id taken
                return error(409, "The requested identifier already exists.", "duplicate")
            stamp = _now()
            event = {
                "kind": "calendar#event",
                "id": event_id,
                "status": "confirmed",
                "htmlLink": f"https://www.google.com/calendar/event?eid={event_id}",
                "created": stamp,
                "creator": {"email": account, "self": True},
                "organizer": {"email": account, "self": True},
                "iCalUID": body.get("iCalUID") or f"{event_id}@google.com",
                "sequence": 0,
                "reminders": {"useDefault": True},
                "eventType": "default",
            }
            event.update({k: v for k, v in body.items() if k not in ("id", "iCalUID")})
            self._touch(event, stamp)
            events[event_id] = event
            return event

    def _touch(self, event: dict[str, Any], stamp: str | None = None) -> None:
        seq = next(self._seq)
        self.last_seq = seq
        event["updated"] = stamp or _now()
        event["etag"] = f'"{3_400_000_000_000_000 + seq}"'
        event["_seq"] = seq

    def patch(self, account: str, calendar_id: str, event_id: str, body: dict[str, Any]) -> Response | dict[str, Any]:
        with self._lock:
            event = self.calendar(account, calendar_id).get(event_id)
            if event is None:
                return error(404, "Not Found", "notFound")
            if event["status"] == "cancelled":
                return error(410, "Resource has been deleted", "deleted")
            if_match = request.headers.get("If-Match")
            if if_match and if_match != event["etag"]:
                return error(412, "Precondition Failed", "conditionNotMet", locationType="header", location="If-Match")
            merged = {**event, **{k: v for k, v in body.items() if k not in ("id", "etag", "kind")}}
            start, end = parse_when(merged.get("start")), parse_when(merged.get("end"))
            if start is None or end is None or end <= start:
                return error(400, "The specified time range is empty.", "timeRangeEmpty")
            merged["sequence"] = int(event.get("sequence", 0)) + 1
            self._touch(merged)
            self.calendar(account, calendar_id)[event_id] = merged
            return merged

    def delete(self, account: str, calendar_id: str, event_id: str) -> Response | None:
        with self._lock:
            event = self.calendar(account, calendar_id).get(event_id)
            if event is None:
                return error(404, "Not Found", "notFound")
            if event["status"] == "cancelled":
                return error(410, "Resource has been deleted", "deleted")
            event["status"] = "cancelled"
            self._touch(event)
            return None

    def list_events(self, account: str, calendar_id: str, args: dict[str, str]) -> Response | dict[str, Any]:
        sync = args.get("syncToken")
        if sync and any(args.get(k) for k in ("timeMin", "timeMax", "iCalUID", "orderBy", "q", "updatedMin")):
            return error(400, "Sync token cannot be combined with the given query parameters.", "invalid")
        page = _untoken(args["pageToken"]) if args.get("pageToken") else None
        since = 0
        if sync:
            parsed = _untoken(sync)
            if parsed is None or parsed.get("epoch") != self._epoch:
                return error(
                    410,
                    "Sync token is no longer valid, a full sync is required.",
                    "fullSyncRequired",
                    locationType="parameter",
                    location="syncToken",
                )
            since = int(parsed["seq"])
        if page is not None:
            since = int(page["since"])
        try:
            size = min(int(args.get("maxResults", 250)), 2500)
        except ValueError:
            return error(400, "Invalid value for maxResults.", "invalid")
        with self._lock:
            listed = self._select(account, calendar_id, args, since, show_deleted=bool(sync) or since > 0)
            # Later pages list only what existed at the first page; the sync token then continues from there.
            snapshot = int(page["snapshot"]) if page else self.last_seq
            listed = [e for e in listed if e["_seq"] <= snapshot]
        offset = int(page["offset"]) if page else 0
        items = [{k: v for k, v in e.items() if k != "_seq"} for e in listed[offset : offset + size]]
        body: dict[str, Any] = {
            "kind": "calendar#events",
            "etag": f'"p3{snapshot}"',
            "summary": account,
            "updated": _now(),
            "timeZone": "Europe/Berlin",
            "accessRole": "owner",
            "defaultReminders": [],
            "items": items,
        }
        if offset + size < len(listed):
            body["nextPageToken"] = _token(offset=offset + size, since=since, snapshot=snapshot)
        else:
            body["nextSyncToken"] = _token(seq=snapshot, epoch=self._epoch)
        return body

    def _select(
        self, account: str, calendar_id: str, args: dict[str, str], since: int, show_deleted: bool
    ) -> list[dict[str, Any]]:
        low = _parse_bound(args.get("timeMin"))
        high = _parse_bound(args.get("timeMax"))
        out = []
        for event in self.calendar(account, calendar_id).values():
            if event["_seq"] <= since:
                continue
            if event["status"] == "cancelled" and not (show_deleted or args.get("showDeleted") == "true"):
                continue
            start, end = parse_when(event.get("start")), parse_when(event.get("end"))
            recurring = bool(event.get("recurrence"))
            if high and start and start >= high:
                continue
            if low and end and end <= low and not recurring:
                continue
            if args.get("iCalUID") and event.get("iCalUID") != args["iCalUID"]:
                continue
            out.append(event)
        return sorted(out, key=lambda e: e["_seq"])

    def free_busy(self, account: str, body: dict[str, Any]) -> Response | dict[str, Any]:
        low, high = _parse_bound(body.get("timeMin")), _parse_bound(body.get("timeMax"))
        if low is None or high is None:
            return error(400, "Missing timeMin or timeMax." if not body.get("timeMin") else "Bad Request", "required")
        calendars: dict[str, Any] = {}
        for item in body.get("items") or []:
            cal_id = str((item or {}).get("id", ""))
            busy = []
            for event in self.calendar(account, cal_id).values():
                start, end = parse_when(event.get("start")), parse_when(event.get("end"))
                opaque = event.get("transparency", "opaque") == "opaque"
                if event["status"] != "cancelled" and opaque and start and end and start < high and low < end:
                    busy.append((max(start, low), min(end, high)))
            calendars[cal_id] = {"busy": [{"start": _iso(s), "end": _iso(e)} for s, e in sorted(busy)]}
        return {"kind": "calendar#freeBusy", "timeMin": _iso(low), "timeMax": _iso(high), "calendars": calendars}

    def expire_sync_tokens(self) -> None:
        with self._lock:
            self._epoch += 1


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _parse_bound(raw: Any) -> datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


def blueprint(sandbox: Sandbox) -> Blueprint:
    state = GoogleCalendarSandbox()
    sandbox.google = state  # type: ignore[attr-defined]
    bp = Blueprint("google", __name__)
    _register_oauth(bp, state)
    _register_api(bp, state)
    return bp


def _register_oauth(bp: Blueprint, state: GoogleCalendarSandbox) -> None:
    @bp.get("/o/oauth2/v2/auth")
    def consent() -> ResponseReturnValue:
        if request.args.get("client_id") != CLIENT_ID or not request.args.get("redirect_uri"):
            return Response("Error 401: invalid_client", status=401, mimetype="text/plain")
        code = state.grants.authorize(request.args.get("login_hint") or "rep@example.com")
        query = urlencode(
            {"code": code, "state": request.args.get("state", ""), "scope": request.args.get("scope", "")}
        )
        return redirect(f"{request.args['redirect_uri']}?{query}", code=302)

    @bp.post("/token")
    def token() -> ResponseReturnValue:
        form = request.form
        if not state.grants.client_ok(form.get("client_id"), form.get("client_secret")):
            return jsonify(error="invalid_client", error_description="The OAuth client was not found."), 401
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued = state.grants.exchange(form.get("code", ""))
            if issued is None:
                return jsonify(error="invalid_grant", error_description="Malformed auth code."), 400
            access, refresh = issued
            return jsonify(
                access_token=access,
                expires_in=state.grants.access_ttl_s,
                refresh_token=refresh,
                scope="https://www.googleapis.com/auth/calendar",
                token_type="Bearer",
            )
        if grant == "refresh_token":
            refreshed = state.grants.refresh(form.get("refresh_token", ""))
            if refreshed is None:
                return jsonify(error="invalid_grant", error_description="Token has been expired or revoked."), 400
            return jsonify(
                access_token=refreshed[0],
                expires_in=state.grants.access_ttl_s,
                scope="https://www.googleapis.com/auth/calendar",
                token_type="Bearer",
            )
        return jsonify(error="unsupported_grant_type", error_description=f"Invalid grant_type: {grant}"), 400

    @bp.post("/revoke")
    def revoke() -> ResponseReturnValue:
        email = state.grants.account_of_token(request.values.get("token", ""))
        if email is None:
            return jsonify(error="invalid_token", error_description="Token expired or revoked"), 400
        state.grants.revoke(email)
        return jsonify({})

    @bp.post("/sandbox/revoke-account")
    def revoke_account() -> ResponseReturnValue:
        state.grants.revoke(str((request.get_json(silent=True) or {}).get("email", "")))
        return jsonify(ok=True)

    @bp.post("/sandbox/expire-sync-tokens")
    def expire_sync() -> ResponseReturnValue:
        state.expire_sync_tokens()
        return jsonify(ok=True)

    @bp.post("/sandbox/expire-access-tokens")
    def expire_access() -> ResponseReturnValue:
        state.grants.expire_access_tokens()
        return jsonify(ok=True)


def _register_api(bp: Blueprint, state: GoogleCalendarSandbox) -> None:
    def account() -> str | None:
        state.requests.append((request.method, request.path))
        return state.grants.bearer(request.headers.get("Authorization"))

    def unauthorised() -> Response:
        response = jsonify(error=AUTH_ERROR)
        response.status_code = 401
        response.headers["WWW-Authenticate"] = 'Bearer realm="https://accounts.google.com/", error="invalid_token"'
        return response

    def body() -> dict[str, Any] | Response:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            return error(400, "Parse Error", "parseError")
        return data

    @bp.route("/calendar/v3/calendars/<cal>/events", methods=["GET", "POST"])
    def events(cal: str) -> ResponseReturnValue:
        who = account()
        if who is None:
            return unauthorised()
        if request.method == "GET":
            return _answer(state.list_events(who, cal, request.args.to_dict()))
        data = body()
        return data if isinstance(data, Response) else _answer(state.insert(who, cal, data))

    @bp.route("/calendar/v3/calendars/<cal>/events/<event_id>", methods=["GET", "PATCH", "PUT", "DELETE"])
    def event(cal: str, event_id: str) -> ResponseReturnValue:
        who = account()
        if who is None:
            return unauthorised()
        if request.method == "GET":
            found = state.calendar(who, cal).get(event_id)
            if found is None:
                return error(404, "Not Found", "notFound")
            return jsonify({k: v for k, v in found.items() if k != "_seq"})
        if request.method == "DELETE":
            failed = state.delete(who, cal, event_id)
            return failed if failed is not None else Response(status=204)
        data = body()
        return data if isinstance(data, Response) else _answer(state.patch(who, cal, event_id, data))

    @bp.post("/calendar/v3/freeBusy")
    def free_busy() -> ResponseReturnValue:
        who = account()
        if who is None:
            return unauthorised()
        data = body()
        return data if isinstance(data, Response) else _answer(state.free_busy(who, data))


def _answer(result: Response | dict[str, Any]) -> ResponseReturnValue:
    if isinstance(result, Response):
        return result
    return jsonify({k: v for k, v in result.items() if k != "_seq"})
