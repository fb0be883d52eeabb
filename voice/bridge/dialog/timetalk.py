"""The three time functions the policy needs, in one injectable object:

* ``parse(text, language, now) -> TimeConstraint``: what the callee said about availability;
* ``render(start, language, now) -> str``: a slot as the agent speaks it;
* ``read_back(text, language, now) -> list[datetime]``: the slots an agent sentence offered (the
  inverse of ``render``), so offered slots are read from the transcript and never remembered.

``TimeTalk.present`` is the one way an offer becomes words: each slot comes out marked as matching the
caller's constraint or as an alternative, by voice.bridge.offers.satisfies (the offer invariant,
docs/voice-bridge.md §V11); ``hours_text`` says opening hours.

``default_timetalk()`` uses voice.bridge.timeprefs (parse.py, speak.py). Where a part of it is missing
the basic versions here stand in: ``render``/``read_back`` in one fixed format, and a ``parse`` that
understands nothing (an ``unsure`` constraint), so the policy still runs; it asks rather than guesses."""

from __future__ import annotations

import inspect
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from voice.bridge.offers import OpeningHours, SlotChoice, satisfies
from voice.bridge.timeprefs import parse as timeprefs_parse
from voice.bridge.timeprefs import speak as timeprefs_speak
from voice.bridge.timeprefs.constraint import TimeConstraint

log = logging.getLogger(__name__)

BUSINESS_TZ = ZoneInfo("Europe/Berlin")

Parse = Callable[[str, str, datetime], TimeConstraint]
Render = Callable[[datetime, str, datetime], str]
ReadBack = Callable[[str, str, datetime], list[datetime]]


@dataclass(frozen=True)
class SpokenSlot:
    """A slot as the agent will say it, and whether it satisfies the caller's constraint."""

    slot: SlotChoice
    text: str
    matches: bool


@dataclass(frozen=True)
class TimeTalk:
    parse: Parse
    render: Render
    read_back: ReadBack

    def preference(self, text: str, language: str, now: datetime) -> TimeConstraint | None:
        """The constraint in ``text`` when there is one worth acting on (None: no time information)."""
        if not text.strip():
            return None
        try:
            constraint = self.parse(text, language, now)
        except Exception:  # noqa: BLE001 - a parser bug must not end the call
            log.exception("time preference parser failed")
            return None
        if constraint is None or constraint.empty or constraint.unsure:
            return None
        return constraint

    def present(
        self, slots: tuple[SlotChoice, ...], constraint: TimeConstraint | None, language: str, now: datetime
    ) -> tuple[list[SpokenSlot], list[SpokenSlot]]:
        """(matching, alternatives): the slots in words, each checked by offers.satisfies right before it
        is spoken (whatever the slot's own flag says)."""
        spoken = [
            SpokenSlot(s, self.render(s.start, language, now), satisfies(constraint, s.start, s.end)) for s in slots
        ]
        return [s for s in spoken if s.matches], [s for s in spoken if not s.matches]

    def slots_in(self, text: str, language: str, now: datetime) -> list[datetime]:
        try:
            found = self.read_back(text, language, now)
            if isinstance(found, datetime):  # a reader that returns the first slot only
                return [found]
            return list(found or [])
        except Exception:  # noqa: BLE001
            log.exception("reading offered slots back failed")
            return []


# ---- basic stand-ins -----------------------------------------------------------------------------

_DAYS = {
    "de": ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "fr": ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche"),
}
_MONTHS = {
    "de": (
        "Januar",
        "Februar",
        "März",
        "April",
        "Mai",
        "Juni",
        "Juli",
        "August",
        "September",
        "Oktober",
        "November",
        "Dezember",
    ),
    "en": (
        "January",
        "February",
        "March",
        "April",
        "May",
        "June",
        "July",
        "August",
        "September",
        "October",
        "November",
        "December",
    ),
}
_DE_SLOT = re.compile(
    r"(?:Montag|Dienstag|Mittwoch|Donnerstag|Freitag|Samstag|Sonntag),?\s+(?:den\s+)?(\d{1,2})\.\s*"
    r"(" + "|".join(_MONTHS["de"]) + r"),?\s+um\s+(\d{1,2})(?::(\d{2}))?\s+Uhr",
    re.IGNORECASE,
)
_EN_SLOT = re.compile(
    r"(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday),?\s+("
    + "|".join(_MONTHS["en"])
    + r")\s+(\d{1,2}),?\s+at\s+(\d{1,2})(?::(\d{2}))?\s*([ap])\.?m\.?",
    re.IGNORECASE,
)


def basic_render(start: datetime, language: str, now: datetime) -> str:
    local = start.astimezone(BUSINESS_TZ) if start.tzinfo else start
    if language == "en":
        hour = local.hour % 12 or 12
        clock = f"{hour}:{local.minute:02d}" if local.minute else f"{hour}"
        return (
            f"{_DAYS['en'][local.weekday()]}, {_MONTHS['en'][local.month - 1]} {local.day}, at {clock} "
            f"{'am' if local.hour < 12 else 'pm'}"
        )
    clock = f"{local.hour}:{local.minute:02d}" if local.minute else f"{local.hour}"
    return f"{_DAYS['de'][local.weekday()]}, {local.day}. {_MONTHS['de'][local.month - 1]}, um {clock} Uhr"


