"""Utterance → tokens the grammar can read: lower case, umlauts spelled out, number words as digits
("halb drei" → "halb 3", "am siebzehnten" → "am 17."), punctuation reduced to clause commas.

Speech-to-text writes both "14:30" and "vierzehn Uhr dreißig"; doing numbers here keeps the grammar
to one spelling of each thing. Speech as recognisers deliver it is cleaned here too: hesitations
("äh", "uh") dropped, a word said twice kept once ("on on Friday"), glued or hyphenated clock words
split ("halbvier"), an hour word followed by a minute word read as one clock ("four fifteen" → "4:15",
"ten oh five" → "10:05", "neun fünfzehn" → "9:15"), and homophone slips after a clock preposition
("at for thirty") read as the number."""

from __future__ import annotations

import re
from collections.abc import Callable

from voice.bridge.timeprefs.lexicon import (
    CLOCK_PREPS,
    CLOCK_SLIPS,
    COUNT_UNITS,
    DE_CARDINALS,
    DE_MONTHS,
    DE_ORDINALS,
    DE_WEEKDAYS,
    EN_CARDINALS,
    EN_MONTHS,
    EN_ORD_UNIT_WORDS,
    EN_ORDINALS,
    EN_TENS,
    EN_UNIT_WORDS,
    FILLER_PAIRS,
    FILLERS,
    HOUR_SLIPS,
    JOINED,
    PAIR_SLIPS,
    ZERO_WORDS,
    en_ordinal_suffix,
)
from voice.bridge.timeprefs.lexicon_fr import FR_CARDINALS, FR_FIRST, FR_ONE, FR_TENS, FR_UNITS

# Number words of every language: never dropped as a repeat ("ten ten" is 10:10).
_CARDINALS = {**DE_CARDINALS, **EN_CARDINALS, **FR_CARDINALS}
_NUMBER_WORDS = frozenset(_CARDINALS) | frozenset(DE_ORDINALS) | frozenset(EN_ORDINALS) | frozenset(FR_TENS)
_HOUR_WORDS = frozenset(w for w, n in _CARDINALS.items() if 1 <= n <= 24)
_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "’": "'", "`": "'", "´": "'", "–": "-", "—": "-"})
_WEEKDAY_RE = "|".join(DE_WEEKDAYS)
_DE_MONTH_RE = "|".join(m for m in DE_MONTHS if len(m) > 4)
# "Donnerstagnachmittag", "Montagmorgen": German glues weekday and daypart into one word.
_DE_COMPOUND = re.compile(rf"\b({_WEEKDAY_RE})(vormittag|nachmittag|mittag|abend)(s?)\b")
_DE_COMPOUND_MORNING = re.compile(rf"\b({_WEEKDAY_RE})(morgen|frueh)(s?)\b")
_EN_REWRITES = [
    (re.compile(r"\b(can't|cannot|can not)\b"), "can not"),
    (re.compile(r"n't\b"), " not"),
    (re.compile(r"\bo'?clock\b"), "oclock"),
    (re.compile(r"\ba\.m\.?(?=\s|$|,)"), "am"),
    (re.compile(r"\bp\.m\.?(?=\s|$|,)"), "pm"),
    (re.compile(r"\b(twenty|thirty|forty|fifty)-(?=[a-z])"), r"\1 "),
    # "no later than 4" is a bound, not a "no" that corrects something.
    (re.compile(r"\b(?:(?:no|not) )+later than\b"), "until"),
    (re.compile(r"\b(?:(?:no|not) )+earlier than\b"), "from"),
    (re.compile(r"\bat the earliest\b"), ""),
    (re.compile(r"\bat the latest\b"), ""),
    (re.compile(r"\b(\d{1,2})(?:\s*)ish\b"), r"around \1"),
    (re.compile(r"\b([ap])\.? m\b\.?"), r"\1m"),  # "eleven a m"
    (re.compile(r"(?<=[a-z])'s\b"), " is"),  # "next week's no good"
]
_DE_HOURS = "eins|ein|zwei|zwo|drei|vier|fuenf|sechs|sieben|acht|neun|zehn|elf|zwoelf|\\d{1,2}"
_DE_REWRITES = [
    (re.compile(r"\bnicht (?:spaeter|laenger) als\b"), "bis"),
    (re.compile(r"\bnicht frueher als\b"), "ab"),
    (re.compile(r"\bspaetestens(?: um)?\b"), "bis"),
    (re.compile(r"\bfruehestens(?: um| ab)?\b"), "ab"),
    (re.compile(r"\b(\d{1,2})\s*h\b"), r"\1 uhr"),
    # "halbvier", "halb-vier", "dreiviertelneun": recognisers glue or hyphenate clock words.
    (re.compile(rf"\b(halb|dreiviertel|viertel)-?({_DE_HOURS})\b"), r"\1 \2"),
    (re.compile(r"\b(viertel|fuenf|zehn|zwanzig)-?(nach|vor)\b"), r"\1 \2"),
    (re.compile(rf"\b({_DE_MONTH_RE})woche\b"), r"woche im \1"),  # "in der zweiten Dezemberwoche"
    (_DE_COMPOUND, r"\1 \2\3"),
    (_DE_COMPOUND_MORNING, r"\1 am morgen"),
]
_FR_REWRITES = [
    (re.compile(r"[àâ]"), "a"),
    (re.compile(r"[éèêë]"), "e"),
    (re.compile(r"[îï]"), "i"),
    (re.compile(r"[ôö]"), "o"),
    (re.compile(r"[ùû]"), "u"),
    (re.compile(r"ç"), "c"),
    (re.compile(r"œ"), "oe"),
    (re.compile(r"(?<!\S)([a-z]+[-'][a-z'-]+) \1(?!\S)"), r"\1"),  # "d'après-midi d'après-midi" said twice
    (re.compile(r"'"), " "),  # elisions: "d'après-midi" → "d apres-midi"
    (re.compile(r"\baujourd ?hui\b"), "aujourdhui"),
    (re.compile(r"(?<=[a-z])-(?=[a-z])"), " "),  # "vingt-trois", "après-midi", "mi-décembre"
    (re.compile(r"\b(\d{1,2})\s*h\s*(\d{2})\b"), r"\1:\2"),  # "14h30", "9 h 30"
    (re.compile(r"\b(\d{1,2})\s*h\b"), r"\1 heures"),
    (re.compile(r"\bheure\b"), "heures"),
    (re.compile(r"\b(\d{1,2})/(\d{1,2})(?:/(\d{2}|\d{4}))?\b"), r"\1.\2.\3"),  # "12/12" as a date
    (re.compile(r"\b(a|vers) cette heures\b"), r"\1 sept heures"),
]
_SPACED = [
    (re.compile(r"(?<=\d)(uhr|pm|am)\b"), r" \1"),
    (re.compile(r"(?<=\d)-(?=\d)"), " - "),
    (re.compile(r"(?<=[a-z])-(?=[a-z])"), " - "),
    (re.compile(r"(?<=\d)-"), " - "),
    (re.compile(r"-(?=\d)"), " - "),
    (re.compile(r"[,;!?()\"]|(?<!\d)\.|:(?!\d)"), " , "),
]


