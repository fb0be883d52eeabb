"""Retell in the sandbox: the paths and bodies retell-sdk 6.2.13 uses (docs/providers.md §1, §6.1).

Each created call plays the persona of its number's last digit. Its life runs on the sandbox clock
(`step_s` between events): get-call and list-calls show where the call is now, and the webhooks
(call_started, call_ended, call_analyzed; no call_started for a call nobody picked up) are sent by the
dispatcher, signed at send time over the exact bytes sent.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import threading
import time
import uuid
from typing import Any

from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox
from sandbox.dispatcher import Delivery
from sandbox.personas import Persona, cost_cents, language_for, persona_for
from sandbox.retell_llm import LlmSessionError, converse
from sandbox.state import SandboxCall, now_ms
from sandbox.summary import CallAnalysis, CallBooking, analyse

PROVIDER = "retell"
E164 = re.compile(r"^\+[1-9]\d{1,14}$")
DEFAULT_AGENT = "agent_sandbox_default"
WORD_S = 0.32  # synthetic speaking pace for word timings
PAUSE_S = 0.6
UNCONNECTED_REASONS = {"no_answer": "dial_no_answer", "busy": "dial_busy"}
LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 50, 1000
# An error answer: (JSON body, status, headers).
ErrorReply = tuple[Response, int, dict[str, str]]


def retell_signature(body: bytes, api_key: str, ts_ms: int | None = None) -> str:
    """`v=<ms>,d=<lowercase hex HMAC-SHA256(api_key, body + ms)>` (docs/providers.md §1.6)."""
    ts_ms = ts_ms if ts_ms is not None else int(time.time() * 1000)
    digest = hmac.new(api_key.encode(), body + str(ts_ms).encode(), hashlib.sha256).hexdigest()
    return f"v={ts_ms},d={digest}"


def dumps(obj: Any) -> bytes:
    # Retell's servers are Node: compact JSON.stringify output, non-ASCII as UTF-8.
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _error(status: int, message: str, headers: dict[str, str] | None = None) -> ErrorReply:
    # Retell's error body shape [inferred]; the SDK maps errors by status code only.
    return jsonify(status="error", message=message), status, headers or {}


def _timeline(call: SandboxCall, persona: Persona, step_ms: int) -> dict[str, int]:
    """When each event happens, in sandbox ms. Talk time is compressed: the call's timestamps say
    `duration_ms` apart while the webhooks come `step_s` apart."""
    start = call.created_ms + step_ms
    return {
        "started": start,
        "ended": start + step_ms,
        "analyzed": start + 2 * step_ms,
        "start_timestamp": start,
        "end_timestamp": start + persona.duration_s * 1000,
    }


def _transcript(
    persona: Persona, language: str, live: list[tuple[str, str]] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    lines: list[str] = []
    objects: list[dict[str, Any]] = []
    t = 0.5
    for speaker, text in live if live is not None else persona.transcript.get(language, []):
        role = "agent" if speaker == "agent" else "user"
        words = []
        for word in text.split():
            words.append({"word": word, "start": round(t, 2), "end": round(t + WORD_S, 2)})
            t += WORD_S
        t += PAUSE_S
        item: dict[str, Any] = {"role": role, "content": text, "words": words}
        if role == "agent":
            item["metadata"] = {"response_id": len([o for o in objects if o["role"] == "agent"])}
        objects.append(item)
        lines.append(f"{'Agent' if role == 'agent' else 'User'}: {text}")
    return "".join(line + "\n" for line in lines), objects


def call_object(call: SandboxCall, stage: str, base_url: str) -> dict[str, Any]:
    """The Retell call object at `stage`: registered | ongoing | ended | analyzed (§1.4, §1.5)."""
    persona: Persona = call.extra["persona"]
    body = call.request
    times = call.extra["times"]
    connected = persona.end_status not in UNCONNECTED_REASONS
    obj: dict[str, Any] = {
        "call_type": "phone_call",
        "call_id": call.call_id,
        "agent_id": call.extra["agent_id"],
        "agent_version": 1,
        "agent_name": "Leadchain Sandbox Agent",
        "call_status": "registered",
        "direction": "outbound",
        "from_number": body["from_number"],
        "to_number": body["to_number"],
    }
    if "metadata" in body:
        obj["metadata"] = body["metadata"]
    if "retell_llm_dynamic_variables" in body:
        obj["retell_llm_dynamic_variables"] = body["retell_llm_dynamic_variables"]
    if stage == "registered":
        return obj
    if stage == "ongoing":
        obj.update(call_status="ongoing", start_timestamp=times["start_timestamp"])
        return obj
    transcript, transcript_object = _transcript(persona, call.language, call.extra.get("live_transcript"))
    cents = cost_cents(persona.duration_s)
    obj.update(
        call_status="ended" if connected else "not_connected",  # [inferred] for calls that never connected
        start_timestamp=times["start_timestamp"],
        end_timestamp=times["end_timestamp"],
        duration_ms=persona.duration_s * 1000,
        disconnection_reason=_reason(persona),
        transcript=transcript,
        transcript_object=transcript_object,
    )
    with_tools = (call.extra.get("llm_record") or {}).get("transcript_with_tool_calls")
    if with_tools:
        obj["transcript_with_tool_calls"] = with_tools
    # Summary, outcome and meeting time are made from this very transcript and the call's tool calls (the
    # booking the voice bridge made), never from canned text.
    analysis = analyse(persona, call.language, call.extra.get("live_transcript"), with_tools)
    meeting = _meeting(analysis.booking) if analysis.outcome == "booked" else {}
    if connected:
        obj.update(_connected_fields(call, base_url, meeting, len(transcript_object)))
    obj["call_cost"] = _call_cost(persona.duration_s, cents)
    obj["telephony_identifier"] = {"twilio_call_sid": "CA" + hashlib.sha1(call.call_id.encode()).hexdigest()}
    obj["data_storage_setting"] = "everything"
    obj["opt_in_signed_url"] = False
    if stage == "analyzed":
        obj["call_analysis"] = _call_analysis(persona, analysis, meeting)
    return obj


def _connected_fields(call: SandboxCall, base_url: str, meeting: dict[str, str], turns: int) -> dict[str, Any]:
    """What only a call that connected has: recordings, logs, latency and the collected variables."""
    return dict(
        collected_dynamic_variables=meeting,
        recording_url=f"{base_url}/recordings/{call.call_id}.wav",
        recording_multi_channel_url=f"{base_url}/recordings/{call.call_id}_multichannel.wav",
        public_log_url=f"{base_url}/logs/{call.call_id}.log",
        latency={
            "e2e": {
                "p50": 780,
                "p90": 1150,
                "p95": 1290,
                "p99": 1480,
                "max": 1520,
                "min": 540,
                "num": max(1, turns // 2),
                "values": [540, 780, 1520],
            }
        },
    )


def _call_cost(duration_s: int, cents: int) -> dict[str, Any]:
    return {
        "product_costs": [{"product": "retell_platform", "unit_price": 0.2, "cost": float(cents)}] if cents else [],
        "total_duration_seconds": duration_s,
        "total_duration_unit_price": 0.2 if cents else 0,
        "combined_cost": float(cents),
    }


def _call_analysis(persona: Persona, analysis: CallAnalysis, meeting: dict[str, str]) -> dict[str, Any]:
    custom = {
        "outcome": analysis.outcome,
        "interested": analysis.outcome in ("booked", "interested", "callback_requested"),
        **meeting,
    }
    return {
        "call_summary": analysis.summary,
        "in_voicemail": persona.end_status == "voicemail",
        "user_sentiment": persona.sentiment.capitalize(),
        "call_successful": persona.end_status == "completed",
        "custom_analysis_data": custom,
    }


def _meeting(booking: CallBooking | None) -> dict[str, str]:
    """The booked meeting as the agent's post-call extraction gives it (strings, like every Retell variable)."""
    if booking is None:
        return {}
    return {"meeting_time": booking.spoken, **({"meeting_start": booking.start.isoformat()} if booking.start else {})}


