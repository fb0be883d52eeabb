"""German availability phrases (normalized tokens, see ``normalize``) → items."""

from __future__ import annotations

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
from voice.bridge.timeprefs.lexicon import (
    DE_DAYPARTS,
    DE_ELLIPSIS_PHRASES,
    DE_MONTHS,
    DE_PERIOD_NOUNS,
    DE_PERIOD_PHRASES,
    DE_PERIOD_SIDES,
    DE_PERIOD_SKIP,
    DE_WEEKDAYS,
)

SEPARATORS = frozenset({",", "aber", "sondern", "jedoch", "sonst", "ansonsten", "allerdings", "weil", "denn", "dann"})
NEGATIONS = frozenset(
    {
        "nicht",
        "kein",
        "keine",
        "keinen",
        "keiner",
        "ausser",
        "statt",
        "anstatt",
        "anstelle",
        "schlecht",
        "unguenstig",
        "verhindert",
        "urlaub",
        "ausgebucht",
        "belegt",
        "besetzt",
        "nie",
        "niemals",
    }
)
ANYTIME = frozenset({"jederzeit", "egal", "flexibel", "ganztags", "irgendwann", "immer", "tagsueber"})
MODS = {
    "naechste": "next",
    "naechsten": "next",
    "naechster": "next",
    "naechstem": "next",
    "naechstes": "next",
    "kommende": "coming",
    "kommenden": "coming",
    "kommender": "coming",
    "kommendem": "coming",
    "diese": "this",
    "diesen": "this",
    "dieser": "this",
    "diesem": "this",
    "uebernaechste": "after_next",
    "uebernaechsten": "after_next",
    "uebernaechster": "after_next",
}
MOD_WEEKS = {"next": 1, "coming": 1, "this": 0, "after_next": 2}
PARTS = {"anfang": "start", "mitte": "mid", "ende": "end"}
DATE_PREPS = frozenset({"am", "den", "dem", "zum", "vom"})
EXACT_PREPS = frozenset({"um", "gegen", "so", "etwa", "ca", "circa", "ungefaehr"})
DE_CORRECTIONS = frozenset({"nein", "nee", "lieber", "besser", "eher", "stattdessen", "korrektur", "quatsch", "sorry"})
DE_CORRECTION_PAIRS = frozenset({("ich", "meine"), ("ich", "meinte"), ("moment", ",")})
MORNING_BEFORE = frozenset({"am", "jeden", "den", "heute", "diesen", "frueh", "guten", "vom", "der"})