def normalize(text: str, language: str) -> list[str]:
    """Tokens of one utterance (a code of ``LANGUAGES``, else German); commas stay as "," tokens because
    they end clauses."""
    lang = language if language in LANGUAGES else "de"
    rewrites, read_numbers = LANGUAGES[lang]
    s = text.lower().translate(_UMLAUTS)
    for pattern, repl in rewrites:
        s = pattern.sub(repl, s)
    for pattern, repl in _SPACED:
        s = pattern.sub(repl, s)
    tokens = _spoken(s.split(), lang)
    numbers, worded = read_numbers(tokens)
    return _word_clocks(numbers, worded, lang)


def _spoken(tokens: list[str], lang: str) -> list[str]:
    """Drop hesitations and a word said twice in a row ("on on"; numbers stay: "ten ten" is 10:10);
    join what a hesitation split ("drei äh viertel vier"); read a homophone after a clock preposition
    as the number ("at for" → "at four", "um halt drei" → "um halb drei")."""
    fillers, pairs = FILLERS.get(lang, frozenset()), FILLER_PAIRS.get(lang, frozenset())
    kept: list[str] = []
    last = ""  # the last word said, before joining ("drei viertel viertel vier")
    for tok in tokens:
        if tok in fillers:
            continue
        repeated = tok == last and tok != "," and not tok[:1].isdigit() and tok not in _NUMBER_WORDS
        if kept and kept[-1] == last and (last, tok) in pairs:
            kept.pop()  # "you know"
            repeated = True
        last = tok
        if repeated:
            continue
        if kept and (kept[-1], tok) in JOINED.get(lang, {}):
            kept[-1] = JOINED[lang][(kept[-1], tok)]
            continue
        kept.append(tok)
    return _slips(kept, lang)


def _slips(tokens: list[str], lang: str) -> list[str]:
    slips, preps = CLOCK_SLIPS.get(lang, {}), CLOCK_PREPS.get(lang, frozenset())
    before_hour, pairs = HOUR_SLIPS.get(lang, {}), PAIR_SLIPS.get(lang, {})
    out: list[str] = []
    for n, tok in enumerate(tokens):
        nxt = tokens[n + 1] if n + 1 < len(tokens) else ""
        if out and out[-1] in preps and tok in slips:
            tok = slips[tok]
        elif out and (out[-1], tok) in pairs:
            tok = pairs[(out[-1], tok)]
        elif tok in before_hour and (nxt in _HOUR_WORDS or nxt.isdigit()):
            tok = before_hour[tok]
        out.append(tok)
    return out


