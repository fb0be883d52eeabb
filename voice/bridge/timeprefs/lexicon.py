"""Words the time-preference parser knows, in their normalized spelling (lower case, umlauts as
ae/oe/ue, ß as ss): number words, weekdays, months, dayparts and the windows dayparts stand for."""

from __future__ import annotations

from datetime import time

from voice.bridge.timeprefs.constraint import TimeWindow
from voice.bridge.timeprefs.lexicon_fr import (
    FR_CLOCK_PREPS,
    FR_CLOCK_SLIPS,
    FR_COUNT_UNITS,
    FR_FILLER_PAIRS,
    FR_FILLERS,
    FR_PAIR_SLIPS,
)

# ---- numbers --------------------------------------------------------------------------------------

_DE_UNITS = {1: "ein", 2: "zwei", 3: "drei", 4: "vier", 5: "fuenf", 6: "sechs", 7: "sieben", 8: "acht", 9: "neun"}
_DE_TEENS = {
    10: "zehn",
    11: "elf",
    12: "zwoelf",
    13: "dreizehn",
    14: "vierzehn",
    15: "fuenfzehn",
    16: "sechzehn",
    17: "siebzehn",
    18: "achtzehn",
    19: "neunzehn",
}
_DE_TENS = {20: "zwanzig", 30: "dreissig", 40: "vierzig", 50: "fuenfzig"}


def _de_cardinals() -> dict[str, int]:
    words = {name: n for n, name in _DE_UNITS.items() if n != 1}
    # "ein" alone is an article far more often than a number; only "eins" and "ein uhr" count.
    words.update(eins=1, zwo=2)
    words.update({name: n for n, name in _DE_TEENS.items()})
    for tens, tname in _DE_TENS.items():
        words[tname] = tens
        for unit, uname in _DE_UNITS.items():
            words[f"{uname}und{tname}"] = tens + unit
    return words


def _de_ordinals() -> dict[str, int]:
    stems = {
        1: "erst",
        2: "zweit",
        3: "dritt",
        4: "viert",
        5: "fuenft",
        6: "sechst",
        7: "siebt",
        8: "acht",
        9: "neunt",
        10: "zehnt",
        11: "elft",
        12: "zwoelft",
    }
    stems.update({n: name + "t" for n, name in _DE_TEENS.items() if n >= 13})
    for tens, tname in list(_DE_TENS.items())[:2]:
        stems[tens] = tname + "st"
        for unit, uname in _DE_UNITS.items():
            if tens + unit <= 31:
                stems[tens + unit] = f"{uname}und{tname}st"
    result = {stem + ending: n for n, stem in stems.items() for ending in ("e", "en", "er", "es", "em")}
    result.update(siebente=7, siebenten=7)
    return result


