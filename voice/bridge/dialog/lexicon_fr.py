"""French: the words that mark each signal in a callee's turn (data only; intents.py compiles and reads them).

Patterns are regular expressions over the normal form of intents.fold: lower case, accents dropped (é, è, ê
as e, à as a, ç as c, ...), hyphens and punctuation as spaces ("rappelez-moi" is "rappelez moi"),
apostrophes dropped so an elided word is glued to the next ("m'appelez" is "mappelez", "c'est" is "cest",
"n'importe" is "nimporte"), single spaces. Formal (vous) and informal (tu) address are both written out;
French, Swiss and Belgian usage alike (the time words themselves are voice.bridge.timeprefs' business)."""

from __future__ import annotations

LANGUAGE = "fr"

# Hesitations a recogniser writes out: dropped anywhere before the patterns are read (intents.fold). "bon" and
# "genre" are not among them: "le bon moment", "ce genre d'appels" carry meaning.
FILLERS = (r"euh+", r"heu+", r"bah", r"ben", r"hein")
# Discourse words a question may start with.
LEADING = ("euh", "heu", "ben", "bah", "bon", "alors", "mais", "et", "attendez", "pardon", "ok", "oui", "non", "ah")

# An object pronoun before a verb: "m'" glued ("mappelez"), "me ", "nous ", "te ", "t'" glued.
_ME = r"(?:m|me\s+|nous\s+|t|te\s+)"
# Call verbs: appeler, rappeler, contacter, recontacter, téléphoner, déranger, harceler ...
_CALL = r"(?:r?appel|r?econtact|contact|telephon|retelephon|derang|harcel|solicit|sollicit)\w*"
_MONTH = r"(?:janvier|fevrier|mars|avril|mai|juin|juillet|aout|septembre|octobre|novembre|decembre)"
_NUMBER = (
    r"(?:\d{1,2}|une|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|seize|"
    r"dix\s+sept|dix\s+huit|dix\s+neuf|vingt|midi)"
)

