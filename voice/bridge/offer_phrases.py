"""The agent's sentences for the offer invariant (docs/voice-bridge.md §V11), German and English.

Written as the bridge catalogue writes them (``%(name)s`` fields, one sentence each) so they can move into
crm/locales/<language>/LC_MESSAGES/bridge.po as they are; they live here because phrases.KEYS (the list
the catalogue test holds the .po files to) is closed to other modules. An alternative is only ever offered
in a sentence that says it is one and why: each ``alt_*`` sentence names the reason.
"""

from __future__ import annotations

import re

from voice.bridge.dialog import phrases

OFFER_PHRASES: dict[str, dict[str, str]] = {
    # Why no slot matched, said before asking whether to hear other times.
    "outside_hours": {
        "de": "Zu dieser Zeit sind wir leider nicht erreichbar, unsere Öffnungszeiten sind %(hours)s.",
        "en": "I'm afraid we are closed at that time, our opening hours are %(hours)s.",
    },
    "wish_full": {
        "de": "Zu Ihrer Wunschzeit ist im Kalender leider schon alles belegt.",
        "en": "I'm afraid the calendar is fully booked at that time.",
    },
    "wish_unavailable": {
        "de": "Zu Ihrer Wunschzeit kann ich Ihnen leider keinen Termin anbieten.",
        "en": "I'm afraid I can't offer you an appointment at that time.",
    },
    # The question; a yes is the caller's consent to hear alternatives.
    "alternatives_ask": {
        "de": "Darf ich Ihnen stattdessen die nächstgelegenen freien Termine nennen?",
        "en": "Shall I suggest the nearest free times instead?",
    },
    # Alternatives, each sentence saying that they are and why.
    "alt_one_hours": {
        "de": "Als Alternative, da wir zu Ihrer Wunschzeit geschlossen haben, wäre am %(slot)s frei, passt Ihnen das?",
        "en": "As an alternative, since we are closed at your preferred time, I have %(slot)s free, "
        "does that work for you?",
    },
    "alt_two_hours": {
        "de": "Als Alternative, da wir zu Ihrer Wunschzeit geschlossen haben, wären am %(first)s oder am %(second)s "
        "frei, passt Ihnen der erste Termin?",
        "en": "As an alternative, since we are closed at your preferred time, I could offer %(first)s or "
        "%(second)s, does the first one work for you?",
    },
    "alt_one_full": {
        "de": "Als Alternative, da zu Ihrer Wunschzeit alles belegt ist, wäre am %(slot)s frei, passt Ihnen das?",
        "en": "As an alternative, since your preferred time is fully booked, I have %(slot)s free, "
        "does that work for you?",
    },
    "alt_two_full": {
        "de": "Als Alternative, da zu Ihrer Wunschzeit alles belegt ist, wären am %(first)s oder am %(second)s "
        "frei, passt Ihnen der erste Termin?",
        "en": "As an alternative, since your preferred time is fully booked, I could offer %(first)s or "
        "%(second)s, does the first one work for you?",
    },
    "alt_one_other": {
        "de": "Als Alternative, da ich zu Ihrer Wunschzeit keinen Termin anbieten kann, wäre am %(slot)s frei, "
        "passt Ihnen das?",
        "en": "As an alternative, since I can't offer your preferred time, I have %(slot)s free, "
        "does that work for you?",
    },
    "alt_two_other": {
        "de": "Als Alternative, da ich zu Ihrer Wunschzeit keinen Termin anbieten kann, wären am %(first)s oder "
        "am %(second)s frei, passt Ihnen der erste Termin?",
        "en": "As an alternative, since I can't offer your preferred time, I could offer %(first)s or "
        "%(second)s, does the first one work for you?",
    },
}

# The reason an alternative is offered -> the suffix of its alt_* sentence.
REASON_SUFFIX = {"outside_hours": "hours", "full": "full", "unavailable": "other", "": "other"}


def text(key: str, language: str, **fields: str) -> str:
    return OFFER_PHRASES[key][phrases.lang(language)] % fields


def _regex(template: str) -> re.Pattern[str]:
    pieces = [r"\s+".join(re.escape(word) for word in part.split()) for part in _FIELD.split(template.rstrip(".!?"))]
    return re.compile(r".+?".join(p for p in pieces if p), re.IGNORECASE)


_FIELD = re.compile(r"%\(\w+\)s")
_PATTERNS = {key: tuple(_regex(t) for t in texts.values()) for key, texts in OFFER_PHRASES.items()}


def said(key: str, agent_text: str) -> bool:
    """Whether an agent turn contains the phrase (either language; spacing and final punctuation as a
    provider may have changed them)."""
    norm = phrases.normalise(agent_text)
    return any(p.search(norm) for p in _PATTERNS[key])
