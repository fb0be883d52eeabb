"""Vapi's server messages read into CallEvents (docs/providers.md §2.3), every field typed and range-checked
(providers.parsing): a status-update or end-of-call-report with a value of the wrong type or out of range
raises FieldError naming it. Authentication is in providers.vapi_auth (§2.4).

Messages are dispatched on `message.type` from the raw JSON: the SDK's `ServerMessage` union picks its first
member whatever the type says (§2.3).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any

from providers.events import SENTIMENTS, CallEvent, Turn, classify
from providers.parsing import ID, MAX_COST_CENTS, MAX_DURATION_S, SHORT, TEXT, URL, FieldError, Fields, decode_object
from providers.vapi_auth import DEFAULT_HMAC_PLAN, HmacPlan, verify_server_auth
from providers.wire import InvalidSignature
from workflows.vocabulary import CallStatus

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
MAX_TRANSCRIPT = 300_000


def cents_of_dollars(dollars: Any) -> int | None:
    """Vapi reports cost in US dollars (a float, e.g. 0.1234); we store whole cents."""
    if dollars is None or isinstance(dollars, bool):
        return None
    try:
        return int((Decimal(str(dollars)) * 100).quantize(Decimal("1"), rounding=ROUND_HALF_UP))
    except (InvalidOperation, ValueError):
        return None


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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


def _turns(messages: list[Any] | None, transcript: str | None, path: str) -> list[Turn]:
    """Spoken turns from artifact.messages (bot/assistant → agent, user → callee); else from the
    "AI: ...\\nUser: ..." transcript text."""
    turns: list[Turn] = []
    if messages:
        for item in messages:
            m = Fields.of(item, path)
            role = m.text("role")
            text = m.text("message", TEXT) if isinstance(m.raw("message"), str) else m.text("content", TEXT)
            speaker = {"bot": "agent", "assistant": "agent", "user": "callee"}.get(role or "")
            if speaker is None or not text or not text.strip():
                continue
            turns.append(Turn(speaker, text.strip(), m.number("secondsFromStart", 0, MAX_DURATION_S)))
        return turns
    for line in (transcript or "").splitlines():
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


def sentiment_of(structured: Mapping[str, Any], analysis: Mapping[str, Any]) -> str | None:
    for value in (structured.get("sentiment"), structured.get("user_sentiment"), analysis.get("sentiment")):
        if isinstance(value, str) and value.strip().lower() in SENTIMENTS:
            return value.strip().lower()
    return None


@dataclass
class Report:
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
        # Structured data first (the assistant's analysis plan), the summary's words only without it.
        classification = classify(self.summary, self.structured) if status == CallStatus.COMPLETED else None
        return status, answered, classification


def _first(*found: Any) -> Any:
    return next((f for f in found if f is not None), None)


def _duration_s(source: Fields, started: datetime | None, ended: datetime | None) -> int | None:
    seconds = source.number("durationSeconds", 0, MAX_DURATION_S)
    if seconds is None:
        ms = source.number("durationMs", 0, MAX_DURATION_S * 1000)
        seconds = ms / 1000 if ms is not None else None
    if seconds is None and started and ended and 0 <= (ended - started).total_seconds() <= MAX_DURATION_S:
        seconds = (ended - started).total_seconds()
    return int(round(seconds)) if seconds is not None else None


def _recording(artifact: Fields, source: Fields, call: Fields) -> str | None:
    recording = artifact.obj("recording")
    mono = recording.obj("mono") if recording else None
    found = (
        artifact.text("recordingUrl", URL),
        mono.text("combinedUrl", URL) if mono else None,
        source.text("recordingUrl", URL),
        call.text("recordingUrl", URL),
    )
    return next((url for url in found if url), None)


def _conversation(artifact: Fields, source: Fields, call: Fields) -> list[Turn] | None:
    """The spoken turns from the first place that has messages, else from a transcript text; None when
    neither is there (the conversation is not known)."""
    messages_at = next((f for f in (artifact, source, call) if f.items("messages")), artifact)
    messages = messages_at.items("messages")
    transcript = _first(*(f.text("transcript", MAX_TRANSCRIPT) or None for f in (artifact, source, call)))
    if messages is None and transcript is None:
        return None
    return _turns(messages, transcript, f"{messages_at.path}.messages[]")


def report_of(source: Fields, call: Fields) -> Report:
    """`source` is the end-of-call-report message (or the Call object itself); artifact.* and analysis.*
    first, then the legacy top-level copies, then the embedded call."""
    artifact = source.obj("artifact") or call.obj("artifact") or Fields({}, f"{source.path}.artifact")
    analysis = source.obj("analysis") or call.obj("analysis")
    structured = analysis.obj("structuredData") if analysis else None
    started = source.time("startedAt", "auto") or call.time("startedAt", "auto")
    ended = source.time("endedAt", "auto") or call.time("endedAt", "auto")
    cost = _first(source.number("cost", 0, MAX_COST_CENTS / 100), call.number("cost", 0, MAX_COST_CENTS / 100))
    return Report(
        reason=source.text("endedReason") or call.text("endedReason"),
        turns=_conversation(artifact, source, call),
        summary=(analysis.text("summary", TEXT) if analysis else None) or source.text("summary", TEXT) or None,
        analysis=source.free("analysis") or call.free("analysis") or {},
        structured=dict(structured.data) if structured else {},
        recording_url=_recording(artifact, source, call),
        cost_cents=cents_of_dollars(cost),
        duration_s=_duration_s(source, started, ended),
        started_at=started,
        ended_at=ended,
    )


def events_from_payload(payload: Any) -> list[CallEvent]:
    """Read one server message (already authenticated). Raises MalformedPayload (FieldError: which field)."""
    message = Fields.of(payload, "").obj("message")
    if message is None:
        raise FieldError("message", "is required (an object)")
    kind = message.text("type", SHORT, required=True)
    if kind not in ("status-update", "end-of-call-report"):
        return []  # informational or answered elsewhere (tool-calls: the voice bridge); 200, nothing stored
    call = message.obj("call")
    if call is None:
        raise FieldError("message.call", "is required (an object)")
    call_id = call.text("id", ID, required=True)
    meta = Fields(metadata_of(call.data), "message.call.metadata")
    common: dict[str, Any] = dict(
        provider=NAME,
        call_id=call_id,
        event_type=kind,
        occurred_at=message.time("timestamp", "auto"),
        lead_id=meta.ident("lead_id"),
        chain_id=meta.text("chain_id") if isinstance(meta.raw("chain_id"), str) else None,
        idempotency_key=meta.text("idempotency_key") if isinstance(meta.raw("idempotency_key"), str) else None,
    )
    if kind == "status-update":
        return _status_update(message, call, common)
    report = report_of(message, call)
    end_status, answered, classification = report.outcome
    return [
        CallEvent(
            event_id=f"end-of-call-report:{call_id}:",
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


def _status_update(message: Fields, call: Fields, common: dict[str, Any]) -> list[CallEvent]:
    status = message.text("status", 64) or call.text("status", 64)
    stage = STAGES.get(status or "")
    if stage is None:
        return []  # not-found, deletion-failed, ...: nothing about the call's progress
    event = CallEvent(event_id=f"status-update:{common['call_id']}:{status}", stage=stage, **common)
    if stage == "ended":
        report = report_of(message, call)
        if report.turns is not None or report.reason not in CONNECTED_REASONS:
            # A connected call whose conversation this message does not show is left to the
            # end-of-call-report: whether anybody spoke decides completed or no_answer.
            event.end_status, event.answered = end_status_for(report.reason, report.turns)
        event.started_at, event.ended_at = report.started_at, report.ended_at
        event.extra = {"ended_reason": report.reason}
    elif stage == "in_progress":
        event.answered = True
    return [event]


def parse_webhook(
    body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    *,
    plan: HmacPlan = DEFAULT_HMAC_PLAN,
    now: float | None = None,
) -> list[CallEvent]:
    """Authenticate (any one credential of §2.4 with any active secret), then read the message."""
    if not verify_server_auth(body, headers, list(secrets), plan=plan, now=now):
        raise InvalidSignature("no valid X-Vapi-Secret, Bearer or HMAC credential")
    return events_from_payload(decode_object(body, "").data)
