"""Cal.com API v2 in the provider sandbox (docs/calendars.md §C1).

Under the blueprint prefix /calcom (the API base is http://host/calcom/v2):

* ``Authorization: Bearer <API key>`` (cal_live_…); ``cal-api-version`` is recorded per request (Cal.com
  routes a missing or wrong one to an older controller silently; tests read what was sent).
  Envelope ``{"status":"success","data":…}`` / ``{"status":"error","error":{"code","message"}}``.
* ``GET|POST /v2/event-types``; ``GET /v2/slots`` (slots keyed by date in the asked zone, 09:00-17:00 on
  weekdays, minus accepted bookings); ``POST /v2/bookings`` (201; ``start`` in UTC; a taken time answers 400),
  ``GET /v2/bookings`` (``status``, ``afterStart``, ``beforeEnd``, ``take``/``skip``), ``GET
  /v2/bookings/{uid}``, ``POST /v2/bookings/{uid}/cancel`` (marked cancelled, not deleted), ``POST
  /v2/bookings/{uid}/reschedule`` (a new booking with a new uid; the old one cancelled and naming it).
* ``POST /v2/webhooks`` ``{subscriberUrl, triggers, active, secret}``: every booking created, rescheduled
  or cancelled is POSTed once (Cal.com's direct send does one fetch) to each active subscriber with the
  trigger, ``X-Cal-Signature-256`` = hex HMAC-SHA256(secret, raw body), ``X-Cal-Webhook-Version:
  2021-10-20``, body ``{"triggerEvent","createdAt","payload":{…}}``."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import secrets
import threading
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import httpx
from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox

API_KEY = "cal_live_sandbox0000000000000000"
HOST = {
    "id": 1701,
    "name": "Sandbox Rep",
    "email": "rep@example.com",
    "username": "sandbox-rep",
    "timeZone": "Europe/Berlin",
}
WEBHOOK_VERSION = "2021-10-20"
# The triggers a webhook may name (docs/calendars.md §C1); the sandbox sends the first three.
TRIGGERS = {
    "BOOKING_CREATED", "BOOKING_RESCHEDULED", "BOOKING_CANCELLED", "BOOKING_REQUESTED", "BOOKING_REJECTED",
    "BOOKING_PAID", "BOOKING_NO_SHOW_UPDATED", "MEETING_STARTED", "MEETING_ENDED", "RECORDING_READY",
    "FORM_SUBMITTED", "OOO_CREATED", "INSTANT_MEETING",
}  # fmt: skip


def error(status: int, code: str, message: str) -> Response:
    response = jsonify(
        status="error", timestamp=_iso(datetime.now(UTC)), path=request.path, error={"code": code, "message": message}
    )
    response.status_code = status
    return response


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")


def _utc(raw: Any) -> datetime | None:
    if not isinstance(raw, str):
        return None
    try:
        moment = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment.astimezone(UTC) if moment.tzinfo else None


class CalComSandbox:
    def __init__(self, api_key: str = API_KEY) -> None:
        self.api_key = api_key
        self.event_types: dict[int, dict[str, Any]] = {
            5077497: {
                "id": 5077497,
                "title": "Beratung",
                "slug": "beratung",
                "lengthInMinutes": 30,
                "description": "",
                "locations": [{"type": "phone"}],
                "ownerId": HOST["id"],
            },
        }
        self.bookings: dict[str, dict[str, Any]] = {}
        self.webhooks: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []  # every webhook sent: url, trigger, status (0: no connection)
        self.versions: list[tuple[str, str | None]] = []  # (path, cal-api-version) of every request
        self._ids = itertools.count(400_001)
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []

    def taken(self, start: datetime, end: datetime, skip: str | None = None) -> bool:
        return any(
            b["status"] == "accepted" and b["uid"] != skip and _utc(b["start"]) < end and start < _utc(b["end"])  # type: ignore[operator]
            for b in self.bookings.values()
        )

    def book(self, body: dict[str, Any], start: datetime, rescheduled_from: str | None = None) -> dict[str, Any]:
        event_type = self.event_types[int(body["eventTypeId"])]
        length = int(body.get("lengthInMinutes") or event_type["lengthInMinutes"])
        now = _iso(datetime.now(UTC))
        uid = secrets.token_urlsafe(16).replace("-", "").replace("_", "")[:22]
        attendee = body["attendee"]
        booking = {
            "id": next(self._ids),
            "uid": uid,
            "title": f"{event_type['title']} between {HOST['name']} and {attendee.get('name', '')}",
            "description": "",
            "hosts": [dict(HOST)],
            "status": "accepted",
            "cancellationReason": None,
            "reschedulingReason": body.get("reschedulingReason"),
            "rescheduledFromUid": rescheduled_from,
            "rescheduledToUid": None,
            "start": _iso(start),
            "end": _iso(start + timedelta(minutes=length)),
            "duration": length,
            "eventTypeId": event_type["id"],
            "eventType": {"id": event_type["id"], "slug": event_type["slug"]},
            "meetingUrl": None,
            "location": body.get("location") or "phone",
            "absentHost": False,
            "createdAt": now,
            "updatedAt": now,
            "metadata": body.get("metadata") or {},
            "icsUid": f"{uid}@Cal.com",
            "attendees": [{**attendee, "absent": False}],
            "guests": body.get("guests") or [],
            "bookingFieldsResponses": {
                "name": attendee.get("name"),
                "email": attendee.get("email"),
                **(body.get("bookingFieldsResponses") or {}),
            },
        }
        self.bookings[uid] = booking
        return booking

    # -- webhooks -----------------------------------------------------------------------------------------

    def webhook_payload(self, trigger: str, booking: dict[str, Any], extra: dict[str, Any] | None = None) -> bytes:
        attendee = booking["attendees"][0]
        tz = attendee.get("timeZone") or "UTC"
        payload = {
            "type": booking["eventType"]["slug"],
            "title": booking["title"],
            "description": booking["description"],
            "additionalNotes": "",
            "customInputs": {},
            "responses": booking["bookingFieldsResponses"],
            "userFieldsResponses": {},
            "startTime": booking["start"].replace(".000Z", "Z"),
            "endTime": booking["end"].replace(".000Z", "Z"),
            "organizer": {**HOST, "language": {"locale": "de"}, "utcOffset": _offset(str(HOST["timeZone"]))},
            "attendees": [
                {
                    "name": attendee.get("name"),
                    "email": attendee.get("email"),
                    "timeZone": tz,
                    "language": {"locale": attendee.get("language", "en")},
                    "utcOffset": _offset(tz),
                }
            ],
            "location": booking["location"],
            "uid": booking["uid"],
            "bookingId": booking["id"],
            "eventTypeId": booking["eventTypeId"],
            "status": booking["status"].upper(),
            "metadata": booking["metadata"],
            "eventTitle": self.event_types[booking["eventTypeId"]]["title"],
            "length": booking["duration"],
            **(extra or {}),
        }
        body = {"triggerEvent": trigger, "createdAt": _iso(datetime.now(UTC)), "payload": payload}
        return json.dumps(body).encode()

    def notify(self, trigger: str, booking: dict[str, Any], extra: dict[str, Any] | None = None) -> None:
        body = self.webhook_payload(trigger, booking, extra)
        for hook in list(self.webhooks):
            if hook["active"] and trigger in hook["triggers"]:
                thread = threading.Thread(target=self._send, args=(hook, trigger, body), daemon=True)
                self._threads.append(thread)
                thread.start()

    def _send(self, hook: dict[str, Any], trigger: str, body: bytes) -> None:
        secret = hook.get("_secret")
        signature = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest() if secret else "no-secret-provided"
        headers = {
            "Content-Type": "application/json",
            "X-Cal-Signature-256": signature,
            "X-Cal-Webhook-Version": WEBHOOK_VERSION,
        }
        try:
            status = httpx.post(
                hook["subscriberUrl"], content=body, headers=headers, timeout=10, follow_redirects=False
            ).status_code
        except httpx.HTTPError:
            status = 0
        with self._lock:
            self.deliveries.append({"url": hook["subscriberUrl"], "trigger": trigger, "status": status})

    def wait_deliveries(self, timeout_s: float = 10.0) -> None:
        for thread in list(self._threads):
            thread.join(timeout_s)


def _offset(tz: str) -> int:
    try:
        delta = datetime.now(ZoneInfo(tz)).utcoffset()
    except ZoneInfoNotFoundError:
        return 0
    return int(delta.total_seconds() // 60) if delta else 0


def validate_booking(body: Any, state: CalComSandbox) -> str | None:
    """Cal.com's 400 message for a booking body, or None."""
    if not isinstance(body, dict):
        return "Request body must be a JSON object"
    if _utc(body.get("start")) is None:
        return "start must be a valid ISO 8601 date string in UTC"
    if not isinstance(body.get("eventTypeId"), int) or body["eventTypeId"] not in state.event_types:
        return "eventTypeId must be the id of an existing event type"
    attendee = body.get("attendee")
    if not isinstance(attendee, dict) or not isinstance(attendee.get("name"), str) or not attendee["name"]:
        return "attendee.name must be a string"
    if not isinstance(attendee.get("timeZone"), str):
        return "attendee.timeZone must be a string"
    if not attendee.get("email") and not attendee.get("phoneNumber"):
        return "attendee.email or attendee.phoneNumber is required"
    if "metadata" in body and (not isinstance(body["metadata"], dict) or len(body["metadata"]) > 50):
        return "metadata must be an object with at most 50 keys"
    return None


