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
    "when the period has ended.":
        "Ein abgeschlossener Zeitraum ergibt den endgültigen Bericht: in den Sprachen der Manager erstellt und "
        "jedem Manager einmal gesendet. Der laufende Zeitraum ergibt einen Bericht bis jetzt: nicht gesendet und "
        "durch den endgültigen Bericht ersetzt, sobald der Zeitraum abgeschlossen ist.",
    "period to date": "laufender Zeitraum bis jetzt",
    "period to date (as of %(moment)s)": "laufender Zeitraum bis jetzt (Stand %(moment)s)",
    "This period has not begun yet: choose a day up to today.":
        "Dieser Zeitraum hat noch nicht begonnen: Wählen Sie einen Tag bis heute.",
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
    "The report service (Temporal) cannot be reached, so %(report)s was not requested. Please try again later.":
        "Der Berichtsdienst (Temporal) ist nicht erreichbar, daher wurde %(report)s nicht angefordert. "
        "Bitte versuchen Sie es später erneut.",
    "%(report)s is being generated already.": "%(report)s wird bereits erstellt.",
    "%(report)s is being generated. It appears in this list when the reports worker has built it.":
        "%(report)s wird erstellt. Er erscheint in dieser Liste, sobald der Berichtsdienst ihn erstellt hat.",
}
