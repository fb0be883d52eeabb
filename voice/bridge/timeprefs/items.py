"""What the grammars find in an utterance, before it is resolved against a date: items over token
spans. Resolution (which Thursday, 2:30 or 14:30) happens in ``parse`` once the whole utterance is
known, because a later word can change an earlier one ("Donnerstag nächste Woche", "um 8 abends")."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import time
from typing import Any

from voice.bridge.timeprefs.lexicon import EVENING_PARTS, MORNING_PARTS

# Kinds of items.
DAY = "day"  # one day: Ref
WEEKDAYS = "weekdays"  # recurring weekdays: frozenset[int]
RANGE = "range"  # a run of days: Ref (week or month)
SPAN = "span"  # (Ref | None, Ref | None): "ab Mittwoch", "bis zum 10."
EXACT = "exact"  # Clock
WINDOW = "window"  # (Clock | None, Clock | None)
DAYPART = "daypart"  # key of lexicon.DAYPARTS
ANY = "any"  # "jederzeit": time information that allows everything
NEG = "neg"  # a negation marker
SEP = "sep"  # a clause boundary
ELLIPSIS = "ellipsis"  # "nächste", "the one after": a period named by an earlier item, see parse.fill_ellipses

DAY_FAMILY = frozenset({DAY, WEEKDAYS, RANGE, SPAN})
TIME_FAMILY = frozenset({EXACT, WINDOW, DAYPART})


@dataclass(frozen=True)
class Clock:
    """A spoken clock time before business-hours disambiguation: "3" may be 03:00 or 15:00."""

    hour: int
    minute: int = 0
    meridiem: str | None = None  # "am" / "pm" when said
    fixed: bool = False  # 24-hour evidence ("14 Uhr", "07:30"): no guessing

    def resolve(self, daypart: str | None = None) -> time | None:
        h = self.hour
        if self.meridiem == "am":
            h = 0 if h == 12 else h
        elif self.meridiem == "pm":
            h = h if h == 12 else h + 12
        elif not self.fixed and 1 <= h <= 11:
            if daypart in EVENING_PARTS:
                h += 12
            elif daypart not in MORNING_PARTS and h <= 7:
                # Business hours: nobody books a sales call at 3 a.m.; "um 3" is 15:00.
                h += 12
        if not (0 <= h <= 23 and 0 <= self.minute <= 59):
            return None
        return time(h, self.minute)

    @property
    def promotable(self) -> bool:
        """Whether the business-hours rule would move it to the afternoon."""
        return self.meridiem is None and not self.fixed and 1 <= self.hour <= 7


@dataclass(frozen=True)
class Ref:
    """A day reference. kind: "rel" (a = days from today), "weekday" (a = weekday, mod = None / "next" /
    "this" / "coming" / "after_next"), "dom" (a = day of month), "date" (a, b, c = day, month, year|None),
    "week" (a = weeks from now, mod = part), "week_of" (a = days from today; the week containing it),
    "month" (a = month or None for relative, b = months from now, mod = part), "period" (name = a
    named season of ``periods``, mod = "before" / "after" / "during"). ``check`` is a weekday said
    together with a date ("Dienstag, den 1. Dezember"). ``shift`` moves the day it names by whole days:
    the algebra of anchored dates ("morgen in einer Woche" = rel 1 shifted by 7, "a week from Thursday"
    = Thursday shifted by 7)."""

    kind: str
    a: int | None = None
    b: int | None = None
    c: int | None = None
    mod: str | None = None
    check: int | None = None
    shift: int = 0
    name: str | None = None


@dataclass
class Item:
    kind: str
    start: int
    end: int
    value: Any = None
    negated: bool = False


_CLOCK_RE = re.compile(r"(\d{1,2})(?:([:.])(\d{2}))?(\.)?")
_DATE_RE = re.compile(r"(\d{1,2})\.(\d{1,2})\.(?:(\d{2}|\d{4}))?")
_DATE_NO_DOT_RE = re.compile(r"(\d{1,2})\.(\d{1,2})")


def clock_token(tok: str) -> tuple[int, int | None, str | None, bool, bool] | None:
    """(hour, minute, separator, trailing dot, leading zero) of "14", "14:30", "14.30", "07:30", "14."."""
    m = _CLOCK_RE.fullmatch(tok)
    if not m:
        return None
    minute = int(m.group(3)) if m.group(3) else None
    return int(m.group(1)), minute, m.group(2), bool(m.group(4)), tok.startswith("0") and len(m.group(1)) == 2


def date_token(tok: str, loose: bool = False) -> tuple[int, int, int | None] | None:
    """(day, month, year) of "7.12.", "7.12.2026" and, when loose, "7.12"."""
    m = _DATE_RE.fullmatch(tok) or (_DATE_NO_DOT_RE.fullmatch(tok) if loose else None)
    if not m:
        return None
    day, month = int(m.group(1)), int(m.group(2))
    year = int(m.group(3)) if m.re is _DATE_RE and m.group(3) else None
    if not (1 <= day <= 31 and 1 <= month <= 12):
        return None
    return day, month, year


def int_token(tok: str, lo: int = 0, hi: int = 59) -> int | None:
    if tok.isdigit() and lo <= int(tok) <= hi:
        return int(tok)
    return None
