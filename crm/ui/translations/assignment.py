"""German for lead assignment (crm.ui.settings_assignment, templates/ui/settings/assignment*.html) and the
managers' "Unassigned" task tab (crm.ui.tasks)."""
DE = {
    "Lead assignment": "Lead-Zuweisung",
    "Unassigned": "Nicht zugewiesen",
    "Every open task has an owner.": "Jede offene Aufgabe hat einen Betreuer.",
    "A new lead without an owner gets one at intake: the rules below are tried from top to bottom, and the first rule that matches the lead and has somebody available gives it to the next person of its team in turn. A lead that has an owner keeps it; a manager's choice is never overwritten. Every automatic assignment is shown on the lead's timeline.":
        "Ein neuer Lead ohne Betreuer bekommt beim Eingang einen: Die Regeln unten werden von oben nach unten geprüft, und die erste Regel, die auf den Lead passt und jemanden verfügbar hat, gibt ihn reihum an die nächste Person ihres Teams. Ein Lead mit Betreuer behält ihn; die Wahl eines Managers wird nie überschrieben. Jede automatische Zuweisung steht im Verlauf des Leads.",
    "Not saved. Please correct the marked fields.": "Nicht gespeichert. Bitte korrigieren Sie die markierten Felder.",
    "Rules": "Regeln",
    "No rules yet: every new lead is assigned by the fallback.":
        "Noch keine Regeln: Jeder neue Lead wird über die Grundregel zugewiesen.",
    "inactive": "inaktiv",
    "Team": "Team",
    "every active sales rep": "alle aktiven Vertriebsmitarbeitenden",
    "Delete": "Löschen",
    "Move up": "Nach oben",
    "Move down": "Nach unten",
    "Delete the rule %(name)s?": "Regel %(name)s löschen?",
    "Fallback": "Grundregel",
    "A lead no rule takes goes to the active sales reps in turn, to those who speak the lead's language when there are any.":
        "Ein Lead, den keine Regel nimmt, geht reihum an die aktiven Vertriebsmitarbeitenden, an die mit der Sprache des Leads, wenn es solche gibt.",
    "There is no active sales rep: new leads stay unassigned and their tasks appear under Tasks → Unassigned for managers.":
        "Es gibt keine aktiven Vertriebsmitarbeitenden: Neue Leads bleiben ohne Zuweisung, ihre Aufgaben sehen Manager unter Aufgaben → Nicht zugewiesen.",
    "New rule": "Neue Regel",
    "Add rule": "Regel hinzufügen",
    "Lead language": "Sprache des Leads",
    "None ticked: any language.": "Nichts angekreuzt: jede Sprache.",
    "Countries": "Länder",
    "ISO codes, e.g. DE, AT, CH: the country the lead gave, else the country of the phone number. Empty: any.":
        "ISO-Codes, z. B. DE, AT, CH: das vom Lead angegebene Land, sonst das Land der Telefonnummer. Leer: jedes.",
    "Postcode prefixes": "PLZ-Anfänge",
    "e.g. 80, 81, 82 for the Munich area. Empty: any.": "z. B. 80, 81, 82 für den Raum München. Leer: jede.",
    "Sources": "Quellen",
    "e.g. website, partner, api, csv. Empty: any.": "z. B. website, partner, api, csv. Leer: jede.",
    "The rule takes turns over these people. None ticked: every active sales rep.":
        "Die Regel verteilt reihum an diese Personen. Nichts angekreuzt: alle aktiven Vertriebsmitarbeitenden.",
    "Only people who speak the lead's language (else the next rule is tried)":
        "Nur Personen, die die Sprache des Leads sprechen (sonst wird die nächste Regel geprüft)",
    "Rule is active": "Regel ist aktiv",
    "Please enter a name of at most 100 characters.": "Bitte geben Sie einen Namen mit höchstens 100 Zeichen ein.",
    "Please choose languages from the list.": "Bitte wählen Sie Sprachen aus der Liste.",
    "Countries are two-letter ISO codes such as DE, AT, CH, separated by commas.":
        "Länder sind zweistellige ISO-Codes wie DE, AT, CH, durch Kommas getrennt.",
    "Postcode prefixes are letters and digits (up to 10), separated by commas.":
        "PLZ-Anfänge bestehen aus Buchstaben und Ziffern (bis zu 10), durch Kommas getrennt.",
    "Sources are names such as website or partner, separated by commas.":
        "Quellen sind Namen wie website oder partner, durch Kommas getrennt.",
    "Please choose reps from the list.": "Bitte wählen Sie Personen aus der Liste.",
    "Rule %(name)s added; it applies to leads created from now on.":
        "Regel %(name)s hinzugefügt; sie gilt für ab jetzt angelegte Leads.",
    "Rule %(name)s saved.": "Regel %(name)s gespeichert.",
    "Please choose up or down.": "Bitte wählen Sie nach oben oder nach unten.",
    "Order saved.": "Reihenfolge gespeichert.",
    "Rule %(name)s deleted.": "Regel %(name)s gelöscht.",
    "Leads without an owner": "Leads ohne Betreuer",
    "%(num)d leads have no owner (from before the rules, or from a time without an active sales rep).":
        "%(num)d Leads haben keinen Betreuer (aus der Zeit vor den Regeln oder ohne aktive Vertriebsmitarbeitende).",
    "Assign these leads by the rules now? Their open tasks without an owner go with them.":
        "Diese Leads jetzt nach den Regeln zuweisen? Ihre offenen Aufgaben ohne Betreuer gehen mit.",
    "Assign them now": "Jetzt zuweisen",
    "%(leads)d leads and %(tasks)d open tasks assigned.": "%(leads)d Leads und %(tasks)d offene Aufgaben zugewiesen.",
    "No lead could be assigned: there is nobody active to assign to, or every lead has an owner.":
        "Kein Lead konnte zugewiesen werden: Es ist niemand aktiv, oder jeder Lead hat einen Betreuer.",
    "Rule: %(rule)s": "Regel: %(rule)s",
    "round robin over the sales reps": "reihum an die Vertriebsmitarbeitenden",
}
