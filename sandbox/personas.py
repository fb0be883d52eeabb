"""Callee personas, chosen deterministically by the dialled number's last digit, in German, English and French."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Persona:
    name: str
    answered: bool
    end_status: str  # completed | no_answer | busy | voicemail
    classification: str | None
    sentiment: str  # positive | neutral | negative | unknown
    duration_s: int
    transcript: dict[str, list[tuple[str, str]]]  # language -> [(agent|callee, text)]


# The sandbox's own agent lines (the transcript when no voice bridge is configured) follow the bridge's
# rules policy (voice.bridge.dialog.phrases); the callee lines are what the sandbox says to a bridge, one per
# turn, in order, whatever the agent said (sandbox.retell_llm.converse).
_DISCLOSURE = {
    "de": "Guten Tag, hier spricht ein KI-System im Auftrag von Leadchain, und dieses Gespräch wird aufgezeichnet. "
    "Wenn Sie keine Anrufe mehr wünschen oder nicht aufgezeichnet werden möchten, sagen Sie es einfach. "
    "Spreche ich mit Jan Weber?",
    "en": "Hello, this is an AI system calling on behalf of Leadchain, and this call is recorded. "
    "If you don't want any more calls or don't want to be recorded, just say so. Am I speaking with Jan Weber?",
    "fr": "Bonjour, je suis un système d'intelligence artificielle qui vous appelle de la part de Leadchain, "
    "et cet appel est enregistré. Si vous ne souhaitez plus recevoir d'appels ou refusez l'enregistrement, "
    "dites-le simplement. Suis-je bien en ligne avec Jan Weber?",
}
Lines = list[tuple[str, str]]


def _talk(de: Lines, en: Lines, fr: Lines) -> dict[str, Lines]:
    return {lang: [("agent", _DISCLOSURE[lang]), *lines] for lang, lines in (("de", de), ("en", en), ("fr", fr))}


def _booking_de(wish: str, slot: str) -> Lines:
    """The de lines of a call that books (the callee's wish, the slot the agent offers and books)."""
    return [
        ("callee", "Ja, am Apparat."),
        (
            "agent",
            "Schön, dass ich Sie erreiche. Sie hatten sich für ein Angebot von Leadchain interessiert. "
            "Worum geht es Ihnen dabei vor allem?",
        ),
        ("callee", "Wir möchten unsere Terminvergabe automatisieren."),
        ("agent", "Verstanden, danke. Bis wann möchten Sie das umsetzen?"),
        ("callee", "Möglichst bald, noch in diesem Quartal."),
        ("agent", "Gut zu wissen. Entscheiden Sie das allein, oder ist noch jemand beteiligt?"),
        ("callee", "Das entscheide ich selbst."),
        (
            "agent",
            "Danke. Am besten bespricht das ein Berater kurz mit Ihnen. "
            "Wann hätten Sie in den nächsten Tagen Zeit für einen Termin?",
        ),
        ("callee", wish),
        ("agent", f"Ein freier Termin wäre am {slot}, passt Ihnen das?"),
        ("callee", "Ja, bitte."),
        (
            "agent",
            f"Ihr Termin ist eingetragen am {slot}. Sie bekommen eine Bestätigung per E-Mail. "
            "Vielen Dank und auf Wiederhören!",
        ),
    ]


def _booking_en(wish: str, slot: str) -> Lines:
    """The en lines of a call that books (the callee's wish, the slot the agent offers and books)."""
    return [
        ("callee", "Yes, speaking."),
        (
            "agent",
            "Great to reach you. You showed interest in an offer from Leadchain. "
            "What is the main thing you would like to solve?",
        ),
        ("callee", "We want to automate our scheduling."),
        ("agent", "Understood, thanks. By when would you like to have it done?"),
        ("callee", "As soon as possible, this quarter."),
        ("agent", "Good to know. Do you decide this yourself, or is someone else involved?"),
        ("callee", "I decide that myself."),
        (
            "agent",
            "Thank you. The best next step is a short talk with one of our consultants. "
            "When would you have time for a meeting in the next few days?",
        ),
        ("callee", wish),
        ("agent", f"I have a free slot on {slot}, does that work for you?"),
        ("callee", "Yes, please."),
        (
            "agent",
            f"Your appointment is booked for {slot}. You'll get a confirmation by email. Thank you and goodbye!",
        ),
    ]


def _booking_fr(wish: str, slot: str) -> Lines:
    """The fr lines of a call that books (the callee's wish, the slot the agent offers and books)."""
    return [
        ("callee", "Oui, c'est moi."),
        (
            "agent",
            "C'est un plaisir de vous joindre. Vous avez manifesté de l'intérêt pour une offre de Leadchain. "
            "Quel est le principal problème que vous aimeriez résoudre?",
        ),
        ("callee", "Nous voudrions automatiser notre prise de rendez-vous."),
        ("agent", "Entendu, merci. Dans quels délais aimeriez-vous que ce soit mis en place?"),
        ("callee", "Le plus vite possible, encore ce trimestre."),
        (
            "agent",
            "C'est bon à savoir. Est-ce vous qui prenez la décision, ou quelqu'un d'autre est-il impliqué?",
        ),
        ("callee", "C'est moi qui décide."),
        (
            "agent",
            "Merci beaucoup. La meilleure suite serait un court entretien avec l'un de nos conseillers. "
            "Quand auriez-vous le temps pour un rendez-vous ces prochains jours?",
        ),
        ("callee", wish),
        ("agent", f"J'ai un créneau libre le {slot}, cela vous convient-il?"),
        ("callee", "Oui, très bien."),
        (
            "agent",
            f"Votre rendez-vous du {slot} est bien réservé. Vous recevrez une confirmation par e-mail. "
            "Merci et au revoir!",
        ),
    ]


def _booking_talk(de: tuple[str, str], en: tuple[str, str], fr: tuple[str, str]) -> dict[str, Lines]:
    """A call that books: (the callee's wish, the slot the agent offers and books) per language."""
    return _talk(_booking_de(*de), _booking_en(*en), _booking_fr(*fr))


PERSONAS: dict[str, Persona] = {
    "books": Persona(
        "books",
        True,
        "completed",
        "booked",
        "positive",
        142,
        _booking_talk(
            ("Gerne, nächsten Donnerstag ab 16 Uhr.", "Donnerstag um 16:30 Uhr"),
            ("Sure, next Thursday after 4 pm.", "Thursday at 4:30 pm"),
            ("Volontiers, jeudi prochain à partir de 16 heures.", "jeudi à 16 h 30"),
        ),
    ),
    # A second booker with another wish and slot, so nothing can pass by assuming one fixed time.
    "books_morning": Persona(
        "books_morning",
        True,
        "completed",
        "booked",
        "positive",
        131,
        _booking_talk(
            ("Am besten am Dienstag ab 10 Uhr.", "Dienstag um 10:00 Uhr"),
            ("Tuesday after 10 am would be best.", "Tuesday at 10 am"),
            ("Le mieux, ce serait mardi à partir de 10 heures.", "mardi à 10 h"),
        ),
    ),
    "interested": Persona(
        "interested",
        True,
        "completed",
        "interested",
        "positive",
        118,
        _talk(
            [
                ("callee", "Ja, das bin ich."),
                (
                    "agent",
                    "Schön, dass ich Sie erreiche. Sie hatten sich für ein Angebot von Leadchain interessiert. "
                    "Worum geht es Ihnen dabei vor allem?",
                ),
                ("callee", "Klingt interessant, schicken Sie mir bitte Unterlagen."),
                ("agent", "Gerne, ich schicke Ihnen die Unterlagen per E-Mail. Vielen Dank und auf Wiederhören!"),
            ],
            [
                ("callee", "Yes, that's me."),
                (
                    "agent",
                    "Great to reach you. You showed interest in an offer from Leadchain. "
                    "What is the main thing you would like to solve?",
                ),
                ("callee", "Sounds interesting, please send me some material."),
                ("agent", "Sure, I'll send you the material by email. Thank you and goodbye!"),
            ],
            [
                ("callee", "Oui, c'est bien moi."),
                (
                    "agent",
                    "C'est un plaisir de vous joindre. Vous avez manifesté de l'intérêt pour une offre de Leadchain. "
                    "Quel est le principal problème que vous aimeriez résoudre?",
                ),
                ("callee", "Ça m'intéresse, envoyez-moi de la documentation, s'il vous plaît."),
                ("agent", "Bien sûr, je vous envoie la documentation par e-mail. Merci et au revoir!"),
            ],
        ),
    ),
    "not_interested": Persona(
        "not_interested",
        True,
        "completed",
        "not_interested",
        "negative",
        41,
        _talk(
            [
                ("callee", "Nein danke, kein Interesse."),
                ("agent", "Verstanden, dann möchte ich Sie nicht länger aufhalten. Vielen Dank und auf Wiederhören!"),
            ],
            [
                ("callee", "No thanks, not interested."),
                ("agent", "Understood, I won't keep you any longer. Thank you and goodbye!"),
            ],
            [
                ("callee", "Non merci, ça ne m'intéresse pas."),
                ("agent", "Entendu, je ne vous retiens pas plus longtemps. Merci et au revoir!"),
            ],
        ),
    ),
    "do_not_call": Persona(
        "do_not_call",
        True,
        "completed",
        "do_not_call",
        "negative",
        23,
        _talk(
            [
                ("callee", "Rufen Sie mich nie wieder an!"),
                (
                    "agent",
                    "Verstanden, wir rufen Sie nicht mehr an, das ist ab sofort vermerkt. "
                    "Vielen Dank und auf Wiederhören!",
                ),
            ],
            [
                ("callee", "Never call me again!"),
                ("agent", "Understood, we won't call you again, that is noted as of now. Thank you and goodbye!"),
            ],
            [
                ("callee", "Ne m'appelez plus jamais!"),
                (
                    "agent",
                    "Entendu, nous ne vous appellerons plus, c'est noté dès maintenant. Merci et au revoir!",
                ),
            ],
        ),
    ),
    "wrong_person": Persona(
        "wrong_person",
        True,
        "completed",
        "wrong_number",
        "neutral",
        19,
        _talk(
            [
                ("callee", "Da sind Sie falsch, hier gibt es keinen Herrn Weber."),
                (
                    "agent",
                    "Oh, dann bin ich falsch verbunden, entschuldigen Sie bitte die Störung. "
                    "Vielen Dank und auf Wiederhören!",
                ),
            ],
            [
                ("callee", "Wrong number, there's nobody of that name here."),
                ("agent", "Oh, then I have the wrong number, sorry to have disturbed you. Thank you and goodbye!"),
            ],
            [
                ("callee", "Vous faites erreur, il n'y a pas de monsieur Weber ici."),
                (
                    "agent",
                    "Oh, il s'agit donc d'une erreur de numéro, excusez-moi pour le dérangement. Merci et au revoir!",
                ),
            ],
        ),
    ),
    "no_answer": Persona("no_answer", False, "no_answer", None, "unknown", 0, {"de": [], "en": [], "fr": []}),
    "busy": Persona("busy", False, "busy", None, "unknown", 0, {"de": [], "en": [], "fr": []}),
    "voicemail": Persona(
        "voicemail",
        False,
        "voicemail",
        None,
        "unknown",
        14,
        _talk(
            [("callee", "Hier ist die Mailbox von ... Bitte hinterlassen Sie eine Nachricht.")],
            [("callee", "You've reached the voicemail of ... Please leave a message.")],
            [("callee", "Vous êtes bien sur la messagerie de ... Veuillez laisser un message après le bip.")],
        ),
    ),
    "callback": Persona(
        "callback",
        True,
        "completed",
        "callback_requested",
        "neutral",
        37,
        _talk(
            [
                ("callee", "Gerade schlecht, rufen Sie mich morgen Vormittag nochmal an."),
                ("agent", "Gerne, wir rufen Sie dann noch einmal an. Vielen Dank und auf Wiederhören!"),
            ],
            [
                ("callee", "Bad time, call me back tomorrow morning."),
                ("agent", "Sure, we'll call you back then. Thank you and goodbye!"),
            ],
            [
                ("callee", "Ce n'est pas le bon moment, rappelez-moi demain matin."),
                ("agent", "Bien sûr, nous vous rappellerons à ce moment-là. Merci et au revoir!"),
            ],
        ),
    ),
}

BY_LAST_DIGIT = {
    "0": "books",
    "1": "interested",
    "2": "not_interested",
    "3": "do_not_call",
    "4": "wrong_person",
    "5": "no_answer",
    "6": "busy",
    "7": "voicemail",
    "8": "callback",
    "9": "books_morning",
}
# Cost the sandbox charges per started minute, in cents (realistic for AI voice: 7-15 ct/min).
CENTS_PER_MINUTE = 12


def persona_for(number: str) -> Persona:
    digits = [c for c in number if c.isdigit()]
    return PERSONAS[BY_LAST_DIGIT[digits[-1] if digits else "0"]]


LANGUAGES = ("de", "en", "fr")
# Without a requested language, the callee answers in their country's: German in Germany, Austria and
# Switzerland (the sandbox's Swiss callees speak German unless French is asked for), French in France,
# Belgium and Luxembourg, English elsewhere.
_BY_PREFIX = (("+49", "de"), ("+43", "de"), ("+41", "de"), ("+33", "fr"), ("+32", "fr"), ("+352", "fr"))


def language_for(number: str, requested: str | None) -> str:
    if requested in LANGUAGES:
        return requested
    return next((lang for prefix, lang in _BY_PREFIX if number.startswith(prefix)), "en")


def cost_cents(duration_s: int) -> int:
    return 0 if duration_s <= 0 else -(-duration_s // 60) * CENTS_PER_MINUTE
