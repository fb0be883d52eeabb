"""French availability phrases (normalized tokens, see ``normalize``) → items. Callers in France,
Switzerland and Belgium: "jeudi en huit", "à quatre heures moins le quart", "septante" (read by
``normalize``), "entre midi et deux"."""

from __future__ import annotations

from dataclasses import replace

from voice.bridge.timeprefs import negation
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
    clock_token,
    date_token,
    int_token,
)
from voice.bridge.timeprefs.lexicon_fr import (
    FR_ANYTIME,
    FR_ATTACH_FILLER,
    FR_CHAIN,
    FR_CONJUNCTIONS,
    FR_CORRECTION_PAIRS,
    FR_CORRECTIONS,
    FR_DAYPART_PHRASES,
    FR_DAYPARTS,
    FR_ELLIPSIS_MODS,
    FR_ELLIPSIS_PHRASES,
    FR_MONTHS,
    FR_NEGATIONS,
    FR_NOT_CORRECTIONS,
    FR_NOT_NEGATIONS,
    FR_OR,
    FR_ORDINALS,
    FR_PERIOD_NOUNS,
    FR_PERIOD_PHRASES,
    FR_PERIOD_SIDES,
    FR_PERIOD_SKIP,
    FR_POST_MARKERS,
    FR_PREDICATES,
    FR_SEPARATORS,
    FR_SOFT_CORRECTIONS,
    FR_TIME_STARTS,
    FR_WEEKDAYS,
)

UNIT = "heures"
# "ce jeudi", "cette semaine"; "jeudi prochain", "la semaine qui vient".
THIS = frozenset({"ce", "cet", "cette"})
NEXT = frozenset({"prochain", "prochaine"})
PARTS = {"debut": "start", "mi": "mid", "milieu": "mid", "fin": "end"}
ARTICLES = frozenset({"le", "la", "l", "du", "au", "de", "d"})
EXACT_PREPS = frozenset({"a", "vers", "pour", "environ", "autour", "alentours", "aux", "sur"})
EXACT_SKIP = EXACT_PREPS | {"de", "d", "les"}
# "pas avant le 15" / "pas avant dix heures" are a start, "pas après seize heures" an end (read here, after
# normalize dropped fillers and repeats, so "pas pas avant" and "pas euh avant" read the same).
FROM_WORDS = (
    ("a", "partir", "de"),
    ("a", "partir", "du"),
    ("a", "partir", "d"),
    ("des",),
    ("apres",),
    ("pas", "avant"),
)
UNTIL_WORDS = (("jusqu", "a"), ("jusqu", "au"), ("d", "ici"), ("avant",), ("pas", "apres"))
DAY_UNITS = {"jour": 1, "jours": 1, "semaine": 7, "semaines": 7}
# "dans huit jours" / "dans quinze jours" say one and two weeks, as "en huit" / "en quinze" do.
DAY_IDIOMS = {8: 7, 15: 14}


