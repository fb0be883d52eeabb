"""Vapi (https://vapi.ai) through the official `vapi-server-sdk` (docs/providers.md §2).

Decisions worth knowing:

* **from_number is a Vapi phoneNumberId.** Vapi dials from a number registered in Vapi and identified by
  its id (`phoneNumberId`), not by its E.164 string; for a Vapi campaign `Campaign.from_number` (and
  `failover_from_number`) hold that id, e.g. the demo's `phone_number_demo`.
* **No SDK retries on create.** The Fern client retries `POST /call` on 408/409/429/5xx when retries
  are enabled (and version 3.x enables them by default), which can dial a person twice. Create is sent
  with `max_retries=0`; the activity retries instead, and looks the call up by our idempotency key first.
* **Correlation ids travel in `assistantOverrides.metadata`**: this SDK's create has no top-level
  `metadata` (§2.2). Script variables go in `assistantOverrides.variableValues`.
* **Server messages are parsed from the raw JSON**, dispatched on `message.type`; the SDK's
  `ServerMessage` union picks the first member whatever the type says (§2.3).
* **Webhook authentication (§2.4)** lives in `providers.vapi_auth` (re-exported here for the callers).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from functools import partial
from typing import Any, TypeVar

import httpx

from providers.base import CallRequest, ProviderCall, ProviderRejected, ProviderUnavailable, retry_after_seconds
from providers.events import SENTIMENTS, CallEvent, Turn, classify_text

# Re-exported ("as"): the CRM webhook and the voice bridge import them from here.
from providers.vapi_auth import DEFAULT_HMAC_PLAN
from providers.vapi_auth import HmacPlan as HmacPlan
from providers.vapi_auth import split_secrets as split_secrets
from providers.vapi_auth import verify_server_auth as verify_server_auth
from providers.wire import InvalidSignature, MalformedPayload
from workflows.payloads import CallResult
from workflows.vocabulary import CallStatus

Answer = TypeVar("Answer")

log = logging.getLogger(__name__)

NAME = "vapi"
STAGES = {
    "scheduled": "queued",
    "queued": "queued",
    "ringing": "ringing",
    "in-progress": "in_progress",
    "forwarding": "in_progress",
    "ended": "ended",
}
NO_ANSWER_REASONS = {"customer-did-not-answer"}
BUSY_REASONS = {"customer-busy"}
VOICEMAIL_REASONS = {"voicemail"}
# Ends of a call that was connected: a conversation happened if the callee said anything.
CONNECTED_REASONS = {
    "customer-ended-call",
    "assistant-ended-call",
    "assistant-said-end-call-phrase",
    "assistant-ended-call-after-message-spoken",
    "assistant-ended-call-with-hangup-task",
    "assistant-forwarded-call",
    "silence-timed-out",
    "exceeded-max-duration",
}
# How long after its end a connected call's analysis may still come; get_call waits for it until then.
ANALYSIS_GRACE = timedelta(minutes=5)
MAX_LIST_PAGES = 10


# ---- normalising Vapi's data ------------------------------------------------------------------------


def _parse_time(value: Any) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, (int, float)):
        return datetime.fromtimestamp(value / 1000 if value > 1e11 else value, tz=UTC)
    if isinstance(value, str):
        try:
            parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    return None


def _cents(dollars: Any) -> int | None:
    """Vapi reports cost in US dollars (a float, e.g. 0.1234); we store whole cents."""
    if dollars is None or isinstance(dollars, bool):
        return None
    try:
        return int((Decimal(str(dollars)) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    return (value.strip() or None) if isinstance(value, str) else None


def metadata_of(call: Mapping[str, Any]) -> dict[str, Any]:
    """Our correlation ids: assistantOverrides.metadata (where we put them), else other metadata spots."""
    found: dict[str, Any] = {}
    for spot in (
        _dict(call.get("metadata")),
        _dict(_dict(call.get("assistant")).get("metadata")),
        _dict(_dict(call.get("assistantOverrides")).get("metadata")),
    ):
        found.update(spot)
    return found


def turns_from(messages: Any, transcript: Any) -> list[Turn]:
    """Spoken turns from artifact.messages (bot/assistant → agent, user → callee); else from the
    "AI: ...\\nUser: ..." transcript text."""
    turns: list[Turn] = []
    if isinstance(messages, list) and messages:
        for m in messages:
            if not isinstance(m, dict):
                continue
            role = m.get("role")
            text = m.get("message") if isinstance(m.get("message"), str) else m.get("content")
            if role in ("bot", "assistant") and isinstance(text, str) and text.strip():
                speaker = "agent"
            elif role == "user" and isinstance(text, str) and text.strip():
                speaker = "callee"
            else:
                continue
            at = m.get("secondsFromStart")
            turns.append(Turn(speaker, text.strip(), float(at) if isinstance(at, (int, float)) else None))
        return turns
    if isinstance(transcript, str):
        for line in transcript.splitlines():
            label, sep, text = line.partition(":")
            if not sep or not text.strip():
                continue
            label = label.strip().lower()
            if label in ("ai", "assistant", "bot"):
                turns.append(Turn("agent", text.strip()))
            elif label in ("user", "customer"):
                turns.append(Turn("callee", text.strip()))
    return turns


def end_status_for(reason: str | None, turns: list[Turn] | None) -> tuple[str, bool]:
    """(end_status, answered) from Vapi's endedReason. `turns` None means: not known yet."""
    reason = reason or ""
    if reason in NO_ANSWER_REASONS:
        return CallStatus.NO_ANSWER, False
    if reason in BUSY_REASONS:
        return CallStatus.BUSY, False
    if reason in VOICEMAIL_REASONS:
        return CallStatus.VOICEMAIL, False
    if reason in CONNECTED_REASONS:
        if turns is not None and not any(t.speaker == "callee" for t in turns):
            # Connected, but nobody spoke: no conversation, so the chain tries again later.
            return CallStatus.NO_ANSWER, False
        return CallStatus.COMPLETED, True
    return CallStatus.FAILED, False


