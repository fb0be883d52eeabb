"""French words the time-preference parser knows (France, Switzerland, Belgium), in their normalized
spelling: lower case, accents dropped ("février" → "fevrier"), apostrophes and hyphens as spaces
("d'après-midi" → "d apres midi"). ``normalize`` reads the numbers, ``grammar_fr`` the rest."""

from __future__ import annotations

# ---- numbers --------------------------------------------------------------------------------------
# "un"/"une" are articles far more often than numbers: only "une heure" and compounds read them.
FR_UNITS = {
    "deux": 2,
    "trois": 3,
    "quatre": 4,
    "cinq": 5,
    "six": 6,
    "sept": 7,
    "huit": 8,
    "neuf": 9,
    "dix": 10,
    "onze": 11,
    "douze": 12,
    "treize": 13,
    "quatorze": 14,
    "quinze": 15,
    "seize": 16,
}
# Tens; "septante", "huitante"/"octante" and "nonante" are Swiss and Belgian (70, 80, 90).
FR_TENS = {
    "vingt": 20,
    "vingts": 20,
    "trente": 30,
    "quarante": 40,
    "cinquante": 50,
    "soixante": 60,
    "septante": 70,
    "huitante": 80,
    "octante": 80,
    "nonante": 90,
}
FR_ONE = frozenset({"un", "une"})
FR_FIRST = frozenset({"premier", "premiere", "1er", "1re", "1ere"})
FR_ORDINALS = {
    "premiere": 1,
    "premier": 1,
    "deuxieme": 2,
    "seconde": 2,
    "troisieme": 3,
    "quatrieme": 4,
    "cinquieme": 5,
}
# What the noise harness says numbers as (France): 21 "vingt et un", 80 "quatre-vingts".
FR_CARDINALS = {
    **{w: n for w, n in FR_UNITS.items()},
    "un": 1,
    **{w: n for w, n in FR_TENS.items() if w != "vingts"},
}

# ---- speech as recognisers write it --------------------------------------------------------------
FR_FILLERS = frozenset(
    {"euh", "euhh", "heu", "hum", "hmm", "mh", "ben", "bah", "bon", "alors", "hein", "genre", "voila", "bref"}
    | {"oui", "ouais", "donc", "disons", "eventuellement", "peut", "etre", "moi", "perso", "personnellement"}
)
FR_FILLER_PAIRS = frozenset({("du", "coup"), ("tu", "vois"), ("vous", "voyez"), ("je", "dirais"), ("je", "pense")})
# Homophones a recogniser writes for a number word after "à" / "vers" ("à dis heures").
FR_CLOCK_SLIPS = {"dis": "dix", "set": "sept"}
FR_PAIR_SLIPS = {("et", "car"): "quart", ("le", "car"): "quart", ("moins", "car"): "quart"}
FR_CLOCK_PREPS = frozenset({"a", "vers"})
FR_COUNT_UNITS = frozenset({"heures", "jours", "jour", "semaine", "semaines", "mois", "minutes", "ans"})

# ---- calendar words -------------------------------------------------------------------------------
FR_WEEKDAYS = {
    "lundi": 0,
    "mardi": 1,
    "mercredi": 2,
    "jeudi": 3,
    "vendredi": 4,
    "samedi": 5,
    "dimanche": 6,
}
FR_WEEKDAY_NAMES = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi", "dimanche")
FR_MONTHS = {
    "janvier": 1,
    "fevrier": 2,
    "mars": 3,
    "avril": 4,
    "mai": 5,
    "juin": 6,
    "juillet": 7,
    "aout": 8,
    "septembre": 9,
    "octobre": 10,
    "novembre": 11,
    "decembre": 12,
}
FR_MONTH_NAMES = (
    "janvier",
    "février",
    "mars",
    "avril",
    "mai",
    "juin",
    "juillet",
    "août",
    "septembre",
    "octobre",
    "novembre",
    "décembre",
)

# ---- dayparts -------------------------------------------------------------------------------------
FR_DAYPARTS = {
    "matin": "morning",
    "matins": "morning",
    "matinee": "morning",
    "matinees": "morning",
    "aprem": "afternoon",
    "soir": "evening",
    "soirs": "evening",
    "soiree": "evening",
    "midi": "noon",
    "tot": "early",
    "tard": "late",
}
# Phrases that name a daypart, longest first ("en fin de matinée", "en début d'après-midi").
FR_DAYPART_PHRASES: tuple[tuple[tuple[str, ...], str], ...] = (
    (("debut", "d", "apres", "midi"), "early_afternoon"),
    (("fin", "d", "apres", "midi"), "late_afternoon"),
    (("milieu", "d", "apres", "midi"), "afternoon"),
    (("fin", "de", "la", "matinee"), "late_morning"),
    (("fin", "de", "matinee"), "late_morning"),
    (("debut", "de", "matinee"), "early"),
    (("tot", "le", "matin"), "early"),
    (("de", "bonne", "heure"), "early"),
    (("fin", "de", "journee"), "late"),
    (("fin", "de", "la", "journee"), "late"),
    (("debut", "de", "journee"), "early"),
    (("apres", "le", "dejeuner"), "after_lunch"),
    (("apres", "manger"), "after_lunch"),
    (("apres", "la", "pause", "de", "midi"), "after_lunch"),
    (("avant", "le", "dejeuner"), "before_lunch"),
    (("apres", "le", "travail"), "evening"),
    (("heure", "du", "dejeuner"), "noon"),
    (("pause", "de", "midi"), "noon"),
    (("apres", "midi"), "afternoon"),
    (("apres", "midis"), "afternoon"),
)

