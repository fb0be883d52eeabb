"""Words and number formats of the reports in German and English (babel, locales de_DE and en_GB).

Every missing value (a ratio with nothing to divide by, a cost nobody billed) is shown as "–".
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal
from zoneinfo import ZoneInfo

from babel import Locale
from babel.dates import format_date, format_datetime, format_interval, get_day_names
from babel.numbers import format_currency, format_decimal, format_percent

from crm.reports.periods import Period
from crm.services import money
from workflows.vocabulary import CallOutcome, CallStatus

LANGUAGES = ("de", "en")
LOCALES = {"de": "de_DE", "en": "en_GB"}
DASH = "–"

TEXT: dict[str, dict[str, str]] = {
    "de": {
        "report_daily": "Tagesbericht",
        "report_weekly": "Wochenbericht",
        "report_monthly": "Monatsbericht",
        "report_custom": "Bericht",
        "week": "KW",
        "to_date": "Laufender Zeitraum bis jetzt (Stand {moment})",
        "to_date_note": "Der Zeitraum läuft noch: Die Zahlen reichen bis zum Stand, die Vorperiode ist vollständig.",
        "compared_with": "Vergleich mit",
        "generated": "Erstellt am",
        "page": "Seite",
        "of": "von",
        "previous": "Vorperiode",
        "change": "Veränderung",
        "current": "Zeitraum",
        "no_data_title": "Keine Daten in diesem Zeitraum",
        "no_data": "Zwischen {start} und {end} (Europe/Berlin) sind keine Leads eingegangen und es wurden keine "
        "Anrufe und keine E-Mails verschickt. Alle Kennzahlen sind daher leer.",
        "h_leads_in": "Neue Leads",
        "h_qualified_share": "Qualifiziert",
        "h_calls_placed": "Anrufe",
        "h_answer_rate": "Erreichungsquote",
        "h_talk_time_avg": "Ø Gesprächsdauer",
        "h_booked": "Termine gebucht",
        "h_booking_conversion": "Buchungsquote",
        "h_follow_ups": "Nachfasspotenzial",
        "h_cost_per_call": "Kosten je Anruf",
        "h_cost_per_booked": "Kosten je Termin",
        "h_emails_sent": "E-Mails gesendet",
        "h_open_rate": "Öffnungsrate",
        "points": "Pp.",
        "new": "neu",
        "leads": "Leads",
        "leads_in": "Neue Leads",
        "qualified": "Qualifiziert (Score > {threshold})",
        "qualified_share": "Anteil qualifiziert",
        "by_source": "Nach Quelle",
        "by_campaign": "Nach Kampagne",
        "source": "Quelle",
        "campaign": "Kampagne",
        "none": "(ohne)",
        "unassigned": "(nicht zugewiesen)",
        "score_distribution": "Score-Verteilung",
        "score": "Score",
        "priority": "Priorität",
        "priorities": "Prioritäten",
        "chains": "Ketten nach Stufe (Leads des Zeitraums)",
        "stage": "Stufe",
        "count": "Anzahl",
        "calls": "Anrufe",
        "calls_placed": "Anrufe getätigt",
        "answered": "Erreicht",
        "answer_rate": "Erreichungsquote",
        "voicemail": "Mailbox",
        "voicemail_rate": "Mailbox-Quote",
        "no_answer": "Nicht erreicht",
        "no_answer_rate": "Nicht-erreicht-Quote",
        "busy": "Besetzt",
        "failed": "Fehlgeschlagen",
        "talk_avg": "Ø Gesprächsdauer",
        "talk_median": "Median Gesprächsdauer",
        "sentiment": "Stimmung",
        "outcomes": "Ergebnisse",
        "outcome": "Ergebnis",
        "metric": "Kennzahl",
        "by_hour": "Anrufe nach Tageszeit",
        "by_weekday": "Anrufe nach Wochentag",
        "hour": "Stunde",
        "weekday": "Wochentag",
        "trend": "30-Tage-Verlauf",
        "day": "Tag",
        "conversion": "Termine und Nachfassen",
        "wanted": "Terminwunsch",
        "booked": "Gebucht",
        "booking_conversion": "Buchungsquote",
        "appointments": "Termine angelegt",
        "follow_ups": "Nachfasspotenzial (Terminwunsch, nicht gebucht)",
        "follow_ups_short": "Nachfassen",
        "follow_ups_none": "Keine offenen Terminwünsche.",
        "lead": "Lead",
        "company": "Firma",
        "last_call": "Letzter Anruf",
        "more": "… und {n} weitere",
        "critical": "Kritische Anrufe (negative Stimmung oder Anrufverbot)",
        "critical_none": "Keine kritischen Anrufe.",
        "critical_more": "Die {shown} neuesten von {total} kritischen Anrufen.",
        "time": "Zeit",
        "rep": "Betreuer",
        "provider": "Anbieter",
        "duration": "Dauer",
        "summary": "Zusammenfassung",
        "costs": "Kosten",
        "currency": "Währung",
        "total_cost": "Kosten gesamt",
        "priced_calls": "Bepreiste Anrufe",
        "per_call": "Je Anruf",
        "per_booked": "Je gebuchtem Termin",
        "cost": "Kosten",
        "other_currency": "Kennzahlen in {currency}; Anrufe in anderen Währungen sind nur in dieser Tabelle enthalten.",
        "fx_used": "Kosten in {currency} umgerechnet: {rates}.",
        "fx_pair": "1 {source} = {rate} {target}",
        "fx_missing": "Kein Wechselkurs {source}→{target}: diese Anrufe sind nicht in den Summen enthalten "
        "(Kurse in LEADCHAIN_FX_RATES oder von einem Admin auf der Seite Berichte).",
        "fx_none": "Kein Wechselkurs {source}→{target}: die Kosten stehen in {source}, wie abgerechnet "
        "(Kurse in LEADCHAIN_FX_RATES oder von einem Admin auf der Seite Berichte).",
        "billed": "Abgerechnet",
        "fx_rate": "Kurs",
        "in_currency": "In {currency}",
        "not_included": "nicht enthalten",
        "emails": "E-Mails",
        "sent": "Gesendet",
        "delivered": "Zugestellt",
        "opened": "Geöffnet",
        "clicked": "Geklickt",
        "bounced": "Bounces",
        "dropped": "Verworfen",
        "unsubscribed": "Abgemeldet",
        "rate": "Quote",
        "per_rep": "Nach Betreuer",
        "per_provider": "Nach Anbieter",
        "per_campaign": "Nach Kampagne",
        "definitions": "Definitionen aller Kennzahlen: Anhang, Seite",
        "times_berlin": "Zeiten in Europe/Berlin.",
        "definitions_title": "Anhang: Definitionen der Kennzahlen",
        "definition": "Definition",
        "mail_subject": "{title} {company}: {period}",
        "mail_intro": "im Anhang finden Sie den {title} für {period}.",
        "mail_greeting": "Hallo {name},",
        "chart_calls": "Anrufe",
        "chart_answered": "Erreicht",
        "chart_leads": "Neue Leads",
        "chart_booked": "Gebucht",
        "chart_emails": "E-Mails",
    },
    "en": {
        "report_daily": "Daily report",
        "report_weekly": "Weekly report",
        "report_monthly": "Monthly report",
        "report_custom": "Report",
        "week": "Week",
        "to_date": "Period to date (as of {moment})",
        "to_date_note": "The period is still running: figures go up to that moment; the previous period is complete.",
        "compared_with": "Compared with",
        "generated": "Generated",
        "page": "Page",
        "of": "of",
        "previous": "Previous",
        "change": "Change",
        "current": "Period",
        "no_data_title": "No data in this period",
        "no_data": "Between {start} and {end} (Europe/Berlin) no leads came in and no calls or emails were sent, "
        "so every figure is empty.",
        "h_leads_in": "New leads",
        "h_qualified_share": "Qualified",
        "h_calls_placed": "Calls",
        "h_answer_rate": "Answer rate",
        "h_talk_time_avg": "Avg talk time",
        "h_booked": "Appointments booked",
        "h_booking_conversion": "Booking conversion",
        "h_follow_ups": "Follow-up potential",
        "h_cost_per_call": "Cost per call",
        "h_cost_per_booked": "Cost per booking",
        "h_emails_sent": "Emails sent",
        "h_open_rate": "Open rate",
        "points": "pp",
        "new": "new",
        "leads": "Leads",
        "leads_in": "New leads",
        "qualified": "Qualified (score > {threshold})",
        "qualified_share": "Qualified share",
        "by_source": "By source",
        "by_campaign": "By campaign",
        "source": "Source",
        "campaign": "Campaign",
        "none": "(none)",
        "unassigned": "(unassigned)",
        "score_distribution": "Score distribution",
        "score": "Score",
        "priority": "Priority",
        "priorities": "Priorities",
        "chains": "Chains by stage (leads of the period)",
        "stage": "Stage",
        "count": "Count",
        "calls": "Calls",
        "calls_placed": "Calls placed",
        "answered": "Answered",
        "answer_rate": "Answer rate",
        "voicemail": "Voicemail",
        "voicemail_rate": "Voicemail rate",
        "no_answer": "No answer",
        "no_answer_rate": "No-answer rate",
        "busy": "Busy",
        "failed": "Failed",
        "talk_avg": "Avg talk time",
        "talk_median": "Median talk time",
        "sentiment": "Sentiment",
        "outcomes": "Outcomes",
        "outcome": "Outcome",
        "metric": "Figure",
        "by_hour": "Calls by hour of day",
        "by_weekday": "Calls by day of week",
        "hour": "Hour",
        "weekday": "Weekday",
        "trend": "30-day trend",
        "day": "Day",
        "conversion": "Appointments and follow-up",
        "wanted": "Wanted an appointment",
        "booked": "Booked",
        "booking_conversion": "Booking conversion",
        "appointments": "Appointments created",
        "follow_ups": "Follow-up potential (wanted, not booked)",
        "follow_ups_short": "Follow-ups",
        "follow_ups_none": "No open appointment requests.",
        "lead": "Lead",
        "company": "Company",
        "last_call": "Last call",
        "more": "… and {n} more",
        "critical": "Critical calls (negative sentiment or do-not-call request)",
        "critical_none": "No critical calls.",
        "critical_more": "The {shown} latest of {total} critical calls.",
        "time": "Time",
        "rep": "Rep",
        "provider": "Provider",
        "duration": "Duration",
        "summary": "Summary",
        "costs": "Costs",
        "currency": "Currency",
        "total_cost": "Total cost",
        "priced_calls": "Priced calls",
        "per_call": "Per call",
        "per_booked": "Per booked appointment",
        "cost": "Cost",
        "other_currency": "Figures in {currency}; calls billed in other currencies appear in this table only.",
        "fx_used": "Costs converted into {currency}: {rates}.",
        "fx_pair": "1 {source} = {rate} {target}",
        "fx_missing": "No exchange rate {source}→{target}: these calls are not in the totals "
        "(rates in LEADCHAIN_FX_RATES or set by an admin on the reports page).",
        "fx_none": "No exchange rate {source}→{target}: costs are shown in {source}, as billed "
        "(rates in LEADCHAIN_FX_RATES or set by an admin on the reports page).",
        "billed": "Billed",
        "fx_rate": "Rate",
        "in_currency": "In {currency}",
        "not_included": "not included",
        "emails": "Emails",
        "sent": "Sent",
        "delivered": "Delivered",
        "opened": "Opened",
        "clicked": "Clicked",
        "bounced": "Bounced",
        "dropped": "Dropped",
        "unsubscribed": "Unsubscribed",
        "rate": "Rate",
        "per_rep": "Per rep",
        "per_provider": "Per provider",
        "per_campaign": "Per campaign",
        "definitions": "Definitions of every figure: appendix, page",
        "times_berlin": "Times in Europe/Berlin.",
        "definitions_title": "Appendix: definitions of the figures",
        "definition": "Definition",
        "mail_subject": "{title} {company}: {period}",
        "mail_intro": "attached is the {title} for {period}.",
        "mail_greeting": "Hello {name},",
        "chart_calls": "Calls",
        "chart_answered": "Answered",
        "chart_leads": "New leads",
        "chart_booked": "Booked",
        "chart_emails": "Emails",
    },
}

# The ids the reports show as words: call outcomes (the classification, else the provider's end status),
# call statuses, sentiments, priorities, the lead chain's stages and its stop reasons. Every id here has a
# German and an English label (tests/reports/test_labels.py checks them against the code that sets them),
# so no raw id or English word reaches a German report.
CALL_OUTCOMES = tuple(str(o) for o in CallOutcome)
# How a call ended; "pending": no end status yet.
END_STATUSES = tuple(
    str(s)
    for s in (CallStatus.COMPLETED, CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.VOICEMAIL, CallStatus.FAILED)
) + ("pending",)
CALL_STATUSES = tuple(str(s) for s in (CallStatus.QUEUED, CallStatus.RINGING, CallStatus.IN_PROGRESS, CallStatus.ENDED))
SENTIMENT_IDS = ("positive", "neutral", "negative", "unknown")
PRIORITY_IDS = ("hot", "warm", "cold", "unscored")
CHAIN_STAGES = (
    "importing",
    "continuing",
    "qualifying",
    "calling",
    "waiting_for_window",
    "waiting_for_retry",
    "waiting_for_result",
    "following_up",
    "nurturing",
    "paused",
    "booked",
    "handed_over",
    "do_not_contact",
    "nurture_exhausted",
    "joined",
    "cancelled",
    "unsubscribed",
    "replied",
    "completed_chain",
    "none",
)

LABELS: dict[str, dict[str, str]] = {
    "de": {
        "booked": "Termin gebucht",
        "interested": "Interessiert",
        "callback_requested": "Rückruf gewünscht",
        "not_interested": "Kein Interesse",
        "do_not_call": "Nicht mehr anrufen",
        "wrong_number": "Falsche Nummer",
        "voicemail": "Mailbox",
        "no_answer": "Nicht erreicht",
        "busy": "Besetzt",
        "failed": "Fehlgeschlagen",
        "completed": "Beendet",
        "pending": "Offen",
        "queued": "In Warteschlange",
        "ringing": "Klingelt",
        "in_progress": "Im Gespräch",
        "ended": "Aufgelegt",
        "positive": "Positiv",
        "neutral": "Neutral",
        "negative": "Negativ",
        "unknown": "Unbekannt",
        "hot": "Heiß",
        "warm": "Warm",
        "cold": "Kalt",
        "unscored": "Ohne Score",
        "importing": "Import",
        "continuing": "Fortsetzung",
        "qualifying": "Qualifizierung",
        "calling": "Anruf",
        "waiting_for_result": "Warten auf Ergebnis",
        "waiting_for_retry": "Warten auf erneuten Anruf",
        "following_up": "Nachfassen",
        "nurturing": "Lead-Pflege",
        "paused": "Pausiert",
        "handed_over": "Übergeben",
        "do_not_contact": "Kontaktsperre",
        "cancelled": "Abgebrochen",
        "completed_chain": "Abgeschlossen",
        "nurture_exhausted": "Lead-Pflege beendet",
        "none": "Ohne Kette",
        "joined": "Zusammengeführt",
        "waiting_for_window": "Warten auf Anrufzeit",
        "unsubscribed": "Abgemeldet",
        "replied": "Hat geantwortet",
    },
    "en": {
        "booked": "Booked",
        "interested": "Interested",
        "callback_requested": "Callback requested",
        "not_interested": "Not interested",
        "do_not_call": "Do not call",
        "wrong_number": "Wrong number",
        "voicemail": "Voicemail",
        "no_answer": "No answer",
        "busy": "Busy",
        "failed": "Failed",
        "completed": "Completed",
        "pending": "Pending",
        "queued": "Queued",
        "ringing": "Ringing",
        "in_progress": "In progress",
        "ended": "Ended",
        "positive": "Positive",
        "neutral": "Neutral",
        "negative": "Negative",
        "unknown": "Unknown",
        "hot": "Hot",
        "warm": "Warm",
        "cold": "Cold",
        "unscored": "Unscored",
        "importing": "Importing",
        "continuing": "Continuing",
        "qualifying": "Qualifying",
        "calling": "Calling",
        "waiting_for_result": "Waiting for result",
        "waiting_for_retry": "Waiting for retry",
        "following_up": "Following up",
        "nurturing": "Nurturing",
        "paused": "Paused",
        "handed_over": "Handed over",
        "do_not_contact": "Do not contact",
        "cancelled": "Cancelled",
        "completed_chain": "Completed",
        "nurture_exhausted": "Nurture exhausted",
        "none": "No chain",
        "joined": "Joined",
        "waiting_for_window": "Waiting for calling hours",
        "unsubscribed": "Unsubscribed",
        "replied": "Replied",
    },
}


class Formatter:
    """Numbers, money, durations, dates and words for one language."""

    def __init__(self, language: str, tz: str = "Europe/Berlin") -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}; choose one of {', '.join(LANGUAGES)}")
        self.language = language
        self.locale = LOCALES[language]
        self.zone = ZoneInfo(tz)
        pattern = Locale.parse(self.locale).percent_formats[None].pattern
        self._pct1 = pattern.replace("#,##0", "#,##0.0")
        self._pct0 = pattern

    def t(self, key: str, **values) -> str:
        text = TEXT[self.language][key]
        return text.format(**values) if values else text

    def label(self, key: str | None) -> str:
        if key is None or key == "":
            return self.t("none")
        return LABELS[self.language].get(key, key.replace("_", " "))

    def name(self, value: str | None) -> str:
        """A free-text value (a source, a campaign name) as it is; "(none)" when there is none."""
        return self.t("none") if value is None or value == "" else value

    def count(self, value: float | int | None) -> str:
        return DASH if value is None else format_decimal(round(value), locale=self.locale)

    def decimal(self, value: float | None, digits: int = 1) -> str:
        if value is None:
            return DASH
        return format_decimal(value, format="#,##0." + "0" * digits, locale=self.locale)

    def pct(self, value: float | None) -> str:
        return DASH if value is None else format_percent(value, self._pct1, locale=self.locale)

    def money(self, cents: float | int | None, currency: str | None) -> str:
        if cents is None or not currency:
            return DASH
        return format_currency(cents / 100, currency, locale=self.locale)

    def cost(self, costs, which: str) -> str:
        """A CostFigures amount ("total", "per_call", "per_booked") in the report currency, with the amount
        as billed and the rate when all of it was billed in one other currency: "0,46 € (0,50 $ zu 0,92)"."""
        cents = getattr(costs, f"{which}_cents")
        if cents is None or not costs.currency:
            return DASH
        source = getattr(costs, f"source_{which}_cents", None)
        if costs.source_currency and costs.rate and source is not None:
            return money.format_amount(
                money.Amount(
                    Decimal(str(source)),
                    costs.source_currency,
                    costs.currency,
                    Decimal(str(cents)),
                    Decimal(costs.rate),
                ),
                self.language,
            )
        return self.money(cents, costs.currency)

    def fx_notes(self, costs) -> list[str]:
        """The rates a report's costs were converted with, and the billed currencies without a rate."""
        notes = []
        if costs.rates:
            pairs = ", ".join(
                self.t("fx_pair", source=r.source, rate=self.rate(r.rate), target=r.target) for r in costs.rates
            )
            notes.append(self.t("fx_used", currency=costs.currency, rates=pairs))
        for code in costs.missing_rates:
            notes.append(
                self.t(
                    "fx_none" if code == costs.currency else "fx_missing", source=code, target=costs.company_currency
                )
            )
        return notes

    def rate(self, value: str | float | None) -> str:
        return DASH if value is None else money.format_rate(value, self.language)

    def duration(self, seconds: float | None) -> str:
        if seconds is None:
            return DASH
        total = int(round(seconds))
        return f"{total // 60}:{total % 60:02d} min"

    def day(self, day: date, style: str = "medium") -> str:
        return format_date(day, style, locale=self.locale)

    def moment(self, at: datetime | None) -> str:
        return DASH if at is None else format_datetime(at, "short", tzinfo=self.zone, locale=self.locale)

    def weekday(self, index: int, width: Literal["abbreviated", "narrow", "short", "wide"] = "abbreviated") -> str:
        return get_day_names(width, locale=self.locale)[index]

    def signed_pct(self, value: float | None) -> str:
        if value is None:
            return DASH
        text = format_percent(value, self._pct0, locale=self.locale)
        return ("+" if value > 0 else "±" if value == 0 else "") + text

    def points(self, delta: float | None) -> str:
        if delta is None:
            return DASH
        text = format_decimal(delta * 100, format="#,##0.0", locale=self.locale)
        return ("+" if delta > 0 else "±" if delta == 0 else "") + f"{text} {self.t('points')}"

    def period_title(self, period: Period) -> str:
        return self.t(f"report_{period.kind}" if period.kind in ("daily", "weekly", "monthly") else "report_custom")

    def period_label(self, period: Period) -> str:
        if period.kind == "daily":
            return format_date(period.first_day, "full", locale=self.locale)
        if period.kind == "monthly":
            return format_date(period.first_day, "LLLL yyyy", locale=self.locale)
        span = format_interval(period.first_day, period.last_day, "yMMMMd", locale=self.locale)
        if period.kind == "weekly":
            return f"{self.t('week')} {period.first_day.isocalendar().week} · {span}"
        return span