def sentiment_of(structured: dict[str, Any], analysis: dict[str, Any]) -> str | None:
    for value in (structured.get("sentiment"), structured.get("user_sentiment"), analysis.get("sentiment")):
        if isinstance(value, str) and value.strip().lower() in SENTIMENTS:
            return value.strip().lower()
    return None


@dataclass
class _Report:
    """What an ended call says, read from an end-of-call-report or a Call object alike."""

    reason: str | None
    turns: list[Turn] | None  # None: the conversation is not known (no messages, no transcript)
    summary: str | None
    analysis: dict[str, Any]
    structured: dict[str, Any]
    recording_url: str | None
    cost_cents: int | None
    duration_s: int | None
    started_at: datetime | None
    ended_at: datetime | None

    @property
    def outcome(self) -> tuple[str, bool, str | None]:
        status, answered = end_status_for(self.reason, self.turns)
        classification = classify_text(self.summary, self.structured) if status == CallStatus.COMPLETED else None
        return status, answered, classification


def _report(source: Mapping[str, Any], call: Mapping[str, Any]) -> _Report:
    """`source` is the end-of-call-report message (or the Call object itself); artifact.* and analysis.*
    first, then the legacy top-level copies, then the embedded call."""
    artifact = _dict(source.get("artifact")) or _dict(call.get("artifact"))
    analysis = _dict(source.get("analysis")) or _dict(call.get("analysis"))
    structured = _dict(analysis.get("structuredData"))
    messages = artifact.get("messages") or source.get("messages") or call.get("messages")
    transcript = artifact.get("transcript") or source.get("transcript") or call.get("transcript")
    recording = (
        artifact.get("recordingUrl")
        or _dict(_dict(artifact.get("recording")).get("mono")).get("combinedUrl")
        or source.get("recordingUrl")
        or call.get("recordingUrl")
    )
    started = _parse_time(source.get("startedAt") or call.get("startedAt"))
    ended = _parse_time(source.get("endedAt") or call.get("endedAt"))
    duration = source.get("durationSeconds")
    if not isinstance(duration, (int, float)) and isinstance(source.get("durationMs"), (int, float)):
        duration = source["durationMs"] / 1000
    if not isinstance(duration, (int, float)) and started and ended:
        duration = (ended - started).total_seconds()
    cost = source.get("cost") if source.get("cost") is not None else call.get("cost")
    known = isinstance(messages, list) or isinstance(transcript, str)
    return _Report(
        reason=source.get("endedReason") or call.get("endedReason"),
        turns=turns_from(messages, transcript) if known else None,
        summary=_text(analysis.get("summary")) or _text(source.get("summary")),
        analysis=analysis,
        structured=structured,
        recording_url=_text(recording),
        cost_cents=_cents(cost),
        duration_s=int(round(duration)) if isinstance(duration, (int, float)) else None,
        started_at=started,
        ended_at=ended,
    )


def _lead_id(meta: dict[str, Any]) -> int | None:
    try:
        return int(meta["lead_id"])
    except (KeyError, TypeError, ValueError):
        return None