def _word_clocks(tokens: list[str], worded: list[bool], lang: str) -> list[str]:
    """An hour said as a word and the minutes said as a word after it are one clock: "4 15" → "4:15"
    when both were words (digits the recogniser wrote keep their own punctuation), the minutes are 10-59
    or "oh"/"null" and a digit, and no count unit follows ("zwei fünfzehn Minuten")."""
    zero = ZERO_WORDS.get(lang, frozenset())
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        hour = int(tok) if worded[i] and tok.isdigit() and int(tok) <= 23 else None
        j = i + 1
        if hour is not None and j < len(tokens) and tokens[j] in zero and j + 1 < len(tokens) and worded[j + 1]:
            j += 1  # "ten oh five"
            minute = int(tokens[j]) if tokens[j].isdigit() and 1 <= int(tokens[j]) <= 9 else None
        else:
            minute = int(tokens[j]) if j < len(tokens) and worded[j] and tokens[j].isdigit() else None
            minute = minute if minute is not None and 10 <= minute <= 59 else None
        after = tokens[j + 1] if j + 1 < len(tokens) else ""
        if hour is not None and minute is not None and after not in COUNT_UNITS:
            out.append(f"{hour}:{minute:02d}")
            i = j + 1
            continue
        out.append(tok)
        i += 1
    return out


def _numbers_de(tokens: list[str]) -> tuple[list[str], list[bool]]:
    out: list[str] = []
    worded: list[bool] = []
    for i, tok in enumerate(tokens):
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        if tok in DE_CARDINALS:
            out.append(str(DE_CARDINALS[tok]))
        elif tok == "ein" and nxt == "uhr":
            out.append("1")
        elif tok in DE_ORDINALS:
            out.append(f"{DE_ORDINALS[tok]}.")
        else:
            out.append(tok)
        worded.append(out[-1] != tok)
    return out, worded


def _numbers_en(tokens: list[str]) -> tuple[list[str], list[bool]]:
    out: list[str] = []
    worded: list[bool] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        prev = out[-1] if out else ""
        if tok in EN_TENS and nxt in EN_UNIT_WORDS:
            out.append(str(EN_TENS[tok] + EN_UNIT_WORDS[nxt]))
            worded.append(True)
            i += 2
            continue
        if tok in EN_TENS and nxt in EN_ORD_UNIT_WORDS:
            n = EN_TENS[tok] + EN_ORD_UNIT_WORDS[nxt]
            out.append(f"{n}{en_ordinal_suffix(n)}")
            worded.append(True)
            i += 2
            continue
        if tok in EN_CARDINALS:
            out.append(str(EN_CARDINALS[tok]))
        elif tok in EN_ORDINALS and (tok not in ("first", "second") or prev in ("the", "on") or prev in EN_MONTHS):
            n = EN_ORDINALS[tok]
            out.append(f"{n}{en_ordinal_suffix(n)}")
        else:
            out.append(tok)
        worded.append(out[-1] != tok)
        i += 1
    return out, worded


def _numbers_fr(tokens: list[str]) -> tuple[list[str], list[bool]]:
    """French number words as digits: "vingt trois" → 23, "quatre vingt dix" / "nonante" → 90,
    "soixante et onze" / "septante et un" → 71, "premier" → 1, "une heure" → 1."""
    out: list[str] = []
    worded: list[bool] = []
    i = 0
    while i < len(tokens):
        got = _fr_number(tokens, i)
        if got is None:
            out.append(tokens[i])
            worded.append(False)
            i += 1
            continue
        n, i = got
        out.append(str(n))
        worded.append(True)
    return out, worded


def _fr_number(tokens: list[str], i: int) -> tuple[int, int] | None:
    """The number said from token i and the index after it."""

    def at(k: int) -> str:
        return tokens[k] if k < len(tokens) else ""

    tok = at(i)
    if tok in FR_FIRST:
        return 1, i + 1
    if tok in FR_ONE:
        return (1, i + 1) if at(i + 1) == "heures" else None
    if tok == "quatre" and at(i + 1) in ("vingt", "vingts"):
        base, j = 80, i + 2
    elif tok in FR_TENS:
        base, j = FR_TENS[tok], i + 1
    elif tok == "dix" and at(i + 1) in ("sept", "huit", "neuf"):
        return 10 + FR_UNITS[at(i + 1)], i + 2
    elif tok in FR_UNITS:
        return FR_UNITS[tok], i + 1
    else:
        return None
    if at(j) == "et" and at(j + 1) in ("un", "une", "onze"):
        return base + (1 if at(j + 1) != "onze" else 11), j + 2
    rest = _fr_number(tokens, j) if at(j) in FR_UNITS else None
    limit = 19 if base in (60, 80) else 9
    if rest is not None and rest[0] <= limit:
        return base + rest[0], rest[1]
    return base, j


# What normalizing needs per language: the string rewrites and the reader of number words. A further
# language adds its entry here, its words to ``lexicon`` and its grammar to ``parse.GRAMMARS``.
LANGUAGES: dict[str, tuple[list[tuple[re.Pattern[str], str]], Callable[[list[str]], tuple[list[str], list[bool]]]]] = {
    "de": (_DE_REWRITES, _numbers_de),
    "en": (_EN_REWRITES, _numbers_en),
    "fr": (_FR_REWRITES, _numbers_fr),
}
