"""Every sentence the agent says, by key; the words are in the gettext domain "bridge".

The texts live in ``crm/locales/<language>/LC_MESSAGES/bridge.po`` (read through crm.catalogs). The msgid is
the phrase key for a phrase's first variant ("reminder") and ``key#n`` for its n-th variant ("reminder#2",
"reminder#3"), numbered without gaps; fields are gettext's ``%(name)s``. KEYS below is every phrase the
dialog knows; tests/voice/bridge/test_bridge_catalog.py checks that each language has each key with the same
fields and the same number of variants, and that the code asks for no key outside KEYS.

Each phrase is one sentence (one speech chunk). Phrases with several variants are chosen by a count read
from the transcript (the n-th reminder uses variant n), never at random: the same transcript always gives
the same words. ``pattern`` turns a phrase back into a regular expression so the state module can
recognise the agent's own earlier sentences in the transcript and read the fields back out."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from functools import cache

from crm import catalogs

DOMAIN = "bridge"
LANGUAGES = ("de", "en", "fr")  # the languages the agent speaks: each has a bridge.po

KEYS: tuple[str, ...] = (
    # opening: AI disclosure + recording (first sentence), a way to object, who are we talking to
    "opening",
    "objection",
    "callback",
    "identity",
    "identity_anon",
    "known_objection",
    # qualification
    "intro",
    "context",
    "q_need",
    "q_timing",
    "q_decider",
    "thanks",
    # appointment
    "propose",
    "propose_ask",
    "ask_time",
    "offer_one",
    "offer_two",
    "no_slots",
    "taken",
    "booked",
    "confirmation_mail",
    "fallback_mail",
    "fallback_proposal",
    # the offer invariant (docs/voice-bridge.md §V11): the real reason, the question, alternatives said as such
    "outside_hours",
    "wish_full",
    "wish_unavailable",
    "alternatives_ask",
    "alt_one_hours",
    "alt_two_hours",
    "alt_one_full",
    "alt_two_full",
    "alt_one_other",
    "alt_two_other",
    # endings
    "material",
    "no_appointment",
    "not_interested",
    "callback_at",
    "callback_later",
    "opted_out",
    "wrong_number",
    "voicemail",
    "no_recording",
    "transfer",
    "no_colleague",
    "offer_callback",
    "carry_on",
    # intents other than a time wish (issue 15 item 3)
    "ask_remove",
    "question_who",
    "question_later",
    "deferral_offer",
    "link_sent",
    # repair
    "clarify",
    "reminder",
    "silence_end",
    "give_up",
    "sorry_hiccup",
    "filler",
    "goodbye",
    # the protocol adapters' (retell.py, vapi.py) last word when a turn produced nothing to say
    "apology",
    # inbound calls (issue 17, voice/bridge/dialog/inbound.py): greeting, intent, appointment changes, questions,
    # messages
    "in_greeting",
    "in_hello",
    "in_ask_intent",
    "in_anything_else",
    "in_book_ask",
    "in_which_move",
    "in_which_cancel",
    "in_move_ask",
    "in_confirm_cancel",
    "in_cancelled",
    "in_cancel_failed",
    "in_kept",
    "in_no_appointment",
    "in_ask_question",
    "in_ask_colleague",
    "in_closed",
    "in_ask_message",
    "in_withheld_ask",
    "in_message_taken",
    "in_callback_promise",
)

_FIELD = re.compile(r"%\((\w+)\)s")
_TYPOGRAPHY = str.maketrans(
    {
        "\u2019": "'",
        "\u2018": "'",
        "\u201c": '"',
        "\u201d": '"',
        "\u201e": '"',
        "\u2013": "-",
        "\u2014": "-",
        "\u00a0": " ",
    }
)


def lang(language: str | None) -> str:
    """The language we speak: the lead's if we have it, German otherwise."""
    code = (language or "de").strip().lower()[:2]
    return code if code in LANGUAGES else "de"


def msgid(key: str, variant: int) -> str:
    """The catalogue's msgid of one variant (0-based): "reminder", "reminder#2", ..."""
    return key if variant == 0 else f"{key}#{variant + 1}"


@cache
def variants(key: str, language: str) -> tuple[str, ...]:
    """Every variant of a phrase, in order, as ``%(name)s`` templates. A key the catalogue lacks is an
    error (KeyError), never the msgid spoken to a caller."""
    code = lang(language)
    found: list[str] = []
    while True:
        wanted = msgid(key, len(found))
        text = catalogs.gettext(code, DOMAIN, wanted)
        if text == wanted or not text:  # gettext gives the msgid back when there is no text
            break
        found.append(text)
    if key not in KEYS or not found:
        raise KeyError(f"no {code} text for the bridge phrase {key!r}")
    return tuple(found)


def say(key: str, language: str, variant: int = 0, **fields: str) -> str:
    options = variants(key, language)
    return options[variant % len(options)] % fields


class _Phrases(Mapping[str, dict[str, tuple[str, ...]]]):
    """``PHRASES[key][language]`` -> the variants, read from the catalogues (for code that iterates keys)."""

    def __getitem__(self, key: str) -> dict[str, tuple[str, ...]]:
        if key not in KEYS:
            raise KeyError(key)
        return {code: variants(key, code) for code in LANGUAGES}

    def __iter__(self) -> Iterator[str]:
        return iter(KEYS)

    def __len__(self) -> int:
        return len(KEYS)


PHRASES: Mapping[str, dict[str, tuple[str, ...]]] = _Phrases()


def filler(language: str) -> str:
    """What the CRM tools say while a calendar look-up is slow (voice.bridge.crm_tools asks for it)."""
    return say("filler", language)


def normalise(text: str) -> str:
    """Typography and whitespace as the matching expects them (providers may re-punctuate slightly)."""
    return " ".join((text or "").translate(_TYPOGRAPHY).split())


@cache
def pattern(key: str, language: str) -> re.Pattern[str]:
    """A regular expression matching any variant of the phrase; fields become named groups."""
    alternatives = []
    for number, template in enumerate(variants(key, language)):
        parts, pos = [], 0
        for m in _FIELD.finditer(template):
            parts.append(_literal(template[pos : m.start()]))
            parts.append(f"(?P<{m.group(1)}_{number}>.+?)")
            pos = m.end()
        parts.append(_literal(template[pos:]))
        alternatives.append("".join(parts))
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


def _literal(text: str) -> str:
    # Spaces may be any whitespace; a sentence's final punctuation may be dropped by a provider.
    escaped = r"\s+".join(re.escape(word) for word in text.split(" ")) if text else ""
    if text and text != text.rstrip(".!?"):
        stripped = text.rstrip(".!?")
        escaped = (r"\s+".join(re.escape(word) for word in stripped.split(" ")) + r"[.!?]?") if stripped else r"[.!?]?"
    return escaped


def fields_of(match: re.Match[str]) -> dict[str, str]:
    """The named fields of a match, without the variant suffix."""
    out: dict[str, str] = {}
    for name, value in match.groupdict().items():
        if value is not None:
            out[name.rsplit("_", 1)[0]] = value.strip()
    return out