def events_from_message(payload: Any) -> list[CallEvent]:
    """Normalise one server message (already authenticated). Raises MalformedPayload."""
    message = payload.get("message") if isinstance(payload, dict) else None
    if not isinstance(message, dict) or not isinstance(message.get("type"), str):
        raise MalformedPayload('expected {"message": {"type": ...}}')
    kind = message["type"]
    if kind not in ("status-update", "end-of-call-report"):
        return []  # informational or answered elsewhere (tool-calls: the voice bridge); 200, nothing stored
    call = message.get("call")
    if not isinstance(call, dict) or not isinstance(call.get("id"), str) or not 0 < len(call["id"]) <= 128:
        raise MalformedPayload(f"{kind} without a usable call.id")
    meta = metadata_of(call)
    common = dict(
        provider=NAME,
        call_id=call["id"],
        event_type=kind,
        occurred_at=_parse_time(message.get("timestamp")),
        lead_id=_lead_id(meta),
        chain_id=meta.get("chain_id") if isinstance(meta.get("chain_id"), str) else None,
        idempotency_key=meta.get("idempotency_key") if isinstance(meta.get("idempotency_key"), str) else None,
    )
    if kind == "status-update":
        status = message.get("status") if isinstance(message.get("status"), str) else call.get("status")
        stage = STAGES.get(status or "")
        if stage is None:
            return []  # not-found, deletion-failed, ...: nothing about the call's progress
        event = CallEvent(event_id=f"status-update:{call['id']}:{status}", stage=stage, **common)
        if stage == "ended":
            report = _report(message, call)
            if report.turns is not None or report.reason not in CONNECTED_REASONS:
                # A connected call whose conversation this message does not show is left to the
                # end-of-call-report: whether anybody spoke decides completed or no_answer.
                event.end_status, event.answered = end_status_for(report.reason, report.turns)
            event.started_at, event.ended_at = report.started_at, report.ended_at
            event.extra = {"ended_reason": report.reason}
        elif stage == "in_progress":
            event.answered = True
        return [event]
    report = _report(message, call)
    end_status, answered, classification = report.outcome
    return [
        CallEvent(
            event_id=f"end-of-call-report:{call['id']}:",
            stage="analyzed",
            final=True,
            answered=answered,
            end_status=end_status,
            duration_s=report.duration_s,
            started_at=report.started_at,
            ended_at=report.ended_at,
            transcript=report.turns or [],
            summary=report.summary,
            sentiment=sentiment_of(report.structured, report.analysis),
            recording_url=report.recording_url,
            cost_cents=report.cost_cents,
            analysis=report.analysis or None,
            classification=classification,
            extra={"ended_reason": report.reason},
            **common,
        )
    ]


def parse_server_message(
    body: bytes,
    headers: Mapping[str, str],
    secrets: list[str],
    *,
    plan: HmacPlan = DEFAULT_HMAC_PLAN,
    now: float | None = None,
) -> list[CallEvent]:
    if not verify_server_auth(body, headers, secrets, plan=plan, now=now):
        raise InvalidSignature("no valid X-Vapi-Secret, Bearer or HMAC credential")
    try:
        payload = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise MalformedPayload(f"not UTF-8 JSON: {e}") from None
    return events_from_message(payload)


