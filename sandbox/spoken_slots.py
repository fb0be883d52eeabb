"""Slots in the wording the voice bridge's agent uses, and back: what a real provider's summary would
read off the transcript.

The sandbox imports nothing of ours (it stands in for services outside the project), so this is its
own copy of the bridge's canonical slot wording (voice/bridge/timeprefs/speak.py):
    de: "Donnerstag, den 3. Dezember, um 16:30 Uhr"   (full hours: "um 16 Uhr")
    en: "Thursday, December 3rd, at 4:30 pm"          (full hours: "at 4 pm")
    fr: "jeudi 3 décembre à 16 h 30"                  (full hours: "à 16 h"; the 1st: "1er décembre")
A language code it does not know is German, as in the bridge.
tests/voice/test_sandbox_spoken_slots.py checks that both sides still write and read the same sentences
(every half hour of a year, all three languages) and that the names agree with Babel's CLDR data.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

BUSINESS_TZ = "Europe/Berlin"  # the callee's clock the agent speaks in (the CRM's business zone)


# The names the agent says (as Babel's CLDR data has them; copied rather than computed, since loading
# the locale data at import costs the sandbox's start-up most of a second).
DE_WEEKDAY_NAMES = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
EN_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
DE_MONTH_NAMES = (
    "Januar", "Februar", "März", "April", "Mai", "Juni",
    "Juli", "August", "September", "Oktober", "November", "Dezember",
)  # fmt: skip
EN_MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)  # fmt: skip
FR_WEEKDAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
FR_MONTH_NAMES = (
    "janvier", "février", "mars", "avril", "mai", "juin",
    "juillet", "août", "septembre", "octobre", "novembre", "décembre",
)  # fmt: skip
LANGUAGES = ("de", "en", "fr")


def language_code(language: str) -> str:
    """The slot wording's language for a language code ("fr-CH" is French); German for one it does not know."""
    code = (language or "").lower()[:2]
    return code if code in LANGUAGES else "de"


def _en_ordinal_suffix(day: int) -> str:
    if day % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


def render_slot(start: datetime, language: str, *, tz: str = BUSINESS_TZ) -> str:
    """One slot start as the agent says it, in the business zone."""
    local = start.astimezone(ZoneInfo(tz)) if start.tzinfo else start
    if language_code(language) == "fr":
        day = "1er" if local.day == 1 else str(local.day)
        minutes = f" {local.minute:02d}" if local.minute else ""
        return f"{FR_WEEKDAY_NAMES[local.weekday()]} {day} {FR_MONTH_NAMES[local.month - 1]} à {local.hour} h{minutes}"
    if language_code(language) == "en":
        hour12 = local.hour % 12 or 12
        clock = f"{hour12}:{local.minute:02d}" if local.minute else f"{hour12}"
        meridiem = "am" if local.hour < 12 else "pm"
        return (
            f"{EN_WEEKDAY_NAMES[local.weekday()]}, {EN_MONTH_NAMES[local.month - 1]} "
            f"{local.day}{_en_ordinal_suffix(local.day)}, at {clock} {meridiem}"
        )
    clock = f"{local.hour}:{local.minute:02d}" if local.minute else f"{local.hour}"
    return f"{DE_WEEKDAY_NAMES[local.weekday()]}, den {local.day}. {DE_MONTH_NAMES[local.month - 1]}, um {clock} Uhr"


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


def parse_spoken_slot(text: str, language: str, now: datetime, *, tz: str = BUSINESS_TZ) -> datetime | None:
    """The first slot start in the agent's wording, as an aware datetime in `tz`, or None. A date
    without a year is the next one from a week before `now` on (an offer is never far in the past)."""
    zone = ZoneInfo(tz)
    pattern, weekdays, months = _PATTERNS[language_code(language)]
    today = (now.astimezone(zone) if now.tzinfo else now).date()
    for m in pattern.finditer(text):
        day, month = int(m["d"]), _index(months, m["mon"]) + 1
        hour, minute = int(m["h"]), int(m["m"] or 0)
        if m.groupdict().get("ap") is not None:  # a 12-hour clock (English)
            if not 1 <= hour <= 12:
                continue
            hour = (hour % 12) + (12 if m["ap"].lower().startswith("p") else 0)
        if hour > 23 or minute > 59:
            continue
        wanted = _index(weekdays, m["wd"]) if m["wd"] else None
        on = _date_for(day, month, int(m["y"]) if m["y"] else None, today, wanted)
        if on is None:
            continue
        local = datetime(on.year, on.month, on.day, hour, minute, tzinfo=zone)
        return local.astimezone(UTC).astimezone(zone)
    return None


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
