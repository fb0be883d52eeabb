"""Callee personas, chosen deterministically by the dialled number's last digit, in German and English."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    name: str
    answered: bool
    end_status: str           # completed | no_answer | busy | voicemail
    classification: str | None
    sentiment: str            # positive | neutral | negative | unknown
    duration_s: int
    transcript: dict[str, list[tuple[str, str]]]   # language -> [(agent|callee, text)]
    summary: dict[str, str]


_DISCLOSURE = {
    "de": "Guten Tag, hier ist die digitale Assistentin von Leadchain, ein KI-System. Das Gespräch wird aufgezeichnet.",
    "en": "Hello, this is Leadchain's digital assistant, an AI system. This call is recorded.",
}


def _talk(de: list[tuple[str, str]], en: list[tuple[str, str]]) -> dict[str, list[tuple[str, str]]]:
    return {"de": [("agent", _DISCLOSURE["de"]), *de], "en": [("agent", _DISCLOSURE["en"]), *en]}


PERSONAS: dict[str, Persona] = {
    "books": Persona("books", True, "completed", "booked", "positive", 142, _talk(
        [("callee", "Ja, am Apparat."), ("agent", "Sie hatten Interesse an unserem Angebot. Passt Ihnen ein Termin?"),
         ("callee", "Gerne, nächsten Donnerstag ab 16 Uhr."), ("agent", "Donnerstag 16:30 Uhr ist frei. Soll ich buchen?"),
         ("callee", "Ja, bitte."), ("agent", "Gebucht. Sie bekommen eine Bestätigung per E-Mail. Auf Wiederhören!")],
        [("callee", "Yes, speaking."), ("agent", "You asked about our offer. Would a meeting suit you?"),
         ("callee", "Sure, next Thursday after 4 pm."), ("agent", "Thursday 4:30 pm is free. Shall I book it?"),
         ("callee", "Yes, please."), ("agent", "Booked. You'll get a confirmation by email. Goodbye!")]),
        {"de": "Termin gebucht für Donnerstag 16:30.", "en": "Appointment booked for Thursday 4:30 pm."}),
    "interested": Persona("interested", True, "completed", "interested", "positive", 118, _talk(
        [("callee", "Ja?"), ("agent", "Darf ich Ihnen kurz unser Angebot vorstellen?"),
         ("callee", "Klingt interessant, schicken Sie mir bitte Unterlagen."), ("agent", "Mache ich. Auf Wiederhören!")],
        [("callee", "Yes?"), ("agent", "May I briefly present our offer?"),
         ("callee", "Sounds interesting, please send me some material."), ("agent", "Will do. Goodbye!")]),
        {"de": "Interesse, möchte Unterlagen per E-Mail.", "en": "Interested, wants material by email."}),
    "not_interested": Persona("not_interested", True, "completed", "not_interested", "negative", 41, _talk(
        [("callee", "Nein danke, kein Interesse."), ("agent", "Verstanden. Einen schönen Tag noch!")],
        [("callee", "No thanks, not interested."), ("agent", "Understood. Have a nice day!")]),
        {"de": "Kein Interesse.", "en": "Not interested."}),
    "do_not_call": Persona("do_not_call", True, "completed", "do_not_call", "negative", 23, _talk(
        [("callee", "Rufen Sie mich nie wieder an!"), ("agent", "Entschuldigung, wir rufen Sie nicht mehr an. Auf Wiederhören.")],
        [("callee", "Never call me again!"), ("agent", "Sorry, we will not call you again. Goodbye.")]),
        {"de": "Möchte nie wieder angerufen werden.", "en": "Asked not to be called again."}),
    "wrong_person": Persona("wrong_person", True, "completed", "wrong_number", "neutral", 19, _talk(
        [("callee", "Da sind Sie falsch, hier gibt es keinen Herrn Weber."), ("agent", "Entschuldigung für die Störung.")],
        [("callee", "Wrong number, there's nobody of that name here."), ("agent", "Sorry to disturb you.")]),
        {"de": "Falsche Nummer.", "en": "Wrong number."}),
    "no_answer": Persona("no_answer", False, "no_answer", None, "unknown", 0, {"de": [], "en": []},
                         {"de": "", "en": ""}),
    "busy": Persona("busy", False, "busy", None, "unknown", 0, {"de": [], "en": []}, {"de": "", "en": ""}),
    "voicemail": Persona("voicemail", False, "voicemail", None, "unknown", 14, _talk(
        [("callee", "Hier ist die Mailbox von ... Bitte hinterlassen Sie eine Nachricht.")],
        [("callee", "You've reached the voicemail of ... Please leave a message.")]),
        {"de": "Mailbox erreicht.", "en": "Reached voicemail."}),
    "callback": Persona("callback", True, "completed", "callback_requested", "neutral", 37, _talk(
        [("callee", "Gerade schlecht, rufen Sie mich morgen Vormittag nochmal an."), ("agent", "Gerne. Bis morgen!")],
        [("callee", "Bad time, call me back tomorrow morning."), ("agent", "Sure. Talk tomorrow!")]),
        {"de": "Rückruf morgen Vormittag gewünscht.", "en": "Asked for a callback tomorrow morning."}),
}

BY_LAST_DIGIT = {"0": "books", "1": "interested", "2": "not_interested", "3": "do_not_call", "4": "wrong_person",
                 "5": "no_answer", "6": "busy", "7": "voicemail", "8": "callback", "9": "books"}
# Cost the sandbox charges per started minute, in cents (realistic for AI voice: 7-15 ct/min).
CENTS_PER_MINUTE = 12


def persona_for(number: str) -> Persona:
    digits = [c for c in number if c.isdigit()]
    return PERSONAS[BY_LAST_DIGIT[digits[-1] if digits else "0"]]


def language_for(number: str, requested: str | None) -> str:
    if requested in ("de", "en"):
        return requested
    return "de" if number.startswith(("+49", "+43", "+41")) else "en"


def cost_cents(duration_s: int) -> int:
    return 0 if duration_s <= 0 else -(-duration_s // 60) * CENTS_PER_MINUTE
