"""German: the words that mark each signal in a callee's turn (data only; intents.py compiles and reads them).

Patterns are regular expressions over the normal form of intents.fold: lower case, umlauts and ß written
out (ae, oe, ue, ss: both spellings meet, so patterns may use either), hyphens and punctuation as spaces,
apostrophes dropped, single spaces. ``~`` after a verb stem stands for its endings and the pronoun that may
follow (``ruf~`` = ruf, rufe, ruft, rufen, rufen Sie, ruf du, ...): formal and informal address alike."""

from __future__ import annotations

LANGUAGE = "de"

# Hesitations a recogniser writes out: dropped anywhere before the patterns are read (intents.fold).
FILLERS = (r"aeh+m?", r"oeh+m?", r"hm+", r"mhm", r"also")
# Discourse words a question may start with.
LEADING = ("aeh", "aehm", "oeh", "oehm", "hm", "hmm", "also", "und", "aber", "ja", "moment", "na", "naja", "ach", "ok")

SIGNALS: dict[str, tuple[str, ...]] = {
    # ---- steer the call away from an appointment (intents.decide orders them)
    "opt_out": (
        r"\bnie\s*(?:mehr|wieder)\b.{0,30}\ban(?:rufen)?\b",
        r"\b(?:nicht|nie)\s+(?:mehr|wieder)\s+an(?:zu)?(?:rufen)?\b",
        r"\b(?:nicht|nie)\s+(?:mehr|wieder)\s+(?:\w+\s+){0,3}(?:angerufen|anzurufen|kontaktiert|belaestigt)\b",
        r"\bkeine\s+(?:weiteren\s+)?anrufe\b(?!\s+(?:annehmen|entgegennehmen))",
        r"\bnicht\s+mehr\s+(?:kontaktieren|belaestigen)\b",
        r"\b(?:sperr|loesch|streich|entfern)~\s+(?:mich|meine\s+(?:nummer|daten|telefonnummer))\b",
        r"\b(?:nehm|trag)~\s+(?:mich|meine\s+(?:nummer|daten))\s+(?:\w+\s+){0,3}(?:raus|heraus|aus)\b",
        r"\baus\s+(?:ihre|eure|deine)[mnr]?\s+(?:liste|verteiler|datenbank|kartei|system)\b",
        r"\b(?:sperrliste|robinson\s*liste|werbesperre)\b",
        r"\bwerbeanrufe?\b.{0,20}\bnicht\b",
        r"\bhoer~\s+(?:\w+\s+)?auf\s+(?:\w+\s+){0,2}an(?:zu)?rufen\b",
        r"\blass~\s+(?:mich|uns)\s+(?:bitte\s+)?(?:in\s+ruhe|zufrieden)\b",
    ),
    # Said with a hedge: the agent asks whether to remove the number rather than record it or carry on.
    "opt_out_unsure": (
        r"\b(?:solche|diese|derartige|ihre|eure|deine)[nr]?\s+anrufe?n?\b",
        r"\bkein\w*\s+interesse\s+an\s+(?:\w+\s+)?anrufen\b",
        r"\b(?:werbe|verkaufs|kalt)anruf",
        r"\bwoher\s+(?:haben|hast|habt)\s+(?:sie|du|ihr)\s+(?:meine|diese|die)\s+nummer\b",
        r"\bspam\b",
        r"\bmag\s+(?:ich\s+)?keine\s+anrufe\b",
    ),
    "wrong_number": (
        r"\bfalsch\s+verbunden\b",
        r"\bverwaehlt\b",
        r"\bfalsche[nr]?\s+(?:nummer|person|anschluss|frau|herrn?|mann|teilnehmer)\b",
        r"\bda\s+sind\s+sie\s+falsch\b",
        r"\b(?:sie\s+sind|du\s+bist)\s+falsch\b",
        r"\b(?:hier|da)\s+gibt\s*(?:es|s)\s+kein",
        r"\b(?:hier|da)\s+wohnt\s+kein",
        r"\b(?:arbeitet|wohnt)\s+(?:hier|da|bei\s+uns)\s+(?:nicht|nicht\s+mehr|schon\s+lange\s+nicht)\b",
        r"\bhier\s+ist\s+nicht\b",
        r"\b(?:das|hier)\s+ist\s+(?:der|die)\s+(?:anschluss|nummer)\s+von\b",
        r"\bkenne\s+ich\s+nicht\b",
    ),
    "callback": (
        r"\bruf~\s+(?:mich\s+|uns\s+)?(?:bitte\s+)?(?:\w+\s+){0,5}"
        r"(?:spaeter|morgen|uebermorgen|nochmal|noch\s+ma?l|noch\s+einmal|wieder|ein\s*andermal|zurueck|"
        r"naechste\w*|nach\s+\w+|ende\s+\w+|anfang\s+\w+|mitte\s+\w+|am\s+\w+tag|in\s+\w+)\b",
        r"\bmeld~\s+(?:sich|dich|euch)\b\s+(?:\w+\s+){0,4}"
        r"(?:spaeter|morgen|nochmal|noch\s+ma?l|noch\s+einmal|wieder|naechste\w*|nach\s+\w+|ende|anfang|mitte|"
        r"im\s+\w+|in\s+\w+|am\s+\w+)\b",
        r"\bversuch~\s+(?:\w+\s+){0,4}(?:nochmal|noch\s+ma?l|noch\s+einmal|wieder|spaeter|erneut)\b",
        r"\b(?:nochmal|noch\s+ma?l|noch\s+einmal|wieder|spaeter|erneut)\s+(?:zu\s+)?versuchen\b",
        r"\bspaeter\s+(?:noch\s*ma?l\s+|nochmal\s+|wieder\s+)?an(?:rufen)?\b",
        r"\bzurueck\s*(?:zu)?rufen\b",
        r"\b(?:nochmal|noch\s+ma?l|noch\s+einmal|wieder|spaeter|morgen|erneut)\s+an(?:zu)?rufen\b",
        r"\bgerade\s+(?:sehr\s+)?(?:schlecht|unguenstig)\b",
        r"\bjetzt\s+(?:gerade\s+)?(?:schlecht|unguenstig)\b",
        r"\b(?:gerade|grad|jetzt|im\s+moment|momentan)\s+keine\s+zeit\b",
        r"\bkeine\s+zeit\s+(?:gerade|grad|jetzt|im\s+moment)\b",
        r"\bpasst\s+(?:gerade|jetzt)\s+(?:gar\s+)?nicht\b",
        r"\bim\s+(?:termin|meeting|auto)\b",
    ),
    "refusal": (
        r"\bkein(?:e|en)?\s+interesse\b",
        r"\bnicht\s+interessiert\b",
        r"\binteressiert\s+(?:mich|uns)\s+(?:\w+\s+)?nicht\b",
        r"\bkein\s+bedarf\b",
        r"\bbrauche?n?\s+(?:wir|ich)\s+nicht\b",
        r"\b(?:wir|ich)\s+brauche?n?\s+(?:das\s+)?nicht(?:s)?\b",
        r"\b(?:nix|nichts)\s+fuer\s+(?:uns|mich)\b",
        r"\bnee?\s+lass~\s+(?:\w+\s+)?(?:mal|gut\s+sein|bleiben|das)\b",
        r"\b(?:hat\s+sich|ist)\s+(?:schon\s+|inzwischen\s+|mittlerweile\s+)?erledigt\b",
        r"\bgut\s+versorgt\b",
        r"\b(?:schon|bereits)\s+(?:einen?\s+)?(?:anbieter|dienstleister|loesung|partner|jemanden?)\b",
        r"\bkeinen\s+termin\b(?!\s+(?:frei|mehr\s+frei))",
    ),
    "deferral": (
        r"\b(?:ich\s+)?(?:schau|guck|seh|check|pruef)\w*\s+(?:mal|erst|nach|in)\b.{0,40}\bmelde?\s+mich\b",
        r"\b(?:ich\s+)?melde?\s+mich\b(?!\s+(?:ab|an)\b)",
        r"\b(?:muss|will|moechte|werde|sollte)\s+(?:ich\s+)?(?:das\s+)?(?:erst(?:mal|\s+mal)?|noch|zuerst|vorher)\b"
        r".{0,40}\b(?:schauen|nachsehen|nachschauen|abklaeren|klaeren|besprechen|ueberlegen|nachdenken|pruefen|"
        r"checken|gucken|abstimmen|fragen|durchsehen)\b",
        r"\bkalender\s+(?:gerade\s+|grad\s+|jetzt\s+)?nicht\s+(?:da|hier|zur\s+hand|dabei|vor\s+mir)\b",
        r"\bweiss?\s+(?:ich\s+)?(?:grad|gerade|jetzt|noch|so\s+spontan)\s+nicht\b",
        r"\b(?:drueber|darueber)\s+nachdenken\b",
        r"\bueberleg~\s+(?:mir|es|das)\b",
        r"\bich\s+ruf~\s+(?:sie|dich|euch)\s+(?:\w+\s+)?(?:zurueck|an)\b",
    ),
    "question": (
        r"^(?:{leading}\s+)*(?:"
        r"was\s+(?:kostet|kosten|ist|sind|genau|meinen|wollen|bieten|machen|heisst|soll|waere|fuer\s+ein)|"
        r"wie\s+(?:viel|lange|teuer|laeuft|funktioniert|geht\s+das|ist\s+das|heisst|war|meinen|bitte)|"
        r"wer\s+(?:sind|ist|spricht|bist|ruft)|wo\s+(?:sind|ist|findet|rufen|sitzen)|"
        r"(?:warum|wieso|weshalb)(?!\s+nicht)|woher|worum|wozu|welche\w*\s+(?:firma|kosten|angebot)|"
        r"ist\s+das|sind\s+sie|bist\s+du|kostet|gibt\s+es|muss\s+ich|kann\s+man|koennen\s+sie\s+mir\s+sagen)\b",
    ),
    # Within a question: who is calling (the agent says who it is, not what the consultant will explain).
    "who": (
        r"\bwer\s+(?:sind|ist|spricht|bist|ruft)\b",
        r"\bmit\s+wem\s+spreche\b",
        r"\b(?:von\s+wo|woher)\s+(?:rufen|ruft|rufst)\b",
        r"\bwelche\s+firma\b",
        r"\bwie\s+(?:war|ist)\s+(?:ihr|dein|der)\s+name\b",
    ),
    "open_answer": (
        r"\begal\b",
        r"\balles\s+recht\b",
        r"\bflexibel\b",
        r"\bjederzeit\b",
        r"\bwann\s+(?:immer\s+)?(?:es\s+)?(?:ihnen|dir|euch)\s+(?:passt|recht\s+ist|lieber\s+ist|am\s+besten\s+passt)\b",
        r"\bschlag~\s+(?:\w+\s+){0,2}vor\b",
        r"\b(?:suchen|sucht|such)\s+(?:sie|du|ihr)\s+(?:\w+\s+){0,2}aus\b",
        r"\bmir\b.{0,12}\b(?:gleich|wurscht|wurst|schnuppe)\b",
        r"\brichte\s+mich\s+(?:ganz\s+)?nach\s+(?:ihnen|dir|euch)\b",
        r"\b(?:passt|geht)\s+(?:mir\s+)?(?:eigentlich\s+)?(?:immer|jeden\s+tag)\b",
    ),
    # Words that make a turn a time wish: days, parts of day, clock times, periods.
    "time_words": (
        r"\b(?:montag|dienstag|mittwoch|donnerstag|freitag|samstag|sonnabend|sonntag)s?\b",
        r"\b(?:heute|morgen|uebermorgen|vormittags?|nachmittags?|abends?|mittags?|frueh|feierabend)\b",
        r"\b(?:uhr|woche|wochenende|kw|monat)\b",
        r"\b(?:januar|februar|maerz|april|mai|juni|juli|august|september|oktober|november|dezember)\b",
        r"\b(?:um|gegen|ab|bis|nach|vor)\s+(?:\d|eins|zwei|drei|vier|fuenf|sechs|sieben|acht|neun|zehn|elf|zwoelf)",
        r"\b\d{1,2}(?:[:.]\d{2})?\b",
    ),
    # ---- the rest of the call
    "voicemail": (
        r"\bmailbox\b",
        r"\banrufbeantworter\b",
        r"\bnach\s+dem\s+(?:signal|pieps?)ton\b",
        r"\bhinterlassen\s+sie\b",
    ),
    "human": (
        r"\b(?:einem|einen|echten|richtigen)\s+menschen\b",
        r"\bmensch\s+sprechen\b",
        r"\becht(?:e|en)\s+person\b",
        r"\bmitarbeiter(?:in)?\b.{0,20}sprechen\b",
        r"\bmit\s+(?:einem|einer|ihrem|ihrer)\s+(?:kollegen|kollegin|berater|beraterin|mitarbeiter)\s+sprechen\b",
        r"\bverbinde~\s+mich\b",
    ),
    "no_recording": (
        r"\bnicht\s+(?:mit\s*)?(?:aufnehmen|aufzeichnen|aufgezeichnet|aufgenommen)\b",
        r"\bkeine\s+(?:aufnahme|aufzeichnung)\b",
        r"\bohne\s+(?:aufnahme|aufzeichnung)\b",
        r"\baufnahme\s+(?:aus|stoppen|beenden)\b",
    ),
    "soft_refusal": (r"\b(?:nein|nee|ne|noe)\s+danke\b",),
    "material": (
        r"\bunterlagen\b",
        r"\b(?:infos?|informationen|material|prospekt|broschuere)\b.{0,30}(?:schicken|senden|mail)",
        r"\b(?:schick|send|mail)~\s+mir\b",
    ),
    "appointment": (r"\btermin\b", r"\bberatung(?:sgespraech)?\b", r"\bmeeting\b"),
    "confirm": (
        r"\b(?:ja|jawohl|jo|jap|genau|richtig|korrekt|passt|gerne?|okay|ok|klar|sicher|einverstanden|"
        r"natuerlich|selbstverstaendlich|unbedingt|perfekt|prima|super|wunderbar|bitte\s+buchen|buchen\s+sie)\b",
        r"\bam\s+apparat\b",
        r"\bdas\s+bin\s+ich\b",
        r"\bselbst\b",
    ),
    "decline": (
        r"\b(?:nein|nee|noe|leider\s+nicht|lieber\s+nicht|eher\s+nicht)\b",
        r"\b(?:passt|geht)\s+(?:mir\s+)?(?:leider\s+)?(?:nicht|schlecht)\b",
        r"\bkann\s+ich\s+(?:da\s+)?nicht\b",
    ),
    "first": (
        r"\b(?:der|den|dem)\s+erste[nm]?\b",
        r"\berste[nr]?\s+termin\b",
        r"\berstere?n?\b",
        r"\bden\s+frueheren\b",
    ),
    "second": (
        r"\b(?:der|den|dem)\s+zweite[nm]?\b",
        r"\bzweite[nr]?\s+termin\b",
        r"\bletztere?n?\b",
        r"\bden\s+spaeteren\b",
    ),
    "decider": (
        r"\b(?:entscheide|entscheiden)\s+(?:ich|das\s+ich)\b",
        r"\bich\s+entscheide\b",
        r"\bmein(?:e)?\s+(?:chef|chefin|geschaeftsfuehrer|partner|partnerin|frau|mann|vorgesetzte)",
        r"\bwir\s+entscheiden\b",
        r"\bgemeinsam\b",
    ),
    "timing": (
        r"\bsofort\b",
        r"\bmoeglichst\s+(?:bald|schnell)\b",
        r"\bso\s+bald\s+wie\s+moeglich\b",
        r"\b(?:dieses|naechstes)\s+(?:jahr|quartal)\b",
        r"\bin\s+diesem\s+(?:jahr|quartal|monat)\b",
        r"\bkeine\s+eile\b",
    ),
    # Said when the agent offered a booking link or a callback (after a deferral).
    "by_mail": (r"\b(?:mail|e\s*mail|link|schick~|send~|mailen)\b",),
    "by_call": (r"\b(?:anrufen|anruf|zurueckrufen|ruf~|melden|telefon\w*)\b",),
}
