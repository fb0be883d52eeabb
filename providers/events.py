"""One normalised call event for Retell, Vapi and Bland webhooks and call look-ups."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from workflows.payloads import CallResult
from workflows.vocabulary import CallOutcome, CallStatus

# How far along a call is; events only ever move a call forward (duplicates and reordering are harmless).
STATUS_RANK = {"queued": 0, "ringing": 1, "in_progress": 2, "ended": 3, "analyzed": 4}
# The chain's vocabulary (workflows/vocabulary.py) as plain strings: they are compared with and written
# into provider JSON (analysis schemas, LLM enums).
UNANSWERED = tuple(str(s) for s in (CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.VOICEMAIL, CallStatus.FAILED))
CLASSIFICATIONS = tuple(str(o) for o in CallOutcome)
SENTIMENTS = ("positive", "neutral", "negative", "unknown")


@dataclass
class Turn:
    speaker: str  # agent | callee
    text: str
    at_s: float | None = None


@dataclass
class CallEvent:
    """What a provider told us about a call, in our terms (seconds, cents, our classification)."""

    provider: str
    call_id: str
    event_id: str  # the provider's dedupe key for this delivery (see docs/providers.md per provider)
    event_type: str  # provider's name for it, e.g. call_ended
    stage: str  # one of STATUS_RANK
    occurred_at: datetime | None = None
    answered: bool | None = None
    end_status: str | None = None  # completed | no_answer | busy | voicemail | failed (when ended)
    duration_s: int | None = None
    started_at: datetime | None = None
    ended_at: datetime | None = None
    transcript: list[Turn] | None = None
    summary: str | None = None
    sentiment: str | None = None  # SENTIMENTS
    recording_url: str | None = None
    cost_cents: int | None = None
    currency: str = "USD"
    analysis: dict[str, Any] | None = None  # the provider's structured analysis, as sent
    classification: str | None = None  # CLASSIFICATIONS
    # True when no further event will add to this call (e.g. Retell call_analyzed, Vapi end-of-call-report,
    # Bland's post-call webhook); the chain is told the result only then.
    final: bool = False
    lead_id: int | None = None
    chain_id: str | None = None
    idempotency_key: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        return STATUS_RANK[self.stage] >= STATUS_RANK["ended"]


def classify_text(summary: str | None, analysis: dict[str, Any] | None) -> str | None:
    """Our classification from a provider's structured analysis first, else from its summary.

    Providers are configured (agent analysis prompts / structured data schemas) to return an
    `outcome` field with one of CLASSIFICATIONS; free text is only a fallback.
    """
    for key in ("outcome", "classification", "call_outcome"):
        value = (analysis or {}).get(key)
        if isinstance(value, str) and value.lower() in CLASSIFICATIONS:
            return value.lower()
    text = (summary or "").lower()
    rules = (
        (CallOutcome.DO_NOT_CALL, ("nicht mehr anrufen", "nie wieder an", "do not call", "don't call", "stop calling")),
        (CallOutcome.WRONG_NUMBER, ("falsche nummer", "wrong number", "wrong person", "falsche person")),
        (CallOutcome.BOOKED, ("termin gebucht", "appointment booked", "booked", "gebucht")),
        (CallOutcome.CALLBACK_REQUESTED, ("rückruf", "call back later", "callback")),
        (CallOutcome.NOT_INTERESTED, ("kein interesse", "not interested")),
        (CallOutcome.INTERESTED, ("interesse", "interested")),
    )
    for label, needles in rules:
        if any(n in text for n in needles):
            return str(label)
    return None


def result_from_event(event: CallEvent) -> CallResult:
    """The chain's CallResult for a final event. The event id is the one crm.services.calls.result_for uses
    for a webhook-delivered result (`<provider>:<call id>`), so a poll and a webhook for one call are one
    update to the chain."""
    return CallResult(
        provider=event.provider,
        call_id=event.call_id,
        event_id=f"{event.provider}:{event.call_id}",
        answered=bool(event.answered),
        status=event.end_status or CallStatus.FAILED,
        classification=event.classification,
        duration_s=event.duration_s or 0,
    )
