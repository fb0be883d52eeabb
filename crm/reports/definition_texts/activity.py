"""The definitions of the report's periods, leads and calls (crm.reports.definitions lists the sections)."""

from __future__ import annotations

from crm.reports.definition_texts.model import Figure, Section

PERIODS = Section(
    "periods",
    de="Zeiträume und Zeiten",
    en="Periods and times",
    figures=[
        Figure(
            "period",
            de=(
                "Zeitraum",
                "Berliner Kalendertage von Mitternacht bis Mitternacht: ein Tag, eine ISO-Woche (Montag bis "
                "Sonntag) oder ein Kalendermonat. An Tagen der Zeitumstellung hat ein Tag 23 oder 25 Stunden.",
            ),
            en=(
                "Period",
                "Berlin calendar days from midnight to midnight: a day, an ISO week (Monday to Sunday) or a "
                "calendar month. On the days the clocks change a day has 23 or 25 hours.",
            ),
        ),
        Figure(
            "previous_period",
            de=(
                "Vorperiode",
                "Der Zeitraum gleicher Art direkt davor (der Vortag, die Vorwoche, der Vormonat). Jede Kennzahl "
                "auf der Titelseite steht mit ihrem Wert der Vorperiode und der Veränderung: in Prozent für "
                "Anzahlen, Beträge und Dauern, in Prozentpunkten für Quoten.",
            ),
            en=(
                "Previous period",
                "The period of the same kind right before (the day, week or month before). Every figure on the "
                "title page shows its previous value and the change: in per cent for counts, amounts and "
                "durations, in percentage points for rates.",
            ),
        ),
        Figure(
            "to_date",
            de=(
                "Laufender Zeitraum bis jetzt",
                "Ein Bericht, der vor dem Ende seines Zeitraums erstellt wurde, zählt bis zum genannten Stand; "
                "die Vorperiode ist vollständig. Der endgültige Bericht ersetzt ihn nach dem Ende des Zeitraums.",
            ),
            en=(
                "Period to date",
                "A report built before its period ended counts up to the moment named; the previous period is "
                "complete. The final report replaces it once the period has ended.",
            ),
        ),
        Figure(
            "event_time",
            de=(
                "Zeitpunkt eines Ereignisses",
                "Anrufe und E-Mails: Beginn (noch nicht begonnene Anrufe: Anlage); Leads: Eingang im CRM; "
                "Termine: wann sie gebucht wurden, nicht wann sie stattfinden; Abmeldungen: wann sie eingingen. "
                "Alle Zeiten in Europe/Berlin.",
            ),
            en=(
                "Time of an event",
                "Calls and emails: when they started (a call not yet started: when it was created); leads: when "
                "they reached the CRM; appointments: when they were booked, not when they take place; "
                "unsubscribes: when they came in. All times in Europe/Berlin.",
            ),
        ),
        Figure(
            "no_value",
            de=(
                "Kein Wert (–)",
                "Eine Quote ohne Nenner, ein Durchschnitt von nichts, Kosten ohne bepreisten Anruf und eine "
                "Veränderung gegenüber 0 werden als „–“ gezeigt, nie als 0.",
            ),
            en=(
                "No value (–)",
                "A rate with nothing to divide by, an average of nothing, costs without a priced call and a "
                "change against 0 are shown as “–”, never as 0.",
            ),
        ),
    ],
)

LEADS = Section(
    "leads",
    de="Leads",
    en="Leads",
    figures=[
        Figure(
            "leads_in",
            de=(
                "Neue Leads",
                "Leads, die im Zeitraum eingegangen sind, ohne Dubletten, die mit einem anderen Lead "
                "zusammengeführt wurden.",
            ),
            en=("New leads", "Leads that came in during the period, without duplicates merged into another lead."),
        ),
        Figure(
            "by_source",
            de=("Nach Quelle", "Neue Leads nach ihrer Quelle, mit der Anzahl der Vorperiode."),
            en=("By source", "New leads by their source, with the previous period's count."),
        ),
        Figure(
            "by_campaign",
            de=(
                "Nach Kampagne",
                "Neue Leads nach der Anrufkampagne, der sie zugeordnet sind, sonst nach ihrer UTM-Kampagne, "
                "sonst „(ohne)“.",
            ),
            en=(
                "By campaign",
                "New leads by the calling campaign they are assigned to, else their UTM campaign, else “(none)”.",
            ),
        ),
        Figure(
            "qualified",
            de=(
                "Qualifiziert",
                "Neue Leads mit einem Score über der Schwelle des Score-Gates (die von einem Admin gesetzte, "
                "sonst 50), wie das Gate vor dem Anruf entscheidet; Leads ohne Score sind nicht qualifiziert.",
            ),
            en=(
                "Qualified",
                "New leads whose score is above the score gate's threshold (the one an admin set, else 50), as "
                "the gate decides before a call; leads without a score are not qualified.",
            ),
        ),
        Figure(
            "qualified_share",
            de=("Anteil qualifiziert", "Qualifizierte / neue Leads."),
            en=("Qualified share", "Qualified / new leads."),
        ),
        Figure(
            "score_distribution",
            de=("Score-Verteilung", "Neue Leads je Score-Bereich 0–9, 10–19, …, 90–100 und ohne Score."),
            en=("Score distribution", "New leads per score range 0–9, 10–19, …, 90–100, and unscored."),
        ),
        Figure(
            "priorities",
            de=("Prioritäten", "Neue Leads nach Priorität: heiß, warm, kalt, ohne Score."),
            en=("Priorities", "New leads by priority: hot, warm, cold, unscored."),
        ),
        Figure(
            "chain_stages",
            de=(
                "Ketten nach Stufe",
                "Die neuen Leads des Zeitraums nach der Stufe, in der ihre Kette bei der Erstellung des Berichts"
                " steht („Ohne Kette“, wenn keine läuft).",
            ),
            en=(
                "Chains by stage",
                "The period's new leads by the stage their chain is in when the report is built (“No chain” when"
                " none runs).",
            ),
        ),
    ],
)