SIGNALS: dict[str, tuple[str, ...]] = {
    # ---- steer the call away from an appointment (intents.decide orders them)
    "opt_out": (
        # "ne m'appelez plus (jamais)", "me rappelez plus", "ne nous contactez plus", "ne m'appelle plus"
        # ("je ne me rappelle plus" is "I no longer remember")
        rf"(?<!je )(?<!je ne )\b{_ME}{_CALL}\s+(?:plus|jamais)\b(?!\s+(?:tard|tot|vite|souvent|tranquillement))",
        rf"\bne\s+(?:plus|jamais)\s+(?:jamais\s+)?{_ME}{_CALL}",
        rf"\b(?:arret|cess)\w*\s+(?:donc\s+)?de\s+{_ME}(?:{_CALL}|embeter|spammer)",
        r"\b(?:retir|supprim|effac|ray|enlev|sort|biff)\w*\s+(?:moi|nous|(?:mon|notre|ce)\s+numero|"
        r"mes\s+(?:coordonnees|donnees|informations)|mon\s+nom|mon\s+contact)\b",
        r"\bliste\s+(?:rouge|orange|noire|dopposition|d\s+opposition|robinson)\b",
        r"\bbloctel\b",
        r"\b(?:veux|voulons|veut|souhaite|souhaitons|desire)\s+plus\s+(?:jamais\s+)?(?:etre\s+)?"
        r"(?:appele|contacte|derange|sollicite|demarche|recontacte|rappele)",
        r"\b(?:veux|voulons|souhaite|souhaitons)\s+plus\s+(?:jamais\s+)?(?:recevoir\s+)?(?:d\s*|de\s+|vos\s+)?appels?\b",
        r"\bplus\s+(?:jamais\s+)?(?:d\s*|d)appels?\b",
        r"\b(?:aucun|plus\s+aucun)\s+appel\b",
        r"\blaiss\w*\s+(?:moi|nous)\s+(?:tranquilles?|en\s+paix)\b",
        r"\bfout\w*\s+(?:moi|nous)\s+la\s+paix\b",
        r"\bdesinscri\w*\b",
        r"\b(?:arret|cess|stop)\w*\s+(?:vos|tes|ces|les|donc\s+vos)\s+appels\b",
        rf"\binterdi\w*\s+de\s+{_ME}{_CALL}",
        r"\b(?:retire|supprime|efface|raye|enleve|desinscrit|sorti)e?s?\s+de\s+(?:vos|votre|tes|ta|la|cette|ce)\s+"
        r"(?:listes?|fichiers?|base|bases|annuaire|registre)\b",
        r"\bpas\s+le\s+droit\s+de\s+(?:m|me\s+|nous\s+)(?:appeler|contacter|demarcher)\b",
    ),
    # Said with a hedge: the agent asks whether to remove the number rather than record it or carry on.
    "opt_out_unsure": (
        r"\b(?:ce|ces|ses|vos|tes|les)\s+(?:genres?|types?|sortes?)\s+d\s*appels?\b",
        r"\b(?:ce|ces)\s+genres?\s+dappels?\b",
        r"\bdemarch(?:age|eur|eurs)\b",
        r"\bprospection\s+telephonique\b",
        r"\bappels?\s+(?:commerciaux|commercial|publicitaires?|de\s+vente|non\s+sollicites?)\b",
        r"\b(?:comment|ou)\s+(?:est\s+ce\s+que\s+)?(?:vous\s+avez|avez\s+vous|tu\s+as|as\s+tu)\s+"
        r"(?:eu|trouve|obtenu|recupere)\s+(?:mon|ce|notre)\s+numero\b",
        r"\bj?\s*aime\s+pas\s+(?:trop\s+|beaucoup\s+|du\s+tout\s+)?(?:qu\s*on\s+m\s*appelle|ces\s+appels|les\s+appels)\b",
        r"\bspam\b",
        r"\btele\s*(?:marketing|vente|prospection)\b",
        r"\b(?:centre\s+d\s*appels?|call\s*cent(?:er|re))\b",
        r"\b(?:marre|ras\s+le\s+bol|assez)\s+(?:de\s+|des\s+)?(?:ces\s+|vos\s+|tes\s+|tous\s+ces\s+)?appels\b",
        r"\b(?:ces|vos|tes|de\s+tels)\s+appels\b",
    ),
    "wrong_number": (
        r"\btrompes?e?s?\s+de\s+(?:numero|personne)\b",
        r"\b(?:mauvais|faux)\s+numero\b",
        r"\berreur\s+de\s+(?:numero|personne)\b",
        r"\b(?:faites|fais|faite)\s+(?:une\s+)?erreur\b",
        r"\bc\s*est\s+une\s+erreur\b",
        r"\bn?y\s+a\s+pas\s+de\s+(?:\w+\s+){1,3}(?:ici|a\s+ce\s+numero|chez\s+nous)\b",
        r"\b(?:travaille|habite|vit|est)\s+(?:plus|pas)\s+ici\b",
        r"\bpersonne\s+(?:de\s+ce\s+nom|qui\s+s?\s*appelle)\b",
        r"\b(?:a|est)\s+(?:quitte|partie?)\s+(?:l\s*entreprise|la\s+societe|la\s+boite|la\s+maison|le\s+cabinet)\b",
        r"\bn?\s*est\s+plus\s+(?:chez\s+nous|dans\s+(?:l\s*entreprise|la\s+societe))\b",
        r"\bc(?:e\s+n)?\s*est\s+pas\s+(?:moi|lui|elle|la\s+bonne\s+personne|le\s+bon\s+numero)\b(?!\s+qui)",
        r"\bconnais\s+pas\s+(?:de\s+)?(?:cette\s+personne|ce\s+nom|madame|monsieur)\b",
    ),
    "callback": (
        r"\b(?:rappel|recontact|retelephon)\w*\s+(?:moi|nous)\b",
        r"\b(?:m|me\s+|nous\s+)(?:rappeler|recontacter|rappelez|rappelle|rappellerez|retelephoner)\b"
        r"(?!\s+(?:plus|jamais)\b(?!\s+(?:tard|tot)))",
        r"(?<!vous )(?<!je )(?<!te )(?<!on )\b(?:rappel|recontact|retelephon)\w*\s+(?:plutot\s+)?"
        r"(?:plus\s+tard|demain|apres\s+demain|lundi|mardi|mercredi|jeudi|vendredi|samedi|la\s+semaine|le\s+mois|"
        r"dans|en|apres|fin|debut|mi|ce\s+soir|cet\s+apres\s+midi|une\s+autre\s+fois|un\s+autre\s+jour)\b",
        r"\b(?:re)?essay\w*\s+(?:plutot\s+|encore\s+|de\s+nouveau\s+)?(?:plus\s+tard|demain|en\s+\w+|la\s+semaine|le\s+mois|dans|apres|fin|debut|"
        r"une\s+autre\s+fois|lundi|mardi|mercredi|jeudi|vendredi)\b",
        r"\bpas\s+(?:le\s+|un\s+)?(?:bon\s+)?moment\b",
        r"\bmauvais\s+moment\b",
        r"\btombe\s+(?:mal|pas\s+bien)\b",
        r"(?<!vous )(?<!te )\b(?:redonn|repass|pass|donn|refai)\w*\s+(?:moi\s+|nous\s+)?un\s+(?:petit\s+|autre\s+)?"
        r"(?:coup\s+de\s+(?:fil|telephone)|appel)\b",
        r"\b(?:suis|sommes)\s+(?:en\s+(?:reunion|rendez\s+vous|rdv|voiture|route|deplacement|conduite)|au\s+volant|"
        r"occupee?s?|debordee?s?)\b",
        r"\b(?:ai|avons|a)\s+pas\s+le\s+temps\b",
        r"\bpas\s+le\s+temps\s+(?:la|maintenant|en\s+ce\s+moment|actuellement)\b",
    ),
    "refusal": (
        r"\bpas\s+(?:du\s+tout\s+)?interess\w*\b",
        r"\b(?:m|nous|me)\s*interesse\s+(?:pas|plus)\b",
        r"\b(?:aucun|pas\s+d)\s*interet\b",
        r"\bpas\s+besoin\b(?!\s+de\s+(?:me|m|nous)\b)",
        r"\b(?:na|nai|navons|a|ai|avons)\s+(?:aucun|pas\s+de)\s+besoin\b",
        r"\bdeja\s+(?:un|une|des|equipee?s?|ce\s+qu\s*il\s+faut|quelqu\s*un|tout\s+ce\s+qu)\b",
        r"\bpas\s+pour\s+(?:nous|moi)\b",
        r"\blaiss\w*\s+tomber\b",
        r"\bsans\s+facon\b",
        r"\bpas\s+(?:l|d)?\s*utilite\b",
        r"\b(?:a|avons|ai)\s+(?:deja\s+)?(?:tout\s+)?ce\s+qu\s*il\s+(?:nous\s+|me\s+)?faut\b",
        r"\b(?:ca|cela)\s+ne\s+(?:nous|me|m)\s*(?:concerne|interesse)\s+pas\b",
    ),
    "deferral": (
        r"\b(?:regard|verifi|consult|check|voir)\w*\s+(?:d\s*abord\s+|dabord\s+)?(?:mon\s+|ma\s+|mes\s+|notre\s+|"
        r"le\s+|l\s*)(?:agenda|calendrier|planning|emploi\s+du\s+temps|disponibilites)\b",
        r"\bpas\s+(?:mon|ma|l|le|notre)\s*(?:agenda|calendrier|planning)\s+(?:sous\s+les\s+yeux|sous\s+la\s+main|"
        r"avec\s+moi|ici|la|sur\s+moi)\b",
        r"\b(?:je\s+|on\s+)(?:vous|te)\s+(?:rappelle|rappellerai|rappellerons|recontacte|recontacterai|redis|redirai|"
        r"dirai|tiens\s+au\s+courant|tiendrai\s+au\s+courant)\b",
        r"\breviens?\s+vers\s+(?:vous|toi)\b",
        r"\blaiss\w*\s+(?:moi|nous)\s+(?:reflechir|voir|le\s+temps)\b",
        r"\b(?:y\s+)?reflechir\b",
        r"\b(?:en\s+|j\s*en\s+|jen\s+|on\s+en\s+)?(?:parle|parler|discute|discuter)\s+(?:a|avec)\s+"
        r"(?:mon|ma|mes|notre|nos|l|la\s+direction)\b",
        r"\bsais\s+pas\s+(?:encore|trop|tout\s+de\s+suite|comme\s+ca|de\s+tete)\b",
        r"\bje\s+vais\s+voir\b",
        r"\b(?:voi[rte]|verifi\w*|check\w*|regard\w*|consult\w*|demand\w*|parl\w*|discut\w*)\s+(?:ca\s+|cela\s+)?"
        r"(?:avec\s+|a\s+)?(?:mon|ma|mes|notre|nos)\s+(?:associee?s?|collegues?|chef|cheffe|patronn?e?|epoux|epouse|"
        r"femme|mari|conjointe?|equipe|direction|comptable|superieure?|responsable|agenda|calendrier|planning)\b",
        r"\bje\s+vous\s+(?:passe|passerai|donne|donnerai|ferai)\s+un\s+(?:petit\s+)?(?:coup\s+de\s+fil|appel)\b",
    ),
    "question": (
        r"^(?:{leading}\s+)*(?:"
        r"c\s*est\s+qui|qui\s+(?:est|etes|es|parle|appelle)|combien|comment\s+(?:ca|cela|est\s+ce|vous|fonctionne|"
        r"marche|sa)|pourquoi(?!\s+pas)|quel(?:le)?s?\s+(?:societe|entreprise|boite|offre|prix|genre|tarif)|"
        r"c\s*est\s+quoi|qu\s*est\s+ce|de\s+quoi|vous\s+etes\s+(?:qui|de\s+quelle|d\s*ou)|ou\s+(?:etes|est)|"
        r"est\s+ce\s+que|ca\s+(?:coute|consiste|prend|dure|sert)|c\s*est\s+(?:gratuit|payant|cher)|vous\s+vendez|"
        r"c\s*est\s+(?:pour\s+quoi|a\s+quel\s+sujet|a\s+propos\s+de\s+quoi)|vous\s+(?:appelez|etes|venez)\s+d\s*ou)\b",
        r"\bcombien\s+(?:ca|cela|de\s+temps|coute|coutent|vous|faut)\b",
    ),
    # Within a question: who is calling (the agent says who it is, not what the consultant will explain).
    "who": (
        r"\bqui\s+(?:est|etes|es|parle|appelle)\b",
        r"\bc\s*est\s+qui\b",
        r"\bquelle\s+(?:societe|entreprise|boite)\b",
        r"\bde\s+la\s+part\s+de\s+qui\b",
        r"\bvous\s+etes\s+qui\b",
        r"\bd\s*ou\s+(?:vous\s+)?(?:m\s*)?appel",
        r"\bappel\w*\s+d\s*ou\b",
    ),
    "open_answer": (
        r"\bquand\s+(?:vous\s+voulez|vous\s+le\s+souhaitez|vous\s+pouvez|tu\s+veux|ca\s+vous\s+(?:arrange|convient|va))\b",
        r"\b(?:ca\s+|cela\s+)?(?:m|nous|me)\s*est\s+(?:egal|indifferent)\b",
        r"\bpeu\s+importe\b",
        r"\bn\s*importe\s+(?:quand|quel\s+jour|lequel|laquelle|quelle\s+heure)\b",
        r"\bflexibles?\b",
        r"\bcomme\s+(?:ca\s+)?(?:vous\s+|tu\s+)?(?:arrange|voulez|veux|convient|preferez)\b",
        r"\b(?:choisissez|choisis|proposez|propose|decidez|decide)\s+(?:vous|moi|toi|quelque\s+chose)\b",
        r"\b(?:a|selon)\s+(?:votre|ta)\s+(?:convenance|guise)\b",
        r"\bcomme\s+bon\s+vous\s+semble\b",
        r"\bje\s+m\s*adapte\b",
        r"\b(?:toujours|tout\s+le\s+temps)\s+disponibles?\b",
    ),
    # Words that make a turn a time wish: days, parts of day, clock times, periods.
    "time_words": (
        r"\b(?:lundi|mardi|mercredi|jeudi|vendredi|samedi|dimanche)s?\b",
        r"\b(?:aujourd\s*hui|demain|apres\s+demain|matin|matinee|apres\s+midi|soir|soiree|midi|week\s+end|weekend)\b",
        r"\b(?:heures?|semaine|quinzaine|mois)\b",
        rf"\b{_MONTH}\b",
        rf"\b(?:vers|apres|avant|des|entre|jusqu\s*a)\s+{_NUMBER}\b",
        rf"\ba\s+{_NUMBER}\s*(?:h\b|heures?\b)",
        r"\b\d{1,2}\s*h(?:\s*\d{2})?\b",
    ),
    # ---- the rest of the call
    "voicemail": (
        r"\bmessagerie\b",
        r"\brepondeur\b",
        r"\bapres\s+le\s+(?:bip|signal)\b",
        r"\blaissez\s+(?:un|votre)\s+message\b",
    ),
    "human": (
        r"\b(?:une?\s+)?(?:vrai|vraie|veritable)\s+(?:personne|humain)\b",
        r"\bun\s+(?:etre\s+)?humain\b",
        r"\b(?:parler|passer)\s+(?:a|avec)\s+(?:quelqu\s*un|un\s+conseiller|une\s+conseillere|un\s+collegue|"
        r"une\s+collegue|un\s+responsable|une\s+personne)\b",
        r"\bpassez\s+moi\s+(?:un|une|quelqu)",
    ),
    "no_recording": (
        r"\bpas\s+(?:d\s*)?enregistr\w*\b",
        r"\bne\s+(?:m\s*|me\s+|nous\s+)?enregistr\w*\s+pas\b",
        r"\bne\s+pas\s+(?:etre\s+)?enregistr\w*\b",
        r"\bsans\s+(?:l\s*)?enregistr\w*\b",
        r"\b(?:arret|coup|refus)\w*\s+l\s*enregistr\w*\b",
    ),
    "soft_refusal": (r"\bnon\s+merci\b", r"\bmerci\s+non\b", r"\bnon\s+ca\s+ira\b"),
    "material": (
        r"\bdocumentation\b",
        r"\b(?:brochure|plaquette|catalogue)\b",
        r"\benvoy\w*\s+(?:moi|nous)\s+(?:de\s+la\s+|des\s+|une\s+|la\s+|les\s+|vos\s+)?"
        r"(?:doc|documentation|infos?|informations|brochure|plaquette|offre|details)\b",
    ),
    # "Notre prise de rendez-vous" names a need (the qualification answer), not a wish for a meeting.
    "appointment": (
        r"(?<!prise de )(?<!prises de )(?<!gestion de )(?<!gestion des )(?<!planification des )\brendez\s+vous\b",
        r"\brdv\b",
        r"\bentretien\b",
    ),
    "confirm": (
        r"\b(?:oui|ouais|ouaip|exact|exactement|parfait|daccord|d\s+accord|volontiers|absolument|certainement|"
        r"entendu|avec\s+plaisir|genial|nickel|carrement|evidemment|parfaitement)\b",
        r"\bbien\s+sur\b",
        r"\btout\s+a\s+fait\b",
        r"\b(?:ca|cela)\s+(?:me\s+)?(?:marche|va|convient|irait|conviendrait)\b(?!\s+pas)",
        r"\bc\s*est\s+(?:bon|moi|parfait|ca)\b",
        r"\b(?:lui|elle)\s+meme\b",
        r"^(?:ah\s+|mais\s+)?si\b",
        r"\ballons\s+y\b",
        r"\breservez\b",
    ),
    "decline": (
        r"\b(?:non|nan|pas\s+vraiment|plutot\s+pas|surtout\s+pas|pas\s+du\s+tout)\b",
        r"\b(?:ca|cela)\s+(?:ne\s+|n\s*)?(?:me\s+|m\s*|nous\s+)?(?:va|convient|marche|arrange|irait|conviendrait)\s+pas\b",
        r"\bje\s+(?:ne\s+)?peux\s+pas\b",
        r"\bpas\s+possible\b",
    ),
    "first": (
        rf"\ble\s+premier\b(?!\s+{_MONTH})",
        r"\bla\s+premiere\b",
        r"\bpremier\s+(?:creneau|rendez\s+vous|horaire)\b",
        r"\bcelui\s+de\s+(?:la\s+)?plus\s+tot\b",
    ),
    "second": (
        rf"\ble\s+(?:deuxieme|second)\b(?!\s+{_MONTH})",
        r"\bla\s+(?:deuxieme|seconde)\b",
        r"\b(?:deuxieme|second)\s+(?:creneau|rendez\s+vous|horaire)\b",
        r"\ble\s+dernier\b",
        r"\bcelui\s+de\s+(?:la\s+)?plus\s+tard\b",
    ),
    "decider": (
        r"\bc\s*est\s+moi\s+qui\s+decide\b",
        r"\bje\s+decide\b",
        r"\bmon\s+(?:chef|patron|associe|directeur|mari|conjoint|superieur)\b",
        r"\bma\s+(?:cheffe|patronne|associee|directrice|femme|conjointe|superieure)\b",
        r"\b(?:nous\s+decidons|on\s+decide)\b",
        r"\bensemble\b",
    ),
    "timing": (
        r"\btout\s+de\s+suite\b",
        r"\bimmediatement\b",
        r"\bau\s+plus\s+vite\b",
        r"\ble\s+plus\s+(?:tot|vite)\s+possible\b",
        r"\bdes\s+que\s+possible\b",
        r"\b(?:cette\s+annee|l\s*annee\s+prochaine|ce\s+trimestre|le\s+trimestre\s+prochain)\b",
        r"\b(?:pas\s+presses?|rien\s+ne\s+presse)\b",
    ),
    # Said when the agent offered a booking link or a callback (after a deferral).
    "by_mail": (r"\b(?:mail|e\s*mail|email|courriel|lien|envoy\w*|par\s+ecrit)\b",),
    "by_call": (r"\b(?:appel\w*|rappel\w*|telephon\w*|coup\s+de\s+fil)\b",),
}
