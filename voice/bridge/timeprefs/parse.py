"""German, English and French availability phrases → ``TimeConstraint``; deterministic rules, no I/O.

    parse("nächste Woche Donnerstag ab 16 Uhr", "de", now)  # Thu 03.12, [16:00, open)

How an utterance is read:
1. ``normalize`` makes tokens (number words become digits);
2. corrections split it ("Donnerstag, nein, doch lieber Freitag"): each part is parsed and folded with
   ``TimeConstraint.merged``, so the later part wins; a bare weekday in a correction stays in the week
   the corrected part named ("nächste Woche Donnerstag, nein, Freitag" = Friday of next week);
3. a grammar finds items (days, weeks, clocks, ranges, dayparts, negation markers);
4. negation markers take the item group right after them ("nicht vor 10", "not on Fridays"), or, with
   nothing after them in the clause, the group before them ("Montag geht nicht", "Friday is bad");
5. items are resolved against today (see ``days`` for which Thursday) and hours are disambiguated:
   * with a.m./p.m. as said; with 24-hour evidence ("14 Uhr", "07:30") as said;
   * after a morning word ("morgens um 7") as said; after an afternoon/evening word ("abends um 8")
     1-11 means 13-23;
   * otherwise business hours: 1-7 means 13-19 ("halb drei" = 14:30), 8-12 as said;
   * a range that would end before it starts is repaired ("von 7 bis 9" = 07-09, "10 bis 2" = 10-14);
6. "Mittwoch oder Freitag vormittags": with days joined by "oder"/"or", a daypart or range right
   after one day belongs to that day only (``day_windows``); with "und" it belongs to all.

Several exact times ("um 10 oder um 14 Uhr") keep the first as ``exact`` and allow an hour after each.
``unsure`` is set when nothing about time was found, or when a weekday and a date disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

from voice.bridge.timeprefs import days, ellipsis, negation, periods
from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow
from voice.bridge.timeprefs.grammar import Grammar
from voice.bridge.timeprefs.grammar_de import GermanGrammar
from voice.bridge.timeprefs.grammar_en import EnglishGrammar
from voice.bridge.timeprefs.grammar_fr import FrenchGrammar
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
    Item,
    Ref,
)
from voice.bridge.timeprefs.lexicon import DAYPARTS
from voice.bridge.timeprefs.normalize import normalize
from voice.bridge.timeprefs.windows import combine, plus_hour, widen_for

BUSINESS_TZ = ZoneInfo("Europe/Berlin")
# One grammar per language: a grammar module reads its words from its lexicon and carries its
# correction markers and conjunctions as class data; ``normalize.LANGUAGES`` holds its rewrites and
# number reader. Other languages read as German, as before.
GRAMMARS: dict[str, type[Grammar]] = {"de": GermanGrammar, "en": EnglishGrammar, "fr": FrenchGrammar}


def parse(text: str, language: str, now: datetime) -> TimeConstraint:
    """The constraint an utterance states; `now` is aware (naive means Europe/Berlin wall-clock). Only
    today's date in Berlin enters the reading, so it is cached by (text, language, that date): every turn
    of a call replays the callee's earlier turns (dialog/state.py), whose words do not change."""
    lang = (language or "").lower()[:2]
    lang = lang if lang in GRAMMARS else "de"
    local = now.astimezone(BUSINESS_TZ) if now.tzinfo else now.replace(tzinfo=BUSINESS_TZ)
    return _parse(text, lang, local.date())


@lru_cache(maxsize=4096)
def _parse(text: str, lang: str, today: date) -> TimeConstraint:
    # The result is immutable (a frozen TimeConstraint of tuples and frozensets): sharing it is safe.
    grammar = GRAMMARS[lang]
    result: TimeConstraint | None = None
    anchor: date | None = None
    previous: Ref | None = None
    found = doubtful = False
    for n, segment in enumerate(split_corrections(normalize(text, lang), grammar)):
        if n and len(segment) == 1 and segment[0].isdigit():
            segment = [grammar.clock_prep, *segment]  # "um 10, nein, 11": a bare hour corrects the time
        items = grammar(segment).items()
        assembly = _Assembly(segment, items, today, anchor, grammar, previous)
        part = assembly.build()
        anchor = part.anchor or anchor
        previous = assembly.last_period
        doubtful = doubtful or part.doubtful
        if part.found:
            found = True
            result = part.constraint if result is None else result.merged(part.constraint)
    constraint = result or TimeConstraint()
    return replace(constraint, raw=text, language=lang, unsure=not found or doubtful)


