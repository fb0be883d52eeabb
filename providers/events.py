"""One normalised call event for Retell, Vapi and Bland webhooks and call look-ups."""

from __future__ import annotations

from collections.abc import Mapping
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


# Structured analysis fields that are yes/no answers (Retell custom_analysis_data, Vapi structuredData, Bland
# analysis or pathway variables), in order of precedence: the first one present decides.
_FLAGS = (
    (("do_not_call", "dnc", "requested_do_not_call"), True, CallOutcome.DO_NOT_CALL),
    (("wrong_number",), True, CallOutcome.WRONG_NUMBER),
    (("booked", "appointment_booked", "meeting_booked"), True, CallOutcome.BOOKED),
    (("callback_requested", "callback"), True, CallOutcome.CALLBACK_REQUESTED),
    (("interested",), True, CallOutcome.INTERESTED),
    (("interested",), False, CallOutcome.NOT_INTERESTED),
)
# Free-text fallback, first match wins. "booked" only for an appointment ("a hotel booking" is not one):
# the words our agents' analysis prompts and the sandbox's summaries open with.
_TEXT_RULES = (
    (
        CallOutcome.DO_NOT_CALL,
        (
            "nicht mehr anrufen",
            "nie wieder an",
            "do not call",
            "don't call",
            "stop calling",
            "plus être appelé",
            "plus etre appele",
            "ne m'appelez plus",
            "ne plus l'appeler",
        ),
    ),
    (
        CallOutcome.WRONG_NUMBER,
        ("falsche nummer", "wrong number", "wrong person", "falsche person", "mauvais numéro", "mauvaise personne"),
    ),
    (
        CallOutcome.BOOKED,
        (
            "termin gebucht",
            "appointment booked",
            "booked an appointment",
            "booked a meeting",
            "booked a demo",
            "rendez-vous pris",
            "rendez-vous fixé",
            "rendez-vous réservé",
        ),
    ),
    (CallOutcome.CALLBACK_REQUESTED, ("rückruf", "call back later", "callback", "rappel", "rappeler plus tard")),
    (CallOutcome.NOT_INTERESTED, ("kein interesse", "not interested", "pas intéressé", "aucun intérêt")),
    (
        CallOutcome.INTERESTED,
        ("interesse", "interested", "agreed to a demo", "agreed to a meeting", "agreed to an appointment", "intéressé"),
    ),
)


def classify_structured(analysis: Mapping[str, Any] | None) -> str | None:
    """Our classification from a provider's structured analysis: an `outcome` (or `classification`,
    `call_outcome`) naming one of CLASSIFICATIONS, else yes/no fields such as `interested`. None when the
    analysis says nothing we can use."""
    if not analysis:
        return None
    for key in ("outcome", "classification", "call_outcome"):
        value = analysis.get(key)
        if isinstance(value, str) and value.strip().lower() in CLASSIFICATIONS:
            return value.strip().lower()
    for keys, wanted, label in _FLAGS:
        for key in keys:
            if analysis.get(key) is wanted:
                return str(label)
    return None


def classify_summary(summary: str | None) -> str | None:
    """Our classification from a summary's words: only a fallback for calls without structured analysis."""
    text = (summary or "").lower()
    for label, needles in _TEXT_RULES:
        if any(n in text for n in needles):
            return str(label)
    return None


def classify(summary: str | None, *analyses: Mapping[str, Any] | None) -> str | None:
    """Structured analysis first (each of `analyses` in turn), the summary's words only when none decides."""
    for analysis in analyses:
        found = classify_structured(analysis)
        if found is not None:
            return found
    return classify_summary(summary)


def call_result(
    provider: str, call_id: str, *, answered: bool, status: str, classification: str | None, duration_s: int
) -> CallResult:
    """The chain's CallResult for an ended call. Its event id is `<provider>:<call id>` whichever way the
    result arrives (webhook record, provider look-up), so the chain takes exactly one update per call."""
    return CallResult(
        provider=provider,
        call_id=call_id,
        event_id=f"{provider}:{call_id}",
        answered=answered,
        status=status,
        classification=classification,
        duration_s=duration_s,
    )


def result_from_event(event: CallEvent) -> CallResult:
    """The chain's CallResult for a final event (a provider look-up's)."""
    return call_result(
        event.provider,
        event.call_id,
        answered=bool(event.answered),
        status=event.end_status or CallStatus.FAILED,
        classification=event.classification,
        duration_s=event.duration_s or 0,
    )
