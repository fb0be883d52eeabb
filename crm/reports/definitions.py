"""The definition of every figure in the manager report, in German and English: the one source for the
PDF's appendix ("Definitionen der Kennzahlen" / "Definitions of the figures") and for the tables of
docs/kpis.md, which are generated from it:

    python -m crm.reports.definitions --write      # rewrite the generated part of docs/kpis.md
    python -m crm.reports.definitions --check      # exit 1 when docs/kpis.md differs (CI: the test does it)

tests/reports/test_definitions.py fails when docs/kpis.md and this module differ, when a headline figure
has no definition, or when a language lacks one. The wording is for managers: what is counted, not how
the code counts it (docs/kpis.md says how, outside the generated part). Keys are crm/reports/kpis.py's.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path

DOCS = Path(__file__).resolve().parents[2] / "docs" / "kpis.md"
BEGIN = "<!-- kpi-definitions:begin (generated from crm/reports/definitions.py; do not edit here) -->"
END = "<!-- kpi-definitions:end -->"
TITLES = {"de": "Definitionen der Kennzahlen", "en": "Definitions of the figures"}
HEADERS = {"de": ("Kennzahl", "Definition"), "en": ("Figure", "Definition")}


@dataclass(frozen=True)
class Figure:
    key: str
    de: tuple[str, str]  # (name, definition)
    en: tuple[str, str]

    def name(self, language: str) -> str:
        return getattr(self, language)[0]

    def text(self, language: str) -> str:
        return getattr(self, language)[1]


@dataclass(frozen=True)
class Section:
    key: str
    de: str
    en: str
    figures: list[Figure]

    def title(self, language: str) -> str:
        return getattr(self, language)


SECTIONS: list[Section] = [
    Section(
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
    ),
    Section(
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
    ),
    Section(
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
    ),
    Section(
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
    ),
    Section(
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
    ),
    Section(
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
    ),
    Section(
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
    ),
]


def keys() -> set[str]:
    return {f.key for s in SECTIONS for f in s.figures}


def for_language(language: str) -> list[tuple[str, list[tuple[str, str]]]]:
    """[(section title, [(figure name, definition), ...]), ...] in `language` (de or en)."""
    if language not in TITLES:
        raise ValueError(f"unsupported language {language!r}")
    return [(s.title(language), [(f.name(language), f.text(language)) for f in s.figures]) for s in SECTIONS]


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def markdown() -> str:
    """The generated part of docs/kpis.md: the English tables, then the German ones."""
    lines = [BEGIN]
    headings = (("en", "## Definitions of the figures"), ("de", "## Definitionen der Kennzahlen (Deutsch)"))
    for language, heading in headings:
        lines += ["", heading]
        for title, figures in for_language(language):
            lines += ["", f"### {title}", "", f"| {HEADERS[language][0]} | {HEADERS[language][1]} |", "|---|---|"]
            lines += [f"| {_cell(name)} | {_cell(text)} |" for name, text in figures]
    lines += ["", END]
    return "\n".join(lines)


def docs_with_definitions(current: str) -> str:
    """docs/kpis.md's text with its generated part replaced (appended when it has none)."""
    if BEGIN in current and END in current:
        head, rest = current.split(BEGIN, 1)
        return head + markdown() + rest.split(END, 1)[1]
    return current.rstrip("\n") + "\n\n" + markdown() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the generated part of docs/kpis.md")
    parser.add_argument("--check", action="store_true", help="exit 1 when docs/kpis.md is not up to date")
    args = parser.parse_args(argv)
    current = DOCS.read_text(encoding="utf-8")
    wanted = docs_with_definitions(current)
    if args.write and wanted != current:
        DOCS.write_text(wanted, encoding="utf-8")
        print(f"{DOCS}: definitions updated")
    elif args.check and wanted != current:
        print(f"{DOCS} differs from crm/reports/definitions.py: run python -m crm.reports.definitions --write")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
