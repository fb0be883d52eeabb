"""What an inbound caller wants (issue 17): book, move or cancel an appointment, ask a question, talk to a
person, leave a message, or nothing more. Pure: no I/O.

The words of the outbound lexicons (intents.read: a person, a callback, yes/no, time words, a question's
opening) are read first; these are the words only a caller uses, in German, English and French, in the
same normal form (intents.fold)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from voice.bridge.dialog import intents

_WORDS: dict[str, tuple[str, ...]] = {
    "move": (
        # de
        r"\b(?:verschieb\w*|verleg\w*|umleg\w*|umbuch\w*)\b",
        r"\banderen\s+termin\b",
        r"\btermin\s+(?:aendern|tauschen)\b",
        # en
        r"\b(?:reschedul\w*|postpone\w*|rebook\w*)\b",
        r"\b(?:move|change|shift)\s+(?:my|the|our|that)\s+(?:\w+\s+)?(?:appointment|meeting|booking)\b",
        r"\bdifferent\s+(?:time|day|date)\b",
        # fr
        r"\b(?:deplacer|reporter|decaler|changer)\s+(?:mon|le|notre|ce)\s+(?:rendez\s+vous|rdv)\b",
        r"\b(?:deplac|report|decal)\w*\b",
    ),
    "cancel": (
        r"\b(?:absag\w*|abzusagen|storn\w*)\b",
        r"\btermin\s+(?:nicht\s+wahrnehmen|faellt\s+aus)\b",
        r"\bcancel\w*\b",
        r"\bcall\s+off\b",
        r"\bannul\w*\b",
    ),
    "message": (
        r"\bnachricht\b",
        r"\bausrichten\b",
        r"\b(?:leave|take|pass\s+on)\s+(?:a\s+)?message\b",
        r"\bmessage\b",
    ),
    "book": (
        r"\btermin\b",
        r"\b(?:appointment|meeting|booking|book)\b",
        r"\brendez\s+vous\b",
        r"\brdv\b",
    ),
    # "I have a question" without the question itself
    "ask": (
        r"\b(?:eine|ne|noch\s+eine)\s+frage\b",
        r"\b(?:a|one)\s+(?:quick\s+)?question\b",
        r"\bune\s+(?:petite\s+)?question\b",
    ),
    # "no, that's all": the caller wants nothing more
    "done": (
        r"\b(?:das\s+wars|das\s+war\s+alles|sonst\s+nichts|nichts\s+weiter|alles\s+gut|passt\s+so)\b",
        r"\b(?:thats\s+all|thats\s+it|nothing\s+else|no\s+thanks|no\s+thank\s+you|all\s+good)\b",
        r"\b(?:cest\s+tout|rien\s+dautre|non\s+merci)\b",
        r"^(?:nein|no|non)(?:\s+(?:danke|thanks|merci))?$",
    ),
    "callback": (
        r"\bzurueck\s*ruf\w*\b",
        r"\bruf\w*\s+(?:sie\s+)?(?:mich\s+)?zurueck\b",
        r"\bcall\s+(?:me\s+)?back\b",
        r"\brappel\w*\b",
    ),
}
_PATTERNS = {name: re.compile("|".join(f"(?:{intents.fold_pattern(p)})" for p in ps)) for name, ps in _WORDS.items()}


class InboundIntent(str, enum.Enum):
    PERSON = "person"
    MESSAGE = "message"
    CANCEL = "cancel"
    MOVE = "move"
    BOOK = "book"
    QUESTION = "question"
    ASK = "ask"  # "I have a question": ask for it
    DONE = "done"
    OTHER = "other"


@dataclass(frozen=True)
class CallerReading:
    reading: intents.Reading
    move: bool = False
    cancel: bool = False
    message: bool = False
    book: bool = False
    ask: bool = False
    done: bool = False
    callback: bool = False

    @property
    def intent(self) -> InboundIntent:
        return decide(self)

    @property
    def wants_callback(self) -> bool:
        r = self.reading
        return self.callback or r.callback or (r.confirm and not r.decline)


def read(text: str | None) -> CallerReading:
    reading = intents.read(text)
    folded = intents.fold(reading.text)
    found = {name: bool(pattern.search(folded)) for name, pattern in _PATTERNS.items()}
    return CallerReading(reading=reading, **found)


def decide(c: CallerReading) -> InboundIntent:
    """A person first (the caller asked for one), then the changes to an appointment (a cancel or a move
    names the appointment too, so it is not a booking), a message, a question, a booking."""
    r = c.reading
    if r.human:
        return InboundIntent.PERSON
    if c.cancel:
        return InboundIntent.CANCEL
    if c.move:
        return InboundIntent.MOVE
    if c.message or c.callback or r.callback:
        return InboundIntent.MESSAGE
    if c.ask and not _content(r.text):
        return InboundIntent.ASK
    if r.question or r.text.rstrip().endswith("?"):
        return InboundIntent.BOOK if c.book and r.time_words else InboundIntent.QUESTION
    if c.book or r.appointment or r.time_words:
        return InboundIntent.BOOK
    if c.done or (r.decline and not r.confirm):
        return InboundIntent.DONE
    return InboundIntent.OTHER


def _content(text: str) -> bool:
    """More than "I have a question" (the question itself follows in the same turn)."""
    return len(intents.fold(text).split()) > 7