def _reason(persona: Persona) -> str:
    if persona.end_status in UNCONNECTED_REASONS:
        return UNCONNECTED_REASONS[persona.end_status]
    if persona.end_status == "voicemail":
        return "voicemail_reached"
    return "user_hangup" if persona.classification in ("not_interested", "do_not_call") else "agent_hangup"


def _stage_now(call: SandboxCall, now: int) -> str:
    times = call.extra["times"]
    persona: Persona = call.extra["persona"]
    if now >= times["analyzed"]:
        stage = "analyzed"
    elif now >= times["ended"]:
        stage = "ended"
    elif now >= times["started"] and persona.end_status not in UNCONNECTED_REASONS:
        stage = "ongoing"
    else:
        stage = "registered"
    if call.extra.get("talking") and stage in ("ended", "analyzed"):
        # A conversation with the custom LLM is still going on: the call has not ended, and its analysis
        # (made from that conversation) does not exist yet; a poll must not get the script's instead.
        stage = "ongoing"
    # The provider-neutral status the sandbox's own pages show.
    call.status = {"registered": "queued", "ongoing": "in_progress"}.get(stage, stage)
    if stage != "registered":
        call.started_ms = times["start_timestamp"]
    if stage in ("ended", "analyzed"):
        call.ended_ms = times["end_timestamp"]
    return stage


