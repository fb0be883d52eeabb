"""The shared machinery of the two grammars: read tokens left to right, at each token try the rules in
order, the first that matches consumes its tokens. A rule returns its items and where reading goes on."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace

from voice.bridge.timeprefs import negation, periods
from voice.bridge.timeprefs.items import DAYPART, ELLIPSIS, RANGE, SPAN, Clock, Item, Ref, clock_token, int_token
from voice.bridge.timeprefs.lexicon import NARROWED

Found = tuple[list[Item], int]
Rule = Callable[[int], "Found | None"]


class Grammar:
    dayparts: dict[str, str] = {}
    early_words: frozenset[str] = frozenset()
    late_words: frozenset[str] = frozenset()
    clock_prep = ""  # the word a bare hour is read after ("um 10, nein, 11": "um 11")
    # Anchored dates ("morgen in einer Woche"): the words for "in", for one, for the units (in days).
    shift_in: frozenset[str] = frozenset()
    shift_one: frozenset[str] = frozenset()
    shift_units: dict[str, int] = {}
    # Idioms that say a week in days: German "in acht Tagen" is a week from the anchor.
    shift_idioms: dict[int, int] = {}
    # Elliptical follow-ups (see ``ellipsis``): bare modifiers ("nächste") and set phrases ("the one
    # after"), longest first.
    ellipsis_mods: dict[str, str] = {}
    ellipsis_phrases: tuple[tuple[tuple[str, ...], tuple[str, int]], ...] = ()
    # Named periods (see ``periods``): the nouns, the words that put a side on them ("nach" = after),
    # the articles between, and set phrases that name a period and side at once ("im neuen Jahr").
    period_nouns: dict[tuple[str, ...], str] = {}
    period_sides: dict[str, str] = {}
    period_skip: frozenset[str] = frozenset()
    period_phrases: dict[tuple[str, ...], tuple[str, str]] = {}
    # Weeks of a month ("die zweite Woche im Dezember", "the last week of November").
    months: dict[str, int] = {}
    week_word = ""
    week_of_words: frozenset[str] = frozenset()
    last_words: frozenset[str] = frozenset()
    month_week_skip: frozenset[str] = frozenset()  # articles before "the second week of ..."
    # Words after a clock's hour and unit that end it ("14 Uhr 16 bis 18": 16 is not the minutes).
    minute_stops: tuple[str, ...] = ("uhr", "-", "bis")
    # Corrections (see ``parse.split_corrections``): words and word pairs that start a correction,
    # pairs that look like one but are not ("rather than"), words that correct only before a day or a
    # time (``soft_corrections``; what starts one: a digit, ``time_starts`` or a weekday).
    corrections: frozenset[str] = frozenset()
    correction_pairs: frozenset[tuple[str, str]] = frozenset()
    not_corrections: frozenset[tuple[str, str]] = frozenset()
    soft_corrections: frozenset[str] = frozenset()
    time_starts: frozenset[str] = frozenset()
    weekday_words: dict[str, int] = {}
    # "Mittwoch oder Freitag vormittags": the words for "or", and the words that may stand between a
    # day and the daypart that belongs to it alone.
    or_words: frozenset[str] = frozenset()
    attach_filler: frozenset[str] = frozenset()
    negation_words: negation.Words = negation.DE_EN

    def __init__(self, tokens: Sequence[str]) -> None:
        self.t = list(tokens)

    def rules(self) -> list[Rule]:
        raise NotImplementedError

    def items(self) -> list[Item]:
        out: list[Item] = []
        rules = self.rules()
        i = 0
        while i < len(self.t):
            for rule in rules:
                found = rule(i)
                if found is not None:
                    items, j = found
                    out.extend(items)
                    i = max(j, i + 1)
                    break
            else:
                i += 1
        return out

    # ---- helpers ----------------------------------------------------------------------------------

    def tok(self, i: int) -> str:
        return self.t[i] if 0 <= i < len(self.t) else ""

    @staticmethod
    def one(kind: str, i: int, j: int, value: object = None) -> Found:
        return [Item(kind, i, j, value)], j

    def skip(self, i: int, words: frozenset[str] | set[str] | tuple[str, ...]) -> int:
        while self.tok(i) in words:
            i += 1
        return i

    def plain_clock(self, i: int, *, bare_ok: bool, unit: str, meridiem: bool = False) -> tuple[Clock, int] | None:
        """A digit clock ("14", "14:30", "14.30", "07:30") plus its unit word ("Uhr", "o'clock") and, in
        English, a.m./p.m. A bare hour counts only after a time preposition (bare_ok)."""
        parsed = clock_token(self.tok(i))
        if parsed is None:
            return None
        hour, minute, sep, trailing_dot, leading_zero = parsed
        if trailing_dot and (minute is not None or not bare_ok):
            return None  # "17." is a day of the month, "14.30." a date
        has_unit, minute, mer, j = self._clock_suffix(i + 1, minute, unit=unit, meridiem=meridiem)
        if not _plausible_clock(hour, minute, sep, mer, context=has_unit or bare_ok):
            return None
        fixed = hour >= 13 or hour == 0 or leading_zero
        return Clock(hour % 24, minute or 0, mer, fixed), j

    def _clock_suffix(
        self, j: int, minute: int | None, *, unit: str, meridiem: bool
    ) -> tuple[bool, int | None, str | None, int]:
        """The words after a digit clock: its unit (then "14 Uhr 30" gives the minutes) and a.m./p.m.
        Returns (unit said, minute, meridiem, index after them)."""
        has_unit = self.tok(j) == unit
        if has_unit:
            j += 1
            extra = int_token(self.tok(j), 0, 59)
            if minute is None and extra is not None and self.tok(j + 1) not in self.minute_stops:
                minute, j = extra, j + 1  # "14 Uhr 30"
        mer = None
        if meridiem and self.tok(j) in ("am", "pm"):
            mer, j = self.tok(j), j + 1
        return has_unit, minute, mer, j

    def day_ref(self, i: int) -> tuple[Ref, int] | None:
        """A day reference starting at token i (each grammar has its own)."""
        return None

    def amount(self, i: int) -> tuple[int, int] | None:
        """ "einer Woche", "14 Tagen", "two weeks", "a fortnight": (days, index after)."""
        tok = self.tok(i)
        n = 1 if tok in self.shift_one else int_token(tok, 1, 99)
        unit = self.shift_units.get(self.tok(i + 1))
        if n is None or unit is None:
            return None
        return n * unit, i + 2

    def shifted(self, ref: Ref, j: int) -> tuple[Ref, int]:
        """A day followed by how far from it: "morgen in einer Woche", "Freitag in vierzehn Tagen"."""
        if ref.kind not in ("rel", "weekday", "date", "dom") or self.tok(j) not in self.shift_in:
            return ref, j
        got = self.amount(j + 1)
        if got is None:
            return ref, j
        days, k = got
        return replace(ref, shift=ref.shift + self.shift_idioms.get(days, days)), k

    def _match(self, i: int, words: tuple[str, ...]) -> bool:
        return self.t[i : i + len(words)] == list(words)

    def ellipsis_rule(self, i: int) -> Found | None:
        """ "nächste" / "next" with no noun, "the one after", "die danach": see ``ellipsis``."""
        for words, value in self.ellipsis_phrases:
            if self._match(i, words) and self.day_ref(i + len(words)) is None:
                # "the day after" is elliptical, "the day after tomorrow" is not
                return self.one(ELLIPSIS, i, i + len(words), value)
        mod = self.ellipsis_mods.get(self.tok(i))
        return self.one(ELLIPSIS, i, i + 1, ("mod", mod)) if mod else None

    def period_rule(self, i: int) -> Found | None:
        """ "nach den Feiertagen", "before Christmas", "im neuen Jahr": a named period and its side."""
        for words, (name, phrase_side) in self.period_phrases.items():
            if self._match(i, words):
                return self._period_item(i, i + len(words), name, phrase_side)
        side = self.period_sides.get(self.tok(i))
        j = self.skip(i + 1 if side else i, self.period_skip)
        for words, noun in self.period_nouns.items():
            if self._match(j, words) and (side or noun not in periods.SIDE_ONLY):
                return self._period_item(i, j + len(words), noun, side or "during")
        return None

    def ordinal_at(self, i: int) -> int | None:
        """An ordinal number token ("2." in German, "2nd" in English)."""
        return None

    def month_week_rule(self, i: int) -> Found | None:
        """ "die zweite Woche im Dezember" (normalize splits "Dezemberwoche"), "the last week of November":
        the n-th calendar week touching the month, within the month."""
        j = self.skip(i, self.month_week_skip)
        n = -1 if self.tok(j) in self.last_words else self.ordinal_at(j)
        if n is None or not -1 <= n <= 5 or n == 0 or self.tok(j + 1) != self.week_word:
            return None
        k = j + 3 if self.tok(j + 2) in self.week_of_words else j + 2
        month = self.months.get(self.tok(k))
        if month is None:
            return None
        return self.one(RANGE, i, k + 1, Ref("month_week", month, n))

    def _period_item(self, i: int, j: int, name: str, side: str) -> Found:
        ref = Ref("period", mod=side, name=name)
        if side in ("after", "from"):
            return self.one(SPAN, i, j, (ref, None, False))
        if side in ("before", "until"):
            return self.one(SPAN, i, j, (None, ref, False))
        return self.one(RANGE, i, j, ref)

    def daypart_at(self, i: int) -> tuple[str, int] | None:
        """A daypart word, narrowed by a preceding "früh"/"spät" ("am späten Nachmittag")."""
        tok = self.tok(i)
        if tok in self.early_words | self.late_words:
            nxt = self.dayparts.get(self.tok(i + 1))
            if nxt:
                key = NARROWED.get(("early" if tok in self.early_words else "late", nxt), nxt)
                return key, i + 2
        part = self.dayparts.get(tok)
        if part:
            return part, i + 1
        return None

    def daypart_rule(self, i: int) -> Found | None:
        got = self.daypart_at(i)
        if got is None:
            return None
        key, j = got
        return self.one(DAYPART, i, j, key)


def _plausible_clock(hour: int, minute: int | None, sep: str | None, mer: str | None, *, context: bool) -> bool:
    """Whether a digit clock reads as a time. context: a unit word or a time preposition came with it."""
    if sep == "." and not (context or (minute is not None and minute > 12)):
        return False  # "7.12" without context is a date
    if minute is None and not (context or mer):
        return False
    return not (hour > 24 or (minute or 0) > 59 or (mer and not 1 <= hour <= 12))
