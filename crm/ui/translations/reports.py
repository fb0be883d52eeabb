"""German for the reports page (crm.ui.reports, templates/ui/reports/)."""

DE = {
    "Reports": "Berichte",
    "Generate now": "Jetzt erstellen",
    "Report": "Bericht",
    "A day in the period": "Ein Tag im Zeitraum",
    "Daily report": "Tagesbericht",
    "Weekly report": "Wochenbericht",
    "Monthly report": "Monatsbericht",
    "A period that has ended gives the final report: built in the managers' languages and emailed to each "
    "manager once. The running period gives the period to date: not emailed, and replaced by the final report "
    "when the period has ended.": "Ein abgeschlossener Zeitraum ergibt den endgültigen Bericht: in den Sprachen der Manager erstellt und "
    "jedem Manager einmal gesendet. Der laufende Zeitraum ergibt einen Bericht bis jetzt: nicht gesendet und "
    "durch den endgültigen Bericht ersetzt, sobald der Zeitraum abgeschlossen ist.",
    "period to date": "laufender Zeitraum bis jetzt",
    "period to date (as of %(moment)s)": "laufender Zeitraum bis jetzt (Stand %(moment)s)",
    "This period has not begun yet: choose a day up to today.": "Dieser Zeitraum hat noch nicht begonnen: Wählen Sie einen Tag bis heute.",
    "Generated reports": "Erstellte Berichte",
    "Period": "Zeitraum",
    "Generated": "Erstellt",
    "Download": "Herunterladen",
    "no data": "keine Daten",
    "being built": "wird erstellt",
    "No report has been generated yet.": "Es wurde noch kein Bericht erstellt.",
    "Choose a daily, weekly or monthly report.": "Wählen Sie einen Tages-, Wochen- oder Monatsbericht.",
    "Enter the date as YYYY-MM-DD.": "Geben Sie das Datum als JJJJ-MM-TT ein.",
    "%(report)s exists already: download it below.": "%(report)s gibt es schon: Sie können ihn unten herunterladen.",
    "The report service (Temporal) cannot be reached, so %(report)s was not requested. Please try again later.": "Der Berichtsdienst (Temporal) ist nicht erreichbar, daher wurde %(report)s nicht angefordert. "
    "Bitte versuchen Sie es später erneut.",
    "%(report)s is being generated already.": "%(report)s wird bereits erstellt.",
    "%(report)s is being generated. It appears in this list when the reports worker has built it.": "%(report)s wird erstellt. Er erscheint in dieser Liste, sobald der Berichtsdienst ihn erstellt hat.",
    "Exchange rates": "Wechselkurse",
    "Costs are shown in %(currency)s: provider amounts (billed in their own currency, usually USD) are converted "
    "with these rates. Rates are never fetched from the internet.": "Kosten werden in %(currency)s angezeigt: Beträge der Anbieter (in deren Währung abgerechnet, meist USD) "
    "werden mit diesen Kursen umgerechnet. Kurse werden nie aus dem Internet geladen.",
    "The configuration cannot be used:": "Die Konfiguration ist nicht verwendbar:",
    "Configured (LEADCHAIN_FX_RATES)": "Konfiguriert (LEADCHAIN_FX_RATES)",
    "Set by an admin": "Von einem Admin gesetzt",
    "no rates": "keine Kurse",
    "Not saved. Please correct these entries:": "Nicht gespeichert. Bitte korrigieren Sie diese Einträge:",
    "Rates (FROM:TO=RATE, separated by semicolons)": "Kurse (VON:NACH=KURS, durch Semikolons getrennt)",
    "They win over the configured rates pair by pair. Leave the field empty to use the configured rates only.": "Sie gelten je Währungspaar vor den konfigurierten Kursen. Lassen Sie das Feld leer, um nur die "
    "konfigurierten Kurse zu verwenden.",
    "Save rates": "Kurse speichern",
    "Exchange rates saved: %(rates)s.": "Wechselkurse gespeichert: %(rates)s.",
    "Exchange rates reset: the configured rates (LEADCHAIN_FX_RATES) apply.": "Wechselkurse zurückgesetzt: Es gelten die konfigurierten Kurse (LEADCHAIN_FX_RATES).",
}
