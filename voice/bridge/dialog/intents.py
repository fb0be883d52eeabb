"""What the callee's utterance means, read with German and English patterns (callees switch languages,
and a wrong-number "sorry, who?" is no reason to fail). Pure: no I/O, no state.

``read(text)`` returns every signal found; which one wins depends on where the conversation is, so that
choice is the policy's (an opt-out always wins)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from voice.bridge.dialog.phrases import normalise

MAX_CHARS = 1000  # a callee's turn longer than this is cut before it is read


def _rx(*alternatives: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{a})" for a in alternatives), re.IGNORECASE)


OPT_OUT = _rx(
    r"\bnie\s*(?:mehr|wieder)\b.{0,30}\ban(?:rufen)?\b",
    r"\bnicht\s+mehr\s+an(?:rufen|zurufen)?\b",
    r"\bkeine\s+(?:weiteren\s+)?anrufe\b",
    r"\bnicht\s+mehr\s+(?:kontaktieren|belästigen)\b",
    r"\b(?:sperren|löschen|streichen|entfernen)\s+sie\s+(?:mich|meine\s+nummer)\b",
    r"\baus\s+ihre[rm]\s+(?:liste|verteiler|datenbank)\b",
    r"\bwerbeanrufe?\b.{0,20}\bnicht\b",
    r"\bstop\s+calling\b",
    r"\bdon'?t\s+(?:ever\s+)?call\s+(?:me\s+|us\s+)?(?:again|any\s*more)\b",
    r"\bnever\s+call\b",
    r"\btake\s+(?:me|my\s+number)\s+off\b",
    r"\bremove\s+(?:me|my\s+number)\s+from\b",
    r"\bdo\s+not\s+call\s+(?:me\s+)?(?:again|any\s*more)\b",
    r"\bno\s+more\s+calls\b",
    r"\bput\s+me\s+on\s+.{0,10}do\s+not\s+call\b",
)
WRONG_NUMBER = _rx(
    r"\bfalsch\s+verbunden\b",
    r"\bfalsche\s+nummer\b",
    r"\bda\s+sind\s+sie\s+falsch\b",
    r"\bsie\s+sind\s+falsch\b",
    r"\b(?:hier|da)\s+gibt\s+es\s+kein",
    r"\b(?:hier|da)\s+wohnt\s+kein",
    r"\bkenne\s+ich\s+nicht\b",
    r"\bwrong\s+number\b",
    r"\bwrong\s+person\b",
    r"\bno\s*(?:body|one)\s+(?:here\s+)?(?:of\s+that\s+name|by\s+that\s+name|called)\b",
    r"\bthere'?s\s+no\s+(?:one|body|mr|mrs|ms)\b",
    r"\byou\s+have\s+the\s+wrong\b",
    r"\bnever\s+heard\s+of\b",
)
VOICEMAIL = _rx(
    r"\bmailbox\b",
    r"\banrufbeantworter\b",
    r"\bnach\s+dem\s+(?:signal|pieps?)ton\b",
    r"\bhinterlassen\s+sie\b",
    r"\bvoicemail\b",
    r"\bleave\s+(?:me\s+)?a\s+message\b",
    r"\bafter\s+the\s+(?:tone|beep)\b",
)
HUMAN = _rx(
    r"\b(?:einem|einen|echten|richtigen)\s+menschen\b",
    r"\bmensch\s+sprechen\b",
    r"\becht(?:e|en)\s+person\b",
    r"\bmitarbeiter(?:in)?\b.{0,20}sprechen\b",
    r"\bmit\s+(?:einem|einer|ihrem|ihrer)\s+(?:kollegen|kollegin|berater|beraterin|mitarbeiter)\s+sprechen\b",
    r"\bverbinden\s+sie\s+mich\b",
    r"\b(?:talk|speak)\s+(?:to|with)\s+(?:a\s+|an\s+|some\s*one|some\s*body|your\s+)?"
    r"(?:person|human|real|one|body|agent|representative|colleague|manager)\b",
    r"\bhuman\b",
    r"\breal\s+person\b",
    r"\boperator\b",
    r"\bput\s+me\s+through\b",
)
NO_RECORDING = _rx(
    r"\bnicht\s+(?:mit\s*)?(?:aufnehmen|aufzeichnen|aufgezeichnet|aufgenommen)\b",
    r"\bkeine\s+(?:aufnahme|aufzeichnung)\b",
    r"\bohne\s+(?:aufnahme|aufzeichnung)\b",
    r"\baufnahme\s+(?:aus|stoppen|beenden)\b",
    r"\bdon'?t\s+record\b",
    r"\bdo\s+not\s+record\b",
    r"\bno\s+recording\b",
    r"\bstop\s+(?:the\s+)?recording\b",
    r"\bnot\s+(?:to\s+)?be\s+recorded\b",
    r"\bwithout\s+(?:a\s+)?recording\b",
)
REFUSAL = _rx(
    r"\bkein(?:e|en)?\s+interesse\b",
    r"\bnicht\s+interessiert\b",
    r"\bkein\s+bedarf\b",
    r"\bbrauche?n?\s+(?:wir|ich)\s+nicht\b",
    r"\b(?:wir|ich)\s+brauche?n?\s+(?:das\s+)?nicht(?:s)?\b",
    r"\bnot\s+interested\b",
    r"\bno\s+interest\b",
    r"\b(?:we|i)\s+don'?t\s+need\b",
    r"\bno\s+need\b",
)
SOFT_REFUSAL = _rx(r"\bnein,?\s+danke\b", r"\bnee,?\s+danke\b", r"\bno,?\s+thanks?\b", r"\bno,?\s+thank\s+you\b")
CALLBACK = _rx(
    r"\brufen\s+sie\s+(?:mich\s+|uns\s+)?(?:bitte\s+)?.{0,40}"
    r"(?:später|morgen|übermorgen|nochmal|noch\s+ma?l|noch\s+einmal|"
    r"wieder|ein\s*andermal|zurück|nächste|am\s+\w+tag|in\s+\w+)\b",
    r"\b(?:melden|rufen)\s+sie\s+sich\s+(?:bitte\s+)?(?:später|morgen|nochmal|noch\s+einmal|nächste)",
    r"\bspäter\s+(?:noch\s*ma?l\s+|nochmal\s+|wieder\s+)?an(?:rufen)?\b",
    r"\bzurückrufen\b",
    r"\b(?:nochmal|noch\s+ma?l|noch\s+einmal|wieder|später|morgen)\s+anrufen\b",
    r"\bgerade\s+(?:sehr\s+)?(?:schlecht|ungünstig)\b",
    r"\bjetzt\s+(?:gerade\s+)?(?:schlecht|ungünstig)\b",
    r"\bkeine\s+zeit\b",
    r"\bpasst\s+(?:gerade|jetzt)\s+(?:gar\s+)?nicht\b",
    r"\bim\s+(?:termin|meeting|auto)\b",
    r"\bcall\s+(?:me\s+|us\s+)?back\b",
    r"\bcall\s+(?:me\s+|us\s+)?(?:again\s+)?(?:later|tomorrow|next|on|in|another)\b",
    r"\bbad\s+time\b",
    r"\bnot\s+a\s+good\s+time\b",
    r"\bbusy\s+(?:right\s+)?now\b",
    r"\btry\s+(?:me\s+)?(?:again\s+)?later\b",
    r"\bno\s+time\s+(?:right\s+)?now\b",
)
MATERIAL = _rx(
    r"\bunterlagen\b",
    r"\b(?:infos?|informationen|material|prospekt|broschüre)\b.{0,30}(?:schicken|senden|mail)",
    r"\b(?:schicken|senden|mailen)\s+sie\s+mir\b",
    r"\bsend\s+(?:me|us)\b",
    r"\bemail\s+(?:me|us)\b",
    r"\bsome\s+(?:material|information|info|brochure)\b",
)
APPOINTMENT = _rx(r"\btermin\b", r"\bappointment\b", r"\bmeeting\b", r"\bberatung(?:sgespräch)?\b", r"\bconsultation\b")
CONFIRM = _rx(
    r"\b(?:ja|jawohl|jo|jap|genau|richtig|korrekt|passt|gerne?|okay|ok|klar|sicher|einverstanden|"
    r"natürlich|selbstverständlich|unbedingt|perfekt|prima|super|wunderbar|bitte\s+buchen|buchen\s+sie)\b",
    r"\bam\s+apparat\b",
    r"\bdas\s+bin\s+ich\b",
    r"\bselbst\b",
    r"\b(?:yes|yeah|yep|yup|sure|correct|right|speaking|fine|great|perfect|absolutely|certainly|definitely|"
    r"okay|ok|please\s+do|book\s+it)\b",
    r"\bthat'?s\s+(?:me|fine|right|correct|great)\b",
    r"\b(?:works|sounds)\s+(?:for\s+me|good|great|fine)\b",
    r"\bof\s+course\b",
)
DECLINE = _rx(
    r"\b(?:nein|nee|nö|leider\s+nicht|lieber\s+nicht|eher\s+nicht|no|nope|nah)\b",
    r"\b(?:passt|geht)\s+(?:mir\s+)?(?:leider\s+)?(?:nicht|schlecht)\b",
    r"\bkann\s+ich\s+(?:da\s+)?nicht\b",
    r"\b(?:doesn'?t|does\s+not|won'?t|will\s+not)\s+work\b",
    r"\bcan'?t\s+(?:make|do)\b",
    r"\bnot\s+(?:good|possible)\b",
)
FIRST = _rx(
    r"\b(?:der|den|dem)\s+erste[nm]?\b",
    r"\berste[nr]?\s+termin\b",
    r"\berstere?n?\b",
    r"\bthe\s+first\b",
    r"\bfirst\s+(?:one|slot|option)\b",
    r"\b(?:the\s+)?former\b",
    r"\bthe\s+earlier\b",
    r"\bden\s+früheren\b",
)
SECOND = _rx(
    r"\b(?:der|den|dem)\s+zweite[nm]?\b",
    r"\bzweite[nr]?\s+termin\b",
    r"\bletztere?n?\b",
    r"\bthe\s+second\b",
    r"\bsecond\s+(?:one|slot|option)\b",
    r"\b(?:the\s+)?latter\b",
    r"\bthe\s+later\s+one\b",
    r"\bden\s+späteren\b",
)
DECIDER = _rx(
    r"\b(?:entscheide|entscheiden)\s+(?:ich|das\s+ich)\b",
    r"\bich\s+entscheide\b",
    r"\bmein(?:e)?\s+(?:chef|chefin|geschäftsführer|partner|partnerin|frau|mann|vorgesetzte)",
    r"\bwir\s+entscheiden\b",
    r"\bgemeinsam\b",
    r"\bi\s+(?:decide|make\s+the\s+decision|am\s+the\s+decision)",
    r"\bmy\s+(?:boss|manager|partner|wife|husband|team)\b",
    r"\bwe\s+decide\b",
    r"\btogether\b",
    r"\bdecision\s*maker\b",
)
TIMING = _rx(
    r"\bsofort\b",
    r"\bmöglichst\s+(?:bald|schnell)\b",
    r"\bso\s+bald\s+wie\s+möglich\b",
    r"\basap\b",
    r"\b(?:dieses|nächstes)\s+(?:jahr|quartal)\b",
    r"\bin\s+diesem\s+(?:jahr|quartal|monat)\b",
    r"\b(?:noch\s+)?in\s+diesem\s+quartal\b",
    r"\bright\s+away\b",
    r"\bas\s+soon\s+as\s+possible\b",
    r"\b(?:this|next)\s+(?:year|quarter|month)\b",
    r"\bimmediately\b",
    r"\bkeine\s+eile\b",
    r"\bno\s+rush\b",
)
WORDS = re.compile(r"[a-zA-ZäöüÄÖÜß]{2,}")


@dataclass(frozen=True)
class Reading:
    """Every signal in one utterance; ``confirm``/``decline`` keep only the one that comes first."""

    text: str
    opt_out: bool = False
    wrong_number: bool = False
    voicemail: bool = False
    human: bool = False
    no_recording: bool = False
    refusal: bool = False
    soft_refusal: bool = False
    callback: bool = False
    material: bool = False
    appointment: bool = False
    confirm: bool = False
    decline: bool = False
    first: bool = False
    second: bool = False
    decider: bool = False
    timing: bool = False

    @property
    def empty(self) -> bool:
        return not WORDS.search(self.text)

    def names(self, name_parts: tuple[str, ...]) -> bool:
        """True when the callee says one of their own names ("Weber hier")."""
        low = self.text.lower()
        return any(part and re.search(rf"\b{re.escape(part.lower())}\b", low) for part in name_parts)


def clean(text: str | None) -> str:
    return normalise((text or "")[: MAX_CHARS * 2])[:MAX_CHARS]


def read(text: str | None) -> Reading:
    t = clean(text)
    confirm, decline = CONFIRM.search(t), DECLINE.search(t)
    if confirm and decline:
        if decline.start() <= confirm.start():
            confirm = None
        else:
            decline = None
    refusal = bool(REFUSAL.search(t))
    return Reading(
        text=t,
        opt_out=bool(OPT_OUT.search(t)),
        wrong_number=bool(WRONG_NUMBER.search(t)),
        voicemail=bool(VOICEMAIL.search(t)),
        human=bool(HUMAN.search(t)),
        no_recording=bool(NO_RECORDING.search(t)),
        refusal=refusal,
        soft_refusal=bool(SOFT_REFUSAL.search(t)),
        callback=bool(CALLBACK.search(t)),
        material=bool(MATERIAL.search(t)),
        appointment=bool(APPOINTMENT.search(t)) and not refusal,
        confirm=bool(confirm) and not refusal,
        decline=bool(decline) or refusal,
        first=bool(FIRST.search(t)),
        second=bool(SECOND.search(t)),
        decider=bool(DECIDER.search(t)),
        timing=bool(TIMING.search(t)),
    )
