"""What the LLM policy tells an OpenAI-compatible model: the system prompt, the function schemas (the
CRM tools and the structured turn result), and the conversions from the model's JSON arguments to the
contract's objects (a time-preference object -> TimeConstraint). Lenient: a malformed part is dropped,
never raised."""

from __future__ import annotations

import json
from datetime import date, datetime, time, tzinfo
from typing import Any

from providers.events import CLASSIFICATIONS
from voice.bridge.dialog.types import TurnRequest
from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow

WEEKDAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
INTENTS = (
    "identity_confirmed",
    "interest",
    "refusal",
    "callback",
    "wrong_number",
    "do_not_call",
    "time_preference",
    "confirm",
    "decline",
    "unclear",
    "transfer",
    "recording_declined",
    "voicemail",
)
QUALIFICATION_KEYS = ("need", "timing", "decision_maker")
# The language the model is told to speak, by the call's language (phrases.lang).
SPOKEN = {"de": "German (formal 'Sie')", "en": "English", "fr": "French (formal 'vous')"}

_WINDOW = {
    "type": "object",
    "properties": {
        "start": {"type": ["string", "null"], "description": "HH:MM, null = open"},
        "end": {"type": ["string", "null"], "description": "HH:MM (exclusive), null = open"},
    },
}
TIME_PREFERENCE = {
    "type": "object",
    "description": "When the callee can meet, as they said it. Leave out what they did not say.",
    "properties": {
        "dates": {"type": "array", "items": {"type": "string", "description": "YYYY-MM-DD"}},
        "date_from": {"type": ["string", "null"], "description": "YYYY-MM-DD, inclusive"},
        "date_to": {"type": ["string", "null"], "description": "YYYY-MM-DD, inclusive"},
        "weekdays": {"type": "array", "items": {"type": "string", "enum": list(WEEKDAYS)}},
        "windows": {"type": "array", "items": _WINDOW, "description": "allowed times of day, e.g. morning 08:00-12:00"},
        "exact": {"type": ["string", "null"], "description": "a wished start time HH:MM (14:30, not 02:30)"},
        "excluded_weekdays": {"type": "array", "items": {"type": "string", "enum": list(WEEKDAYS)}},
        "excluded_dates": {"type": "array", "items": {"type": "string"}},
        "excluded_windows": {
            "type": "array",
            "items": _WINDOW,
            "description": "negations: 'not before 10' = {start: null, end: '10:00'}",
        },
        "raw": {"type": "string", "description": "the callee's words"},
    },
}
# The offer invariant (docs/voice-bridge.md §V11), as the model is told it: the tool result marks every slot.
FIND_SLOTS_DESCRIPTION = (
    "Free appointment slots for the callee's time preference. Every slot in the result has 'matches': true "
    "only when it satisfies what the callee said. Offer slots with matches true plainly. A slot with matches "
    "false is never said to fit the wish: first say the real reason (no_match_reason 'outside_hours': we are "
    "closed then, name the opening_hours; 'full': the calendar is fully booked then; otherwise: no slot can be "
    "offered then) and ask whether they want to hear other times; only after they say yes, offer slots with "
    "matches false, saying that they are alternatives and why."
)
TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "find_slots",
            "description": FIND_SLOTS_DESCRIPTION,
            "parameters": {
                "type": "object",
                "properties": {"time_preference": TIME_PREFERENCE},
                "required": ["time_preference"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "book",
            "description": "Book one slot that find_slots returned, after the callee said yes to it.",
            "parameters": {
                "type": "object",
                "properties": {
                    "start": {"type": "string", "description": "the slot's start exactly as find_slots gave it"}
                },
                "required": ["start"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "record_qualification",
            "description": "Store the callee's answers to the qualification questions.",
            "parameters": {
                "type": "object",
                "properties": {
                    "answers": {"type": "object", "properties": {key: {"type": "string"} for key in QUALIFICATION_KEYS}}
                },
                "required": ["answers"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "record_opt_out",
            "description": "The callee does not want any more calls: record it at once.",
            "parameters": {"type": "object", "properties": {"reason": {"type": "string"}}, "required": ["reason"]},
        },
    },
    {
        "type": "function",
        "function": {
            "name": "turn_result",
            "description": "Call once at the end of every turn: what this turn meant.",
            "parameters": {
                "type": "object",
                "properties": {
                    "intent": {"type": "string", "enum": list(INTENTS)},
                    "classification": {"type": ["string", "null"], "enum": [*CLASSIFICATIONS, None]},
                    "end_call": {"type": "boolean", "description": "true only together with a spoken goodbye"},
                    "transfer": {"type": "boolean", "description": "the callee wants a human and one is available"},
                    "recording_declined": {"type": "boolean"},
                    "qualification": {
                        "type": "object",
                        "properties": {key: {"type": "string"} for key in QUALIFICATION_KEYS},
                    },
                    "time_preference": TIME_PREFERENCE,
                },
                "required": ["intent"],
            },
        },
    },
]
CRM_TOOLS = ("find_slots", "book", "record_qualification", "record_opt_out")


def system_prompt(request: TurnRequest, language: str) -> str:
    callee = request.callee
    name = " ".join(p for p in (callee.first_name, callee.last_name) if p) or "unknown"
    spoken = SPOKEN.get(language, SPOKEN["de"])
    transfer = (
        "A human colleague is available for transfer."
        if request.transfer_number
        else "No human is available for transfer: offer a callback instead."
    )
    return (
        f"You are the phone assistant of {request.company_name}, an AI system, on a live outbound sales call. "
        f"Speak {spoken} only, in short spoken sentences (at most two per turn before a question). "
        f"The callee: {name}" + (f" of {callee.company}" if callee.company else "") + ". "
        f"Now is {request.now.isoformat()} (Europe/Berlin). "
        "The AI and recording disclosure has been given already; never deny being an AI. "
        "Flow: confirm you speak with the right person; ask at most three short qualification questions "
        "(need, timing, decision maker), skipping what was already answered, and store answers with "
        "record_qualification; when the callee is interested, ask when an appointment suits them, call find_slots "
        "with their time preference and offer a slot whose 'matches' is true using its 'spoken' text verbatim. "
        "When no slot matches their wish, never present another one as if it did: say the real reason "
        "(outside the opening hours, fully booked, or not offerable then), ask whether they want to hear other "
        "times, and only after a yes offer slots with matches false, saying they are alternatives and why. "
        "When they accept a slot, call book with that slot's start. If they do not want further calls, call "
        "record_opt_out immediately, confirm and say goodbye. Wrong number: apologise and say goodbye. Not "
        "interested: polite goodbye. Call back later: no booking, goodbye. If they object to the recording, "
        f"acknowledge it and set recording_declined. {transfer} "
        "Whenever you end the call, say a goodbye in the same turn and set end_call. "
        "At the end of every turn call turn_result exactly once."
    )


def messages_for(request: TurnRequest, language: str, limit_chars: int = 2000) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "system", "content": system_prompt(request, language)}]
    for turn in request.transcript:
        role = "assistant" if turn.role == "agent" else "user"
        messages.append({"role": role, "content": (turn.text or "")[:limit_chars]})
    return messages


def loads(arguments: str | dict[str, Any] | None) -> dict[str, Any]:
    if isinstance(arguments, dict):
        return arguments
    try:
        value = json.loads(arguments or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)[:10]) if value else None
    except ValueError:
        return None