def split_corrections(tokens: list[str], grammar: type[Grammar]) -> list[list[str]]:
    """Token runs between correction markers ("nein", "lieber", "actually", "make that"; "no" right
    before a day or time, as recognisers write "Thursday no Friday" without the comma)."""
    words, pairs = grammar.corrections, grammar.correction_pairs
    segments: list[list[str]] = [[]]
    i = 0
    while i < len(tokens):
        pair = (tokens[i], tokens[i + 1] if i + 1 < len(tokens) else "")
        if i and pair[0] in grammar.soft_corrections and _starts_time(tokens, i + 1, grammar):
            segments.append([])
            i += 1
        elif pair in grammar.not_corrections:
            segments[-1].extend(pair)
            i += 2
        elif pair in pairs:
            segments.append([])
            i += 2
        elif tokens[i] in words:
            segments.append([])
            i += 1
        else:
            segments[-1].append(tokens[i])
            i += 1
    trimmed = []
    for segment in segments:
        while segment and segment[0] == ",":
            segment = segment[1:]
        while segment and segment[-1] == ",":
            segment = segment[:-1]
        if segment:
            trimmed.append(segment)
    return trimmed


def _starts_time(tokens: list[str], i: int, grammar: type[Grammar]) -> bool:
    """Whether a day or a time starts at token i (a comma before it skipped: "Mercredi, non, jeudi")."""
    i += tokens[i : i + 1] == [","]
    tok = tokens[i] if i < len(tokens) else ""
    weekdays = grammar.weekday_words
    return tok[:1].isdigit() or tok in grammar.time_starts or tok in weekdays or tok.rstrip("s") in weekdays


@dataclass
class _Part:
    constraint: TimeConstraint
    found: bool
    doubtful: bool
    anchor: date | None


@dataclass
class _Wanted:
    """The positive half of a constraint, collected item by item."""

    dates: list[date] = field(default_factory=list)
    weekdays: set[int] = field(default_factory=set)
    date_from: date | None = None
    date_to: date | None = None
    exacts: list[time] = field(default_factory=list)
    windows: list[tuple[Item, TimeWindow]] = field(default_factory=list)


@dataclass
class _Excluded:
    """The negated half: what the caller ruled out."""

    weekdays: set[int] = field(default_factory=set)
    dates: list[date] = field(default_factory=list)
    windows: list[TimeWindow] = field(default_factory=list)