def basic_read_back(text: str, language: str, now: datetime) -> list[datetime]:
    found: list[tuple[int, datetime]] = []
    local_now = now.astimezone(BUSINESS_TZ)
    de_months = [m.lower() for m in _MONTHS["de"]]
    en_months = [m.lower() for m in _MONTHS["en"]]
    for m in _DE_SLOT.finditer(text or ""):
        day, month = int(m.group(1)), de_months.index(m.group(2).lower()) + 1
        if (moment := _future(local_now, month, day, int(m.group(3)), int(m.group(4) or 0))) is not None:
            found.append((m.start(), moment))
    for m in _EN_SLOT.finditer(text or ""):
        month, day, hour = en_months.index(m.group(1).lower()) + 1, int(m.group(2)), int(m.group(3)) % 12
        hour += 12 if m.group(5).lower() == "p" else 0
        if (moment := _future(local_now, month, day, hour, int(m.group(4) or 0))) is not None:
            found.append((m.start(), moment))
    return [moment for _, moment in sorted(found)]


def _future(now: datetime, month: int, day: int, hour: int, minute: int) -> datetime | None:
    """The next such moment on or after today (a December date said in November is this year's)."""
    for year in (now.year, now.year + 1):
        try:
            moment = datetime(year, month, day, hour, minute, tzinfo=BUSINESS_TZ)
        except ValueError:
            continue
        if moment.date() >= now.date() - timedelta(days=1):
            return moment
    return None


# How opening hours are said: a run of days ("day" alone, "range" from one to another), its hours ("span"),
# runs joined by "and".
_HOURS_WORDS = {
    "de": {"day": "%s", "range": "%s bis %s", "and": " und ", "span": "%s von %s bis %s Uhr"},
    "en": {"day": "%s", "range": "%s to %s", "and": " and ", "span": "%s, %s to %s"},
    "fr": {"day": "le %s", "range": "du %s au %s", "and": " et ", "span": "%s de %s à %s"},
}


def _clock(moment: time, language: str) -> str:
    if language == "en":
        hour = moment.hour % 12 or 12
        suffix = "am" if moment.hour < 12 else "pm"
        return f"{hour}:{moment.minute:02d} {suffix}" if moment.minute else f"{hour} {suffix}"
    if language == "fr":
        return f"{moment.hour} h {moment.minute:02d}" if moment.minute else f"{moment.hour} h"
    return f"{moment.hour}:{moment.minute:02d}" if moment.minute else f"{moment.hour}"


def hours_text(hours: OpeningHours, language: str) -> str:
    """Opening hours in words: runs of weekdays with the same hours ("Montag bis Freitag von 9 bis 17 Uhr",
    "Monday to Friday, 9 am to 5 pm", "du lundi au vendredi de 9 h à 17 h"), several runs joined by
    "und"/"and"/"et". A language without its words here is said in German."""
    code = language if language in _HOURS_WORDS else "de"
    words, names = _HOURS_WORDS[code], _DAYS[code]
    runs: list[tuple[int, int, time, time]] = []
    for weekday, opens, closes in sorted(hours):
        last = runs[-1] if runs else None
        if last is not None and last[1] == weekday - 1 and (last[2], last[3]) == (opens, closes):
            runs[-1] = (last[0], weekday, opens, closes)
        else:
            runs.append((weekday, weekday, opens, closes))
    parts = []
    for first, last_day, opens, closes in runs:
        days = words["day"] % names[first] if first == last_day else words["range"] % (names[first], names[last_day])
        parts.append(words["span"] % (days, _clock(opens, code), _clock(closes, code)))
    return words["and"].join(parts)


def understand_nothing(text: str, language: str, now: datetime) -> TimeConstraint:
    return TimeConstraint(raw=text, language=language, unsure=True)


def _adapt(fn: Callable[..., Any]) -> Callable[[Any, str, datetime], Any]:
    """Call ``fn`` with (value, language, now) as far as its signature takes them."""
    try:
        params = list(inspect.signature(fn).parameters.values())
    except (TypeError, ValueError):
        return fn
    names = [p.name for p in params]
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]

    def call(value: Any, language: str, now: datetime) -> Any:
        if len(positional) >= 3:
            return fn(value, language, now)
        kwargs: dict[str, Any] = {}
        if "language" in names:
            kwargs["language"] = language
        if "now" in names:
            kwargs["now"] = now
        return fn(value, **kwargs)

    return call


def default_timetalk() -> TimeTalk:
    """The rule-based reader (voice.bridge.timeprefs.parse) and the agent's canonical slot wording
    (voice.bridge.timeprefs.speak)."""
    return TimeTalk(
        parse=_adapt(timeprefs_parse.parse),
        render=_adapt(timeprefs_speak.render_slot),
        read_back=_adapt(timeprefs_speak.parse_spoken_slots),
    )
