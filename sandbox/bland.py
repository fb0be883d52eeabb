"""Bland in the sandbox (docs/providers.md §3): the API the adapter talks to, and the post-call webhook.

* `POST /v1/calls`, `GET /v1/calls/{id}`, `GET /v1/calls`, `POST /v1/postcall/webhooks/resend`; auth is
  the raw key in `authorization` (no Bearer).
* A call plays its persona (chosen by the number's last digit) in `step_s` steps: queued, started, then
  done; at the end ONE post-call webhook carries the flat call-details object (the same object GET
  returns), compact JSON signed with `X-Webhook-Signature` = hex HMAC-SHA256(signing secret, body).
* Durations on the wire: `call_length` in minutes (float), `corrected_duration` seconds as a string;
  `price` in dollars. The call's clock is simulated: `end_at` is `started_at` plus the persona's duration.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import personas
from sandbox.context import Sandbox
from sandbox.dispatcher import Delivery
from sandbox.state import SandboxCall, now_ms
from sandbox.summary import scripted_summary

PROVIDER = "bland"
_BLAND_LANG = {"de": "de", "en": "en", "fr": "fr"}


def _iso(ms: int | float) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat()


def _error(
    status: int, message: str, errors: list[str] | None = None, headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"status": "error", "message": message}
    if errors is not None:
        body["errors"] = errors
    response = jsonify(body)
    response.status_code = status
    for k, v in (headers or {}).items():
        response.headers[k] = v
    return response


def _normalise_number(raw: str) -> str | None:
    digits = "".join(c for c in raw if c.isdigit())
    if not digits or len(digits) > 15:
        return None
    # Bland: the country code defaults to +1 when the number has none.
    return "+" + digits if raw.strip().startswith("+") else ("+" + digits if len(digits) > 10 else "+1" + digits)


def _validate(body: Any) -> list[str]:
    if not isinstance(body, dict):
        return ["Request body must be a JSON object."]
    errors = []
    phone = body.get("phone_number")
    if not phone:
        errors.append("Missing required parameter: phone_number.")
    elif not isinstance(phone, str) or _normalise_number(phone) is None:
        errors.append("Invalid phone_number.")
    if not body.get("task") and not body.get("pathway_id"):
        errors.append("Missing required parameter: task or pathway_id.")
    for name in ("request_data", "metadata", "analysis_schema", "voicemail"):
        if name in body and body[name] is not None and not isinstance(body[name], dict):
            errors.append(f"Invalid parameter: {name} must be an object.")
    if "max_duration" in body and (
        isinstance(body["max_duration"], bool)
        or not isinstance(body["max_duration"], (int, float))
        or body["max_duration"] <= 0
    ):
        errors.append("Invalid parameter: max_duration must be a positive number of minutes.")
    webhook = body.get("webhook")
    if webhook is not None and (not isinstance(webhook, str) or not webhook.startswith(("http://", "https://"))):
        errors.append("Invalid parameter: webhook must be an http(s) URL.")
    action = body.get("voicemail_action")
    if action is not None and action not in ("hangup", "leave_message", "ignore"):
        errors.append("Invalid parameter: voicemail_action.")
    return errors


class _Play:
    """One call's script: when it starts and ends (real time), and its final call-details object."""

    def __init__(self, call: SandboxCall, step_s: float, recording_base: str) -> None:
        self.call = call
        persona = personas.PERSONAS[call.persona]
        self.persona = persona
        self.started_at_ms = call.created_ms + int(step_s * 1000)
        self.done_at_ms = call.created_ms + int(3 * step_s * 1000)
        self.webhook_delay_s = 3 * step_s
        self.recording_base = recording_base

    def connected(self) -> bool:
        return bool(self.persona.transcript[self.call.language])

    def details(self, at_ms: int | None = None) -> dict[str, Any]:
        """The call-details object as GET /v1/calls/{id} shows it at `at_ms` (now by default)."""
        at_ms = now_ms() if at_ms is None else at_ms
        base = self._request_fields()
        if at_ms >= self.done_at_ms:
            base.update(self._outcome_fields())
        else:
            base.update(self._pending_fields(started=at_ms >= self.started_at_ms))
        return base

    def _request_fields(self) -> dict[str, Any]:
        """What the call shows from the moment it is queued: the request as Bland echoes it."""
        call, req = self.call, self.call.request
        return {
            "call_id": call.call_id,
            "c_id": call.call_id,
            "batch_id": None,
            "to": call.to_number,
            "from": req.get("from") or "+14155550100",
            "request_data": req.get("request_data") or {},
            "metadata": req.get("metadata") or {},
            "created_at": _iso(call.created_ms),
            "inbound": False,
            "endpoint_url": "api.sandbox.bland.local",
            "max_duration": req.get("max_duration", 30),
            "record": bool(req.get("record", False)),
            "pathway_id": req.get("pathway_id"),
            "analysis_schema": req.get("analysis_schema"),
            "variables": {
                "now": _iso(call.created_ms),
                "now_utc": _iso(call.created_ms),
                "from": req.get("from") or "+14155550100",
                "to": call.to_number,
                "call_id": call.call_id,
                **(req.get("request_data") or {}),
            },
            "transferred_to": None,
            "pathway_logs": None,
            "disposition_tag": None,
        }

    def _pending_fields(self, started: bool) -> dict[str, Any]:
        """A call not done yet: queued or started, no outcome fields."""
        status = "started" if started else "queued"
        return {
            "completed": False,
            "status": status,
            "queue_status": status,
            "started_at": _iso(self.started_at_ms) if started else None,
            "end_at": None,
            "call_length": None,
            "corrected_duration": None,
            "answered_by": None,
            "error_message": None,
            "recording_url": None,
            "summary": None,
            "price": None,
            "call_ended_by": None,
            "analysis": None,
            "concatenated_transcript": "",
            "transcripts": [],
        }

    def _outcome_fields(self) -> dict[str, Any]:
        """A call that is done: status, transcript, summary, price and analysis."""
        call, persona, req = self.call, self.persona, self.call.request
        lang = call.language
        status = {"no_answer": "no-answer", "busy": "busy"}.get(persona.end_status, "completed")
        duration = persona.duration_s
        turns = persona.transcript[lang]
        per_turn = duration / len(turns) if turns else 0
        words = [
            {
                "id": i + 1,
                "created_at": _iso(self.started_at_ms + per_turn * i * 1000),
                "text": text,
                "user": "assistant" if who == "agent" else "user",
                "c_id": call.call_id,
            }
            for i, (who, text) in enumerate(turns)
        ]
        connected = self.connected()
        analysis = None
        schema = req.get("analysis_schema") or {}
        if connected and schema:
            known = {"outcome": persona.classification or "", "sentiment": persona.sentiment}
            analysis = {key: known.get(key) for key in schema}
        answered_by = None
        if req.get("answered_by_enabled"):
            answered_by = {"completed": "human", "voicemail": "voicemail"}.get(persona.end_status)
        return {
            "completed": True,
            "status": status,
            "queue_status": "complete",
            "started_at": _iso(self.started_at_ms) if connected else None,
            "end_at": _iso(self.started_at_ms + duration * 1000),
            "call_length": round(duration / 60, 4),
            "corrected_duration": str(duration),
            "answered_by": answered_by,
            "error_message": None,
            "recording_url": (f"{self.recording_base}/{call.call_id}.mp3" if connected and req.get("record") else None),
            "summary": scripted_summary(persona, lang) or None,
            "price": personas.cost_cents(duration) / 100,
            "call_ended_by": "ASSISTANT" if connected else None,
            "analysis": analysis,
            "concatenated_transcript": " \n ".join(f"{w['user']}: {w['text']}" for w in words),
            "transcripts": words,
        }

    def neutral_status(self, at_ms: int | None = None) -> str:
        at_ms = now_ms() if at_ms is None else at_ms
        if at_ms >= self.done_at_ms:
            return "analyzed"  # Bland's post-call object already holds summary and analysis
        if at_ms >= self.started_at_ms:
            return "in_progress" if self.persona.answered else "ringing"
        return "queued"