@dataclass
class _Assembly:
    tokens: list[str]
    items: list[Item]
    today: date
    anchor: date | None
    grammar: type[Grammar]
    previous: Ref | None = None  # the last period an earlier part named (for an ellipsis)
    last_period: Ref | None = None
    doubtful: bool = False
    _resolved: dict[int, tuple[date, date] | None] = field(default_factory=dict)

    def build(self) -> _Part:
        self.items, filled, self.last_period = ellipsis.fill(self.items, self.previous)
        content = [it for it in self.items if it.kind not in (NEG, SEP, ANY)]
        negation.scope(self.tokens, self.items, content, filled, self.grammar.negation_words)
        positive = [it for it in content if not it.negated]
        anchor = self._week_context(positive)
        daypart = next((it.value for it in positive if it.kind == DAYPART), None)
        wanted = self._wanted(positive, daypart)

        day_windows = self._day_windows(positive, wanted.windows)
        attached = {id(it) for _, group in day_windows for it, _ in group}
        global_windows = combine([(it, w) for it, w in wanted.windows if id(it) not in attached])
        exact = wanted.exacts[0] if wanted.exacts else None
        if exact is not None:
            global_windows = widen_for(exact, global_windows)
            if len(wanted.exacts) > 1 and not global_windows:
                global_windows = [TimeWindow(t, plus_hour(t)) for t in wanted.exacts]
        excluded = self._excluded(content, daypart)

        constraint = TimeConstraint(
            dates=tuple(dict.fromkeys(wanted.dates)),
            date_from=wanted.date_from,
            date_to=wanted.date_to,
            weekdays=frozenset(wanted.weekdays),
            windows=tuple(dict.fromkeys(global_windows)),
            exact=exact,
            day_windows=tuple((wd, tuple(combine(group))) for wd, group in day_windows),
            excluded_weekdays=frozenset(excluded.weekdays),
            excluded_dates=tuple(dict.fromkeys(excluded.dates)),
            excluded_windows=tuple(dict.fromkeys(excluded.windows)),
        )
        found = bool(content) or any(it.kind == ANY for it in self.items)
        return _Part(constraint, found, self.doubtful, anchor)

    def _wanted(self, positive: list[Item], daypart: str | None) -> _Wanted:
        """What the items that are not negated ask for, in the order they were said."""
        wanted = _Wanted()
        for it in positive:
            if it.kind == DAY:
                span = self._resolve(it)
                if span:
                    wanted.dates.append(span[0])
            elif it.kind == WEEKDAYS:
                wanted.weekdays |= it.value
            elif it.kind in (RANGE, SPAN):
                lo, hi = self._bounds(it)
                if lo is not None:
                    wanted.date_from = max(wanted.date_from, lo) if wanted.date_from else lo
                if hi is not None:
                    wanted.date_to = min(wanted.date_to, hi) if wanted.date_to else hi
            elif it.kind == EXACT:
                t = it.value.resolve(daypart)
                if t is not None:
                    wanted.exacts.append(t)
            elif it.kind in (WINDOW, DAYPART):
                w = self._window(it, daypart)
                if w is not None:
                    wanted.windows.append((it, w))
        return wanted

    def _excluded(self, content: list[Item], daypart: str | None) -> _Excluded:
        """What the negated items rule out: weekdays, dates (a range at most ~two months), times."""
        excluded = _Excluded()
        for it in content:
            if not it.negated:
                continue
            if it.kind == WEEKDAYS:
                excluded.weekdays |= it.value
            elif it.kind == DAY and it.value.kind == "weekday" and it.value.mod is None:
                excluded.weekdays.add(it.value.a)
            elif it.kind in (DAY, RANGE):
                span = self._resolve(it)
                if span:
                    n = min((span[1] - span[0]).days, 62)
                    excluded.dates.extend(span[0] + timedelta(days=k) for k in range(n + 1))
            elif it.kind == EXACT:
                t = it.value.resolve(daypart)
                if t is not None:
                    excluded.windows.append(TimeWindow(t, plus_hour(t)))
            elif it.kind in (WINDOW, DAYPART):
                w = self._window(it, daypart)
                if w is not None:
                    excluded.windows.append(w)
        return excluded

    # ---- days ---------------------------------------------------------------------------------------

    def _week_context(self, positive: list[Item]) -> date | None:
        """A week named beside bare weekdays places them ("nächste Woche Donnerstag"); the week is then
        not also a range of its own. Returns the Monday of the week the weekdays were placed in."""
        weekdays = [it for it in positive if it.kind == DAY and it.value.kind == "weekday"]
        weeks = [it for it in positive if it.kind == RANGE and it.value.kind in ("week", "week_of", "month_week")]
        if weeks and any(it.value.mod is None for it in weekdays):
            span = self._resolve(weeks[0])
            if span is not None:
                self.anchor = days.week_start(span[0])
                for w in weeks:
                    w.kind = "consumed"
                return self.anchor
        placed = [it for it in weekdays if it.value.mod is not None]
        if placed:
            span = self._resolve(placed[0])
            if span is None:
                return None
            if placed[0].value.mod != "coming":
                # "next Tuesday or Wednesday": the week of the first day holds the bare ones too.
                self.anchor = days.week_start(span[0])
            return days.week_start(span[0])
        return None

    def _resolve(self, it: Item) -> tuple[date, date] | None:
        key = id(it)
        if key not in self._resolved:
            self._resolved[key] = self._resolve_ref(it.value)
        return self._resolved[key]

    def _resolve_ref(self, ref: Ref) -> tuple[date, date] | None:
        if ref.kind == "period":
            return periods.bounds(ref.name or "", ref.mod or "during", self.today)
        if ref.shift:
            return self._shifted(ref)
        return self._plain_ref(ref)

    def _shifted(self, ref: Ref) -> tuple[date, date] | None:
        """The anchor day moved by ``ref.shift`` days. A bare weekday anchor may be today ("Montag in
        einer Woche" said on a Monday is a week from today)."""
        if ref.kind == "weekday" and ref.mod is None:
            anchor: tuple[date, date] | None = (days.weekday_after(self.today, _number(ref.a), include_today=True),) * 2
        else:
            anchor = self._plain_ref(replace(ref, shift=0))
        if anchor is None:
            return None
        day = anchor[0] + timedelta(days=ref.shift)
        return day, day

    def _plain_ref(self, ref: Ref) -> tuple[date, date] | None:
        today = self.today
        day: date | None = None
        if ref.kind == "rel":
            day = today + timedelta(days=_number(ref.a))
        elif ref.kind == "weekday":
            if ref.mod is None and self.anchor is not None:
                day = self.anchor + timedelta(days=_number(ref.a))
                while day < today:
                    day += timedelta(weeks=1)
            elif ref.mod is None or ref.mod == "coming":
                day = days.weekday_after(today, _number(ref.a))
            else:
                day = days.weekday_in_week(today, _number(ref.a), {"next": 1, "this": 0, "after_next": 2}[ref.mod])
        elif ref.kind == "dom":
            day = days.next_day_of_month(today, _number(ref.a))
        elif ref.kind == "date":
            day = days.next_date(today, _number(ref.a), _number(ref.b), ref.c)
        elif ref.kind == "week":
            if ref.mod == "rest":
                monday = days.week_start(today)
                return today + timedelta(days=1), monday + timedelta(days=6)
            return days.week_range(today, _number(ref.a), ref.mod or "all")
        elif ref.kind == "week_of":
            monday = days.week_start(today + timedelta(days=_number(ref.a)))
            return max(monday, today), monday + timedelta(days=6)
        elif ref.kind == "month_week":
            span = days.month_week(today, _number(ref.a), _number(ref.b))
            if span[1] < span[0]:
                self.doubtful = True  # "die fünfte Novemberwoche" when November has four: ask
                return None
            return span
        elif ref.kind == "month" and ref.mod == "rest":
            first = days.add_months(today, ref.b or 0)
            span = days.month_range(today, first.month, "all", year=first.year)
            return max(span[0], today + timedelta(days=1)), span[1]
        elif ref.kind == "month":
            if ref.a is None:
                first = days.add_months(today, ref.b or 0)
                return days.month_range(today, first.month, ref.mod or "all", year=first.year)
            return days.month_range(today, ref.a, ref.mod or "all")
        if day is None:
            return None
        if ref.check is not None and day.weekday() != ref.check:
            self.doubtful = True  # "Montag, den 8.12." but the 8th is a Tuesday: the agent must ask
        return day, day

    def _bounds(self, it: Item) -> tuple[date | None, date | None]:
        if it.kind == RANGE:
            span = self._resolve(it)
            return span if span else (None, None)
        start_ref, end_ref, exclusive = it.value
        lo = self._resolve_ref(start_ref) if start_ref else None
        hi = self._resolve_ref(end_ref) if end_ref else None
        end = hi[1] if hi else None
        if hi is not None and exclusive:
            end = hi[0] - timedelta(days=1)
        if lo is not None and hi is None:
            return lo[0], None
        return (lo[0] if lo else None), end

    # ---- times --------------------------------------------------------------------------------------

    def _window(self, it: Item, daypart: str | None) -> TimeWindow | None:
        if it.kind == DAYPART:
            return DAYPARTS[it.value]
        c1, c2 = it.value
        a = c1.resolve(daypart) if c1 else None
        b = c2.resolve(daypart) if c2 else None
        if c1 and a is None or c2 and b is None:
            return None
        if a is not None and b is not None and b <= a:
            if c1.promotable and daypart is None:
                # "von 7 bis 9" = 07-09: the hour as said (what Clock(..., fixed=True).resolve() gives for
                # a promotable hour, 1-7, whose minute already resolved).
                a = time(c1.hour, c1.minute)
            if b <= a and b.hour < 12 and c2.meridiem is None:
                b = time(b.hour + 12, b.minute)  # "von 10 bis 2" = 10-14
            if b <= a:
                return None
        return TimeWindow(a, b)

    def _day_windows(
        self, positive: list[Item], windows: list[tuple[Item, TimeWindow]]
    ) -> tuple[tuple[int, list[tuple[Item, TimeWindow]]], ...]:
        """Windows said right after one of several days joined by "oder" belong to that day."""
        resolved = [(it, span) for it in positive if it.kind == DAY and (span := self._resolve(it))]
        day_spans = sorted(resolved, key=lambda pair: pair[0].start)
        day_items = [it for it, _ in day_spans]
        if len(day_items) < 2:
            return ()
        between = self.tokens[day_items[-2].end : day_items[-1].start]
        if not self.grammar.or_words & set(between):
            return ()
        seps = [it.start for it in self.items if it.kind == SEP]
        result: dict[int, list[tuple[Item, TimeWindow]]] = {}
        for n, (day_item, span) in enumerate(day_spans):
            limit = (
                day_items[n + 1].start
                if n + 1 < len(day_items)
                else min((s for s in seps if s >= day_item.end), default=len(self.tokens))
            )
            cursor = day_item.end
            for it, w in sorted(windows, key=lambda p: p[0].start):
                if cursor <= it.start < limit and set(self.tokens[cursor : it.start]) <= self.grammar.attach_filler:
                    weekday = span[0].weekday()
                    result.setdefault(weekday, []).append((it, w))
                    cursor = it.end
        return tuple(result.items())


def _number(value: int | None) -> int:
    """The number a Ref's kind always carries (the grammars set it); None there is a grammar bug."""
    if value is None:
        raise ValueError("a day reference without its number")
    return value