# ---- elliptical follow-ups and named periods (see ``ellipsis`` and ``periods``) -------------------
FR_ELLIPSIS_MODS = {"prochaine": "next", "prochain": "next"}
FR_ELLIPSIS_PHRASES: tuple[tuple[tuple[str, ...], tuple[str, int]], ...] = (
    (("la", "semaine", "d", "apres"), ("after", 1)),
    (("la", "semaine", "suivante"), ("after", 1)),
    (("la", "semaine", "apres"), ("after", 1)),
    (("le", "mois", "d", "apres"), ("after", 1)),
    (("le", "mois", "suivant"), ("after", 1)),
    (("le", "jour", "suivant"), ("after", 1)),
    (("celle", "d", "apres"), ("after", 1)),
    (("celle", "qui", "suit"), ("after", 1)),
    (("celui", "d", "apres"), ("after", 1)),
    (("le", "lendemain"), ("after", 1)),
    (("la", "suivante"), ("after", 1)),
    (("le", "suivant"), ("after", 1)),
)
FR_PERIOD_NOUNS: dict[tuple[str, ...], str] = {
    ("fetes", "de", "fin", "d", "annee"): "holidays",
    ("fetes",): "holidays",
    ("vacances", "de", "noel"): "holidays",
    ("noel",): "christmas",
    ("paques",): "easter",
    ("nouvel", "an"): "newyear",
    ("jour", "de", "l", "an"): "newyear",
    ("week", "end"): "weekend",
    ("weekend",): "weekend",
}
FR_PERIOD_SIDES = {"apres": "after", "avant": "before", "jusqu": "before", "des": "from", "pendant": "during"}
FR_PERIOD_SKIP = frozenset({"les", "la", "le", "l", "de", "du", "d", "a", "au"})
FR_PERIOD_PHRASES: dict[tuple[str, ...], tuple[str, str]] = {
    ("apres", "les", "vacances"): ("holidays", "after"),
    ("l", "annee", "prochaine"): ("nextyear", "from"),
    ("l", "an", "prochain"): ("nextyear", "from"),
    ("annee", "prochaine"): ("nextyear", "from"),
    ("debut", "de", "l", "annee", "prochaine"): ("nextyear", "from"),
    ("debut", "d", "annee"): ("nextyear", "from"),
    ("a", "la", "rentree", "de", "janvier"): ("nextyear", "from"),
}

# ---- markers --------------------------------------------------------------------------------------
FR_SEPARATORS = frozenset({",", "mais", "sinon", "par", "car", "parce", "puisque", "cependant", "pourtant"})
# "cette semaine c'est plein", "jeudi je suis bloqué": busy words, said after what they judge.
_BUSY = frozenset({"plein", "pleine", "charge", "chargee", "deborde", "debordee", "blinde", "bloque", "bloquee"})
FR_NEGATIONS = frozenset(
    {"pas", "jamais", "sauf", "excepte", "hormis", "non", "ni", "impossible", "pris", "prise", "occupe"}
    | {"occupee", "complet", "indisponible", "absent", "absente", "conge", "conges", "vacances", "deplacement"}
    | _BUSY
)
# "pas de souci", "pas mal": "pas" that negates nothing.
FR_NOT_NEGATIONS = frozenset({("pas", "de"), ("pas", "mal"), ("pas", "du"), ("pas", "que")})
# Markers said after what they judge ("jeudi je suis pris", "cette semaine non").
FR_POST_MARKERS = frozenset(
    {"impossible", "pris", "prise", "occupe", "occupee", "complet", "indisponible", "absent", "absente"}
    | {"conge", "conges", "vacances", "deplacement", "non"}
    | _BUSY
)
FR_PREDICATES = frozenset({"va", "marche", "convient", "peux", "pouvons", "suis", "est", "sommes", "ai", "arrange"})
FR_CHAIN = frozenset({"et", "ou", "ni", "le", "la", "les", "l", "a", "au", "en", "pas", "plus", "tous", "chaque"})
FR_CONJUNCTIONS = frozenset({"et", "ou", "ni"})
FR_ANYTIME: tuple[tuple[str, ...], ...] = (
    ("n", "importe", "quel", "jour"),
    ("n", "importe", "quelle", "heure"),
    ("n", "importe", "quand"),
    ("quand", "vous", "voulez"),
    ("quand", "vous", "voudrez"),
    ("quand", "ca", "vous", "arrange"),
    ("comme", "vous", "voulez"),
    ("ca", "m", "est", "egal"),
    ("peu", "importe"),
    ("tous", "les", "jours"),
    ("toute", "la", "journee"),
    ("a", "tout", "moment"),
    ("flexible",),
    ("indifferent",),
)
FR_CORRECTIONS = frozenset({"plutot", "pardon", "attendez", "finalement"})
FR_CORRECTION_PAIRS = frozenset({("en", "fait"), ("je", "veux"), ("ou", "alors"), ("je", "voulais")})
FR_NOT_CORRECTIONS = frozenset({("plutot", "que")})
# "non" corrects only before a day or a time ("jeudi non vendredi", "mercredi, non, jeudi à 15h").
FR_SOFT_CORRECTIONS = frozenset({"non"})
FR_TIME_STARTS = frozenset({"a", "le", "demain", "aujourdhui", "apres", "avant", "vers", "ce", "cette", "dans", "des"})
FR_OR = frozenset({"ou"})
FR_ATTACH_FILLER = frozenset({"le", "la", "l", "en", "dans", "plutot", "de", "du"})