def blueprint(sandbox: Sandbox) -> Blueprint:
    state = CalComSandbox()
    sandbox.calcom = state  # type: ignore[attr-defined]
    bp = Blueprint("calcom", __name__)

    @bp.before_request
    def authorise() -> ResponseReturnValue | None:
        state.versions.append((request.path, request.headers.get("cal-api-version")))
        if request.path.endswith("/v2/slots"):
            return None  # public event types' slots need no key
        if request.headers.get("Authorization") != f"Bearer {state.api_key}":
            return error(401, "UNAUTHORIZED", "Invalid Access Token.")
        return None

    _register_catalogue(bp, state)
    _register_bookings(bp, state)
    return bp


def _register_catalogue(bp: Blueprint, state: CalComSandbox) -> None:
    @bp.route("/v2/event-types", methods=["GET", "POST"])
    def event_types() -> ResponseReturnValue:
        if request.method == "GET":
            return jsonify(status="success", data=list(state.event_types.values()))
        body = request.get_json(silent=True) or {}
        if not isinstance(body.get("title"), str) or not isinstance(body.get("slug"), str):
            return error(400, "BAD_REQUEST", "title and slug must be strings")
        if not isinstance(body.get("lengthInMinutes"), int) or body["lengthInMinutes"] <= 0:
            return error(400, "BAD_REQUEST", "lengthInMinutes must be a positive integer")
        made = {"id": next(state._ids), "description": "", "locations": [], "ownerId": HOST["id"], **body}
        state.event_types[made["id"]] = made
        return jsonify(status="success", data=made), 201

    @bp.get("/v2/slots")
    def slots() -> ResponseReturnValue:
        try:
            event_type = state.event_types[int(request.args.get("eventTypeId", ""))]
            zone = ZoneInfo(request.args.get("timeZone") or "UTC")
            first = date.fromisoformat(request.args["start"][:10])
            last = date.fromisoformat(request.args["end"][:10])
        except (KeyError, ValueError, ZoneInfoNotFoundError):
            return error(400, "BAD_REQUEST", "eventTypeId, start, end and a valid timeZone are required")
        length = timedelta(minutes=int(request.args.get("duration") or event_type["lengthInMinutes"]))
        out: dict[str, list[dict[str, str]]] = {}
        day = first
        while day <= last:
            if day.weekday() < 5:
                moment = datetime.combine(day, time(9), zone)
                while moment + length <= datetime.combine(day, time(17), zone):
                    if not state.taken(moment.astimezone(UTC), (moment + length).astimezone(UTC)):
                        out.setdefault(day.isoformat(), []).append({"start": moment.isoformat(timespec="milliseconds")})
                    moment += length
            day += timedelta(days=1)
        return jsonify(status="success", data=out)

    @bp.post("/v2/webhooks")
    def webhooks() -> ResponseReturnValue:
        body = request.get_json(silent=True) or {}
        url, triggers = body.get("subscriberUrl"), body.get("triggers")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            return error(400, "BAD_REQUEST", "subscriberUrl must be a URL")
        if not isinstance(triggers, list) or not triggers or not set(triggers) <= TRIGGERS:
            return error(400, "BAD_REQUEST", "triggers must be a non-empty list of webhook triggers")
        hook = {
            "id": next(state._ids),
            "subscriberUrl": url,
            "triggers": triggers,
            "active": bool(body.get("active", True)),
            "payloadTemplate": None,
            "_secret": body.get("secret"),
        }
        state.webhooks.append(hook)
        return jsonify(status="success", data={k: v for k, v in hook.items() if k != "_secret"}), 201


