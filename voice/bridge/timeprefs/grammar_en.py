"""English availability phrases (normalized tokens, see ``normalize``) → items."""

from __future__ import annotations

import re
from dataclasses import replace

from voice.bridge.timeprefs.grammar import Found, Grammar, Rule
from voice.bridge.timeprefs.items import (
    ANY,
    DAY,
    DAYPART,
    EXACT,
    NEG,
    RANGE,
    SEP,
    SPAN,
    WEEKDAYS,
    WINDOW,
    Clock,
    Item,
    Ref,
    int_token,
)
from voice.bridge.timeprefs.lexicon import (
    EN_CORRECTION_PAIRS,
    EN_CORRECTIONS,
    EN_DAYPARTS,
    EN_ELLIPSIS_PHRASES,
    EN_MONTHS,
    EN_NOT_CORRECTIONS,
    EN_PERIOD_NOUNS,
    EN_PERIOD_PHRASES,
    EN_PERIOD_SIDES,
    EN_PERIOD_SKIP,
    EN_SOFT_CORRECTIONS,
    EN_TIME_STARTS,
    EN_WEEKDAYS,
)

SEPARATORS = frozenset({",", "but", "although", "though", "otherwise", "else", "because", "then"})
NEGATIONS = frozenset(
    {
        "not",
        "no",
        "never",
        "except",
        "excluding",
        "bad",
        "busy",
        "booked",
        "unavailable",
        "away",
        "vacation",
        "off",
        "out",
        "impossible",
    }
)
ANYTIME = frozenset({"anytime", "whenever", "flexible", "sometime", "sometimes"})
MODS = {"next": "next", "this": "this", "coming": "coming", "following": "next"}
MOD_WEEKS = {"next": 1, "coming": 1, "this": 0, "after_next": 2}
PARTS = {
    "early": "start",
    "beginning": "start",
    "start": "start",
    "mid": "mid",
    "middle": "mid",
    "end": "end",
    "late": "end",
    "later": "rest",
}
EXACT_PREPS = frozenset({"at", "around", "about", "approximately", "roughly", "circa", "say"})
_ORDINAL_RE = re.compile(r"(\d{1,2})(st|nd|rd|th)")
OPEN_START = frozenset({"after", "since", "from", "starting"})
OPEN_END = frozenset({"before", "until", "till", "til", "by"})


def ordinal_token(tok: str) -> int | None:
    m = _ORDINAL_RE.fullmatch(tok)
    return int(m.group(1)) if m and 1 <= int(m.group(1)) <= 31 else None


