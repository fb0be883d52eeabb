"""The definitions of what the calls lead to: appointments and follow-ups, costs, emails and the
breakdowns (crm.reports.definitions lists the sections)."""

from __future__ import annotations

from crm.reports.definition_texts.model import Figure, Section

CONVERSION = Section(
    "conversion",
    de="Termine und Nachfassen",
    en="Appointments and follow-up",
    figures=[
        Figure(
            "wanted",
            de=("Terminwunsch", "Anrufe mit dem Ergebnis Termin gebucht, interessiert oder Rückruf gewünscht."),
            en=("Wanted an appointment", "Calls whose outcome is booked, interested or callback requested."),
        ),
        Figure(
            "booked",
            de=("Termine gebucht", "Anrufe mit dem Ergebnis Termin gebucht."),
            en=("Appointments booked", "Calls whose outcome is booked."),
        ),
        Figure(
            "booking_conversion",
            de=("Buchungsquote", "Gebuchte Anrufe / Anrufe mit Terminwunsch (Anrufe, nicht Leads)."),
            en=("Booking conversion", "Booked calls / calls that wanted an appointment (calls, not leads)."),
        ),
        Figure(
            "appointments",
            de=(
                "Termine angelegt",
                "Im Zeitraum angelegte, nicht abgesagte Termine im Kalender, wer sie auch gebucht hat.",
            ),
            en=(
                "Appointments created",
                "Appointments created in the period and not cancelled, whoever booked them.",
            ),
        ),
        Figure(
            "follow_ups",
            de=(
                "Nachfasspotenzial",
                "Leads mit einem Anruf im Zeitraum mit dem Ergebnis interessiert oder Rückruf gewünscht, die "
                "seit Beginn des Zeitraums weder einen gebuchten Anruf noch einen Termin haben; je Betreuer, "
                "neuester Anruf zuerst, 15 je Betreuer im PDF.",
            ),
            en=(
                "Follow-up potential",
                "Leads with a call in the period whose outcome is interested or callback requested and that have"
                " had neither a booked call nor an appointment since the period began; per rep, latest call "
                "first, 15 per rep in the PDF.",
            ),
        ),
    ],
)

COSTS = Section(
    "costs",
    de="Kosten",
    en="Costs",
    figures=[
        Figure(
            "billed_cost",
            de=(
                "Abgerechnete Kosten",
                "Was der Sprachanbieter je Anruf meldet, in seiner Währung (meist USD), unverändert gespeichert.",
            ),
            en=(
                "Billed cost",
                "What the voice provider reports per call, in its currency (usually USD), stored as reported.",
            ),
        ),
        Figure(
            "report_currency",
            de=(
                "Berichtswährung",
                "Die Währung des Unternehmens (LEADCHAIN_COMPANY_CURRENCY, Standard EUR). Beträge werden mit dem"
                " genannten Kurs umgerechnet (LEADCHAIN_FX_RATES oder von einem Admin gesetzt, nie aus dem "
                "Internet). Fehlt der Kurs der Hauptwährung, stehen die Kosten in dieser Währung, wie "
                "abgerechnet; Anrufe in einer Währung ohne Kurs sind in den Summen nicht enthalten und werden "
                "genannt.",
            ),
            en=(
                "Report currency",
                "The company's currency (LEADCHAIN_COMPANY_CURRENCY, default EUR). Amounts are converted at the "
                "rate named (LEADCHAIN_FX_RATES or set by an admin, never fetched from the internet). Without a "
                "rate for the main billing currency, costs stay in that currency as billed; calls in a currency "
                "without a rate are left out of the totals and named.",
            ),
        ),
        Figure(
            "total_cost",
            de=("Kosten gesamt", "Summe der Kosten der Anrufe des Zeitraums in der Berichtswährung."),
            en=("Total cost", "Sum of the costs of the period's calls in the report currency."),
        ),
        Figure(
            "cost_per_call",
            de=(
                "Kosten je Anruf",
                "Kosten gesamt / Anrufe mit gemeldeten Kosten (Anrufe ohne Kosten zählen nicht mit).",
            ),
            en=(
                "Cost per call",
                "Total cost / calls with a reported cost (calls without one are not in the average).",
            ),
        ),
        Figure(
            "cost_per_booked",
            de=("Kosten je Termin", "Kosten gesamt / gebuchte Anrufe."),
            en=("Cost per booking", "Total cost / booked calls."),
        ),
        Figure(
            "by_currency",
            de=(
                "Nach Währung",
                "Je abgerechneter Währung: Summe wie abgerechnet, bepreiste Anrufe, Kosten je Anruf, Kurs und "
                "Betrag in der Berichtswährung.",
            ),
            en=(
                "By currency",
                "Per billing currency: the total as billed, priced calls, cost per call, the rate and the amount"
                " in the report currency.",
            ),
        ),
    ],
)