_EN_UNITS = {"one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9}
_EN_TEENS = {
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
EN_TENS = {"twenty": 20, "thirty": 30, "forty": 40, "fifty": 50}
EN_UNIT_WORDS = _EN_UNITS

_EN_ORD_UNITS = {
    "first": 1,
    "second": 2,
    "third": 3,
    "fourth": 4,
    "fifth": 5,
    "sixth": 6,
    "seventh": 7,
    "eighth": 8,
    "ninth": 9,
}
_EN_ORD_TEENS = {
    "tenth": 10,
    "eleventh": 11,
    "twelfth": 12,
    "thirteenth": 13,
    "fourteenth": 14,
    "fifteenth": 15,
    "sixteenth": 16,
    "seventeenth": 17,
    "eighteenth": 18,
    "nineteenth": 19,
}
EN_ORD_TENS = {"twentieth": 20, "thirtieth": 30}
EN_ORD_UNIT_WORDS = _EN_ORD_UNITS

DE_CARDINALS = _de_cardinals()
DE_ORDINALS = _de_ordinals()
EN_CARDINALS = {**_EN_UNITS, **_EN_TEENS, **EN_TENS}
EN_ORDINALS = {**_EN_ORD_UNITS, **_EN_ORD_TEENS, **EN_ORD_TENS}


def en_ordinal_suffix(day: int) -> str:
    if day % 100 in (11, 12, 13):
        return "th"
    return {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")


# ---- speech as recognisers write it --------------------------------------------------------------
# Hesitations dropped before parsing ("äh Donnerstag ähm so um drei"); German "um" is a preposition.
# Discourse particles carry nothing about time either ("ja also Mittwoch", "well, Thursday").
FILLERS = {
    "de": frozenset({"aeh", "aehm", "aehh", "aehhm", "oeh", "oehm", "ehm", "hm", "hmm", "mh", "naja", "ja", "also"})
    | frozenset({"quasi", "sozusagen", "eigentlich", "irgendwie"}),
    "en": frozenset({"uh", "uhh", "um", "umm", "uhm", "er", "erm", "hmm", "mm", "like", "well", "yeah", "basically"}),
    "fr": FR_FILLERS,
}
FILLER_PAIRS = {
    "en": frozenset({("you", "know"), ("i", "guess")}),
    "de": frozenset({("weisst", "du")}),
    "fr": FR_FILLER_PAIRS,
}
# Words a hesitation or the recogniser split: "drei äh viertel vier".
JOINED = {"de": {("drei", "viertel"): "dreiviertel"}}
# A recogniser's homophone right before an hour word: "um halt drei" = "um halb drei".
HOUR_SLIPS = {"de": {"halt": "halb"}}
# Words after a number that make it a count, not the minutes of a clock ("zwei fünfzehn Minuten").
COUNT_UNITS = frozenset(
    {"day", "days", "week", "weeks", "minute", "minutes", "hour", "hours", "month", "months", "uhr", "tag"}
    | {"tage", "tagen", "woche", "wochen", "minuten", "stunde", "stunden", "monat", "monate", "monaten"}
    | FR_COUNT_UNITS
)
# "ten oh five", "neun null fünf": the word that says a minute below ten follows.
ZERO_WORDS = {"de": frozenset({"null"}), "en": frozenset({"oh", "o", "zero"})}
# Recogniser slips: a homophone of a number word right after a clock preposition ("at for thirty").
CLOCK_SLIPS = {
    "en": {"for": "four", "fore": "four", "to": "two", "too": "two", "won": "one", "ate": "eight"},
    "de": {"fuer": "vier"},
    "fr": FR_CLOCK_SLIPS,
}
# Recogniser slips judged by the word before them ("trois heures et car" = "et quart").
PAIR_SLIPS = {"fr": FR_PAIR_SLIPS}
CLOCK_PREPS = {
    "en": frozenset({"at", "around", "about", "say", "till", "until"}),
    "de": frozenset({"um", "gegen"}),
    "fr": FR_CLOCK_PREPS,
}

# ---- calendar words -------------------------------------------------------------------------------

DE_WEEKDAYS = {
    "montag": 0,
    "dienstag": 1,
    "mittwoch": 2,
    "donnerstag": 3,
    "freitag": 4,
    "samstag": 5,
    "sonnabend": 5,
    "sonntag": 6,
}
EN_WEEKDAYS = {"monday": 0, "tuesday": 1, "wednesday": 2, "thursday": 3, "friday": 4, "saturday": 5, "sunday": 6}
DE_WEEKDAY_NAMES = ("Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag", "Sonntag")
EN_WEEKDAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

DE_MONTHS = {
    "januar": 1,
    "jaenner": 1,
    "jan": 1,
    "februar": 2,
    "feb": 2,
    "maerz": 3,
    "april": 4,
    "apr": 4,
    "mai": 5,
    "juni": 6,
    "juli": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "oktober": 10,
    "okt": 10,
    "november": 11,
    "nov": 11,
    "dezember": 12,
    "dez": 12,
}
EN_MONTHS = {
    "january": 1,
    "jan": 1,
    "february": 2,
    "feb": 2,
    "march": 3,
    "mar": 3,
    "april": 4,
    "apr": 4,
    "may": 5,
    "june": 6,
    "jun": 6,
    "july": 7,
    "jul": 7,
    "august": 8,
    "aug": 8,
    "september": 9,
    "sept": 9,
    "sep": 9,
    "october": 10,
    "oct": 10,
    "november": 11,
    "nov": 11,
    "december": 12,
    "dec": 12,
}
DE_MONTH_NAMES = (
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
)
EN_MONTH_NAMES = (
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
)

# ---- dayparts -------------------------------------------------------------------------------------
# The windows a daypart stands for. Chosen for a sales team, not for the dictionary: "morning" starts
# when offices open (08:00), "afternoon" after the lunch hour (13:00) so that "nachmittags" never gets
# a 12:00 offer, "evening" covers after-work calls. Working hours cut them further in the resolver.

DAYPARTS: dict[str, TimeWindow] = {
    "early": TimeWindow(time(8), time(10)),
    "morning": TimeWindow(time(8), time(12)),
    "late_morning": TimeWindow(time(10), time(12)),
    "noon": TimeWindow(time(11, 30), time(14)),
    "afternoon": TimeWindow(time(13), time(18)),
    "early_afternoon": TimeWindow(time(13), time(15)),
    "late_afternoon": TimeWindow(time(15), time(18)),
    "evening": TimeWindow(time(17), time(21)),
    "late": TimeWindow(time(16), None),
    "after_lunch": TimeWindow(time(13), None),
    "before_lunch": TimeWindow(None, time(12)),
}
# Dayparts that make a bare hour mean a.m. ("morgens um 7") or p.m. ("abends um 8").
MORNING_PARTS = frozenset({"early", "morning", "late_morning", "before_lunch"})
EVENING_PARTS = frozenset({"afternoon", "early_afternoon", "late_afternoon", "evening", "late", "after_lunch"})

DE_DAYPARTS = {
    "vormittag": "morning",
    "vormittags": "morning",
    "morgens": "morning",
    "fruehmorgens": "early",
    "nachmittag": "afternoon",
    "nachmittags": "afternoon",
    "mittag": "noon",
    "mittags": "noon",
    "mittagszeit": "noon",
    "mittagspause": "noon",
    "abend": "evening",
    "abends": "evening",
    "feierabend": "evening",
    "spaetnachmittags": "late_afternoon",
    "fruehnachmittags": "early_afternoon",
    "spaetvormittags": "late_morning",
    "frueh": "early",
    "spaet": "late",
    "spaeter": "late",
}
EN_DAYPARTS = {
    "morning": "morning",
    "mornings": "morning",
    "afternoon": "afternoon",
    "afternoons": "afternoon",
    "evening": "evening",
    "evenings": "evening",
    "noon": "noon",
    "midday": "noon",
    "lunchtime": "noon",
    "lunch": "noon",
    "early": "early",
    "late": "late",
}
# "am frühen Nachmittag", "late afternoon": an adjective narrows the daypart.
NARROWED = {
    ("early", "afternoon"): "early_afternoon",
    ("late", "afternoon"): "late_afternoon",
    ("late", "morning"): "late_morning",
    ("early", "morning"): "early",
    ("early", "evening"): "evening",
    ("late", "evening"): "evening",
}


# ---- elliptical follow-ups and named periods (see ``ellipsis`` and ``periods``) -------------------
# ("after", n): n periods after the one named before; "one" is "1" once normalize has read numbers.
DE_ELLIPSIS_PHRASES: tuple[tuple[tuple[str, ...], tuple[str, int]], ...] = (
    (("die", "woche", "danach"), ("after", 1)),
    (("den", "monat", "danach"), ("after", 1)),
    (("den", "tag", "danach"), ("after", 1)),
    (("die", "danach"), ("after", 1)),
    (("den", "danach"), ("after", 1)),
    (("das", "danach"), ("after", 1)),
)
DE_PERIOD_NOUNS: dict[tuple[str, ...], str] = {
    ("feiertagen",): "holidays",
    ("feiertage",): "holidays",
    ("festtagen",): "holidays",
    ("festtage",): "holidays",
    ("weihnachtsfeiertagen",): "christmas",
    ("weihnachten",): "christmas",
    ("ostern",): "easter",
    ("osterfeiertagen",): "easter",
    ("neujahr",): "newyear",
    ("jahreswechsel",): "newyear",
    ("wochenende",): "weekend",
}
DE_PERIOD_SIDES = {"nach": "after", "vor": "before", "bis": "before", "ab": "from", "ueber": "during"}
DE_PERIOD_SKIP = frozenset({"den", "dem", "die", "der", "zu", "zum"})
DE_PERIOD_PHRASES: dict[tuple[str, ...], tuple[str, str]] = {
    ("im", "neuen", "jahr"): ("nextyear", "from"),
    ("ab", "dem", "neuen", "jahr"): ("nextyear", "from"),
    ("naechstes", "jahr"): ("nextyear", "from"),
    ("anfang", "naechsten", "jahres"): ("nextyear", "from"),
}
EN_ELLIPSIS_PHRASES: tuple[tuple[tuple[str, ...], tuple[str, int]], ...] = (
    (("the", "1", "after", "that"), ("after", 1)),
    (("the", "1", "after"), ("after", 1)),
    (("the", "week", "after"), ("after", 1)),
    (("the", "month", "after"), ("after", 1)),
    (("the", "day", "after"), ("after", 1)),
    (("the", "next", "1"), ("after", 1)),
    (("the", "following", "1"), ("after", 1)),
)
EN_PERIOD_NOUNS: dict[tuple[str, ...], str] = {
    ("holidays",): "holidays",
    ("holiday", "season"): "holidays",
    ("christmas",): "christmas",
    ("xmas",): "christmas",
    ("easter",): "easter",
    ("new", "year", "is"): "newyear",
    ("new", "years"): "newyear",
    ("new", "year"): "newyear",
    ("weekend",): "weekend",
}
EN_PERIOD_SIDES = {
    "after": "after",
    "before": "before",
    "until": "before",
    "till": "before",
    "by": "before",
    "from": "from",
    "starting": "from",
    "over": "during",
    "during": "during",
}
EN_PERIOD_SKIP = frozenset({"the"})
EN_PERIOD_PHRASES: dict[tuple[str, ...], tuple[str, str]] = {
    ("in", "the", "new", "year"): ("nextyear", "from"),
    ("next", "year"): ("nextyear", "from"),
    ("early", "next", "year"): ("nextyear", "from"),
}

# ---- corrections and conjunctions (see ``parse.split_corrections``, ``Grammar.corrections``) -------
EN_CORRECTIONS = frozenset({"actually", "sorry", "rather", "instead", "better", "wait"})
EN_CORRECTION_PAIRS = frozenset(
    {
        ("make", "that"),
        ("make", "it"),
        ("i", "mean"),
        ("scratch", "that"),
        ("no", ","),
        ("no", "wait"),
        ("second", "thought"),
        ("second", "thoughts"),
    }
)
# Words that correct only when a day or a time follows them ("Thursday no Friday", not "no good").
EN_SOFT_CORRECTIONS = frozenset({"no", "nope"})
EN_TIME_STARTS = frozenset({"at", "on", "the", "next", "this", "tomorrow", "today", "around", "after", "before"})
# Pairs that look like a correction but are a negation ("Friday rather than Thursday").
EN_NOT_CORRECTIONS = frozenset({("rather", "than"), ("instead", "of"), ("better", "than")})
