"""Recogniser-style perturbations of an utterance, deterministic for a seed: what speech-to-text makes
of what a caller said. ``accuracy --noise`` runs every regression utterance through each of them.

* ``plain``: punctuation dropped (a dot or colon inside a number stays: "14:30", "1. Dezember") and
  lower case; every other perturbation starts from this;
* ``fillers``: one or two hesitations inserted between words ("äh", "ähm", "also" / "uh", "um", "like",
  "you know");
* ``repeat``: one word said twice ("am am Montag"; never a number: "ten ten" is a time);
* ``words``: digits as words, as recognisers often write them ("14:30 Uhr" → "vierzehn Uhr dreißig",
  "2:30pm" → "two thirty p m", "17." → "siebzehnten", "7.12." → "siebten zwölften", "17th" →
  "seventeenth");
* ``slips``: homophones of number words where a clock is said ("at four" → "at for", "at two" → "at to",
  "um halb drei" → "um halt drei");
* ``all``: words, then slips, fillers and a repetition together.

The fillers and the slips here are what recognisers produce, chosen without looking at the parser's
word lists: a filler the parser does not know is a failure the harness is meant to show.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable

from voice.bridge.timeprefs.lexicon import DE_CARDINALS, DE_ORDINALS, EN_CARDINALS, EN_ORDINALS
from voice.bridge.timeprefs.lexicon_fr import FR_CARDINALS, FR_TENS

KINDS = ("plain", "fillers", "repeat", "words", "slips", "all")
# Per language; a language without an entry gets the German one.
_FILLERS = {
    "de": ("äh", "ähm", "hm", "also", "ja"),
    "en": ("uh", "um", "like", "you know", "well"),
    "fr": ("euh", "ben", "bah", "du coup", "hein", "bon", "alors"),
}
_SLIPS: dict[str, dict[tuple[str, ...], str]] = {
    "de": {("um", "halb"): "halt", ("halb",): "halt", ("um", "vier"): "für"},
    "en": {("at", "four"): "for", ("at", "two"): "to", ("around", "two"): "too", ("at", "eight"): "ate"},
    "fr": {("à", "dix"): "dis", ("et", "quart"): "car", ("le", "quart"): "car", ("à", "sept"): "set"},
}
_PUNCT = re.compile(r"[,;!?\"()…—–]|(?<!\d)\.|:(?!\d)|(?<=\s)-(?=\s)")
_DIGITS = re.compile(r"^(\d{1,2})(?:([:.])(\d{2}))?(\.)?(am|pm|uhr|h|th|st|nd|rd)?$")
_DATE = re.compile(r"^(\d{1,2})\.(\d{1,2})\.(\d{4})?$")


def perturb(text: str, lang: str, kind: str, seed: str) -> str:
    """`text` as a recogniser might deliver it; the same (text, kind, seed) always gives the same."""
    if kind not in KINDS:
        raise ValueError(f"unknown perturbation {kind!r}; one of {', '.join(KINDS)}")
    rng = random.Random(f"{seed}|{kind}|{text}")
    words = _PUNCT.sub(" ", text.lower()).split()
    if kind in ("words", "all"):
        words = _as_words(words, lang)
    if kind in ("slips", "all"):
        words = _slip(words, lang)
    if kind in ("fillers", "all"):
        words = _fillers(words, lang, rng)
    if kind in ("repeat", "all"):
        words = _repeat(words, rng)
    return " ".join(words)


def _fillers(words: list[str], lang: str, rng: random.Random) -> list[str]:
    """Hesitations between words, not inside a number and its unit ("vierzehn äh Uhr" is not said)."""
    out = list(words)
    for _ in range(rng.randint(1, 2)):
        gaps = [k for k in range(len(out) + 1) if _hesitation_fits(out, k)]
        out.insert(rng.choice(gaps), rng.choice(_FILLERS.get(lang, _FILLERS["de"])))
    return out


def _hesitation_fits(words: list[str], k: int) -> bool:
    if k == 0 or k == len(words):
        return True
    return words[k] not in _UNITS and not (_is_number(words[k - 1]) and _is_number(words[k]))


def _repeat(words: list[str], rng: random.Random) -> list[str]:
    candidates = [
        n
        for n, w in enumerate(words)
        if len(w) > 1 and not any(ch.isdigit() for ch in w) and not _is_number(w) and w not in _UNITS
    ]
    if not candidates:
        return words
    n = rng.choice(candidates)
    return [*words[: n + 1], words[n], *words[n + 1 :]]


def _slip(words: list[str], lang: str) -> list[str]:
    """The first homophone slip that applies (a recogniser mishears a word, not every one)."""
    slips = _SLIPS.get(lang, _SLIPS["de"])
    for n, w in enumerate(words):
        for pattern, wrong in slips.items():
            if len(pattern) == 2 and n and (words[n - 1], w) == pattern:
                return [*words[:n], wrong, *words[n + 1 :]]
            if len(pattern) == 1 and w == pattern[0] and n + 1 < len(words) and _is_number(words[n + 1]):
                return [*words[:n], wrong, *words[n + 1 :]]
    return words


# ---- digits as words ------------------------------------------------------------------------------

_DE_WORD = {n: w for w, n in reversed(DE_CARDINALS.items()) if w not in ("zwo",)}
_DE_ORD = {n: w for w, n in reversed(DE_ORDINALS.items()) if w.endswith("en") and w != "siebenten"}
_EN_WORD = {n: w for w, n in EN_CARDINALS.items()}
_EN_ORD = {n: w for w, n in EN_ORDINALS.items()}
_NUMBER_WORDS = frozenset(_DE_WORD.values()) | frozenset(_EN_WORD.values()) | frozenset(_DE_ORD.values())
_NUMBER_WORDS |= frozenset(_EN_ORD.values())
_NUMBER_WORDS |= {w.replace("ue", "ü").replace("oe", "ö") for w in (*_DE_WORD.values(), *_DE_ORD.values())}
_NUMBER_WORDS |= frozenset({"dreißig", "dreißigsten", "oh"})
_FR_WORD = {n: w for w, n in FR_CARDINALS.items() if w != "une"} | {80: "quatre-vingts"}
_NUMBER_WORDS |= frozenset(FR_CARDINALS) | frozenset(FR_TENS) | {"quatre-vingts", "quatre-vingt", "premier"}
_UNITS = frozenset({"uhr", "o'clock", "p", "a", "m", "am", "pm", "heures", "heure", "h"})


def _is_number(word: str) -> bool:
    """A digit or a number word ("vingt-trois": every part of a hyphenated word is one)."""
    return word.isdigit() or word in _NUMBER_WORDS or all(p in _NUMBER_WORDS for p in word.split("-"))


def _en(n: int) -> str:
    if n in _EN_WORD:
        return _EN_WORD[n]
    tens, unit = divmod(n, 10)
    return f"{_EN_WORD[tens * 10]} {_EN_WORD[unit]}"


def _en_ord(n: int) -> str:
    if n in _EN_ORD:
        return _EN_ORD[n]
    tens, unit = divmod(n, 10)
    return f"{_EN_WORD[tens * 10]} {_EN_ORD[unit]}"


def _de(n: int) -> str:
    return _DE_WORD[n] if n in _DE_WORD else str(n)


def _as_words(words: list[str], lang: str) -> list[str]:
    say = _SAY.get(lang, _word_de)
    out: list[str] = []
    n = 0
    while n < len(words):
        w, nxt = words[n], words[n + 1] if n + 1 < len(words) else ""
        spoken = say(w, nxt)
        n += 1
        if spoken is None:
            out.append(w)
            continue
        if lang == "de":
            spoken = spoken.replace("ue", "ü").replace("oe", "ö").replace("ss", "ß")
            if " uhr" in spoken and nxt == "uhr":
                n += 1  # "14:30 Uhr" is said "vierzehn Uhr dreißig", one "Uhr"
        out.extend(spoken.split())
    return out


def _word_de(w: str, nxt: str) -> str | None:
    date = _DATE.match(w)
    if date:
        day, month, year = int(date.group(1)), int(date.group(2)), date.group(3)
        if 1 <= day <= 31 and 1 <= month <= 12:
            return f"{_DE_ORD[day]} {_DE_ORD[month]}" + (f" {year}" if year else "")
    m = _DIGITS.match(w)
    if not m or w.startswith("0"):
        return None  # "07:30" says more than "sieben Uhr dreißig" does (morning): kept as written
    hour, sep, minute, dot, suffix = int(m.group(1)), m.group(2), m.group(3), m.group(4), m.group(5)
    if dot and not sep and suffix is None:
        return _DE_ORD.get(hour)  # "17." → "siebzehnten"
    if sep == "." and minute and nxt != "uhr":
        return None  # "7.12" without a year is not said as a time
    if minute is None:
        return ("ein" if hour == 1 and nxt == "uhr" else _de(hour)) + (" uhr" if suffix in ("uhr", "h") else "")
    mins = int(minute)
    return f"{_de(hour)} uhr" + (f" {_de(mins)}" if mins else "") if hour <= 23 and mins <= 59 else None


def _word_en(w: str, nxt: str = "") -> str | None:
    m = _DIGITS.match(w)
    if not m or m.group(2) == "." or m.group(4):
        return None
    hour, minute, suffix = int(m.group(1)), m.group(3), m.group(5)
    if suffix in ("th", "st", "nd", "rd"):
        return _en_ord(hour) if 1 <= hour <= 31 else None
    if suffix == "uhr" or suffix == "h":
        return None
    mer = f" {suffix[0]} m" if suffix else ""
    if minute is None:
        return _en(hour) + mer if hour <= 59 else None
    mins = int(minute)
    if hour > 12 or mins > 59:
        return None
    said = "" if mins == 0 else f" oh {_en(mins)}" if mins < 10 else f" {_en(mins)}"
    return _en(hour) + said + (mer or (" o'clock" if mins == 0 else ""))


def _fr(n: int) -> str:
    """A French number word as a recogniser writes it (France): "vingt et un", "soixante-douze"."""
    if n in _FR_WORD:
        return _FR_WORD[n]
    if n < 20:
        return f"dix-{_FR_WORD[n - 10]}"
    tens = 60 if 70 <= n < 80 else 80 if n >= 80 else n // 10 * 10
    rest = n - tens
    base = "quatre-vingt" if tens == 80 else _FR_WORD[tens]
    if rest in (1, 11) and tens != 80:
        return f"{base} et {_fr(rest)}"
    return f"{base}-{_fr(rest)}"


def _word_fr(w: str, nxt: str) -> str | None:
    """ "14h30" / "14:30" → "quatorze heures trente", "9h" → "neuf heures", "1er" → "premier", "16 h" →
    "seize heures", "23" → "vingt-trois"."""
    if w == "h":
        return "heures"  # "16 h": the number before it is said on its own
    if w in ("1er", "1re"):
        return "premier" if w == "1er" else "première"
    m = re.fullmatch(r"(\d{1,2})(?:(h|:)(\d{2})?)?", w)
    if not m:
        return None
    hour, unit, minute = int(m.group(1)), m.group(2), m.group(3)
    if hour > 99 or (unit and hour > 23):
        return None
    if not unit:
        return _fr(hour) if hour else None
    mins = int(minute) if minute else 0
    return f"{_fr(hour) if hour else 'zéro'} heures" + (f" {_fr(mins)}" if mins else "") if mins <= 59 else None


_SAY: dict[str, Callable[[str, str], str | None]] = {"de": _word_de, "en": _word_en, "fr": _word_fr}