EMAILS = Section(
    "emails",
    de="E-Mails",
    en="Emails",
    figures=[
        Figure(
            "emails_sent",
            de=("E-Mails gesendet", "Ausgehende E-Mails des Zeitraums (Antworten von Leads zählen nicht)."),
            en=("Emails sent", "Outbound emails of the period (replies from leads do not count)."),
        ),
        Figure(
            "delivered",
            de=(
                "Zugestellt",
                "E-Mails, die zugestellt, geöffnet oder geklickt wurden, nach dem Stand bei der Erstellung des "
                "Berichts; Zustellquote = zugestellt / gesendet.",
            ),
            en=(
                "Delivered",
                "Emails delivered, opened or clicked, as far as they got when the report was built; delivery "
                "rate = delivered / sent.",
            ),
        ),
        Figure(
            "open_rate",
            de=(
                "Öffnungsrate",
                "Geöffnete oder geklickte / zugestellte E-Mails (automatische Öffnungen durch Mailprogramme "
                "zählen nicht).",
            ),
            en=("Open rate", "Opened or clicked / delivered emails (machine opens do not count)."),
        ),
        Figure(
            "clicked",
            de=(
                "Geklickt",
                "E-Mails mit einem Klick (nicht auf den Abmeldelink); Klickquote = geklickt / zugestellt.",
            ),
            en=("Clicked", "Emails with a click (not on the unsubscribe link); click rate = clicked / delivered."),
        ),
        Figure(
            "bounced",
            de=(
                "Bounces",
                "Zurückgewiesene oder blockierte E-Mails; Quote = Bounces / gesendet. Verworfen: vom "
                "Versanddienst nicht gesendet.",
            ),
            en=(
                "Bounced",
                "Bounced or blocked emails; rate = bounced / sent. Dropped: not sent by the mail service.",
            ),
        ),
        Figure(
            "unsubscribed",
            de=(
                "Abgemeldet",
                "Leads, die sich im Zeitraum von E-Mails abgemeldet haben, auf jedem Weg; Quote = abgemeldet / "
                "zugestellt.",
            ),
            en=(
                "Unsubscribed",
                "Leads that unsubscribed from email in the period, by any route; rate = unsubscribed / delivered.",
            ),
        ),
    ],
)

BREAKDOWNS = Section(
    "breakdowns",
    de="Aufschlüsselungen",
    en="Breakdowns",
    figures=[
        Figure(
            "per_rep",
            de=(
                "Nach Betreuer",
                "Je Betreuer (Eigentümer des Leads, sonst „nicht zugewiesen“) mit Leads, Anrufen, Nachfassen "
                "oder Terminen im Zeitraum: dieselben Kennzahlen für seine Leads, Termine nach ihrem Eigentümer,"
                " Kosten in der Berichtswährung.",
            ),
            en=(
                "Per rep",
                "Per rep (the lead's owner, else “unassigned”) with leads, calls, follow-ups or appointments in "
                "the period: the same figures for their leads, appointments by their owner, costs in the report "
                "currency.",
            ),
        ),
        Figure(
            "per_provider",
            de=(
                "Nach Anbieter",
                "Je Sprachanbieter: Anrufe, Erreichungsquote, Mailbox, Buchungen, Buchungsquote, Ø "
                "Gesprächsdauer, Kosten und Kosten je Anruf.",
            ),
            en=(
                "Per provider",
                "Per voice provider: calls, answer rate, voicemail, bookings, booking conversion, average talk "
                "time, cost and cost per call.",
            ),
        ),
        Figure(
            "per_campaign",
            de=(
                "Nach Kampagne",
                "Je Kampagne wie unter „Nach Kampagne“: neue Leads, Anteil qualifiziert, Anrufe, "
                "Erreichungsquote, Buchungen, Buchungsquote, Kosten und Kosten je Termin.",
            ),
            en=(
                "Per campaign",
                "Per campaign as in “By campaign”: new leads, qualified share, calls, answer rate, bookings, "
                "booking conversion, cost and cost per booking.",
            ),
        ),
    ],
)