class GermanGrammar(Grammar):
    dayparts = DE_DAYPARTS
    early_words = frozenset({"frueh", "fruehe", "fruehen", "frueher"})
    late_words = frozenset({"spaet", "spaete", "spaeten", "spaeter"})
    clock_prep = "um"
    months = DE_MONTHS
    week_word = "woche"
    week_of_words = frozenset({"im", "des", "in"})
    last_words = frozenset({"letzte", "letzten", "letzter"})
    shift_in = frozenset({"in"})
    shift_one = frozenset({"einer", "einem", "eine", "1"})
    shift_units = {"tag": 1, "tagen": 1, "tage": 1, "woche": 7, "wochen": 7}
    shift_idioms = {8: 7}
    ellipsis_mods = MODS
    ellipsis_phrases = DE_ELLIPSIS_PHRASES
    period_nouns = DE_PERIOD_NOUNS
    period_sides = DE_PERIOD_SIDES
    period_skip = DE_PERIOD_SKIP
    period_phrases = DE_PERIOD_PHRASES
    month_week_skip = frozenset({"die", "der", "in"})
    corrections = DE_CORRECTIONS
    correction_pairs = DE_CORRECTION_PAIRS
    not_corrections = frozenset({("eher", "als"), ("lieber", "als")})
    weekday_words = DE_WEEKDAYS
    or_words = frozenset({"oder", "bzw", "beziehungsweise"})
    attach_filler = frozenset({"am", "in", "den", "dem", "der", "eher", "dann", "so"})

    def rules(self) -> list[Rule]:
        return [
            self.separator,
            self.negation,
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
        parsed = clock_token(self.tok(i))
        return parsed[0] if parsed and parsed[1] is None and parsed[3] else None

    # ---- markers ------------------------------------------------------------------------------------

    def separator(self, i: int) -> Found | None:
        return self.one(SEP, i, i + 1) if self.tok(i) in SEPARATORS else None

    def negation(self, i: int) -> Found | None:
        if self.tok(i) in NEGATIONS:
            return self.one(NEG, i, i + 1)
        if self.tok(i) == "mit" and self.tok(i + 1) == "ausnahme":
            return self.one(NEG, i, i + 2)
        return None

    def anytime(self, i: int) -> Found | None:
        tok = self.tok(i)
        if tok == "immer" and self.tok(i + 1).rstrip("s") in DE_WEEKDAYS:
            return None
        if tok in ANYTIME:
            return self.one(ANY, i, i + 1)
        if tok == "den" and self.tok(i + 1) == "ganzen" and self.tok(i + 2) == "tag":
            return self.one(ANY, i, i + 3)
        return None

    # ---- clocks -------------------------------------------------------------------------------------

    def clock(self, i: int, *, bare_ok: bool) -> tuple[Clock, int] | None:
        tok = self.tok(i)
        nxt = self.tok(i + 1)
        if tok == "halb":
            h = int_token(nxt, 1, 24)
            if h is not None:
                return Clock((h - 1) or 12, 30, fixed=h - 1 >= 13), self._uhr(i + 2)
        if tok in ("viertel", "dreiviertel"):
            if nxt in ("nach", "vor") and tok == "viertel":
                return self._offset(15, nxt, i + 2)
            h = int_token(nxt, 1, 24)
            if h is not None:
                return Clock((h - 1) or 12, 15 if tok == "viertel" else 45, fixed=h - 1 >= 13), self._uhr(i + 2)
        minutes = int_token(tok, 1, 29)
        if minutes in (5, 10, 20, 25) and nxt in ("nach", "vor"):
            got = self._offset(minutes, nxt, i + 2)
            if got is not None:
                return got
        return self.plain_clock(i, bare_ok=bare_ok, unit="uhr")

    def _uhr(self, j: int) -> int:
        return j + 1 if self.tok(j) == "uhr" else j

    def _offset(self, minutes: int, direction: str, j: int) -> tuple[Clock, int] | None:
        """ "viertel nach drei", "zehn vor halb vier"."""
        half = self.tok(j) == "halb"
        h = int_token(self.tok(j + 1 if half else j), 0, 24)
        if h is None:
            return None
        base = (h - 1) * 60 + 30 if half else h * 60
        total = base + minutes if direction == "nach" else base - minutes
        hour, minute = divmod(total % (24 * 60), 60)
        return Clock(hour or 12, minute, fixed=hour >= 13), self._uhr(j + (2 if half else 1))

    def time_range(self, i: int) -> Found | None:
        """ "zwischen 10 und 12", "von 16 bis 19 Uhr", "10 bis 12 Uhr", "9-17 Uhr"."""
        tok = self.tok(i)
        start = i + 1 if tok in ("zwischen", "von") else i
        first = self.clock(start, bare_ok=True)
        if first is None:
            return None
        c1, j = first
        joiner = ("und",) if tok == "zwischen" else ("bis", "-")
        if self.tok(j) not in joiner:
            return None
        second = self.clock(self.skip(j + 1, ("um",)), bare_ok=True)
        if second is None:
            return None
        c2, k = second
        return self.one(WINDOW, i, k, (c1, c2))

    def open_time(self, i: int) -> Found | None:
        """ "ab 16 Uhr", "nach 16 Uhr", "bis 11", "vor 10 Uhr", "nach der Mittagspause"."""
        tok = self.tok(i)
        if tok not in ("ab", "nach", "bis", "vor", "von"):
            return None
        j = self.skip(i + 1, ("um",))
        rest = self.t[j : j + 2]
        if tok in ("nach", "vor") and (
            rest[:1] == ["mittag"]
            or rest in (["dem", "mittagessen"], ["dem", "mittag"], ["der", "mittagspause"], ["dem", "essen"])
        ):
            k = j + (1 if rest[:1] == ["mittag"] else 2)
            return self.one(DAYPART, i, k, "after_lunch" if tok == "nach" else "before_lunch")
        if tok == "nach" and self.tok(j) == "feierabend":
            return self.one(DAYPART, i, j + 1, "evening")
        got = self.clock(j, bare_ok=True)
        if got is None:
            return None
        clock, k = got
        if self.tok(k) == "an":
            k += 1  # "von 16 Uhr an"
        value = (clock, None) if tok in ("ab", "nach", "von") else (None, clock)
        return self.one(WINDOW, i, k, value)

    def exact_time(self, i: int) -> Found | None:
        tok = self.tok(i)
        if tok in EXACT_PREPS:
            j = self.skip(i + 1, EXACT_PREPS)
            if tok == "gegen" or self.tok(i + 1) == "gegen":
                part = self.daypart_at(j)
                if part is not None:  # "gegen Mittag", "gegen Abend"
                    return self.one(DAYPART, i, part[1], part[0])
            got = self.clock(j, bare_ok=True)
            if got is None:
                return None
            return self.one(EXACT, i, got[1], got[0])
        got = self.clock(i, bare_ok=False)
        if got is None:
            return None
        return self.one(EXACT, i, got[1], got[0])

    # ---- days ---------------------------------------------------------------------------------------

    def weekday_at(self, i: int) -> tuple[int, bool, int] | None:
        """(weekday, recurring, next index) of "montag" / "montags"."""
        tok = self.tok(i)
        if tok in DE_WEEKDAYS:
            return DE_WEEKDAYS[tok], False, i + 1
        if tok.endswith("s") and tok[:-1] in DE_WEEKDAYS:
            return DE_WEEKDAYS[tok[:-1]], True, i + 1
        return None

    def weekday_range(self, i: int) -> Found | None:
        """ "Montag bis Mittwoch", "von Montag bis Mittwoch", "zwischen Montag und Mittwoch", "werktags"."""
        tok = self.tok(i)
        if tok in ("werktags", "wochentags") or self.t[i : i + 3] == ["unter", "der", "woche"]:
            return self.one(WEEKDAYS, i, i + (1 if tok != "unter" else 3), frozenset(range(5)))
        if tok in ("wochenende", "wochenendes") or self.t[i : i + 2] in (["am", "wochenende"], ["wochenends"]):
            k = i + (2 if tok == "am" else 1)
            return self.one(WEEKDAYS, i, k, frozenset({5, 6}))
        start = i + 1 if tok in ("von", "zwischen") else i
        first = self.weekday_at(start)
        if first is None:
            return None
        joiner = ("und",) if tok == "zwischen" else ("bis", "-")
        if self.tok(first[2]) not in joiner:
            return None
        second = self.weekday_at(first[2] + 1)
        if second is None:
            return None
        a, b = first[0], second[0]
        days = frozenset((a + n) % 7 for n in range((b - a) % 7 + 1))
        return self.one(WEEKDAYS, i, second[2], days)

    def day_ref(self, i: int, *, dom_ok: bool = False) -> tuple[Ref, int] | None:
        """One day or a run of days starting at token i."""
        tok, nxt = self.tok(i), self.tok(i + 1)
        if tok == "heute":
            return Ref("rel", 0), i + 1
        if tok == "uebermorgen":
            return Ref("rel", 2), i + 1
        if tok == "morgen" and self.tok(i - 1) not in MORNING_BEFORE:
            return Ref("rel", 1), i + 1
        if tok == "in":
            n = 1 if nxt in ("einer", "einem", "1") else int_token(nxt, 1, 52)
            unit = self.tok(i + 2)
            if n is not None and unit in ("tag", "tagen"):
                return Ref("rel", n), i + 3
            if n is not None and unit in ("woche", "wochen"):
                return Ref("week_of", 7 * n), i + 3
            return None
        if tok in MODS:
            mod = MODS[tok]
            wd = self.weekday_at(i + 1)
            if wd is not None and not wd[1]:
                return Ref("weekday", wd[0], mod=mod), wd[2]
            if nxt == "woche":
                return Ref("week", MOD_WEEKS[mod], mod="all"), i + 2
            if nxt == "monat" or nxt == "monats":
                return Ref("month", None, MOD_WEEKS[mod], mod="all"), i + 2
            return None
        if tok in PARTS:
            return self._part_of(i)
        if self.t[i : i + 4] == ["im", "laufe", "der", "woche"]:
            return Ref("week", 0, mod="all"), i + 4
        if tok == "im" and nxt in DE_MONTHS:
            return Ref("month", DE_MONTHS[nxt], mod="all"), i + 2
        wd = self.weekday_at(i)
        if wd is not None and not wd[1]:
            j = self.skip(wd[2], (",", "den", "dem"))
            dated = self.date_ref(j, dom_ok=j > wd[2])
            if dated is not None:
                ref, k = dated
                return Ref(ref.kind, ref.a, ref.b, ref.c, check=wd[0]), k
            return Ref("weekday", wd[0]), wd[2]
        if tok in DATE_PREPS:
            j = self.skip(i + 1, ("den", "dem"))
            return self.date_ref(j, dom_ok=True)
        return self.date_ref(i, dom_ok=dom_ok)

    def _part_of(self, i: int) -> tuple[Ref, int] | None:
        part = PARTS[self.tok(i)]
        j = i + 1
        if self.tok(j) in DE_MONTHS:
            return Ref("month", DE_MONTHS[self.tok(j)], mod=part), j + 1
        offset = 0
        if self.tok(j) in ("der", "des", "dieser", "diesen", "dieses"):
            j += 1
        if self.tok(j) in MODS:
            offset = MOD_WEEKS[MODS[self.tok(j)]]
            j += 1
        if self.tok(j) == "woche":
            return Ref("week", offset, mod=part), j + 1
        if self.tok(j) in ("monats", "monat"):
            return Ref("month", None, offset, mod=part), j + 1
        return None

    def date_ref(self, i: int, *, dom_ok: bool) -> tuple[Ref, int] | None:
        """ "7.12.", "7.12.2026", "1. Dezember", "17." (a day of the month when dom_ok)."""
        tok = self.tok(i)
        strict = date_token(tok)
        loose = date_token(tok, loose=True) if dom_ok and self.tok(i + 1) != "uhr" else None
        found = strict or loose
        if found:
            d, m, y = found
            return Ref("date", d, m, y), i + 1
        parsed = clock_token(tok)
        if parsed is None or parsed[1] is not None:
            return None
        day = parsed[0]
        if not 1 <= day <= 31:
            return None
        month = DE_MONTHS.get(self.tok(i + 1))
        if month is None and parsed[3]:
            month = _ordinal_month(self.tok(i + 1))  # "am dritten zwölften" = 3.12.
        if month is not None:
            j = i + 2
            year = int_token(self.tok(j), 2000, 2100)
            return Ref("date", day, month, year), j + (year is not None)
        if (
            dom_ok
            and self.tok(i + 1) != "uhr"
            and (
                parsed[3]
                or self.tok(i + 1)
                in ("", ",", "um", "gegen", "ab", "bis", "zwischen", "oder", "und", "nach", "vor", "von")
            )
        ):
            return Ref("dom", day), i + 1
        return None

    def day(self, i: int) -> Found | None:
        tok = self.tok(i)
        if tok in ("jeden", "immer", "alle", "nur") and (ahead := self.weekday_at(i + 1)) is not None:
            if tok in ("jeden", "immer", "alle") or ahead[1]:
                return self.one(WEEKDAYS, i, ahead[2], frozenset({ahead[0]}))
        wd = self.weekday_at(i)
        if wd is not None and wd[1]:
            return self.one(WEEKDAYS, i, wd[2], frozenset({wd[0]}))
        if tok == "morgen" and self.tok(i - 1) in MORNING_BEFORE and self.tok(i - 1) != "guten":
            return self.one(DAYPART, i, i + 1, "morning")
        if self.t[i : i + 2] == ["guten", "morgen"]:
            return [], i + 2
        got = self.day_ref(i)
        if got is None:
            return None
        ref, j = self.shifted(*got)
        kind = RANGE if ref.kind in ("week", "week_of", "month") else DAY
        items = [Item(kind, i, j, ref)]
        if ref.kind == "rel" and ref.a in (0, 1) and not ref.shift and self.tok(j) in ("frueh", "morgen"):
            items.append(Item(DAYPART, j, j + 1, "morning"))  # "morgen früh", "heute morgen"
            j += 1
        return items, j

    def span(self, i: int) -> Found | None:
        """ "ab Mittwoch", "ab dem 10.", "ab nächster Woche", "bis Freitag", "bis zum 10.", "vom 1. bis 5."."""
        tok = self.tok(i)
        if tok not in ("ab", "bis", "vom", "von", "zwischen", "seit"):
            return None
        j = self.skip(i + 1, ("dem", "den", "zum", "zur", "der"))
        got = self.day_ref(j, dom_ok=j > i + 1 or tok in ("vom",))
        if got is None:
            return None
        ref, k = got
        if tok in ("ab", "seit"):
            return self.one(SPAN, i, k, (ref, None, False))
        if tok == "bis":
            return self.one(SPAN, i, k, (None, ref, False))
        if self.tok(k) not in ("bis", "und", "-"):
            return None if tok == "zwischen" else self.one(SPAN, i, k, (ref, None, False))
        m = self.skip(k + 1, ("dem", "den", "zum", "zur"))
        end = self.day_ref(m, dom_ok=True)
        if end is None:
            return None
        end_ref, n = end
        if ref.kind == "dom" and end_ref.kind == "date":
            ref = Ref("date", ref.a, end_ref.b, end_ref.c)  # "vom 1. bis 5. Dezember"
        return self.one(SPAN, i, n, (ref, end_ref, False))


def _ordinal_month(tok: str) -> int | None:
    """A month said as an ordinal ("zwölften" → "12."), as in "am dritten zwölften"."""
    parsed = clock_token(tok)
    if parsed is None or parsed[1] is not None or not parsed[3] or not 1 <= parsed[0] <= 12:
        return None
    return parsed[0]