def _time(value: Any) -> time | None:
    if not value:
        return None
    try:
        text = str(value).strip()
        return time.fromisoformat(text if len(text) > 2 else f"{int(text):02d}:00")
    except ValueError:
        return None


def _weekdays(values: Any) -> frozenset[int]:
    out = set()
    for v in values or ():
        if isinstance(v, int) and 0 <= v <= 6:
            out.add(v)
        elif isinstance(v, str) and v[:2].upper() in WEEKDAYS:
            out.add(WEEKDAYS.index(v[:2].upper()))
    return frozenset(out)


def _windows(values: Any) -> tuple[TimeWindow, ...]:
    out = []
    for v in values or ():
        if isinstance(v, dict):
            start, end = _time(v.get("start")), _time(v.get("end"))
        elif isinstance(v, (list, tuple)) and len(v) == 2:
            start, end = _time(v[0]), _time(v[1])
        else:
            continue
        if start is not None or end is not None:
            out.append(TimeWindow(start, end))
    return tuple(out)


def constraint_from(obj: Any, language: str) -> TimeConstraint | None:
    """The model's time-preference object as a TimeConstraint (None when it says nothing usable)."""
    if not isinstance(obj, dict):
        return None
    constraint = TimeConstraint(
        dates=tuple(d for d in map(_date, obj.get("dates") or ()) if d),
        date_from=_date(obj.get("date_from")),
        date_to=_date(obj.get("date_to")),
        weekdays=_weekdays(obj.get("weekdays")),
        windows=_windows(obj.get("windows")),
        exact=_time(obj.get("exact")),
        excluded_weekdays=_weekdays(obj.get("excluded_weekdays")),
        excluded_dates=tuple(d for d in map(_date, obj.get("excluded_dates") or ()) if d),
        excluded_windows=_windows(obj.get("excluded_windows")),
        raw=str(obj.get("raw") or "")[:300],
        language=language,
    )
    return None if constraint.empty else constraint


def start_from(value: Any, tz: tzinfo) -> datetime | None:
    try:
        moment = datetime.fromisoformat(str(value))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=tz)
