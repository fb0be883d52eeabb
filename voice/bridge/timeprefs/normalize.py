"""Utterance → tokens the grammar can read: lower case, umlauts spelled out, number words as digits
("halb drei" → "halb 3", "am siebzehnten" → "am 17."), punctuation reduced to clause commas.

Speech-to-text writes both "14:30" and "vierzehn Uhr dreißig"; doing numbers here keeps the grammar
to one spelling of each thing."""

from __future__ import annotations

import re

from voice.bridge.timeprefs.lexicon import (
    DE_CARDINALS,
    DE_ORDINALS,
    DE_WEEKDAYS,
    EN_CARDINALS,
    EN_MONTHS,
    EN_ORD_UNIT_WORDS,
    EN_ORDINALS,
    EN_TENS,
    EN_UNIT_WORDS,
    en_ordinal_suffix,
)

_UMLAUTS = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "’": "'", "`": "'", "´": "'", "–": "-", "—": "-"})
_WEEKDAY_RE = "|".join(DE_WEEKDAYS)
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
    (re.compile(r"\b(?:no|not) later than\b"), "until"),
    (re.compile(r"\b(?:no|not) earlier than\b"), "from"),
    (re.compile(r"\bat the earliest\b"), ""),
    (re.compile(r"\bat the latest\b"), ""),
    (re.compile(r"\b(\d{1,2})(?:\s*)ish\b"), r"around \1"),
]
_DE_REWRITES = [
    (re.compile(r"\bnicht (?:spaeter|laenger) als\b"), "bis"),
    (re.compile(r"\bnicht frueher als\b"), "ab"),
    (re.compile(r"\bspaetestens(?: um)?\b"), "bis"),
    (re.compile(r"\bfruehestens(?: um| ab)?\b"), "ab"),
    (re.compile(r"\b(\d{1,2})\s*h\b"), r"\1 uhr"),
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
    """Tokens of one utterance; commas stay as "," tokens because they end clauses."""
    s = text.lower().translate(_UMLAUTS)
    rewrites = _EN_REWRITES if language == "en" else _DE_REWRITES
    for pattern, repl in rewrites:
        s = pattern.sub(repl, s)
    if language != "en":
        s = _DE_COMPOUND.sub(r"\1 \2\3", s)
        s = _DE_COMPOUND_MORNING.sub(r"\1 am morgen", s)
    for pattern, repl in _SPACED:
        s = pattern.sub(repl, s)
    tokens = s.split()
    return _numbers_en(tokens) if language == "en" else _numbers_de(tokens)


def _numbers_de(tokens: list[str]) -> list[str]:
    out: list[str] = []
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
    return out


def _numbers_en(tokens: list[str]) -> list[str]:
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
        prev = out[-1] if out else ""
        if tok in EN_TENS and nxt in EN_UNIT_WORDS:
            out.append(str(EN_TENS[tok] + EN_UNIT_WORDS[nxt]))
            i += 2
            continue
        if tok in EN_TENS and nxt in EN_ORD_UNIT_WORDS:
            n = EN_TENS[tok] + EN_ORD_UNIT_WORDS[nxt]
            out.append(f"{n}{en_ordinal_suffix(n)}")
            i += 2
            continue
        if tok in EN_CARDINALS:
            out.append(str(EN_CARDINALS[tok]))
        elif tok in EN_ORDINALS and (tok not in ("first", "second") or prev in ("the", "on") or prev in EN_MONTHS):
            n = EN_ORDINALS[tok]
            out.append(f"{n}{en_ordinal_suffix(n)}")
        else:
            out.append(tok)
        i += 1
    return out
