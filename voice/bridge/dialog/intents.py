"""What the callee's utterance means. Pure: no I/O, no state.

The words live in one data module per language (lexicon_de, lexicon_en, lexicon_fr; a new language is one
more module in LEXICONS with the same signal names). Every language's patterns are read on every turn:
callees switch languages, and a wrong-number "sorry, who?" is no reason to fail. Text and patterns meet in
one normal form (``fold``): lower case, umlauts written out, French accents dropped, hyphens and punctuation
as spaces, apostrophes dropped.

``read(text)`` returns every signal found; ``decide(reading)`` then names the one intent the turn is about,
before any time is parsed (issue 15 item 3): opt-out, wrong person, an opt-out said with a hedge, callback,
refusal, deferral, a time wish, question, open answer. Where the conversation is decides what the policy
does with it (an opt-out always wins)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, fields
from functools import lru_cache
from types import ModuleType

from voice.bridge.dialog import lexicon_de, lexicon_en, lexicon_fr
from voice.bridge.dialog.phrases import normalise

MAX_CHARS = 1000  # a callee's turn longer than this is cut before it is read
LEXICONS: tuple[ModuleType, ...] = (lexicon_de, lexicon_en, lexicon_fr)

_UMLAUTS: dict[str, str | int | None] = {"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss"}
# French letters as a recogniser may or may not accent them: both spellings meet without the accent.
_ACCENTS: dict[str, str | int | None] = {
    **dict.fromkeys("àâá", "a"),
    **dict.fromkeys("éèêë", "e"),
    **dict.fromkeys("îï", "i"),
    **dict.fromkeys("ôó", "o"),
    **dict.fromkeys("ùû", "u"),
    "ç": "c",
    "ÿ": "y",
    "œ": "oe",
    "æ": "ae",
}
_FOLD_PATTERN = str.maketrans({**_UMLAUTS, **_ACCENTS})
_FOLD = str.maketrans({**_UMLAUTS, **_ACCENTS, "'": None, "\u2019": None, "`": None})
_NOT_WORD = re.compile(r"[^\w\s]|_")
# A German verb stem's endings and the pronoun that may follow ("ruf~": ruf, rufe, ruft, rufen Sie, ...).
_VERB_ENDINGS = r"(?:e|en|et|est|t|st|n)?(?:\s+(?:sie|sies|du|ihr|es))?"


def fold(text: str) -> str:
    """The normal form patterns are written for: "Do-Not-Call!" -> "do not call", "möchte" -> "moechte";
    hesitations dropped and a word said twice in a row kept once ("lösch äh meine meine Nummer" ->
    "loesch meine nummer"), as speech recognisers deliver them."""
    low = _NOT_WORD.sub(" ", normalise(text).lower().translate(_FOLD))
    words: list[str] = []
    for word in _FILLERS.sub(" ", " ".join(low.split())).split():
        if not words or words[-1] != word:
            words.append(word)
    return " ".join(words)


def _expand(pattern: str, lexicon: ModuleType) -> str:
    leading = "|".join(re.escape(w) for w in lexicon.LEADING)
    return fold_pattern(pattern).replace("~", _VERB_ENDINGS).replace("{leading}", f"(?:{leading})")


def fold_pattern(pattern: str) -> str:
    """Umlauts and accents in a pattern written like the text (a lexicon may spell "später" or "spaeter",
    "numéro" or "numero")."""
    return pattern.translate(_FOLD_PATTERN)


_FILLERS = re.compile(r"\b(?:" + "|".join(f for lexicon in LEXICONS for f in lexicon.FILLERS) + r")\b")


def _compile(name: str) -> re.Pattern[str]:
    alternatives = [_expand(p, lexicon) for lexicon in LEXICONS for p in lexicon.SIGNALS[name]]
    return re.compile("|".join(f"(?:{a})" for a in alternatives))


class Intent(str, enum.Enum):
    """What a turn is about, in the order decide() tries them."""

    OPT_OUT = "opt_out"
    WRONG_PERSON = "wrong_person"
    OPT_OUT_UNSURE = "opt_out_unsure"  # a hedged opt-out: ask "shall I remove your number?"
    CALLBACK = "callback"
    REFUSAL = "refusal"
    DEFERRAL = "deferral"  # "I'll have to check my calendar": offer a booking link or a callback
    APPOINTMENT = "appointment"  # a time wish, or a wish for an appointment
    QUESTION = "question"
    OPEN = "open_answer"  # "any time": propose the best slot
    OTHER = "other"  # none of these: the stage decides (yes/no, an answer to a question, ...)


@dataclass(frozen=True)
class Reading:
    """Every signal in one utterance; ``confirm``/``decline`` keep only the one that comes first."""

    text: str  # the utterance as said (cleaned), for answers and the time parser
    opt_out: bool = False
    opt_out_unsure: bool = False
    wrong_number: bool = False
    voicemail: bool = False
    human: bool = False
    no_recording: bool = False
    refusal: bool = False
    soft_refusal: bool = False
    callback: bool = False
    deferral: bool = False
    question: bool = False
    who: bool = False  # the question is who is calling
    open_answer: bool = False
    time_words: bool = False
    material: bool = False
    appointment: bool = False
    confirm: bool = False
    decline: bool = False
    first: bool = False
    second: bool = False
    decider: bool = False
    timing: bool = False
    by_mail: bool = False
    by_call: bool = False

    @property
    def empty(self) -> bool:
        return not WORDS.search(self.text)

    @property
    def intent(self) -> Intent:
        return decide(self)

    def names(self, name_parts: tuple[str, ...]) -> bool:
        """True when the callee says one of their own names ("Weber hier")."""
        low = self.text.lower()
        return any(part and re.search(rf"\b{re.escape(part.lower())}\b", low) for part in name_parts)


SIGNALS: tuple[str, ...] = tuple(f.name for f in fields(Reading) if f.name != "text")
PATTERNS: dict[str, re.Pattern[str]] = {name: _compile(name) for name in SIGNALS}
WORDS = re.compile(r"[^\W\d_]{2,}")  # two letters of any alphabet ("ça", "où" count)


def clean(text: str | None) -> str:
    return normalise((text or "")[: MAX_CHARS * 2])[:MAX_CHARS]


@lru_cache(maxsize=4096)
def read(text: str | None) -> Reading:
    """Every signal in ``text``. Cached: a pure function of the words with an immutable answer, and each
    turn of a call reads the callee's earlier turns again while rebuilding its state (dialog/state.py)."""
    t = clean(text)
    folded = fold(t)
    found = {name: pattern.search(folded) for name, pattern in PATTERNS.items()}
    confirm, decline = found["confirm"], found["decline"]
    if confirm and decline:
        if decline.start() <= confirm.start():
            confirm = None
        else:
            decline = None
    signals = {name: bool(m) for name, m in found.items()}
    refusal = signals["refusal"]
    signals.update(
        appointment=signals["appointment"] and not refusal,
        confirm=bool(confirm) and not refusal,
        decline=bool(decline) or refusal,
    )
    return Reading(text=t, **signals)


def decide(r: Reading) -> Intent:
    """The one intent of a turn, decided from its words alone (no time parsing). An opt-out first, then
    what ends or redirects the call; a turn with day or time words is a time wish before it is a question
    or an open answer ("egal, aber nicht montags" is a wish)."""
    if r.opt_out:
        return Intent.OPT_OUT
    if r.wrong_number:
        return Intent.WRONG_PERSON
    if r.opt_out_unsure:
        return Intent.OPT_OUT_UNSURE
    if r.callback:
        return Intent.CALLBACK
    if r.refusal:
        return Intent.REFUSAL
    if r.deferral:
        return Intent.DEFERRAL
    if r.time_words:
        return Intent.APPOINTMENT
    if r.question:
        return Intent.QUESTION
    if r.open_answer:
        return Intent.OPEN
    if r.appointment:
        return Intent.APPOINTMENT
    return Intent.OTHER
