"""Words and number formats of the reports in German and English (babel, locales de_DE and en_GB).

The words are gettext msgids of the ``reports`` domain (crm.catalogs; crm/locales/<lang>/LC_MESSAGES/
reports.po), looked up by key: TEXTS (sentences and headings) and LABELS (stored ids in words).

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

from crm import catalogs
from crm.catalogs import N_, NP_
from crm.languages import LANGUAGES as LANGUAGES  # re-exported: the report code reads it from here
from crm.languages import locale_for
from crm.reports.periods import Period
from crm.services import money
from workflows.vocabulary import CallOutcome, CallStatus

DOMAIN = "reports"
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

# The reports' sentences and headings by the key the PDF, the CSV and the templates use (``f.t(key)``); the
# msgid is the English text, its words are the reports catalogue's (crm/locales/<lang>/LC_MESSAGES/reports.po).
TEXTS: dict[str, str | tuple[str, str]] = {
    "report_daily": N_("Daily report"),
    "report_weekly": N_("Weekly report"),
    "report_monthly": N_("Monthly report"),
    "report_custom": N_("Report"),
    "week": N_("Week"),
    "to_date": N_("Period to date (as of %(moment)s)"),
    "to_date_note": N_("The period is still running: figures go up to that moment; the previous period is complete."),
    "compared_with": N_("Compared with"),
    "generated": N_("Generated"),
    "page": N_("Page"),
    "of": N_("of"),
    "previous": N_("Previous"),
    "change": N_("Change"),
    "current": N_("Period"),
    "no_data_title": N_("No data in this period"),
    "no_data": N_(
        "Between %(start)s and %(end)s (Europe/Berlin) no leads came in and no calls or emails were sent, so "
        "every figure is empty."
    ),
    "h_leads_in": N_("New leads"),
    "h_qualified_share": N_("Qualified"),
    "h_calls_placed": N_("Calls"),
    "h_answer_rate": N_("Answer rate"),
    "h_talk_time_avg": N_("Avg talk time"),
    "h_booked": N_("Appointments booked"),
    "h_booking_conversion": N_("Booking conversion"),
    "h_follow_ups": N_("Follow-up potential"),
    "h_cost_per_call": N_("Cost per call"),
    "h_cost_per_booked": N_("Cost per booking"),
    "h_emails_sent": N_("Emails sent"),
    "h_open_rate": N_("Open rate"),
    "points": N_("pp"),
    "new": N_("new"),
    "leads": N_("Leads"),
    "leads_in": N_("New leads"),
    "qualified": N_("Qualified (score > %(threshold)s)"),
    "qualified_share": N_("Qualified share"),
    "by_source": N_("By source"),
    "by_campaign": N_("By campaign"),
    "source": N_("Source"),
    "campaign": N_("Campaign"),
    "none": N_("(none)"),
    "unassigned": N_("(unassigned)"),
    "score_distribution": N_("Score distribution"),
    "score": N_("Score"),
    "priority": N_("Priority"),
    "priorities": N_("Priorities"),
    "chains": N_("Chains by stage (leads of the period)"),
    "stage": N_("Stage"),
    "count": N_("Count"),
    "calls": N_("Calls"),
    "calls_placed": N_("Calls placed"),
    # Inbound calls (issue 17; crm.inbound.kpis)
    "inbound": N_("Inbound calls"),
    "inbound_answered": N_("Inbound calls answered"),
    "inbound_booked": N_("Appointments booked by inbound callers"),
    "inbound_rescheduled": N_("Appointments moved by inbound callers"),
    "inbound_cancelled": N_("Appointments cancelled by inbound callers"),
    "inbound_transferred": N_("Inbound calls put through to a person"),
    "inbound_abandoned": N_("Inbound calls abandoned"),
    "inbound_without_person": N_("Inbound calls handled without a person"),
    "callbacks_owed": N_("Callbacks owed to inbound callers"),
    # The deal pipeline (issue 23; crm.reports.pipeline)
    "pipeline": N_("Deal pipeline"),
    "pipeline_as_of": N_("Open deals on %(day)s; win rate and sales cycle over the 90 days up to that day."),
    "pipeline_value": N_("Pipeline value (open deals)"),
    "pipeline_weighted": N_("Weighted pipeline value"),
    "win_rate": N_("Win rate"),
    "won_lost": N_("%(won)s won, %(lost)s lost"),
    "sales_cycle": N_("Average sales cycle"),
    "days_value": N_("%(days)s days"),
    "forecast": N_("Forecast for the month"),
    "stale_deals": N_("Stale deals (over %(days)s days in one stage)"),
    "probability": N_("Probability"),
    "deal_value": N_("Value"),
    "weighted": N_("Weighted"),
    "answered": N_("Answered"),
    "answer_rate": N_("Answer rate"),
    "voicemail": N_("Voicemail"),
    "voicemail_rate": N_("Voicemail rate"),
    "no_answer": N_("No answer"),
    "no_answer_rate": N_("No-answer rate"),
    "busy": N_("Busy"),
    "failed": N_("Failed"),
    "talk_avg": N_("Avg talk time"),
    "talk_median": N_("Median talk time"),
    "sentiment": N_("Sentiment"),
    "outcomes": N_("Outcomes"),
    "outcome": N_("Outcome"),
    "metric": N_("Figure"),
    "by_hour": N_("Calls by hour of day"),
    "by_weekday": N_("Calls by day of week"),
    "hour": N_("Hour"),
    "weekday": N_("Weekday"),
    "trend": N_("30-day trend"),
    "day": N_("Day"),
    "conversion": N_("Appointments and follow-up"),
    "wanted": N_("Wanted an appointment"),
    "booked": N_("Booked"),
    "booking_conversion": N_("Booking conversion"),
    "appointments": N_("Appointments created"),
    "follow_ups": N_("Follow-up potential (wanted, not booked)"),
    "follow_ups_short": N_("Follow-ups"),
    "follow_ups_none": N_("No open appointment requests."),
    "lead": N_("Lead"),
    "company": N_("Company"),
    "last_call": N_("Last call"),
    "more": N_("… and %(n)s more"),
    "critical": N_("Critical calls (negative sentiment or do-not-call request)"),
    "critical_none": N_("No critical calls."),
    "critical_more": N_("The %(shown)s latest of %(total)s critical calls."),
    "time": N_("Time"),
    "rep": N_("Rep"),
    "provider": N_("Provider"),
    "duration": N_("Duration"),
    "summary": N_("Summary"),
    "costs": N_("Costs"),
    "currency": N_("Currency"),
    "total_cost": N_("Total cost"),
    "priced_calls": N_("Priced calls"),
    "per_call": N_("Per call"),
    "per_booked": N_("Per booked appointment"),
    "cost": N_("Cost"),
    "other_currency": N_("Figures in %(currency)s; calls billed in other currencies appear in this table only."),
    "fx_used": N_("Costs converted into %(currency)s: %(rates)s."),
    "fx_pair": N_("1 %(source)s = %(rate)s %(target)s"),
    "fx_missing": N_(
        "No exchange rate %(source)s→%(target)s: these calls are not in the totals (rates in LEADCHAIN_FX_RATES "
        "or set by an admin on the reports page)."
    ),
    "fx_none": N_(
        "No exchange rate %(source)s→%(target)s: costs are shown in %(source)s, as billed (rates in "
        "LEADCHAIN_FX_RATES or set by an admin on the reports page)."
    ),
    "billed": N_("Billed"),
    "fx_rate": NP_("exchange", "Rate"),
    "in_currency": N_("In %(currency)s"),
    "not_included": N_("not included"),
    "emails": N_("Emails"),
    "sent": N_("Sent"),
    "delivered": N_("Delivered"),
    "opened": N_("Opened"),
    "clicked": N_("Clicked"),
    "bounced": N_("Bounced"),
    "dropped": N_("Dropped"),
    "unsubscribed": N_("Unsubscribed"),
    "rate": N_("Rate"),
    "per_rep": N_("Per rep"),
    "per_provider": N_("Per provider"),
    "per_campaign": N_("Per campaign"),
    "definitions": N_("Definitions of every figure: appendix, page"),
    "times_berlin": N_("Times in Europe/Berlin."),
    "definitions_title": N_("Appendix: definitions of the figures"),
    "definition": N_("Definition"),
    "mail_subject": N_("%(title)s %(company)s: %(period)s"),
    "mail_intro": N_("attached is the %(title)s for %(period)s."),
    "mail_greeting": N_("Hello %(name)s,"),
    "chart_calls": N_("Calls"),
    "chart_answered": N_("Answered"),
    "chart_leads": N_("New leads"),
    "chart_booked": N_("Booked"),
    "chart_emails": N_("Emails"),
}

# The ids' words (context "code"; the chain's "completed" stage is not the call's "completed").
LABELS: dict[str, tuple[str, str]] = {
    "booked": NP_("code", "Booked"),
    "interested": NP_("code", "Interested"),
    "callback_requested": NP_("code", "Callback requested"),
    "not_interested": NP_("code", "Not interested"),
    "do_not_call": NP_("code", "Do not call"),
    "wrong_number": NP_("code", "Wrong number"),
    "voicemail": NP_("code", "Voicemail"),
    "no_answer": NP_("code", "No answer"),
    "busy": NP_("code", "Busy"),
    "failed": NP_("code", "Failed"),
    "completed": NP_("code", "Completed"),
    "pending": NP_("code", "Pending"),
    "queued": NP_("code", "Queued"),
    "ringing": NP_("code", "Ringing"),
    "in_progress": NP_("code", "In progress"),
    "ended": NP_("code", "Ended"),
    "positive": NP_("code", "Positive"),
    "neutral": NP_("code", "Neutral"),
    "negative": NP_("code", "Negative"),
    "unknown": NP_("code", "Unknown"),
    "hot": NP_("code", "Hot"),
    "warm": NP_("code", "Warm"),
    "cold": NP_("code", "Cold"),
    "unscored": NP_("code", "Unscored"),
    "importing": NP_("code", "Importing"),
    "continuing": NP_("code", "Continuing"),
    "qualifying": NP_("code", "Qualifying"),
    "calling": NP_("code", "Calling"),
    "waiting_for_result": NP_("code", "Waiting for result"),
    "waiting_for_retry": NP_("code", "Waiting for retry"),
    "following_up": NP_("code", "Following up"),
    "nurturing": NP_("code", "Nurturing"),
    "paused": NP_("code", "Paused"),
    "handed_over": NP_("code", "Handed over"),
    "do_not_contact": NP_("code", "Do not contact"),
    "cancelled": NP_("code", "Cancelled"),
    "completed_chain": NP_("chain stage", "Completed"),
    "nurture_exhausted": NP_("code", "Nurture exhausted"),
    "none": NP_("code", "No chain"),
    "joined": NP_("code", "Joined"),
    "waiting_for_window": NP_("code", "Waiting for calling hours"),
    "unsubscribed": NP_("code", "Unsubscribed"),
    "replied": NP_("code", "Replied"),
}


class Formatter:
    """Numbers, money, durations, dates and words for one language."""

    def __init__(self, language: str, tz: str = "Europe/Berlin") -> None:
        if language not in LANGUAGES:
            raise ValueError(f"unsupported language {language!r}; choose one of {', '.join(LANGUAGES)}")
        self.language = language
        self.locale = locale_for(language)  # babel's number, money and date formats (fr: fr_FR)
        self.zone = ZoneInfo(tz)
        pattern = Locale.parse(self.locale).percent_formats[None].pattern
        self._pct1 = pattern.replace("#,##0", "#,##0.0")
        self._pct0 = pattern

    def t(self, key: str, **values) -> str:
        """One of TEXTS in this language, with its %(name)s placeholders filled in."""
        msgid = TEXTS[key]
        if isinstance(msgid, tuple):
            return catalogs.pgettext(self.language, DOMAIN, *msgid, **values)
        return catalogs.gettext(self.language, DOMAIN, msgid, **values)

    def label(self, key: str | None) -> str:
        if key is None or key == "":
            return self.t("none")
        if key not in LABELS:
            return key.replace("_", " ")
        return catalogs.pgettext(self.language, DOMAIN, *LABELS[key])

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
