"""Vapi in the sandbox (docs/providers.md §2): the REST API the `vapi` server SDK talks to, and the server
messages a real call produces, POSTed to the CRM's /webhooks/vapi.

* `POST /call` → 201 with a Call (`status: "queued"`); Bearer auth; 400 with a NestJS-style body on bad
  input (`{"message": [...], "error": "Bad Request", "statusCode": 400}`); every create request is
  counted (`create_requests`), accepted or not; injected faults answer with `Retry-After`.
* `GET /call` → a bare JSON array, newest first, filtered by `id`, `assistantId`, `phoneNumberId`,
  `createdAt{Gt,Lt,Ge,Le}`, `updatedAt{Gt,Lt,Ge,Le}`, cut to `limit` (default 100).
* `GET /call/{id}`, `DELETE /call/{id}` (200 with the deleted Call; afterwards 404).
* Each call plays the persona of the dialled number's last digit: status-update `ringing`,
  `in-progress` (connected calls), `ended`, then the `end-of-call-report`; the Call returned by
  `GET /call/{id}` follows the same timeline (endedReason, startedAt/endedAt, cost, analysis, artifact).
* Server messages carry `X-Vapi-Secret` by default. `POST /vapi/sandbox/server-auth`
  `{"mode": "secret" | "bearer" | "hmac" | "both", "timestamp_unit": "s" | "ms"}` switches to a Bearer
  credential or an HMAC credential (Vapi's default plan: `x-signature` = hex HMAC-SHA256 of
  `"{timestamp}.{body}"`, `x-timestamp`), signed at send time with keys["vapi_secret"].
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox
from sandbox.dispatcher import Delivery
from sandbox.personas import Persona, cost_cents, language_for, persona_for
from sandbox.state import SandboxCall, now_ms
from sandbox.summary import scripted_summary

PROVIDER = "vapi"
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
VAPI_STATUS = {
    "queued": "queued",
    "ringing": "ringing",
    "in_progress": "in-progress",
    "ended": "ended",
    "analyzed": "ended",
}
RANK = {"queued": 0, "ringing": 1, "in_progress": 2, "ended": 3, "analyzed": 4}
ENDED_REASON = {"no_answer": "customer-did-not-answer", "busy": "customer-busy", "voicemail": "voicemail"}
LIST_FILTERS = {
    "createdAtGt": ("created", ">"),
    "createdAtLt": ("created", "<"),
    "createdAtGe": ("created", ">="),
    "createdAtLe": ("created", "<="),
    "updatedAtGt": ("updated", ">"),
    "updatedAtLt": ("updated", "<"),
    "updatedAtGe": ("updated", ">="),
    "updatedAtLe": ("updated", "<="),
}


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _parse_iso_ms(value: str) -> int:
    parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00").replace(" ", "+"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def error(status: int, message: Any, name: str) -> tuple[Response, int]:
    return jsonify({"message": message, "error": name, "statusCode": status}), status


def connected(persona: Persona) -> bool:
    return persona.end_status in ("completed", "voicemail")


def ended_reason(persona: Persona) -> str:
    if persona.end_status == "completed":
        return "assistant-ended-call" if persona.classification == "booked" else "customer-ended-call"
    return ENDED_REASON.get(persona.end_status, "call.start.error-get-transport")


def _artifact(persona: Persona, language: str, started_ms: int, recording_url: str | None) -> dict[str, Any]:
    turns = persona.transcript.get(language) or []
    messages: list[dict[str, Any]] = [
        {
            "role": "system",
            "message": "You are Leadchain's digital assistant.",
            "time": started_ms,
            "secondsFromStart": 0,
        }
    ]
    lines = []
    span = max(1.0, persona.duration_s - 2.0)
    for i, (speaker, text) in enumerate(turns):
        start = 1.0 + i * span / max(1, len(turns))
        length = span / max(1, len(turns)) * 0.8
        messages.append(
            {
                "role": "bot" if speaker == "agent" else "user",
                "message": text,
                "time": started_ms + int(start * 1000),
                "endTime": started_ms + int((start + length) * 1000),
                "secondsFromStart": round(start, 2),
                "duration": int(length * 1000),
                **({"source": ""} if speaker == "agent" else {}),
            }
        )
        lines.append(f"{'AI' if speaker == 'agent' else 'User'}: {text}")
    artifact: dict[str, Any] = {
        "messages": messages,
        "transcript": "\n".join(lines) + ("\n" if lines else ""),
        "messagesOpenAIFormatted": [
            {"role": "assistant" if m["role"] == "bot" else m["role"], "content": m["message"]} for m in messages
        ],
    }
    if recording_url:
        artifact.update(
            recordingUrl=recording_url,
            stereoRecordingUrl=recording_url.replace("-mono", "-stereo"),
            recording={"stereoUrl": recording_url.replace("-mono", "-stereo"), "mono": {"combinedUrl": recording_url}},
        )
    return artifact


def _analysis(persona: Persona, language: str) -> dict[str, Any]:
    structured = {"outcome": persona.classification, "sentiment": persona.sentiment}
    analysis: dict[str, Any] = {
        "structuredData": {k: v for k, v in structured.items() if v is not None},
        "successEvaluation": "true"
        if persona.classification in ("booked", "interested", "callback_requested")
        else "false",
    }
    summary = scripted_summary(persona, language)
    if summary:
        analysis["summary"] = summary
    return analysis


class _VapiApi:
    """The sandbox's Vapi: shared state, the call timeline and server messages; routes are its methods."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.keys = sandbox.config.keys
        self.server_auth = {"mode": "secret", "timestamp_unit": "s"}
        self.lock = threading.Lock()

    # ---- helpers over the shared state ----------------------------------------------------------

    def authorised(self) -> bool:
        given = request.headers.get("Authorization", "")
        return hmac.compare_digest(given.encode(), f"Bearer {self.keys[PROVIDER]}".encode())

    def live(self, call_id: str) -> SandboxCall | None:
        call = self.sandbox.state.get(PROVIDER, call_id)
        return None if call is None or call.extra.get("deleted") else call

    def advance(self, call: SandboxCall, stage: str) -> None:
        """Move the stored call forward to `stage` (never back)."""
        x = call.extra
        with self.lock:
            if x.get("deleted") or RANK[stage] <= RANK[call.status]:
                return
            call.status = stage
            x["updated_ms"] = x["times"][stage]
            if RANK[stage] >= RANK["in_progress"]:
                call.started_ms = x["started_ms"]
            if RANK[stage] >= RANK["ended"]:
                call.ended_ms = x["ended_ms"]

    def call_json(self, call: SandboxCall, stage: str | None = None) -> dict[str, Any]:
        """The Call as Vapi returns it; `stage` gives a snapshot as of that stage (for server messages)."""
        stage = stage or call.status
        body, x = call.request, call.extra
        obj: dict[str, Any] = {
            "id": call.call_id,
            "orgId": "org_sandbox",
            "type": "outboundPhoneCall",
            "status": VAPI_STATUS[stage],
            "createdAt": iso(call.created_ms),
            "updatedAt": iso(x["times"].get(stage, call.created_ms)),
            "assistantId": body.get("assistantId"),
            "assistantOverrides": body.get("assistantOverrides") or {},
            "phoneNumberId": body.get("phoneNumberId"),
            "customer": body.get("customer"),
            "phoneCallProvider": "twilio",
            "phoneCallProviderId": x["twilio_sid"],
            "phoneCallTransport": "pstn",
            "monitor": {
                "listenUrl": f"wss://sandbox.invalid/{call.call_id}/listen",
                "controlUrl": f"https://sandbox.invalid/{call.call_id}/control",
            },
        }
        if body.get("name"):
            obj["name"] = body["name"]
        if RANK[stage] >= RANK["in_progress"]:
            obj["startedAt"] = iso(x["started_ms"])
        if RANK[stage] >= RANK["ended"]:
            # The artifact (messages, transcript, recording) is there when the call ends; the analysis
            # (summary, structured data, success evaluation) only once the end-of-call-report is made.
            obj.update(
                endedReason=x["ended_reason"],
                endedAt=iso(x["ended_ms"]),
                cost=x["cost"],
                costs=x["costs"],
                artifact=x["artifact"],
                messages=x["artifact"]["messages"],
            )
        if RANK[stage] >= RANK["analyzed"]:
            obj["analysis"] = x["analysis"]
        return obj

    def sign(self, body: bytes) -> dict[str, str]:
        mode, secret = self.server_auth["mode"], self.keys["vapi_secret"]
        headers: dict[str, str] = {}
        if mode in ("secret", "both"):
            headers["X-Vapi-Secret"] = secret
        if mode == "bearer":
            headers["Authorization"] = f"Bearer {secret}"
        if mode in ("hmac", "both"):
            ts = str(int(time.time() * 1000) if self.server_auth["timestamp_unit"] == "ms" else int(time.time()))
            headers["x-timestamp"] = ts
            headers["x-signature"] = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return headers

    def message(self, call: SandboxCall, stage: str, persona: Persona) -> dict[str, Any]:
        x = call.extra
        snapshot = self.call_json(call, stage)
        base = {
            "timestamp": x["times"][stage],
            "call": snapshot,
            "customer": call.request.get("customer"),
            "phoneNumber": {"id": call.request.get("phoneNumberId"), "number": "+4930555000"},
            "assistant": {"id": call.request.get("assistantId")},
        }
        if stage != "analyzed":
            msg = {"type": "status-update", "status": VAPI_STATUS[stage], **base}
            if stage == "ended":
                msg["endedReason"] = x["ended_reason"]
                if connected(persona):
                    msg["artifact"] = {k: v for k, v in x["artifact"].items() if k in ("messages", "transcript")}
            return msg
        artifact, analysis = x["artifact"], x["analysis"]
        duration_ms = (x["ended_ms"] - x["started_ms"]) if connected(persona) else 0
        return {
            "type": "end-of-call-report",
            **base,
            "endedReason": x["ended_reason"],
            "artifact": artifact,
            "analysis": analysis,
            "cost": x["cost"],
            "costs": x["costs"],
            "startedAt": iso(x["started_ms"]),
            "endedAt": iso(x["ended_ms"]),
            "durationMs": duration_ms,
            "durationSeconds": duration_ms / 1000,
            # Legacy top-level copies Vapi still sends (§2.3).
            "transcript": artifact["transcript"],
            "summary": analysis.get("summary", ""),
            "recordingUrl": artifact.get("recordingUrl"),
            "messages": artifact["messages"],
        }

    def plan(self, call: SandboxCall, persona: Persona) -> list[str]:
        """When each stage happens. Sandbox time runs fast: endedAt is the persona's talk time after
        startedAt, while the events themselves come `step_s` apart."""
        step = self.sandbox.config.step_s
        stages = ["ringing"] + (["in_progress"] if connected(persona) else []) + ["ended", "analyzed"]
        x = call.extra
        for i, stage in enumerate(stages, start=1):
            x["times"][stage] = call.created_ms + int(i * step * 1000)
        x["started_ms"] = x["times"].get("in_progress", x["times"]["ringing"])
        x["ended_ms"] = x["started_ms"] + (persona.duration_s * 1000 if connected(persona) else 0)
        return stages

    def play(self, call: SandboxCall, persona: Persona, stages: list[str]) -> None:
        """The call's life: state changes on a timer thread, server messages through the dispatcher."""
        x = call.extra

        def timeline() -> None:
            for stage in stages:
                time.sleep(max(0.0, x["times"][stage] / 1000 - time.time()))
                self.advance(call, stage)

        threading.Thread(target=timeline, daemon=True, name=f"sandbox-vapi-{call.call_id[:8]}").start()
        url = self.sandbox.config.webhook_url(PROVIDER)
        if url:
            step = self.sandbox.config.step_s
            deliveries = [
                (
                    step,
                    Delivery(
                        url,
                        json.dumps({"message": self.message(call, stage, persona)}, ensure_ascii=False).encode(),
                        self.sign,
                    ),
                )
                for stage in stages
            ]
            self.sandbox.dispatcher.send_sequence(deliveries, self.sandbox.state.mode(PROVIDER))

    def validate(self, body: Any) -> list[str]:
        if not isinstance(body, dict):
            return ["body must be a JSON object"]
        problems = []
        if "customers" in body:
            problems.append("customers[] batch calls are not supported by the sandbox")
        if not isinstance(body.get("assistantId"), str) and not isinstance(body.get("assistant"), dict):
            problems.append("Couldn't Get Assistant. Need Either `assistant` Or `assistantId`.")
        pn = body.get("phoneNumberId")
        if not isinstance(pn, str) and not isinstance(body.get("phoneNumber"), dict):
            problems.append("Couldn't Get Phone Number. Need Either `phoneNumberId` Or `phoneNumber`.")
        elif isinstance(pn, str) and pn.startswith("+"):
            problems.append("phoneNumberId must be the id of a Vapi phone number, not an E.164 number")
        customer = body.get("customer")
        number = customer.get("number") if isinstance(customer, dict) else None
        if not isinstance(number, str) or not E164.match(number):
            problems.append(
                "customer.number must be a valid phone number in the E.164 format. "
                "Hot tip, you may be missing the country code (Eg. US: +1)."
            )
        overrides = body.get("assistantOverrides", {})
        if not isinstance(overrides, dict):
            problems.append("assistantOverrides must be an object")
        else:
            for key in ("variableValues", "metadata"):
                if key in overrides and not isinstance(overrides[key], dict):
                    problems.append(f"assistantOverrides.{key} must be an object")
        return problems

    # ---- routes ---------------------------------------------------------------------------------

    def create_call(self) -> ResponseReturnValue:
        self.sandbox.state.count_request(PROVIDER)
        if not self.authorised():
            return error(
                401,
                "Invalid Key. Hot tip, you may be using the private key instead of the public key, or vice versa.",
                "Unauthorized",
            )
        fault = self.sandbox.state.take_fault(PROVIDER)
        if fault is not None:
            response, status = error(fault.status, "sandbox: injected failure", "Injected Fault")
            if fault.retry_after_s is not None:
                response.headers["Retry-After"] = str(int(round(fault.retry_after_s)))
            return response, status
        payload = request.get_json(silent=True)
        problems = self.validate(payload)
        if problems or not isinstance(payload, dict):  # validate refuses anything but an object
            return error(400, problems, "Bad Request")
        body = payload
        overrides = body.get("assistantOverrides") or {}
        variables = overrides.get("variableValues") or {}
        number = body["customer"]["number"]
        persona = persona_for(number)
        language = language_for(number, variables.get("language"))
        call_id = str(uuid.uuid4())
        recording = f"{request.host_url.rstrip('/')}/vapi/recordings/{call_id}-mono.wav" if connected(persona) else None
        created = now_ms()
        extra: dict[str, Any] = {
            "times": {"queued": created},
            "twilio_sid": "CA" + uuid.uuid4().hex,
            "ended_reason": ended_reason(persona),
            "updated_ms": created,
        }
        cents = cost_cents(persona.duration_s) if connected(persona) else 0
        extra["cost"] = cents / 100
        extra["costs"] = [{"type": "vapi", "minutes": persona.duration_s / 60, "cost": cents / 100}]
        extra["analysis"] = _analysis(persona, language)
        # The stored request keeps what the client sent, plus a top-level copy of the metadata so the
        # sandbox's provider-neutral look-ups (SandboxState.find, /sandbox/calls) see it.
        stored = {**body, "metadata": overrides.get("metadata") or {}}
        call = SandboxCall(
            provider=PROVIDER,
            call_id=call_id,
            request=stored,
            to_number=number,
            persona=persona.name,
            language=language,
            created_ms=created,
            extra=extra,
        )
        stages = self.plan(call, persona)
        extra["artifact"] = _artifact(persona, language, extra["started_ms"], recording)
        self.sandbox.state.add_call(call)
        self.play(call, persona, stages)
        return jsonify(self.call_json(call)), 201

    def list_calls(self) -> ResponseReturnValue:
        if not self.authorised():
            return error(401, "Invalid Key.", "Unauthorized")
        args = request.args
        try:
            limit = int(float(args.get("limit", 100)))
            bounds = [
                (field, op, _parse_iso_ms(args[name])) for name, (field, op) in LIST_FILTERS.items() if args.get(name)
            ]
        except ValueError as e:
            return error(400, [f"invalid query: {e}"], "Bad Request")
        if limit < 0:
            return error(400, ["limit must not be less than 0"], "Bad Request")

        def keep(call: SandboxCall) -> bool:
            if call.extra.get("deleted"):
                return False
            for param, value in (
                ("id", call.call_id),
                ("assistantId", call.request.get("assistantId")),
                ("phoneNumberId", call.request.get("phoneNumberId")),
            ):
                if args.get(param) and args[param] != value:
                    return False
            values = {"created": call.created_ms, "updated": call.extra.get("updated_ms", call.created_ms)}
            checks = {
                ">": lambda a, b: a > b,
                "<": lambda a, b: a < b,
                ">=": lambda a, b: a >= b,
                "<=": lambda a, b: a <= b,
            }
            return all(checks[op](values[field], bound) for field, op, bound in bounds)

        calls = [c for c in reversed(self.sandbox.state.list(PROVIDER)) if keep(c)]
        return jsonify([self.call_json(c) for c in calls[:limit]])

    def get_call(self, call_id: str) -> ResponseReturnValue:
        if not self.authorised():
            return error(401, "Invalid Key.", "Unauthorized")
        call = self.live(call_id)
        if call is None:
            return error(404, "Call not found", "Not Found")
        return jsonify(self.call_json(call))

    def delete_call(self, call_id: str) -> ResponseReturnValue:
        if not self.authorised():
            return error(401, "Invalid Key.", "Unauthorized")
        call = self.live(call_id)
        if call is None:
            return error(404, "Call not found", "Not Found")
        answer = self.call_json(call)
        with self.lock:
            # Erased: recordings, transcript and the callee's number are gone; the id answers 404 from now on.
            call.extra.update(deleted=True, artifact={"messages": [], "transcript": ""}, analysis={})
            call.request = {k: v for k, v in call.request.items() if k not in ("customer", "assistantOverrides")}
            call.to_number = ""
        return jsonify(answer)

    def set_server_auth(self) -> ResponseReturnValue:
        body = request.get_json(force=True, silent=True) or {}
        mode, unit = body.get("mode", "secret"), body.get("timestamp_unit", "s")
        if mode not in ("secret", "bearer", "hmac", "both") or unit not in ("s", "ms"):
            return jsonify(error="mode: secret | bearer | hmac | both; timestamp_unit: s | ms"), 422
        self.server_auth.update(mode=mode, timestamp_unit=unit)
        return jsonify(ok=True, **self.server_auth)


def blueprint(sandbox: Sandbox) -> Blueprint:
    api = _VapiApi(sandbox)
    bp = Blueprint("sandbox_vapi", __name__)
    bp.add_url_rule("/call", view_func=api.create_call, methods=["POST"])
    bp.add_url_rule("/call", view_func=api.list_calls, methods=["GET"])
    bp.add_url_rule("/call/<call_id>", view_func=api.get_call, methods=["GET"])
    bp.add_url_rule("/call/<call_id>", view_func=api.delete_call, methods=["DELETE"])
    bp.add_url_rule("/sandbox/server-auth", view_func=api.set_server_auth, methods=["POST"])
    return bp
