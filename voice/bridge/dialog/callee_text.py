"""How the rules policy speaks of the callee and numbers: names, phone numbers, the transfer summary."""

from __future__ import annotations

from functools import lru_cache

import phonenumbers

from voice.bridge.dialog.state import QUESTIONS
from voice.bridge.dialog.types import Callee, TurnResult


def e164(number: str | None, region: str = "DE") -> str | None:
    """A transfer number in E.164, or None when it is no valid phone number."""
    if not number or not str(number).strip():
        return None
    try:
        parsed = phonenumbers.parse(str(number), None if str(number).strip().startswith("+") else region)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_valid_number(parsed):
        return None
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


@lru_cache(maxsize=256)
def speakable_number(number: str | None) -> str | None:
    """A callback number as it is read out ("+49 30 1234567"), or None when it is no valid number. Cached:
    the company's callback number is the same in every call's opening, and reading it costs phonenumbers a
    parse, a validation and two formats (about 0.2 ms)."""
    normalised = e164(number)
    if normalised is None:
        return None
    return phonenumbers.format_number(phonenumbers.parse(normalised), phonenumbers.PhoneNumberFormat.INTERNATIONAL)


def full_name(callee: Callee) -> str:
    return " ".join(p.strip() for p in (callee.first_name or "", callee.last_name or "") if p and p.strip())


def callee_names(callee: Callee) -> tuple[str, ...]:
    """The callee's names worth listening for ("Ja, Müller"): single letters are too easily misheard."""
    return tuple(p for p in (callee.first_name, callee.last_name) if p and len(p) > 1)


def transfer_summary(callee: Callee, result: TurnResult, language: str) -> str:
    """A few lines for the colleague taking a warm transfer."""
    labels = _SUMMARY_LABELS[language]
    who = full_name(callee) or labels["unknown"]
    if callee.company:
        who += f" ({callee.company})"
    parts = [f"{labels['lead']}: {who}" + (f", #{callee.lead_id}" if callee.lead_id is not None else "")]
    for key in QUESTIONS:
        if key in result.qualification:
            parts.append(f"{labels[key]}: {result.qualification[key]}")
    if result.constraint is not None and result.constraint.raw:
        parts.append(f"{labels['wish']}: {result.constraint.raw}")
    if result.recording_declined:
        parts.append(labels["no_recording"])
    return "; ".join(parts)


_SUMMARY_LABELS = {
    "de": {
        "lead": "Lead",
        "unknown": "unbekannt",
        "need": "Bedarf",
        "timing": "Zeitrahmen",
        "decision_maker": "Entscheidung",
        "wish": "Terminwunsch",
        "no_recording": "keine Aufzeichnung",
    },
    "en": {
        "lead": "Lead",
        "unknown": "unknown",
        "need": "Need",
        "timing": "Timing",
        "decision_maker": "Decision",
        "wish": "Preferred time",
        "no_recording": "not recorded",
    },
    "fr": {
        "lead": "Lead",
        "unknown": "inconnu",
        "need": "Besoin",
        "timing": "Délai",
        "decision_maker": "Décision",
        "wish": "Créneau souhaité",
        "no_recording": "pas d'enregistrement",
    },
}