class EnglishGrammar(Grammar):
    dayparts = EN_DAYPARTS
    early_words = frozenset({"early"})
    late_words = frozenset({"late"})
    clock_prep = "at"
    months = EN_MONTHS
    week_word = "week"
    week_of_words = frozenset({"of", "in"})
    last_words = frozenset({"last"})
    shift_in = frozenset({"in"})
    shift_one = frozenset({"a", "one", "1"})
    shift_units = {"day": 1, "days": 1, "week": 7, "weeks": 7, "fortnight": 14}
    ellipsis_mods = {"next": "next"}
    ellipsis_phrases = EN_ELLIPSIS_PHRASES
    period_nouns = EN_PERIOD_NOUNS
    period_sides = EN_PERIOD_SIDES
    period_skip = EN_PERIOD_SKIP
    period_phrases = EN_PERIOD_PHRASES
    month_week_skip = frozenset({"the", "in"})
    corrections, correction_pairs, not_corrections = EN_CORRECTIONS, EN_CORRECTION_PAIRS, EN_NOT_CORRECTIONS
    soft_corrections, time_starts, weekday_words = EN_SOFT_CORRECTIONS, EN_TIME_STARTS, EN_WEEKDAYS
    or_words = frozenset({"or"})
    attach_filler = frozenset({"in", "the", "on", "am", "so"})

    def rules(self) -> list[Rule]:
        return [
            self.negation,
            self.separator,
            self.anytime,
            self.period_rule,
            self.month_week_rule,
            self.weekday_range,
            self.span,
            self.time_range,
            self.open_time,
            self.exact_time,
            self.day,
            self.ellipsis_rule,
            self.daypart_rule,
        ]

    def ordinal_at(self, i: int) -> int | None:
        return ordinal_token(self.tok(i))

    # ---- markers ------------------------------------------------------------------------------------

    def separator(self, i: int) -> Found | None:
        return self.one(SEP, i, i + 1) if self.tok(i) in SEPARATORS else None

    def negation(self, i: int) -> Found | None:
        pair = self.t[i : i + 2]
        if self.tok(i) == "but" and self.tok(i - 1) in (
            "day",
            "time",
            "anytime",
            "whenever",
            "anything",
            "everything",
            "days",
            "weekday",
        ):
            return self.one(NEG, i, i + 1)  # "any day but Monday" = except Monday
        if pair in (["instead", "of"], ["other", "than"], ["rather", "than"]):
            return self.one(NEG, i, i + 2)
        if self.tok(i) in NEGATIONS:
            return self.one(NEG, i, i + 1)
        return None

    def anytime(self, i: int) -> Found | None:
        tok = self.tok(i)
        if tok in ANYTIME:
            return self.one(ANY, i, i + 1)
        if tok == "any" and self.tok(i + 1) in ("time", "day"):
            return self.one(ANY, i, i + 2)
        if tok == "all" and self.tok(i + 1) == "day":
            return self.one(ANY, i, i + 2)
        if self.t[i : i + 2] == ["first", "thing"]:
            j = i + 2
            if self.t[j : j + 3] == ["in", "the", "morning"]:
                j += 3
            return self.one(DAYPART, i, j, "early")
        return None

    # ---- clocks -------------------------------------------------------------------------------------

    def clock(self, i: int, *, bare_ok: bool, to_ok: bool = False) -> tuple[Clock, int] | None:
        """A clock time. "N to H" (minutes before the hour) is read when `to_ok` (an exact time is
        being read, not the start of a range) or when N cannot start a range ("quarter", 20, 25)."""
        tok, nxt = self.tok(i), self.tok(i + 1)
        if tok in ("noon", "midday") and bare_ok:
            return Clock(12, fixed=True), i + 1
        if tok == "midnight" and bare_ok:
            return Clock(0, fixed=True), i + 1
        if tok in ("half", "quarter") or int_token(tok, 1, 29) is not None:
            minutes = 30 if tok == "half" else 15 if tok == "quarter" else int(tok)
            if nxt == "past" or (nxt == "to" and (to_ok or tok == "quarter" or minutes in (20, 25))):
                got = self.plain_clock(i + 2, bare_ok=True, unit="oclock", meridiem=True)
                if got is not None:
                    c, j = got
                    if c.hour <= 12:
                        total = c.hour * 60 + (minutes if nxt == "past" else -minutes)
                        hour, minute = divmod(total % (24 * 60), 60)
                        return Clock(hour or 12, minute, c.meridiem, fixed=c.fixed), j
            if tok == "half" and bare_ok:
                got = self.plain_clock(i + 1, bare_ok=True, unit="oclock", meridiem=True)
                if got is not None and got[0].hour <= 12 and self.tok(got[1]) != "hour":
                    c, j = got  # British "half two" = 2:30
                    return Clock(c.hour, 30, c.meridiem), j
        got = self.plain_clock(i, bare_ok=bare_ok, unit="oclock", meridiem=True)
        if got is not None and self.tok(got[1]) == "noon" and got[0].hour == 12:
            return got[0], got[1] + 1  # "12 noon"
        return got

    def time_range(self, i: int) -> Found | None:
        """ "between 10 and 12", "from 4 to 7 pm", "10 to 12", "9-5"."""
        tok = self.tok(i)
        start = i + 1 if tok in ("between", "from") else i
        first = self.clock(start, bare_ok=True)
        if first is None:
            return None
        c1, j = first
        joiner = ("and",) if tok == "between" else ("to", "-", "till", "until", "through", "thru")
        if self.tok(j) not in joiner or (start == i and self._minutes_to(i)):
            return None
        second = self.clock(j + 1, bare_ok=True)
        if second is None:
            return None
        c2, k = second
        if c1.meridiem is None and c2.meridiem is not None:
            # "from 2 to 4 pm": the meridiem of the end covers the start unless that inverts the range.
            shared = Clock(c1.hour, c1.minute, c2.meridiem, c1.fixed)
            a, b = shared.resolve(), c2.resolve()
            if a is not None and b is not None and a < b:
                c1 = shared
        return self.one(WINDOW, i, k, (c1, c2))

    def _minutes_to(self, i: int) -> bool:
        """ "five to three" without "from": minutes before the hour, not a range from 5 to 3 (a range
        that would run backwards; "ten to two" stays a range, 10-14, as "10 to 2" is said)."""
        n, h = int_token(self.tok(i), 1, 29), int_token(self.tok(i + 2), 1, 12)
        return self.tok(i + 1) == "to" and n in (5, 20, 25) and h is not None and (n > h or n > 12)

    def open_time(self, i: int) -> Found | None:
        """ "after 4pm", "from 4pm on", "before 11", "until 11", "not before 10am", "after lunch"."""
        tok = self.tok(i)
        if self.t[i : i + 2] in (["later", "than"], ["earlier", "than"]):
            j, start = i + 2, tok == "later"
        elif tok in OPEN_START or tok in OPEN_END or self.t[i : i + 2] == ["up", "to"]:
            j, start = i + (2 if tok == "up" else 1), tok in OPEN_START
        else:
            return None
        j = self.skip(j, ("at", "around", "about"))
        if self.tok(j) == "lunch" or self.t[j : j + 2] == ["the", "lunch"]:
            return self.one(DAYPART, i, j + 1, "after_lunch" if start else "before_lunch")
        if self.tok(j) == "work" and start:
            return self.one(DAYPART, i, j + 1, "evening")
        got = self.clock(j, bare_ok=True)
        if got is None:
            return None
        clock, k = got
        if self.tok(k) == "on" or self.tok(k) == "onwards":
            k += 1
        return self.one(WINDOW, i, k, (clock, None) if start else (None, clock))

    def exact_time(self, i: int) -> Found | None:
        tok = self.tok(i)
        if tok in EXACT_PREPS:
            j = self.skip(i + 1, EXACT_PREPS)
            if self.tok(j) in ("lunch", "lunchtime"):
                return self.one(DAYPART, i, j + 1, "noon")
            if self.tok(j) == "night":
                return self.one(DAYPART, i, j + 1, "evening")
            got = self.clock(j, bare_ok=True, to_ok=True)
            if got is None:
                return None
            return self.one(EXACT, i, got[1], got[0])
        got = self.clock(i, bare_ok=False, to_ok=True)
        if got is None:
            return None
        return self.one(EXACT, i, got[1], got[0])

    # ---- days ---------------------------------------------------------------------------------------

    def weekday_at(self, i: int) -> tuple[int, bool, int] | None:
        tok = self.tok(i)
        if tok in EN_WEEKDAYS:
            return EN_WEEKDAYS[tok], False, i + 1
        if tok.endswith("s") and tok[:-1] in EN_WEEKDAYS:
            return EN_WEEKDAYS[tok[:-1]], True, i + 1
        return None

    def weekday_range(self, i: int) -> Found | None:
        tok = self.tok(i)
        if tok in ("weekdays", "weekday", "workdays") or self.t[i : i + 3] == ["during", "the", "week"]:
            return self.one(WEEKDAYS, i, i + (3 if tok == "during" else 1), frozenset(range(5)))
        if tok in ("weekend", "weekends"):
            return self.one(WEEKDAYS, i, i + 1, frozenset({5, 6}))
        start = i + 1 if tok in ("from", "between") else i
        first = self.weekday_at(start)
        if first is None:
            return None
        joiner = ("and",) if tok == "between" else ("to", "through", "thru", "till", "until", "-")
        if self.tok(first[2]) not in joiner:
            return None
        second = self.weekday_at(first[2] + 1)
        if second is None:
            return None
        a, b = first[0], second[0]
        days = frozenset((a + n) % 7 for n in range((b - a) % 7 + 1))
        return self.one(WEEKDAYS, i, second[2], days)

    def day_ref(self, i: int) -> tuple[Ref, int] | None:
        anchored = self._from_ref(i)
        if anchored is not None:
            return anchored
        fixed = self._fixed_day_ref(i)
        if fixed is not None:
            return fixed
        tok = self.tok(i)
        if tok == "in":
            return self._in_ref(i)
        if tok in MODS:
            return self._modified_ref(i, MODS[tok])
        if tok in PARTS:
            return self._part_of(i)
        return self._weekday_ref(i)

    def _from_ref(self, i: int) -> tuple[Ref, int] | None:
        """ "a week from Thursday", "two weeks from today", "ten days from now": the anchor day shifted."""
        got = self.amount(i)
        if got is None or self.tok(got[1]) != "from":
            return None
        days, j = got
        if self.tok(j + 1) == "now":
            return Ref("rel", 0, shift=days), j + 2
        anchor = self._fixed_day_ref(j + 1) or self._weekday_ref(j + 1)
        if anchor is None or anchor[0].kind not in ("rel", "weekday", "date", "dom"):
            return None
        ref, k = anchor
        return replace(ref, shift=ref.shift + days), k

    def _fixed_day_ref(self, i: int) -> tuple[Ref, int] | None:
        """Set phrases: "today", "tomorrow", "the day after tomorrow", "the week after next", "midweek",
        "this afternoon", "this coming Friday"."""
        tok, nxt = self.tok(i), self.tok(i + 1)
        if tok in ("today", "tonight"):
            return Ref("rel", 0), i + 1
        if tok == "tomorrow":
            return Ref("rel", 1), i + 1
        if self.t[i : i + 3] == ["day", "after", "tomorrow"]:
            return Ref("rel", 2), i + 3
        if self.t[i : i + 4] == ["the", "week", "after", "next"] or self.t[i : i + 3] == ["week", "after", "next"]:
            n = 4 if tok == "the" else 3
            return Ref("week", 2, mod="all"), i + n
        if tok == "midweek":
            return Ref("week", 0, mod="mid"), i + 1
        if tok == "this" and nxt in ("morning", "afternoon", "evening"):
            return Ref("rel", 0), i + 1  # "this afternoon" = today; the daypart word follows
        if tok == "this" and nxt == "coming":
            wd = self.weekday_at(i + 2)
            if wd is not None and not wd[1]:
                return Ref("weekday", wd[0], mod="coming"), wd[2]
        return None

    def _in_ref(self, i: int) -> tuple[Ref, int] | None:
        """ "in 3 days", "in a week", "in May"."""
        nxt = self.tok(i + 1)
        n = 1 if nxt in ("a", "one", "1") else int_token(nxt, 1, 52)
        unit = self.tok(i + 2)
        if n is not None and unit in ("day", "days"):
            return Ref("rel", n), i + 3
        if n is not None and unit in ("week", "weeks"):
            return Ref("week_of", 7 * n), i + 3
        if nxt in EN_MONTHS:
            return Ref("month", EN_MONTHS[nxt], mod="all"), i + 2
        return None

    def _modified_ref(self, i: int, mod: str) -> tuple[Ref, int] | None:
        """ "next Friday", "this week", "next month"."""
        nxt = self.tok(i + 1)
        wd = self.weekday_at(i + 1)
        if wd is not None and not wd[1]:
            return Ref("weekday", wd[0], mod=mod), wd[2]
        if nxt == "week":
            return Ref("week", MOD_WEEKS[mod], mod="all"), i + 2
        if nxt == "month":
            return Ref("month", None, MOD_WEEKS[mod], mod="all"), i + 2
        return None

    def _weekday_ref(self, i: int) -> tuple[Ref, int] | None:
        """A weekday, with the date that may follow it ("Friday, the 12th"), else a date alone."""
        wd = self.weekday_at(i)
        if wd is not None and not wd[1]:
            j = self.skip(wd[2], (",", "the"))
            dated = self.date_ref(j)
            if dated is not None:
                ref, k = dated
                return Ref(ref.kind, ref.a, ref.b, ref.c, check=wd[0]), k
            return Ref("weekday", wd[0]), wd[2]
        return self.date_ref(i)

    def _part_of(self, i: int) -> tuple[Ref, int] | None:
        part = PARTS[self.tok(i)]
        j = self.skip(i + 1, ("of", "the", "in"))
        if self.tok(j) in EN_MONTHS and part != "rest":
            return Ref("month", EN_MONTHS[self.tok(j)], mod=part), j + 1
        offset = 0
        if self.tok(j) in MODS:
            offset = MOD_WEEKS[MODS[self.tok(j)]]
            j += 1
        if self.tok(j) == "week":
            return Ref("week", offset, mod=part), j + 1
        if self.tok(j) == "month":
            return Ref("month", None, offset, mod=part), j + 1  # "later this month": part "rest"
        return None

    def date_ref(self, i: int) -> tuple[Ref, int] | None:
        """ "the 17th", "December 1st", "1st of December", "December the 1st", "1 December 2026"."""
        tok = self.tok(i)
        j = i + 1 if tok == "the" else i
        day = ordinal_token(self.tok(j))
        if day is not None:
            k = self.skip(j + 1, ("of",))
            month = EN_MONTHS.get(self.tok(k))
            if month is not None:
                return self._with_year(Ref("date", day, month), k + 1)
            return Ref("dom", day), j + 1
        if tok in EN_MONTHS:
            k = self.skip(i + 1, ("the",))
            day = ordinal_token(self.tok(k)) or int_token(self.tok(k), 1, 31)
            if day is not None and self.tok(k + 1) not in ("am", "pm", "oclock", ":"):
                return self._with_year(Ref("date", day, EN_MONTHS[tok]), k + 1)
            return None
        day = int_token(tok, 1, 31)
        if day is not None and self.tok(i + 1) in EN_MONTHS and self.tok(i + 1) != "may":
            return self._with_year(Ref("date", day, EN_MONTHS[self.tok(i + 1)]), i + 2)
        return None

    def _with_year(self, ref: Ref, j: int) -> tuple[Ref, int]:
        k = j + 1 if self.tok(j) == "," else j
        year = int_token(self.tok(k), 2000, 2100)
        if year is not None:
            return Ref("date", ref.a, ref.b, year), k + 1
        return ref, j

    def day(self, i: int) -> Found | None:
        tok = self.tok(i)
        if tok in ("every", "only", "each") and (ahead := self.weekday_at(i + 1)) is not None:
            if tok != "only" or ahead[1]:
                return self.one(WEEKDAYS, i, ahead[2], frozenset({ahead[0]}))
        wd = self.weekday_at(i)
        if wd is not None and wd[1]:
            return self.one(WEEKDAYS, i, wd[2], frozenset({wd[0]}))
        got = self.day_ref(i)
        if got is None:
            return None
        ref, j = self.shifted(*got)
        if ref.kind in ("rel", "weekday") and self.tok(j) == "week" and self.tok(j - 1) != "next":
            ref, j = replace(ref, shift=ref.shift + 7), j + 1  # "tomorrow week", "Friday week"
        kind = RANGE if ref.kind in ("week", "week_of", "month") else DAY
        items = [Item(kind, i, j, ref)]
        if tok == "tonight":
            items.append(Item(DAYPART, i, j, "evening"))
        return items, j

    def span(self, i: int) -> Found | None:
        """ "from Wednesday", "starting next week", "by Friday", "until the 10th", "from the 1st to the 5th"."""
        tok = self.tok(i)
        if self.t[i : i + 2] == ["as", "of"]:
            j, kind = i + 2, "from"
        elif tok in ("from", "starting", "between"):
            j, kind = self.skip(i + 1, ("on", "from")), "from"
        elif tok in ("until", "till", "by", "before", "through"):
            j, kind = self.skip(i + 1, ("the",)), "to"  # "by the end of next week"
        else:
            return None
        got = self.day_ref(j)
        if got is None or (got[0].kind == "rel" and tok == "between"):
            return None
        ref, k = got
        if kind == "to":
            return self.one(SPAN, i, k, (None, ref, tok == "before"))
        if self.tok(k) in ("to", "and", "-", "until", "till", "through"):
            end = self.day_ref(k + 1)
            if end is not None:
                end_ref, n = end
                if ref.kind == "date" and end_ref.kind == "dom":
                    end_ref = Ref("date", end_ref.a, ref.b, ref.c)  # "from December 1st to the 5th"
                if ref.kind == "dom" and end_ref.kind == "date":
                    ref = Ref("date", ref.a, end_ref.b, end_ref.c)
                return self.one(SPAN, i, n, (ref, end_ref, False))
        if tok == "between":
            return None
        if self.tok(k) in ("on", "onwards"):
            k += 1
        return self.one(SPAN, i, k, (ref, None, False))