CALLS = Section(
    "calls",
    de="Anrufe",
    en="Calls",
    figures=[
        Figure(
            "calls_placed",
            de=(
                "Anrufe getätigt",
                "Ausgehende Anrufe im Zeitraum, die der Anbieter angenommen hat (jeder gespeicherte Anruf).",
            ),
            en=("Calls placed", "Outbound calls in the period that the provider accepted (every stored call)."),
        ),
        Figure(
            "answered",
            de=(
                "Erreicht",
                "Anrufe, bei denen jemand mit dem Agenten gesprochen hat: als angenommen gemeldet oder mit einem"
                " Gesprächsergebnis (Termin gebucht, interessiert, Rückruf gewünscht, kein Interesse, nicht mehr"
                " anrufen, falsche Nummer).",
            ),
            en=(
                "Answered",
                "Calls where someone talked to the agent: reported as answered or with a conversation outcome "
                "(booked, interested, callback requested, not interested, do not call, wrong number).",
            ),
        ),
        Figure(
            "answer_rate",
            de=("Erreichungsquote", "Erreichte / getätigte Anrufe."),
            en=("Answer rate", "Answered / placed calls."),
        ),
        Figure(
            "voicemail_rate",
            de=("Mailbox-Quote", "Anrufe, die auf der Mailbox endeten / getätigte Anrufe."),
            en=("Voicemail rate", "Calls that ended on voicemail / placed calls."),
        ),
        Figure(
            "no_answer_rate",
            de=(
                "Nicht-erreicht-Quote",
                "Anrufe, die niemand annahm / getätigte Anrufe. Besetzte und fehlgeschlagene Anrufe werden "
                "getrennt gezählt.",
            ),
            en=(
                "No-answer rate",
                "Calls nobody picked up / placed calls. Busy and failed calls are counted apart.",
            ),
        ),
        Figure(
            "talk_time_avg",
            de=("Ø Gesprächsdauer", "Mittlere Dauer der erreichten Anrufe mit bekannter Dauer."),
            en=("Avg talk time", "Mean duration of the answered calls with a known duration."),
        ),
        Figure(
            "talk_time_median",
            de=("Median Gesprächsdauer", "Median der Dauer derselben Anrufe (exakt)."),
            en=("Median talk time", "Median duration of the same calls (exact)."),
        ),
        Figure(
            "sentiment",
            de=(
                "Stimmung",
                "Erreichte Anrufe nach der Stimmung des Angerufenen: positiv, neutral, negativ, sonst unbekannt.",
            ),
            en=(
                "Sentiment",
                "Answered calls by the callee's sentiment: positive, neutral, negative, else unknown.",
            ),
        ),
        Figure(
            "outcomes",
            de=(
                "Ergebnisse",
                "Getätigte Anrufe nach Ergebnis: das Gesprächsergebnis, sonst wie der Anruf endete (Mailbox, "
                "nicht erreicht, besetzt, fehlgeschlagen, beendet), sonst „Offen“.",
            ),
            en=(
                "Outcomes",
                "Placed calls by outcome: the conversation's outcome, else how the call ended (voicemail, no "
                "answer, busy, failed, completed), else “Pending”.",
            ),
        ),
        Figure(
            "critical",
            de=(
                "Kritische Anrufe",
                "Anrufe des Zeitraums mit negativer Stimmung oder dem Wunsch, nicht mehr angerufen zu werden: "
                "die Anzahl und die 50 neuesten.",
            ),
            en=(
                "Critical calls",
                "Calls of the period with negative sentiment or a request not to be called again: the count and "
                "the 50 latest.",
            ),
        ),
        Figure(
            "by_hour",
            de=(
                "Nach Tageszeit und Wochentag",
                "Anrufe und erreichte Anrufe des Zeitraums nach Berliner Stunde und Wochentag (der Wochentag "
                "fehlt im Tagesbericht).",
            ),
            en=(
                "By hour and weekday",
                "Calls and answered calls of the period by Berlin hour and weekday (the weekday chart is left "
                "out of daily reports).",
            ),
        ),
        Figure(
            "trend",
            de=(
                "30-Tage-Verlauf",
                "Neue Leads, Anrufe, erreichte Anrufe, Buchungen und E-Mails der 30 Berliner Tage bis zum "
                "letzten Tag des Zeitraums.",
            ),
            en=(
                "30-day trend",
                "New leads, calls, answered calls, bookings and emails of the 30 Berlin days up to the period's "
                "last day.",
            ),
        ),
    ],
)