def webhook_body(details: dict[str, Any]) -> bytes:
    """Compact JSON, UTF-8 (no ASCII escaping, like JSON.stringify): the exact bytes that are signed."""
    return json.dumps(details, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class _BlandApi:
    """The sandbox's Bland: each call's play, webhooks and resends; routes are its methods."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.plays: dict[str, _Play] = {}
        self.lock = threading.Lock()

    def authorised(self) -> bool:
        # The raw key, exactly; "Bearer <key>" is what Bland rejects.
        return request.headers.get("authorization", "") == self.sandbox.config.keys["bland"]

    def unauthorised(self) -> Response:
        return _error(401, "Invalid API key.", ["Missing or invalid authorization header."])

    def refresh(self, play: _Play) -> None:
        call, at = play.call, now_ms()
        call.status = play.neutral_status(at)
        if at >= play.started_at_ms and call.started_ms is None and play.connected():
            call.started_ms = play.started_at_ms
        if at >= play.done_at_ms and call.ended_ms is None:
            call.ended_ms = at

    def signer(self, play: _Play) -> Callable[[bytes], dict[str, str]]:
        secret = self.sandbox.config.keys["bland_webhook_secret"]

        def sign(body: bytes) -> dict[str, str]:
            self.refresh(play)  # the webhook goes out once the call is done: GET says so too
            return {"X-Webhook-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}

        return sign

    def send_webhook(self, play: _Play, delay_s: float) -> bool:
        url = play.call.request.get("webhook") or self.sandbox.config.webhook_url(PROVIDER)
        if not url:
            return False
        body = webhook_body(play.details(at_ms=max(now_ms(), play.done_at_ms)))
        play.call.extra["webhook_body"] = body
        self.sandbox.dispatcher.send_sequence(
            [(delay_s, Delivery(url, body, self.signer(play)))], self.sandbox.state.mode(PROVIDER)
        )
        return True

    def create_call(self) -> ResponseReturnValue:
        self.sandbox.state.count_request(PROVIDER)
        if not self.authorised():
            return self.unauthorised()
        fault = self.sandbox.state.take_fault(PROVIDER)
        if fault is not None:
            headers = {"Retry-After": str(int(fault.retry_after_s))} if fault.retry_after_s is not None else {}
            message = "Too many requests." if fault.status == 429 else "Internal server error."
            return _error(fault.status, message, headers=headers)
        payload = request.get_json(silent=True)
        errors = _validate(payload)
        if errors or not isinstance(payload, dict):  # _validate refuses anything but an object
            return _error(400, "Invalid parameters", errors)
        body = payload
        to_number = _normalise_number(body["phone_number"])
        if to_number is None:  # _validate checked that it normalises
            return _error(400, "Invalid parameters", ["Invalid phone_number."])
        requested = str(body.get("language") or "")[:2].lower() or None
        language = personas.language_for(to_number, _BLAND_LANG.get(requested or ""))
        call = self.sandbox.state.add_call(
            SandboxCall(
                provider=PROVIDER,
                call_id=str(uuid.uuid4()),
                request=body,
                to_number=to_number,
                persona=personas.persona_for(to_number).name,
                language=language,
                created_ms=now_ms(),
            )
        )
        recording_base = request.url_root.rstrip("/") + "/bland/recordings"
        play = _Play(call, self.sandbox.config.step_s, recording_base)
        with self.lock:
            self.plays[call.call_id] = play
        self.send_webhook(play, play.webhook_delay_s)
        return jsonify(status="success", message="Call successfully queued.", call_id=call.call_id, batch_id=None)

    def find_play(self, call_id: str) -> _Play | None:
        with self.lock:
            return self.plays.get(call_id)

    def get_call(self, call_id: str) -> ResponseReturnValue:
        if not self.authorised():
            return self.unauthorised()
        play = self.find_play(call_id)
        if play is None:
            return _error(404, "Call not found.", [f"No call with id {call_id}."])
        self.refresh(play)
        return jsonify(play.details())

    def list_calls(self) -> ResponseReturnValue:
        if not self.authorised():
            return self.unauthorised()
        args = request.args
        calls = [c for c in self.sandbox.state.list(PROVIDER) if self.find_play(c.call_id) is not None]
        if args.get("to_number"):
            wanted = _normalise_number(args["to_number"])
            calls = [c for c in calls if c.to_number == wanted]
        if args.get("from_number"):
            wanted = _normalise_number(args["from_number"])
            calls = [c for c in calls if _normalise_number(str(c.request.get("from") or "")) == wanted]
        ascending = args.get("ascending", "false").lower() == "true"
        sort_by = args.get("sort_by") or "created_at"
        key = {
            "created_at": lambda c: c.created_ms,
            "call_length": lambda c: personas.PERSONAS[c.persona].duration_s,
            "to": lambda c: c.to_number,
        }.get(sort_by, lambda c: c.created_ms)
        calls.sort(key=key, reverse=not ascending)
        try:
            start = int(args.get("from", 0))
            end = int(args["to"]) if args.get("to") else None
            limit = int(args.get("limit", 1000))
        except ValueError:
            return _error(400, "Invalid parameters", ["from, to and limit must be integers."])
        page = calls[start:end][: max(0, limit)]
        items = []
        for c in page:
            play = self.find_play(c.call_id)
            if play is None:  # `calls` holds only calls with a play, and plays are never removed
                continue
            self.refresh(play)
            d = play.details()
            # The list's items are summaries: no metadata, transcript or analysis (docs/providers.md §3.4).
            items.append(
                {
                    k: d[k]
                    for k in (
                        "call_id",
                        "created_at",
                        "call_length",
                        "to",
                        "from",
                        "completed",
                        "queue_status",
                        "error_message",
                        "answered_by",
                        "batch_id",
                    )
                }
            )
        return jsonify(count=len(calls), calls=items)

    def resend(self) -> ResponseReturnValue:
        if not self.authorised():
            return self.unauthorised()
        body = request.get_json(silent=True) or {}
        ids = body.get("call_ids")
        if not isinstance(ids, list) or not ids:
            return _error(400, "Invalid parameters", ["call_ids must be a non-empty array."])
        resent = []
        for call_id in ids:
            play = self.find_play(str(call_id))
            if play is None or "webhook_body" not in play.call.extra:
                continue
            url = play.call.request.get("webhook") or self.sandbox.config.webhook_url(PROVIDER)
            if not url:  # a stored body means send_webhook had a URL; the configuration may have changed since
                continue
            # The same bytes as the first time (and so the same signature: there is no timestamp).
            self.sandbox.dispatcher.send_sequence(
                [(0.0, Delivery(url, play.call.extra["webhook_body"], self.signer(play)))],
                self.sandbox.state.mode(PROVIDER),
            )
            resent.append(play.call.call_id)
        return jsonify(status="success", message=f"Resent {len(resent)} webhook(s).", call_ids=resent)


def blueprint(sandbox: Sandbox) -> Blueprint:
    api = _BlandApi(sandbox)
    bp = Blueprint("sandbox_bland", __name__)
    bp.add_url_rule("/v1/calls", view_func=api.create_call, methods=["POST"])
    bp.add_url_rule("/v1/calls/<call_id>", view_func=api.get_call, methods=["GET"])
    bp.add_url_rule("/v1/calls", view_func=api.list_calls, methods=["GET"])
    bp.add_url_rule("/v1/postcall/webhooks/resend", view_func=api.resend, methods=["POST"])
    return bp
