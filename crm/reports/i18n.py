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
from crm.reports.report_texts import TEXT
from crm.services import money
from workflows.vocabulary import CallOutcome, CallStatus

LANGUAGES = ("de", "en")
LOCALES = {"de": "de_DE", "en": "en_GB"}
DASH = "–"

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
