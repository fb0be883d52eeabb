"""Slots as the agent says them, and back.

One canonical sentence part per slot, in the business zone (the callee's clock):
    de: "Donnerstag, den 3. Dezember, um 16:30 Uhr"   (full hours: "um 16 Uhr")
    en: "Thursday, December 3rd, at 4:30 pm"          (full hours: "at 4 pm")
    fr: "jeudi 3 décembre à 16 h 30"                  (full hours: "à 16 h"; the 1st: "1er décembre")
with the year only when asked for ("3. Dezember 2027", "December 3rd, 2027", "3 décembre 2027").
A language code the module does not know is spoken in German.

The dialog layer rebuilds what it offered from the transcript of its own turns, so
``parse_spoken_slots`` reads exactly this format back (every slot in a sentence, in order). It
tolerates what a transcript or an LLM paraphrase does to it (case, a missing comma, "den", the
weekday left out) but nothing looser: a weekday that does not match the date is not a slot.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from crm.services.business_calendar import BUSINESS_TZ, Slot
from voice.bridge.timeprefs.lexicon import (
    DE_MONTH_NAMES,
    DE_WEEKDAY_NAMES,
    EN_MONTH_NAMES,
    EN_WEEKDAY_NAMES,
    en_ordinal_suffix,
)
from voice.bridge.timeprefs.lexicon_fr import FR_MONTH_NAMES, FR_WEEKDAY_NAMES


def _lang(language: str) -> str:
    code = (language or "").lower()[:2]
    return code if code in _RENDER else "de"


def _render_de(local: datetime, with_year: bool) -> str:
    year = f" {local.year}" if with_year else ""
    clock = f"{local.hour}:{local.minute:02d}" if local.minute else f"{local.hour}"
    return (
        f"{DE_WEEKDAY_NAMES[local.weekday()]}, den {local.day}. {DE_MONTH_NAMES[local.month - 1]}{year}, um {clock} Uhr"
    )


def _render_en(local: datetime, with_year: bool) -> str:
    hour12 = local.hour % 12 or 12
    clock = f"{hour12}:{local.minute:02d}" if local.minute else f"{hour12}"
    meridiem = "am" if local.hour < 12 else "pm"
    year = f", {local.year}" if with_year else ""
    return (
        f"{EN_WEEKDAY_NAMES[local.weekday()]}, {EN_MONTH_NAMES[local.month - 1]} "
        f"{local.day}{en_ordinal_suffix(local.day)}{year}, at {clock} {meridiem}"
    )


def _render_fr(local: datetime, with_year: bool) -> str:
    year = f" {local.year}" if with_year else ""
    day = "1er" if local.day == 1 else str(local.day)
    minutes = f" {local.minute:02d}" if local.minute else ""
    month = FR_MONTH_NAMES[local.month - 1]
    return f"{FR_WEEKDAY_NAMES[local.weekday()]} {day} {month}{year} à {local.hour} h{minutes}"


# Per language: how a slot is said, and the word between the last two slots of a list.
_RENDER: dict[str, Callable[[datetime, bool], str]] = {"de": _render_de, "en": _render_en, "fr": _render_fr}
_OR = {"de": " oder ", "en": " or ", "fr": " ou "}


def render_slot(slot: Slot | datetime, language: str, *, with_year: bool = False, tz: str = BUSINESS_TZ) -> str:
    start = slot.start if isinstance(slot, Slot) else slot
    local = start.astimezone(ZoneInfo(tz)) if start.tzinfo else start
    return _RENDER[_lang(language)](local, with_year)


def render_slots(
    slots: Iterable[Slot | datetime], language: str, *, with_year: bool = False, tz: str = BUSINESS_TZ
) -> str:
    """ "A oder B", "A, B oder C" (en: "or", fr: "ou")."""
    parts = [render_slot(s, language, with_year=with_year, tz=tz) for s in slots]
    word = _OR[_lang(language)]
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + word + parts[-1]


def _fold(name: str) -> str:
    """A name as a transcript may spell it: lower case, "ä" as "ae", French accents dropped."""
    return name.lower().replace("ä", "ae").replace("é", "e").replace("û", "u")


def _alternation(names: Iterable[str]) -> str:
    variants = set()
    for name in names:
        variants.update({name.lower(), _fold(name)})
    return "|".join(sorted(variants, key=len, reverse=True))


_DE_RE = re.compile(
    rf"(?:\b(?P<wd>{_alternation(DE_WEEKDAY_NAMES)}),?\s+)?(?:den\s+)?\b(?P<d>\d{{1,2}})\.\s*"
    rf"(?P<mon>{_alternation(DE_MONTH_NAMES)})\b(?:\s+(?P<y>\d{{4}}))?,?\s+um\s+(?P<h>\d{{1,2}})"
    rf"(?::(?P<m>\d{{2}}))?\s*uhr\b",
    re.IGNORECASE,
)
_EN_RE = re.compile(
    rf"(?:\b(?P<wd>{_alternation(EN_WEEKDAY_NAMES)}),?\s+)?(?:the\s+)?\b(?P<mon>{_alternation(EN_MONTH_NAMES)})"
    rf"\s+(?:the\s+)?(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\b(?:,?\s+(?P<y>\d{{4}}))?,?\s+at\s+(?P<h>\d{{1,2}})"
    rf"(?::(?P<m>\d{{2}}))?\s*(?P<ap>a\.?m\.?|p\.?m\.?)(?![a-z])",
    re.IGNORECASE,
)


_FR_RE = re.compile(
    rf"(?:\b(?P<wd>{_alternation(FR_WEEKDAY_NAMES)}),?\s+)?(?:le\s+)?\b(?P<d>\d{{1,2}})(?:er)?\s+"
    rf"(?P<mon>{_alternation(FR_MONTH_NAMES)})(?![a-z])(?:\s+(?P<y>\d{{4}}))?,?\s+(?:à|a)\s+(?P<h>\d{{1,2}})"
    rf"\s*h(?:\s*(?P<m>\d{{2}}))?(?![a-z0-9])",
    re.IGNORECASE,
)
_PATTERNS = {
    "de": (_DE_RE, DE_WEEKDAY_NAMES, DE_MONTH_NAMES),
    "en": (_EN_RE, EN_WEEKDAY_NAMES, EN_MONTH_NAMES),
    "fr": (_FR_RE, FR_WEEKDAY_NAMES, FR_MONTH_NAMES),
}


def _index(names: tuple[str, ...], word: str) -> int:
    return [_fold(n) for n in names].index(_fold(word))


def parse_spoken_slots(text: str, language: str, now: datetime, *, tz: str = BUSINESS_TZ) -> list[datetime]:
    """Every slot start in the canonical format, in order, as aware datetimes in `tz`. A date without
    a year is the next one from a week before `now` on (an offer is never far in the past)."""
    lang = _lang(language)
    zone = ZoneInfo(tz)
    pattern, weekdays, months = _PATTERNS[lang]
    today = (now.astimezone(zone) if now.tzinfo else now).date()
    found: list[datetime] = []
    for m in pattern.finditer(text):
        day, month = int(m["d"]), _index(months, m["mon"]) + 1
        hour, minute = int(m["h"]), int(m["m"] or 0)
        meridiem = m.groupdict().get("ap")
        if meridiem is not None:  # a 12-hour clock (English)
            if not 1 <= hour <= 12:
                continue
            hour = (hour % 12) + (12 if meridiem.lower().startswith("p") else 0)
        if hour > 23 or minute > 59:
            continue
        wanted = _index(weekdays, m["wd"]) if m["wd"] else None
        on = _date_for(day, month, int(m["y"]) if m["y"] else None, today, wanted)
        if on is None:
            continue
        local = datetime(on.year, on.month, on.day, hour, minute, tzinfo=zone)
        found.append(local.astimezone(UTC).astimezone(zone))
    return found


def parse_spoken_slot(text: str, language: str, now: datetime, *, tz: str = BUSINESS_TZ) -> datetime | None:
    """The first slot in the canonical format, or None."""
    slots = parse_spoken_slots(text, language, now, tz=tz)
    return slots[0] if slots else None


def _date_for(day: int, month: int, year: int | None, today: date, weekday: int | None) -> date | None:
    years = [year] if year is not None else [today.year - 1, today.year, today.year + 1, today.year + 2]
    earliest = today - timedelta(days=7)
    for y in years:
        try:
            candidate = date(y, month, day)
        except ValueError:
            continue
        if year is None and candidate < earliest:
            continue
        if weekday is not None and candidate.weekday() != weekday:
            return None
        return candidate
    return None