def _string_match(value: Any, cond: dict[str, Any]) -> bool:
    op, want = str(cond.get("op")), cond.get("value")
    if op in ("pr", "np"):
        return (value is not None) == (op == "pr")
    if value is None:
        return op == "ne"
    text = str(value)
    if op == "in":
        return text in [str(v) for v in (want or [])]
    wanted = str(want)
    results = {
        "eq": text == wanted,
        "ne": text != wanted,
        "sw": text.startswith(wanted),
        "ew": text.endswith(wanted),
        "co": wanted in text,
    }
    return results.get(op, True)


def _matches(obj: dict[str, Any], criteria: dict[str, Any]) -> bool:
    for field, cond in (criteria or {}).items():
        if field == "metadata":
            metadata = obj.get("metadata")
            if not isinstance(metadata, dict):
                metadata = {}
            for item in cond if isinstance(cond, list) else [cond]:
                if isinstance(item, dict) and not _string_match(metadata.get(item.get("key")), item):
                    return False
        elif field in (
            "call_id",
            "to_number",
            "from_number",
            "call_status",
            "direction",
            "disconnection_reason",
            "call_type",
        ) and isinstance(cond, dict):
            if not _string_match(obj.get(field), cond):
                return False
        # Other filters are not modelled: they narrow nothing here (clients check what they need).
    return True