def tool_calls(message: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(tool_call_id, function name, arguments) from a tool-calls message; `arguments` arrive as an object in
    webhooks but as a JSON string in the SDK type and in artifact.messages (§2.3): both are accepted."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for item in message.get("toolCallList") or message.get("toolCalls") or []:
        if not isinstance(item, dict):
            continue
        function = _dict(item.get("function"))
        args: Any = function.get("arguments", item.get("parameters"))
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                args = {}
        found.append(
            (
                str(item.get("id") or ""),
                str(function.get("name") or item.get("name") or ""),
                args if isinstance(args, dict) else {},
            )
        )
    return found


# ---- the provider ---------------------------------------------------------------------------------


def _plain(model: Any) -> dict[str, Any]:
    """An SDK model as the JSON Vapi sent (camelCase; unknown fields kept)."""
    if isinstance(model, dict):
        return model
    if hasattr(model, "model_dump"):
        dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
        return dumped
    # pydantic v1 models (older SDKs): their dict() is not JSON-safe, a round trip through JSON makes it so.
    loaded: dict[str, Any] = json.loads(json.dumps(model.dict(by_alias=True), default=str))
    return loaded


_retry_after = retry_after_seconds


class VapiProvider:
    name = NAME

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        webhook_secret: str | Iterable[str] | None = None,
        hmac_plan: HmacPlan = DEFAULT_HMAC_PLAN,
        timeout_s: float = 20.0,
        lookback: timedelta = timedelta(days=2),
    ) -> None:
        # Imported here, not at start-up: the Vapi SDK takes about a second to import (generated pydantic
        # types), and only a process that builds a Vapi provider needs it.
        from vapi import Vapi

        self.client = Vapi(token=api_key, base_url=(base_url or "https://api.vapi.ai").rstrip("/"), timeout=timeout_s)
        self.webhook_secrets = split_secrets(webhook_secret)
        self.hmac_plan = hmac_plan
        self.lookback = lookback

    def _call_api(self, what: str, fn: Callable[[], Answer], *, missing_ok: bool = False) -> Answer | None:
        from vapi.core.api_error import ApiError  # the SDK is loaded by __init__ already; see there

        try:
            return fn()
        except ApiError as e:
            status = e.status_code or 0
            if missing_ok and status == 404:
                return None
            detail = e.body.get("message") if isinstance(e.body, dict) else e.body
            text = f"vapi {what}: HTTP {status}: {str(detail)[:200]}"
            if status in (0, 408, 429) or status >= 500:
                raise ProviderUnavailable(text, _retry_after(e.headers), status=status or None) from None
            raise ProviderRejected(text) from None
        except httpx.HTTPError as e:
            # Also a read timeout on create: the call may exist; the activity looks for it before re-dialling.
            raise ProviderUnavailable(f"vapi {what}: {type(e).__name__}: {e}"[:300]) from None

    def place_call(self, request: CallRequest) -> ProviderCall:
        if not request.agent_id or not request.from_number:
            raise ProviderRejected("vapi needs the campaign's assistant id and phoneNumberId (from_number)")
        created = self._call_api(
            "create call",
            lambda: self.client.calls.create(
                assistant_id=request.agent_id,
                phone_number_id=request.from_number,  # for Vapi: the phoneNumberId, not an E.164 number
                customer={"number": request.to_number},
                assistant_overrides={"variableValues": dict(request.variables), "metadata": request.metadata()},
                request_options={"max_retries": 0},
            ),
        )
        call = _plain(created)
        if not call.get("id"):
            raise ProviderUnavailable("vapi create call: answer without a call id")
        return ProviderCall(NAME, call["id"], call.get("status") or "queued")

    def find_call(self, idempotency_key: str) -> ProviderCall | None:
        """GET /call (newest first, pages of 100 back through `lookback`) matched on our metadata."""
        since = datetime.now(UTC) - self.lookback
        before: datetime | None = None
        for _ in range(MAX_LIST_PAGES):
            page = self._call_api(
                # partial, not a lambda: this page's `before` is bound now.
                "list calls",
                partial(self.client.calls.list, limit=100, created_at_ge=since, created_at_lt=before),
            )
            calls = [_plain(c) for c in page or []]
            for call in calls:
                if metadata_of(call).get("idempotency_key") == idempotency_key and call.get("id"):
                    return ProviderCall(NAME, call["id"], call.get("status") or "queued")
            created = [t for t in (_parse_time(c.get("createdAt")) for c in calls) if t is not None]
            if len(calls) < 100 or not created:
                return None
            before = min(created)
        return None

    def get_call(self, call_id: str) -> CallResult | None:
        found = self._call_api("get call", lambda: self.client.calls.get(call_id), missing_ok=True)
        call = _plain(found) if found is not None else {}
        if call.get("status") != "ended":
            return None
        report = _report(call, call)
        status, answered, classification = report.outcome
        ended = report.ended_at or _parse_time(call.get("updatedAt"))
        if (
            status == CallStatus.COMPLETED
            and not report.analysis
            and ended is not None
            and datetime.now(UTC) - ended < ANALYSIS_GRACE
        ):
            return None  # Vapi analyses a call after it ended; the chain's answer depends on that analysis
        # The same event id as the webhook path's result (crm.services.calls.result_for): the chain's
        # update is deduplicated whichever way the result arrives first.
        return CallResult(
            provider=NAME,
            call_id=call_id,
            event_id=f"{NAME}:{call_id}",
            answered=answered,
            status=status,
            classification=classification,
            duration_s=report.duration_s or 0,
        )

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[CallEvent]:
        return parse_server_message(body, headers, self.webhook_secrets, plan=self.hmac_plan)

    def delete_call(self, call_id: str) -> None:
        """DELETE /call/{id}; a call Vapi no longer has counts as erased."""
        self._call_api("delete call", lambda: self.client.calls.delete(call_id), missing_ok=True)