class FrenchGrammar(Grammar):
    dayparts = FR_DAYPARTS
    clock_prep = "a"
    months = FR_MONTHS
    week_word = "semaine"
    week_of_words = frozenset({"de", "d", "du", "en"})
    last_words = frozenset({"derniere"})
    month_week_skip = frozenset({"la", "le", "en", "dans"})
    minute_stops = (UNIT, "-", "a")
    shift_in = frozenset({"en"})
    shift_one = frozenset({"une", "un", "1"})
    shift_units = DAY_UNITS
    shift_idioms = DAY_IDIOMS
    ellipsis_mods = FR_ELLIPSIS_MODS
    ellipsis_phrases = FR_ELLIPSIS_PHRASES
    period_nouns = FR_PERIOD_NOUNS
    period_sides = FR_PERIOD_SIDES
    period_skip = FR_PERIOD_SKIP
    period_phrases = FR_PERIOD_PHRASES
    corrections, correction_pairs, not_corrections = FR_CORRECTIONS, FR_CORRECTION_PAIRS, FR_NOT_CORRECTIONS
    soft_corrections, time_starts, weekday_words = FR_SOFT_CORRECTIONS, FR_TIME_STARTS, FR_WEEKDAYS
    or_words, attach_filler = FR_OR, FR_ATTACH_FILLER
    negation_words = negation.Words(
        FR_CHAIN, FR_CONJUNCTIONS, FR_POST_MARKERS, FR_PREDICATES, only=(["que"],), no_longer=(["plus"],)
    )

    def rules(self) -> list[Rule]:
        return [
            self.separator,
            self.negation,
            self.anytime,
            self.daypart_phrase,
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
        return FR_ORDINALS.get(self.tok(i))

    def _phrase(self, i: int, phrases: tuple[tuple[str, ...], ...]) -> int | None:
        """The index after the first of `phrases` said at i."""
        for words in phrases:
            if self._match(i, words):
                return i + len(words)
        return None

    # ---- markers ------------------------------------------------------------------------------------

    def separator(self, i: int) -> Found | None:
        return self.one(SEP, i, i + 1) if self.tok(i) in FR_SEPARATORS else None

    def negation(self, i: int) -> Found | None:
        tok = self.tok(i)
        if tok == "pas" and self.tok(i + 1) in ("avant", "apres"):
            return None  # a bound: see FROM_WORDS / UNTIL_WORDS
        if tok in FR_NEGATIONS and (tok, self.tok(i + 1)) not in FR_NOT_NEGATIONS:
            return self.one(NEG, i, i + 1)
        if self._match(i, ("a", "part")) or self._match(i, ("en", "dehors", "de")):
            return self.one(NEG, i, i + (2 if tok == "a" else 3))
        return None

    def anytime(self, i: int) -> Found | None:
        j = self._phrase(i, FR_ANYTIME)
        return self.one(ANY, i, j) if j is not None else None

    def daypart_phrase(self, i: int) -> Found | None:
        """ "en fin de matinée", "en début d'après-midi", "après le déjeuner", "l'après-midi"."""
        got = self.daypart_at(i)
        if got is None or got[1] == i + 1:
            return None  # one word ("matin") is read last, after clocks and days had their turn
        return self.one(DAYPART, i, got[1], got[0])

    def daypart_at(self, i: int) -> tuple[str, int] | None:
        for words, key in FR_DAYPART_PHRASES:
            if self._match(i, words):
                return key, i + len(words)
        part = self.dayparts.get(self.tok(i))
        return (part, i + 1) if part else None

    # ---- clocks -------------------------------------------------------------------------------------

    def clock(self, i: int, *, bare_ok: bool) -> tuple[Clock, int] | None:
        """ "14", "14:30", "14 heures 30", "3 heures et quart", "4 heures moins le quart", "midi et demi"."""
        tok = self.tok(i)
        if tok in ("midi", "minuit"):
            if not bare_ok and self.tok(i + 1) not in ("et", "moins"):
                return None
            clock, j = Clock(12 if tok == "midi" else 0, 0, fixed=True), i + 1
        else:
            got = self.plain_clock(i, bare_ok=bare_ok, unit=UNIT)
            if got is None:
                return None
            clock, j = got
        if clock.minute:
            return clock, j
        return self._fraction(clock, j)

    def _fraction(self, clock: Clock, j: int) -> tuple[Clock, int]:
        """ "et quart" / "et demie" / "moins le quart" / "moins dix" after a full hour."""
        nxt, after = self.tok(j + 1), self.tok(j + 2)
        offset = 0
        if self.tok(j) == "et" and nxt in ("quart", "demie", "demi"):
            offset, j = (15 if nxt == "quart" else 30), j + 2
        elif self.tok(j) == "moins" and (nxt == "quart" or (nxt == "le" and after == "quart")):
            offset, j = -15, j + (2 if nxt == "quart" else 3)
        elif self.tok(j) == "moins" and (minutes := int_token(nxt, 1, 29)) is not None:
            offset, j = -minutes, j + 2
        if not offset:
            return clock, j
        hour, minute = divmod(clock.hour * 60 + offset, 60)
        fixed = clock.fixed or hour >= 13
        return Clock(hour % 24 if fixed else (hour or 12), minute, clock.meridiem, fixed), j

    def time_range(self, i: int) -> Found | None:
        """ "entre neuf et onze heures", "de 9 heures à 11 heures", "entre midi et deux", "9 - 11"."""
        tok = self.tok(i)
        start = i + 1 if tok in ("entre", "de") else i
        first = self.clock(start, bare_ok=True)
        if first is None:
            return None
        c1, j = first
        joiner = ("et",) if tok == "entre" else ("a", "-", "jusqu")
        if self.tok(j) not in joiner:
            return None
        second = self.clock(self.skip(j + 1, ("a",)), bare_ok=True)
        if second is None or (tok not in ("entre", "de") and self.tok(j) != "-"):
            return None
        return self.one(WINDOW, i, second[1], (c1, second[0]))

    def open_time(self, i: int) -> Found | None:
        """ "à partir de 15 heures", "dès 9 heures", "après 16 heures", "avant midi", "jusqu'à 11 heures"."""
        after = self._phrase(i, FROM_WORDS)
        until = None if after is not None else self._phrase(i, UNTIL_WORDS)
        j = after if after is not None else until
        if j is None:
            return None
        got = self.clock(self.skip(j, ("a",)), bare_ok=True)
        if got is None:
            return None
        clock, k = got
        return self.one(WINDOW, i, k, (clock, None) if after is not None else (None, clock))

    def exact_time(self, i: int) -> Found | None:
        tok = self.tok(i)
        if tok in EXACT_PREPS:
            j = self.skip(i + 1, EXACT_SKIP)
            if tok == "vers":
                part = self.daypart_at(self.skip(j, ("le", "la", "l")))
                if part is not None:  # "vers midi", "vers le soir"
                    return self.one(DAYPART, i, part[1], part[0])
            got = self.clock(j, bare_ok=True)
        elif self.tok(i - 1) in ("dans", "ici"):
            return None  # "dans une heure", "d'ici deux heures": a duration, not a clock
        else:
            got = self.clock(i, bare_ok=False)
        if got is None:
            return None
        return self.one(EXACT, i, got[1], got[0])

    # ---- days ---------------------------------------------------------------------------------------

    def weekday_at(self, i: int) -> tuple[int, bool, int] | None:
        """(weekday, recurring, next index) of "lundi" / "lundis"."""
        tok = self.tok(i)
        if tok in FR_WEEKDAYS:
            return FR_WEEKDAYS[tok], False, i + 1
        if tok.endswith("s") and tok[:-1] in FR_WEEKDAYS:
            return FR_WEEKDAYS[tok[:-1]], True, i + 1
        return None

    def weekday_range(self, i: int) -> Found | None:
        """ "du lundi au mercredi", "entre lundi et mercredi", "en semaine", "le week-end"."""
        tok = self.tok(i)
        if self._match(i, ("en", "semaine")):
            return self.one(WEEKDAYS, i, i + 2, frozenset(range(5)))
        j = self._phrase(i, (("le", "week", "end"), ("le", "weekend"), ("les", "week", "ends")))
        if j is not None:
            return self.one(WEEKDAYS, i, j, frozenset({5, 6}))
        start = self.skip(i + 1, ("le",)) if tok in ("du", "de", "entre") else i
        first = self.weekday_at(start)
        if first is None:
            return None
        joiner = ("et",) if tok == "entre" else ("au", "a", "-")
        if self.tok(first[2]) not in joiner:
            return None
        second = self.weekday_at(self.skip(first[2] + 1, ("le",)))
        if second is None:
            return None
        a, b = first[0], second[0]
        return self.one(WEEKDAYS, i, second[2], frozenset((a + n) % 7 for n in range((b - a) % 7 + 1)))

    def day_ref(self, i: int, *, dom_ok: bool = False) -> tuple[Ref, int] | None:
        """One day or a run of days starting at token i."""
        tok, nxt = self.tok(i), self.tok(i + 1)
        if tok == "aujourdhui":
            return Ref("rel", 0), i + 1
        if tok == "demain":
            return Ref("rel", 1), i + 1
        if tok == "apres" and nxt == "demain":
            return Ref("rel", 2), i + 2
        if tok == "dans":
            return self._in(i)
        if tok in THIS:
            return self._this(i)
        if tok in ("semaine", "mois"):
            return self._next_period(i)
        if tok in PARTS:
            return self._part_of(i)
        if tok in FR_MONTHS:
            return Ref("month", FR_MONTHS[tok], mod="all"), i + 1
        wd = self.weekday_at(i)
        if wd is not None and not wd[1]:
            return self._weekday(wd[0], wd[2])
        if tok in ARTICLES and tok not in ("de", "d"):
            j = i + 1
            if self.weekday_at(j) is not None:
                return self.day_ref(j)
            return self.date_ref(j, dom_ok=True)
        return self.date_ref(i, dom_ok=dom_ok)

    def _weekday(self, weekday: int, j: int) -> tuple[Ref, int]:
        """ "jeudi", "jeudi prochain", "jeudi qui vient", "mardi 8 décembre", "mardi le 8"."""
        if self.tok(j) in NEXT:
            return Ref("weekday", weekday, mod="next"), j + 1
        if self._match(j, ("qui", "vient")):
            return Ref("weekday", weekday, mod="coming"), j + 2
        k = self.skip(j, (",", "le"))
        dated = self.date_ref(k, dom_ok=True)
        if dated is not None:
            ref, m = dated
            return Ref(ref.kind, ref.a, ref.b, ref.c, check=weekday), m
        return Ref("weekday", weekday), j

    def _in(self, i: int) -> tuple[Ref, int] | None:
        """ "dans trois jours", "dans quinze jours", "dans deux semaines", "dans un mois", "dans la semaine"."""
        nxt = self.tok(i + 1)
        if nxt == "la" and self.tok(i + 2) == "semaine" and self.tok(i + 3) not in NEXT:
            return Ref("week", 0, mod="all"), i + 3
        n = 1 if nxt in self.shift_one else int_token(nxt, 1, 120)
        unit = self.tok(i + 2)
        if n is None:
            return None
        if unit in ("jour", "jours"):
            return Ref("rel", DAY_IDIOMS.get(n, n)), i + 3
        if unit in ("semaine", "semaines"):
            return Ref("week_of", 7 * n), i + 3
        if unit == "mois":
            return Ref("month", None, n, mod="all"), i + 3
        return None

    def _this(self, i: int) -> tuple[Ref, int] | None:
        """ "ce jeudi", "cette semaine", "ce mois-ci"."""
        nxt = self.tok(i + 1)
        wd = self.weekday_at(i + 1)
        if wd is not None and not wd[1]:
            return Ref("weekday", wd[0], mod="this"), wd[2]
        if nxt == "semaine":
            return Ref("week", 0, mod="all"), i + 2
        if nxt == "mois":
            return Ref("month", None, 0, mod="all"), i + (3 if self.tok(i + 2) == "ci" else 2)
        return None

    def _next_period(self, i: int) -> tuple[Ref, int] | None:
        """ "semaine prochaine", "semaine qui vient", "mois prochain", "mois de janvier"."""
        tok = self.tok(i)
        if tok == "mois" and self.tok(i + 1) == "de" and self.tok(i + 2) in FR_MONTHS:
            return Ref("month", FR_MONTHS[self.tok(i + 2)], mod="all"), i + 3
        j = i + 1
        if self.tok(j) in NEXT:
            j += 1
        elif self._match(j, ("qui", "vient")):
            j += 2
        else:
            return None
        return (Ref("week", 1, mod="all") if tok == "semaine" else Ref("month", None, 1, mod="all")), j

    def _part_of(self, i: int) -> tuple[Ref, int] | None:
        """ "fin février", "début janvier", "mi-décembre", "en fin de semaine", "début de semaine prochaine"."""
        part = PARTS[self.tok(i)]
        j = self.skip(i + 1, ("de", "d", "du", "la", "le", "l"))
        if self.tok(j) in FR_MONTHS:
            return Ref("month", FR_MONTHS[self.tok(j)], mod=part), j + 1
        offset = 0
        if self.tok(j) in THIS:
            j += 1
        if self.tok(j) not in ("semaine", "mois"):
            return None
        unit, j = self.tok(j), j + 1
        if self.tok(j) in NEXT:
            offset, j = 1, j + 1
        if unit == "semaine":
            return Ref("week", offset, mod=part), j
        return Ref("month", None, offset, mod=part), j

    def date_ref(self, i: int, *, dom_ok: bool) -> tuple[Ref, int] | None:
        """ "12.12." (from "12/12"), "23 mars", "1 décembre 2027", "le 12" (a day of the month when dom_ok)."""
        tok = self.tok(i)
        found = date_token(tok)
        if found:
            return Ref("date", *found), i + 1
        parsed = clock_token(tok)
        if parsed is None or parsed[1] is not None or parsed[2] is not None or not 1 <= parsed[0] <= 31:
            return None
        day = parsed[0]
        month = FR_MONTHS.get(self.tok(i + 1))
        if month is not None:
            year = int_token(self.tok(i + 2), 2000, 2100)
            return Ref("date", day, month, year), i + 2 + (year is not None)
        if dom_ok and self.tok(i + 1) not in (UNIT, ":", "et", "moins", "jours", "jour", "semaines", "mois"):
            return Ref("dom", day), i + 1
        return None

    def shifted(self, ref: Ref, j: int) -> tuple[Ref, int]:
        """ "jeudi en huit" = the coming Thursday a week on, "en quinze" two weeks on."""
        n = int_token(self.tok(j + 1), 8, 15) if self.tok(j) == "en" else None
        if n in DAY_IDIOMS and self.tok(j + 2) not in DAY_UNITS and ref.kind in ("rel", "weekday", "date", "dom"):
            return replace(ref, shift=ref.shift + DAY_IDIOMS[n]), j + 2
        return super().shifted(ref, j)

    def day(self, i: int) -> Found | None:
        tok = self.tok(i)
        recurring = self._recurring(i)
        if recurring is not None:
            return recurring
        if tok in THIS and (part := self.daypart_at(i + 1)) is not None:
            return [Item(DAY, i, i + 1, Ref("rel", 0)), Item(DAYPART, i + 1, part[1], part[0])], part[1]
        got = self.day_ref(i)
        if got is None:
            return None
        ref, j = self.shifted(*got)
        kind = RANGE if ref.kind in ("week", "week_of", "month") else DAY
        return [Item(kind, i, j, ref)], j

    def _recurring(self, i: int) -> Found | None:
        """ "le lundi" (without a date after it), "les lundis", "tous les lundis", "chaque lundi", "lundis"."""
        tok = self.tok(i)
        j = i + 2 if self._match(i, ("tous", "les")) else i + 1 if tok in ("le", "les", "chaque") else i
        wd = self.weekday_at(j)
        if wd is None or (j == i and not wd[1]):
            return None
        nxt = self.tok(wd[2])
        dated = nxt[:1].isdigit() or nxt in NEXT or nxt in ("qui", "en") or self.tok(wd[2] + 1)[:1].isdigit()
        if tok == "le" and not wd[1] and dated:
            return None
        return self.one(WEEKDAYS, i, wd[2], frozenset({wd[0]}))

    def span(self, i: int) -> Found | None:
        """ "à partir de jeudi", "dès le 10", "jusqu'à vendredi", "avant jeudi", "du 7 au 11 décembre"."""
        if self._match(i, ("apres", "demain")):
            return None
        after = self._phrase(i, FROM_WORDS)
        j = after if after is not None else self._phrase(i, UNTIL_WORDS)
        if j is not None:
            k = self.skip(j, ("le", "la", "l"))
            got = self.day_ref(k, dom_ok=k > j or self.tok(j - 1) in ("du", "au"))
            if got is None:
                return None
            ref, m = got
            if self.tok(i) == "apres":
                return self.one(SPAN, i, m, (replace(ref, shift=ref.shift + 1), None, False))
            if after is not None:
                return self.one(SPAN, i, m, (ref, None, False))
            return self.one(SPAN, i, m, (None, ref, self.tok(i) == "avant"))
        return self._from_to(i)

    def _from_to(self, i: int) -> Found | None:
        """ "du 7 au 11 décembre", "entre le 7 et le 11"."""
        if self.tok(i) not in ("du", "entre"):
            return None
        j = self.skip(i + 1, ("le",))
        got = self.day_ref(j, dom_ok=True)
        if got is None or self.tok(got[1]) not in ("au", "et", "-"):
            return None
        ref, k = got
        end = self.day_ref(self.skip(k + 1, ("le",)), dom_ok=True)
        if end is None:
            return None
        end_ref, n = end
        if ref.kind == "dom" and end_ref.kind == "date":
            ref = Ref("date", ref.a, end_ref.b, end_ref.c)  # "du 7 au 11 décembre"
        return self.one(SPAN, i, n, (ref, end_ref, False))
