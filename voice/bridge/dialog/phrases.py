"""Every sentence the agent says, in German and English, in one place.

Each phrase is one sentence (one speech chunk). Phrases with several variants are chosen by a count read
from the transcript (the n-th reminder uses variant n), never at random: the same transcript always gives
the same words. ``pattern`` turns a phrase back into a regular expression so the state module can
recognise the agent's own earlier sentences in the transcript and read the fields back out."""

from __future__ import annotations

import re
from functools import cache

LANGUAGES = ("de", "en")

PHRASES: dict[str, dict[str, tuple[str, ...]]] = {
    # --- opening: AI disclosure + recording (first sentence), a way to object, who are we talking to
    "opening": {
        "de": (
            "Guten Tag, hier spricht ein KI-System im Auftrag von {company}, und dieses Gespräch wird aufgezeichnet.",
        ),
        "en": ("Hello, this is an AI system calling on behalf of {company}, and this call is recorded.",),
    },
    "objection": {
        "de": ("Wenn Sie keine Anrufe mehr wünschen oder nicht aufgezeichnet werden möchten, sagen Sie es einfach.",),
        "en": ("If you don't want any more calls or don't want to be recorded, just say so.",),
    },
    "callback": {"de": ("Sie erreichen uns unter {number}.",), "en": ("You can reach us at {number}.",)},
    "identity": {"de": ("Spreche ich mit {name}?",), "en": ("Am I speaking with {name}?",)},
    "identity_anon": {"de": ("Haben Sie kurz zwei Minuten für mich?",), "en": ("Do you have two minutes for me?",)},
    "known_objection": {
        "de": ("Sie hatten Anrufe von uns abgelehnt, entschuldigen Sie bitte die Störung.",),
        "en": ("You asked us not to call you, please excuse the disturbance.",),
    },
    # --- qualification
    "intro": {"de": ("Schön, dass ich Sie erreiche.",), "en": ("Great to reach you.",)},
    "context": {
        "de": ("Sie hatten sich für ein Angebot von {company} interessiert.",),
        "en": ("You showed interest in an offer from {company}.",),
    },
    "q_need": {
        "de": ("Worum geht es Ihnen dabei vor allem?",),
        "en": ("What is the main thing you would like to solve?",),
    },
    "q_timing": {"de": ("Bis wann möchten Sie das umsetzen?",), "en": ("By when would you like to have it done?",)},
    "q_decider": {
        "de": ("Entscheiden Sie das allein, oder ist noch jemand beteiligt?",),
        "en": ("Do you decide this yourself, or is someone else involved?",),
    },
    "thanks": {
        "de": ("Danke.", "Verstanden, danke.", "Gut zu wissen."),
        "en": ("Thank you.", "Understood, thanks.", "Good to know."),
    },
    # --- appointment
    "propose": {
        "de": ("Am besten bespricht das ein Berater kurz mit Ihnen.",),
        "en": ("The best next step is a short talk with one of our consultants.",),
    },
    "propose_ask": {
        "de": ("Wann hätten Sie in den nächsten Tagen Zeit für einen Termin?",),
        "en": ("When would you have time for a meeting in the next few days?",),
    },
    "ask_time": {
        "de": ("Welcher Tag oder welche Uhrzeit wäre Ihnen lieber?",),
        "en": ("Which day or time would suit you better?",),
    },
    "offer_one": {
        "de": ("Ein freier Termin wäre am {slot}, passt Ihnen das?",),
        "en": ("I have a free slot on {slot}, does that work for you?",),
    },
    "offer_two": {
        "de": ("Frei wären am {first} oder am {second}, passt Ihnen der erste Termin?",),
        "en": ("I could offer {first} or {second}, does the first one work for you?",),
    },
    "no_wished": {
        "de": ("Zu Ihrer Wunschzeit ist leider nichts mehr frei.",),
        "en": ("Unfortunately nothing is free at that time.",),
    },
    "no_slots": {
        "de": ("Dafür finde ich leider keinen freien Termin.",),
        "en": ("I'm afraid I can't find a free slot for that.",),
    },
    "taken": {
        "de": ("Dieser Termin ist leider gerade vergeben worden.",),
        "en": ("I'm sorry, that slot has just been taken.",),
    },
    "booked": {"de": ("Ihr Termin ist eingetragen am {slot}.",), "en": ("Your appointment is booked for {slot}.",)},
    "confirmation_mail": {
        "de": ("Sie bekommen eine Bestätigung per E-Mail.",),
        "en": ("You'll get a confirmation by email.",),
    },
    "fallback_mail": {
        "de": ("Ich bestätige Ihnen den Termin per E-Mail.",),
        "en": ("I'll confirm the appointment by email.",),
    },
    "fallback_proposal": {
        "de": ("Ich schicke Ihnen einen Terminvorschlag per E-Mail.",),
        "en": ("I'll send you a proposed time by email.",),
    },
    # --- endings
    "material": {
        "de": ("Gerne, ich schicke Ihnen die Unterlagen per E-Mail.",),
        "en": ("Sure, I'll send you the material by email.",),
    },
    "no_appointment": {
        "de": ("Kein Problem, dann schicke ich Ihnen die Informationen per E-Mail.",),
        "en": ("No problem, I'll send you the information by email then.",),
    },
    "not_interested": {
        "de": ("Verstanden, dann möchte ich Sie nicht länger aufhalten.",),
        "en": ("Understood, I won't keep you any longer.",),
    },
    "callback_at": {"de": ("Gerne, wir rufen Sie dann noch einmal an.",), "en": ("Sure, we'll call you back then.",)},
    "callback_later": {
        "de": ("Gerne, wir melden uns zu einem späteren Zeitpunkt noch einmal.",),
        "en": ("Sure, we'll call you again another time.",),
    },
    "opted_out": {
        "de": ("Verstanden, wir rufen Sie nicht mehr an, das ist ab sofort vermerkt.",),
        "en": ("Understood, we won't call you again, that is noted as of now.",),
    },
    "wrong_number": {
        "de": ("Oh, dann bin ich falsch verbunden, entschuldigen Sie bitte die Störung.",),
        "en": ("Oh, then I have the wrong number, sorry to have disturbed you.",),
    },
    "voicemail": {"de": ("Ich versuche es später noch einmal.",), "en": ("I'll try again later.",)},
    "no_recording": {
        "de": ("Verstanden, das Gespräch wird ab jetzt nicht aufgezeichnet.",),
        "en": ("Understood, this call will not be recorded from now on.",),
    },
    "transfer": {
        "de": ("Gerne, ich verbinde Sie jetzt mit einem Kollegen.",),
        "en": ("Sure, I'll put you through to a colleague now.",),
    },
    "no_colleague": {
        "de": ("Gerade ist leider kein Kollege frei.",),
        "en": ("I'm afraid no colleague is free right now.",),
    },
    "offer_callback": {"de": ("Soll Sie jemand von uns zurückrufen?",), "en": ("Shall one of us call you back?",)},
    "carry_on": {"de": ("Gut, dann machen wir kurz weiter.",), "en": ("Alright, let's carry on briefly.",)},
    # --- repair
    "clarify": {
        "de": (
            "Entschuldigung, das habe ich nicht ganz verstanden.",
            "Verzeihung, das habe ich akustisch nicht verstanden.",
            "Entschuldigen Sie, ich habe Sie gerade nicht verstanden.",
        ),
        "en": (
            "Sorry, I didn't quite catch that.",
            "Sorry, I couldn't hear that properly.",
            "Excuse me, I didn't understand you just now.",
        ),
    },
    "reminder": {
        "de": ("Sind Sie noch da?", "Hallo, können Sie mich hören?", "Hören Sie mich noch?"),
        "en": ("Are you still there?", "Hello, can you hear me?", "Can you still hear me?"),
    },
    "silence_end": {
        "de": ("Ich höre Sie leider nicht, ich versuche es ein andermal.",),
        "en": ("I can't hear you, I'll try again another time.",),
    },
    "give_up": {
        "de": ("Ich verstehe Sie leider schlecht, wir melden uns ein andermal.",),
        "en": ("I'm having trouble understanding you, we'll get in touch another time.",),
    },
    "sorry_hiccup": {"de": ("Entschuldigung, einen Moment bitte.",), "en": ("Sorry, one moment please.",)},
    "filler": {
        "de": ("Einen Moment, ich schaue kurz in den Kalender.",),
        "en": ("One moment, let me check the calendar.",),
    },
    "goodbye": {"de": ("Vielen Dank und auf Wiederhören!",), "en": ("Thank you and goodbye!",)},
}

_FIELD = re.compile(r"\{(\w+)\}")
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


def variants(key: str, language: str) -> tuple[str, ...]:
    return PHRASES[key][lang(language)]


def say(key: str, language: str, variant: int = 0, **fields: str) -> str:
    options = variants(key, language)
    return options[variant % len(options)].format(**fields)


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