class _RetellApi:
    """The sandbox's Retell: idempotency keys, the call timeline and webhooks; routes are its methods."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.state = sandbox.state
        self.by_key: dict[str, str] = {}  # idempotency key → call id (Retell keeps them for an hour)
        self.lock = threading.Lock()

    def authorised(self) -> bool:
        expected = f"Bearer {self.sandbox.config.keys[PROVIDER]}"
        return hmac.compare_digest(request.headers.get("Authorization", ""), expected)

    def guard(self) -> ErrorReply | None:
        """Auth, then any injected fault (after a rejected key nothing else is looked at)."""
        if not self.authorised():
            return _error(401, "Invalid API key")
        fault = self.state.take_fault(PROVIDER)
        if fault is not None:
            headers = {"retry-after": str(fault.retry_after_s)} if fault.retry_after_s is not None else {}
            return _error(fault.status, "injected fault", headers)
        return None

    def base_url(self) -> str:
        return request.host_url.rstrip("/") + "/retell"

    def create_phone_call(self) -> ResponseReturnValue:
        self.state.count_request(PROVIDER)
        refused = self.guard()
        if refused:
            return refused
        body = request.get_json(silent=True)
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        for field in ("from_number", "to_number"):
            value = body.get(field)
            if not isinstance(value, str) or not value:
                return _error(400, f"{field} is required")
            if not E164.match(value) and not (field == "from_number" and body.get("ignore_e164_validation")):
                return _error(400, f"{field} must be in E.164 format")
        variables = body.get("retell_llm_dynamic_variables")
        if variables is not None and (
            not isinstance(variables, dict) or not all(isinstance(v, str) for v in variables.values())
        ):
            return _error(400, "retell_llm_dynamic_variables must be an object of string values")
        if "override_agent_id" in body and not isinstance(body["override_agent_id"], str):
            return _error(400, "override_agent_id must be a string")
        key = body.get("idempotency_key") or request.headers.get("Idempotency-Key")
        with self.lock:
            if key and key in self.by_key:
                existing = self.state.get(PROVIDER, self.by_key[key])
                if existing is not None and not existing.extra.get("deleted"):
                    return jsonify(call_object(existing, _stage_now(existing, now_ms()), self.base_url())), 201
            call = self._new_call(body)
            if key:
                self.by_key[key] = call.call_id
        self._play(call, self.base_url())
        return jsonify(call_object(call, "registered", self.base_url())), 201

    def _new_call(self, body: dict[str, Any]) -> SandboxCall:
        to_number = body["to_number"]
        persona = persona_for(to_number)
        language = language_for(to_number, (body.get("retell_llm_dynamic_variables") or {}).get("language"))
        call_id = f"call_{uuid.uuid4().hex[:24]}"
        call = SandboxCall(
            provider=PROVIDER,
            call_id=call_id,
            request=body,
            to_number=to_number,
            persona=persona.name,
            language=language,
            created_ms=now_ms(),
        )
        call.extra.update(
            persona=persona,
            agent_id=body.get("override_agent_id") or DEFAULT_AGENT,
            times=_timeline(call, persona, int(self.sandbox.config.step_s * 1000)),
            seq=self.state.next_id(),
        )
        return self.state.add_call(call)

    def _play(self, call: SandboxCall, base: str) -> None:
        url = self.sandbox.config.webhook_url(PROVIDER)
        if not url:
            return
        persona: Persona = call.extra["persona"]
        events = ["call_ended", "call_analyzed"]
        if persona.end_status not in UNCONNECTED_REASONS:
            events.insert(0, "call_started")
        stage_of = {"call_started": "ongoing", "call_ended": "ended", "call_analyzed": "analyzed"}
        key = self.sandbox.config.keys[PROVIDER]

        def sign(body: bytes) -> dict[str, str]:
            _stage_now(call, now_ms())
            return {"X-Retell-Signature": retell_signature(body, key)}

        step = self.sandbox.config.step_s

        def dispatch() -> None:
            plan = [
                (step, Delivery(url, dumps({"event": e, "call": call_object(call, stage_of[e], base)}), sign))
                for e in events
            ]
            self.sandbox.dispatcher.send_sequence(plan, self.state.mode(PROVIDER))

        llm_url = self.sandbox.config.retell_llm_websocket_url
        if llm_url and persona.answered:
            # The agent's side of the conversation comes from the custom LLM server (the voice bridge).
            def talk() -> None:
                callee = [text for who, text in persona.transcript.get(call.language, []) if who == "callee"]
                record = call.extra.setdefault("llm_record", {})
                try:
                    call.extra["live_transcript"] = converse(
                        llm_url,
                        call_object(call, "registered", base),
                        callee,
                        drop_after=self.sandbox.config.retell_llm_drop_after,
                        record=record,
                    )
                except (LlmSessionError, OSError) as e:
                    call.extra["llm_error"] = str(e)[:200]
                finally:
                    # The call ends now: its end and analysis come after the conversation, as the webhooks do.
                    step_ms, now = int(self.sandbox.config.step_s * 1000), now_ms()
                    call.extra["times"].update(ended=now + 2 * step_ms, analyzed=now + 3 * step_ms)
                    call.extra["talking"] = False
                dispatch()

            call.extra["talking"] = True
            threading.Thread(target=talk, daemon=True, name="sandbox-retell-llm").start()
        else:
            dispatch()

    def get_call(self, call_id: str) -> ResponseReturnValue:
        refused = self.guard()
        if refused:
            return refused
        call = self.state.get(PROVIDER, call_id)
        if call is None or call.extra.get("deleted"):
            return _error(404, "Call not found")
        return jsonify(call_object(call, _stage_now(call, now_ms()), self.base_url()))

    def list_calls(self) -> ResponseReturnValue:
        refused = self.guard()
        if refused:
            return refused
        body = request.get_json(silent=True) or {}
        if not isinstance(body, dict):
            return _error(400, "request body must be a JSON object")
        try:
            limit = min(LIST_LIMIT_MAX, max(1, int(body.get("limit") or LIST_LIMIT_DEFAULT)))
            skip = max(0, int(body.get("skip") or 0))
        except (TypeError, ValueError):
            return _error(400, "limit and skip must be integers")
        now = now_ms()
        calls = [c for c in self.state.list(PROVIDER) if not c.extra.get("deleted")]
        objects = [call_object(c, _stage_now(c, now), self.base_url()) for c in calls]
        objects = [o for o in objects if _matches(o, body.get("filter_criteria") or {})]
        # Sorted by start_timestamp (creation order for calls not started yet).
        order = {c.call_id: (c.extra["times"]["start_timestamp"], c.extra["seq"]) for c in calls}
        objects.sort(key=lambda o: order[o["call_id"]], reverse=body.get("sort_order", "descending") != "ascending")
        start = skip
        if body.get("pagination_key"):
            ids = [o["call_id"] for o in objects]
            if body["pagination_key"] not in ids:
                return _error(400, "invalid pagination_key")
            start = ids.index(body["pagination_key"]) + 1
        page = objects[start : start + limit]
        has_more = start + limit < len(objects)
        answer: dict[str, Any] = {
            "items": page,
            "has_more": has_more,
            "pagination_key": page[-1]["call_id"] if has_more and page else None,
        }
        if body.get("include_total"):
            answer["total"] = len(objects)
        return jsonify(answer)

    def delete_call(self, call_id: str) -> ResponseReturnValue:
        refused = self.guard()
        if refused:
            return refused
        call = self.state.get(PROVIDER, call_id)
        if call is None or call.extra.get("deleted"):
            return _error(404, "Call not found")
        # Erased: the transcript and what we were sent go; only the id stays, answering 404 from now on.
        call.extra["deleted"] = True
        call.request = {"from_number": call.request.get("from_number"), "to_number": ""}
        call.to_number = ""
        return "", 204


def blueprint(sandbox: Sandbox) -> Blueprint:
    api = _RetellApi(sandbox)
    bp = Blueprint("sandbox_retell", __name__)
    bp.add_url_rule("/v2/create-phone-call", view_func=api.create_phone_call, methods=["POST"])
    bp.add_url_rule("/v2/get-call/<call_id>", view_func=api.get_call, methods=["GET"])
    bp.add_url_rule("/v3/list-calls", view_func=api.list_calls, methods=["POST"])
    bp.add_url_rule("/v2/delete-call/<call_id>", view_func=api.delete_call, methods=["DELETE"])
    return bp