def _register_bookings(bp: Blueprint, state: CalComSandbox) -> None:
    @bp.route("/v2/bookings", methods=["GET", "POST"])
    def bookings() -> ResponseReturnValue:
        if request.method == "GET":
            return _list(state)
        body = request.get_json(silent=True)
        problem = validate_booking(body, state)
        start = _utc(body.get("start")) if isinstance(body, dict) else None
        if problem is not None or body is None or start is None:
            return error(400, "BAD_REQUEST", problem or "start must be a valid ISO 8601 date string in UTC")
        length = timedelta(
            minutes=int(body.get("lengthInMinutes") or state.event_types[body["eventTypeId"]]["lengthInMinutes"])
        )
        with state._lock:
            if state.taken(start, start + length):
                return error(400, "BAD_REQUEST", "User either already has booking at this time or is not available")
            booking = state.book(body, start)
        state.notify("BOOKING_CREATED", booking)
        return jsonify(status="success", data=booking), 201

    @bp.get("/v2/bookings/<uid>")
    def booking(uid: str) -> ResponseReturnValue:
        found = state.bookings.get(uid)
        if found is None:
            return error(404, "NOT_FOUND", f"Booking with uid={uid} was not found in the database")
        return jsonify(status="success", data=found)

    @bp.post("/v2/bookings/<uid>/cancel")
    def cancel(uid: str) -> ResponseReturnValue:
        found = state.bookings.get(uid)
        if found is None:
            return error(404, "NOT_FOUND", f"Booking with uid={uid} was not found in the database")
        if found["status"] == "cancelled":
            return error(400, "BAD_REQUEST", "This booking has already been cancelled.")
        body = request.get_json(silent=True) or {}
        found.update(
            status="cancelled", cancellationReason=body.get("cancellationReason"), updatedAt=_iso(datetime.now(UTC))
        )
        state.notify("BOOKING_CANCELLED", found, {"cancellationReason": found["cancellationReason"]})
        return jsonify(status="success", data=found)

    @bp.post("/v2/bookings/<uid>/reschedule")
    def reschedule(uid: str) -> ResponseReturnValue:
        old = state.bookings.get(uid)
        if old is None:
            return error(404, "NOT_FOUND", f"Booking with uid={uid} was not found in the database")
        if old["status"] not in ("accepted", "pending"):
            return error(
                400, "BAD_REQUEST", f"Can't reschedule booking with uid={uid} because its status is {old['status']}"
            )
        body = request.get_json(silent=True) or {}
        start = _utc(body.get("start"))
        if start is None:
            return error(400, "BAD_REQUEST", "start must be a valid ISO 8601 date string in UTC")
        with state._lock:
            if state.taken(start, start + timedelta(minutes=old["duration"]), skip=uid):
                return error(400, "BAD_REQUEST", "User either already has booking at this time or is not available")
            new = state.book(
                {
                    "eventTypeId": old["eventTypeId"],
                    "attendee": old["attendees"][0],
                    "lengthInMinutes": old["duration"],
                    "metadata": old["metadata"],
                    "reschedulingReason": body.get("reschedulingReason"),
                },
                start,
                rescheduled_from=uid,
            )
            old.update(status="cancelled", rescheduledToUid=new["uid"], updatedAt=new["createdAt"])
        state.notify(
            "BOOKING_RESCHEDULED",
            new,
            {"rescheduleUid": uid, "rescheduleStartTime": old["start"], "rescheduleEndTime": old["end"]},
        )
        return jsonify(status="success", data=new), 201


