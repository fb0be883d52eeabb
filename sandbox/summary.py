"""The post-call summary and analysis a provider makes, built from what happened on the call.

A real provider's summary is written from the call's transcript, so the sandbox's must be too: never a
canned text that can contradict the transcript (a canned "16:30" beside a call in which the voice bridge
booked 16:00 was the bug). What a call booked comes, in this order, from

1. the booking tool's result in the call's tool-call record (the voice bridge's `book` /
   `book_appointment`: the appointment the CRM actually made), named as the agent names slots
   (sandbox/spoken_slots.py, the bridge's wording; the callee's business zone), else
2. the agent's own confirmation in the transcript: the last agent line naming a time (a scripted call,
   or a custom LLM that records no tool calls).

The other outcomes quote the callee's decisive line. Each summary opens with the outcome in words the
CRM's text fallback (providers.events.classify_text) reads as that same outcome.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sandbox.personas import Persona
from sandbox.spoken_slots import (
    DE_WEEKDAY_NAMES,
    EN_WEEKDAY_NAMES,
    FR_WEEKDAY_NAMES,
    language_code,
    parse_spoken_slot,
    render_slot,
)

Transcript = Sequence[tuple[str, str]]  # (agent | callee, text)
BOOKING_TOOLS = ("book", "book_appointment")
BOOKED = ("booked", "already_booked")

_WEEKDAY = {"de": "|".join(DE_WEEKDAY_NAMES), "en": "|".join(EN_WEEKDAY_NAMES), "fr": "|".join(FR_WEEKDAY_NAMES)}
# The scripted agent's way of naming a slot without a date: "Donnerstag um 16:30 Uhr", "Thursday at 4:30 pm",
# "jeudi à 16 h 30".
_CLOCK = {
    "de": re.compile(
        rf"(?:\b(?P<wd>{_WEEKDAY['de']})\s+)?um\s+(?P<h>\d{{1,2}})(?::(?P<m>\d{{2}}))?\s*Uhr\b", re.IGNORECASE
    ),
    "en": re.compile(
        rf"(?:\b(?P<wd>{_WEEKDAY['en']})\s+)?at\s+(?P<h>\d{{1,2}})(?::(?P<m>\d{{2}}))?\s*"
        rf"(?P<ap>[ap])\.?m\b\.?",
        re.IGNORECASE,
    ),
    "fr": re.compile(
        rf"(?:\b(?P<wd>{_WEEKDAY['fr']})\s+)?(?<![a-z])(?:à|a)\s+(?P<h>\d{{1,2}})\s*h(?:\s*(?P<m>\d{{2}}))?(?![a-z0-9])",
        re.IGNORECASE,
    ),
}

_OPENING = {
    "booked": {"de": "Termin gebucht", "en": "Appointment booked", "fr": "Rendez-vous pris"},
    "interested": {"de": "Interesse", "en": "Interested", "fr": "Intéressé"},
    "interested_unbooked": {
        "de": "Interesse, noch kein Termin vereinbart",
        "en": "Interested, no appointment made yet",
        "fr": "Intéressé, pas encore de rendez-vous",
    },
    "not_interested": {"de": "Kein Interesse", "en": "Not interested", "fr": "Pas intéressé"},
    "do_not_call": {
        "de": "Möchte nie wieder angerufen werden",
        "en": "Do not call again",
        "fr": "Ne souhaite plus être appelé",
    },
    "wrong_number": {"de": "Falsche Nummer", "en": "Wrong number", "fr": "Mauvais numéro"},
    "callback_requested": {"de": "Rückruf gewünscht", "en": "Asked for a callback", "fr": "Souhaite être rappelé"},
    "voicemail": {"de": "Mailbox erreicht", "en": "Reached voicemail", "fr": "Messagerie vocale"},
}
_QUOTES = {"de": ("„", "“"), "en": ("“", "”"), "fr": ("«\u00a0", "\u00a0»")}


@dataclass(frozen=True)
class CallBooking:
    """What the call booked: `start` when the booking is known as a moment, `spoken` always (the words
    the summary uses for it)."""

    spoken: str
    start: datetime | None = None


def booking_from_tools(records: Iterable[dict[str, Any]] | None, language: str) -> CallBooking | None:
    """The last successful booking in a transcript_with_tool_calls record (Retell's shape)."""
    booking_calls: set[str] = set()
    found: CallBooking | None = None
    for item in records or ():
        role = item.get("role")
        if role == "tool_call_invocation" and item.get("name") in BOOKING_TOOLS:
            booking_calls.add(str(item.get("tool_call_id")))
        elif role == "tool_call_result" and str(item.get("tool_call_id")) in booking_calls and item.get("successful"):
            try:
                result = json.loads(item.get("content") or "")
                start = datetime.fromisoformat(result["start"]) if result.get("status") in BOOKED else None
            except (TypeError, ValueError, KeyError, AttributeError):
                continue
            if start is not None and start.tzinfo is not None:
                found = CallBooking(spoken=render_slot(start, language_code(language)), start=start)
    return found


def booking_from_transcript(transcript: Transcript, language: str, now: datetime | None = None) -> CallBooking | None:
    """The slot of the agent's last line that names one (its confirmation), as the agent said it."""
    lang = language_code(language)
    for speaker, text in reversed(list(transcript)):
        if speaker != "agent":
            continue
        if now is not None:
            start = parse_spoken_slot(text, lang, now)  # the bridge's canonical "Donnerstag, den 3. ..." form
            if start is not None:
                return CallBooking(spoken=render_slot(start, lang), start=start)
        clocks = list(_CLOCK[lang].finditer(text))
        match = clocks[-1] if clocks else None  # the last time the agent said
        if match is not None:
            hour, minute = int(match["h"]), int(match["m"] or 0)
            day = f"{match['wd'].capitalize()} " if match["wd"] else ""
            if lang == "en":
                clock = f"{hour}:{minute:02d}" if minute else f"{hour}"
                return CallBooking(spoken=f"{day}at {clock} {match['ap'].lower()}m")
            if lang == "fr":
                day = f"{match['wd'].lower()} " if match["wd"] else ""
                return CallBooking(spoken=f"{day}à {hour} h" + (f" {minute:02d}" if minute else ""))
            return CallBooking(spoken=f"{day}um {hour}:{minute:02d} Uhr")
    return None


def _quote(text: str, lang: str) -> str:
    left, right = _QUOTES[lang]
    return f"{left}{text.strip()}{right}"


def _last_callee_line(transcript: Transcript) -> str | None:
    lines = [text for speaker, text in transcript if speaker == "callee" and text.strip()]
    return lines[-1] if lines else None


def outcome_of(classification: str | None, booking: CallBooking | None, live: bool) -> str | None:
    """The call's outcome: a live call (the agent was a real dialog server) counts as booked only when
    something was booked; otherwise the persona's intent is what happened."""
    if classification == "booked" and booking is None and live:
        return "interested"
    return classification


def summarise(
    transcript: Transcript, language: str, classification: str | None, end_status: str, booking: CallBooking | None
) -> str:
    """The provider's call summary, in the call's language."""
    lang = language_code(language)
    if end_status == "voicemail":
        return f"{_OPENING['voicemail'][lang]}."
    if not transcript or classification is None:
        return ""
    if classification == "booked" and booking is not None:
        return f"{_OPENING['booked'][lang]}: {booking.spoken}."
    key = "interested_unbooked" if classification == "booked" else classification
    opening = _OPENING.get(key, {}).get(lang) or classification
    said = _last_callee_line(transcript)
    return f"{opening}: {_quote(said, lang)}" if said else f"{opening}."


@dataclass(frozen=True)
class CallAnalysis:
    summary: str
    outcome: str | None
    booking: CallBooking | None


def analyse(
    persona: Persona,
    language: str,
    live_transcript: Transcript | None = None,
    tool_records: Iterable[dict[str, Any]] | None = None,
) -> CallAnalysis:
    """The analysis of one call: the persona's script, or (`live_transcript`) what was actually said to
    a dialog server and what its tools did."""
    live = live_transcript is not None
    transcript = (
        list(live_transcript) if live_transcript is not None else persona.transcript.get(language_code(language), [])
    )
    booking = booking_from_tools(tool_records, language) if live else None
    if booking is None and persona.classification == "booked":
        booking = booking_from_transcript(transcript, language, now=datetime.now(UTC))
    outcome = outcome_of(persona.classification, booking, live)
    return CallAnalysis(summarise(transcript, language, outcome, persona.end_status, booking), outcome, booking)


def scripted_summary(persona: Persona, language: str) -> str | None:
    """What the provider's analysis says of the persona's scripted call in `language` (None without a
    script in it): written from its transcript, so it can never contradict what was said."""
    if language not in persona.transcript:
        return None
    return analyse(persona, language).summary