def _list(state: CalComSandbox) -> ResponseReturnValue:
    wanted = set(filter(None, request.args.get("status", "").split(",")))
    after, before = _utc(request.args.get("afterStart")), _utc(request.args.get("beforeEnd"))
    now = datetime.now(UTC)
    rows = []
    for b in sorted(state.bookings.values(), key=lambda b: b["start"]):
        start, end = _utc(b["start"]), _utc(b["end"])
        kind = {"cancelled": "cancelled"}.get(b["status"], "upcoming" if end > now else "past")  # type: ignore[operator]
        if wanted and kind not in wanted and b["status"] not in wanted:
            continue
        if (after and start < after) or (before and end > before):  # type: ignore[operator]
            continue
        rows.append(b)
    try:
        take, skip = int(request.args.get("take", 100)), int(request.args.get("skip", 0))
    except ValueError:
        return error(400, "BAD_REQUEST", "take and skip must be integers")
    page = rows[skip : skip + take]
    pagination = {
        "totalItems": len(rows),
        "remainingItems": max(0, len(rows) - skip - len(page)),
        "returnedItems": len(page),
        "itemsPerPage": take,
        "currentPage": skip // max(take, 1) + 1,
        "totalPages": -(-len(rows) // max(take, 1)),
        "hasNextPage": skip + len(page) < len(rows),
        "hasPreviousPage": skip > 0,
    }
    return jsonify(status="success", data=page, pagination=pagination)
