"""The KPI report's tree: the chain's outcome sets as strings, the figures' dataclasses and their JSON
form (Report.figures stores it; the dashboard and the email read it back with KpiReport.from_dict)."""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import numpy as np

from crm.reports.periods import Period
from workflows.vocabulary import FOLLOW_UP_OUTCOMES as _FOLLOW_UP
from workflows.vocabulary import WANTED_OUTCOMES as _WANTED
from workflows.vocabulary import CallOutcome

# The chain's outcome sets (workflows/vocabulary.py), as plain strings: they go into SQL IN lists and
# pandas isin() next to the stored values. Somebody talked to the agent: every CallOutcome is a conversation's.
ANSWERED_OUTCOMES = tuple(str(o) for o in CallOutcome)
# The callee wanted an appointment (or a conversation that leads to one).
WANTED_OUTCOMES = tuple(str(o) for o in _WANTED)
FOLLOW_UP_OUTCOMES = tuple(str(o) for o in _FOLLOW_UP)
SENTIMENTS = ("positive", "neutral", "negative", "unknown")
PRIORITIES = ("hot", "warm", "cold", "unscored")
SCORE_BUCKETS = tuple(f"{10 * i}–{10 * i + 9}" if i < 9 else "90–100" for i in range(10)) + ("unscored",)
EMAIL_DELIVERED = ("delivered", "opened", "clicked")
EMAIL_OPENED = ("opened", "clicked")
EMAIL_BOUNCED = ("bounced", "blocked")
CRITICAL_LIMIT = 50
FOLLOW_UPS_PER_REP = 15
TREND_DAYS = 30


def ratio(numerator: float | int | None, denominator: float | int | None) -> float | None:
    """numerator / denominator, or None when there is nothing to divide by."""
    if numerator is None or not denominator:
        return None
    return numerator / denominator


# ---------------------------------------------------------------------------------------- the tree


@dataclass(frozen=True)
class Bucket:
    key: str | None  # None: no value (e.g. a lead without a campaign)
    count: int
    previous: int | None = None


@dataclass(frozen=True)
class LeadFigures:
    leads_in: int
    qualified: int
    qualified_share: float | None
    by_source: list[Bucket]
    by_campaign: list[Bucket]
    score_buckets: list[Bucket]
    priorities: list[Bucket]
    chain_stages: list[Bucket]


@dataclass(frozen=True)
class CallFigures:
    placed: int
    answered: int
    answer_rate: float | None
    voicemail: int
    voicemail_rate: float | None
    no_answer: int
    no_answer_rate: float | None
    busy: int
    failed: int
    talk_time_avg_s: float | None
    talk_time_median_s: float | None
    sentiment: list[Bucket]
    outcomes: list[Bucket]
    wanted: int
    booked: int
    booking_conversion: float | None
    follow_ups: int  # leads: wanted but not booked
    appointments: int  # appointments created in the period (not cancelled)
    critical: int


@dataclass(frozen=True)
class CurrencyCost:
    """The calls billed in one currency, as billed, and their total in the report currency."""

    currency: str
    total_cents: int
    priced_calls: int
    per_call_cents: float | None
    rate: str | None = None  # to the report currency (a Decimal as text); None: 1 or no rate
    converted_cents: float | None = None  # in the report currency; None: not in the report's totals


@dataclass(frozen=True)
class FxRate:
    source: str
    target: str
    rate: str  # a Decimal as text, exactly as configured (or its inverse)
    origin: str  # admin | config | inverse of admin | inverse of config


@dataclass(frozen=True)
class CostFigures:
    """Money figures in the report currency: the company currency when the currency most calls were billed
    in converts to it (crm.services.money), else that billing currency as it is (no rate configured)."""

    currency: str | None
    total_cents: float | None
    per_call_cents: float | None
    per_booked_cents: float | None
    by_currency: list[CurrencyCost]
    company_currency: str | None = None
    rates: list[FxRate] = field(default_factory=list)  # the rates used for the totals
    missing_rates: list[str] = field(default_factory=list)  # billed currencies without a rate to the company's
    # All priced calls billed in one other currency: the same figures as billed (shown beside the converted).
    source_currency: str | None = None
    source_total_cents: float | None = None
    source_per_call_cents: float | None = None
    source_per_booked_cents: float | None = None
    rate: str | None = None


@dataclass(frozen=True)
class EmailFigures:
    sent: int
    delivered: int
    opened: int
    clicked: int
    bounced: int
    dropped: int
    unsubscribed: int
    delivery_rate: float | None
    open_rate: float | None
    click_rate: float | None
    bounce_rate: float | None
    unsubscribe_rate: float | None


@dataclass(frozen=True)
class PeriodFigures:
    leads: LeadFigures
    calls: CallFigures
    costs: CostFigures
    emails: EmailFigures

    @property
    def has_data(self) -> bool:
        return bool(self.leads.leads_in or self.calls.placed or self.emails.sent or self.calls.appointments)


@dataclass(frozen=True)
class Headline:
    key: str
    unit: str  # count | rate | money | seconds
    current: float | None
    previous: float | None

    @property
    def delta(self) -> float | None:
        if self.current is None or self.previous is None:
            return None
        return self.current - self.previous

    @property
    def change(self) -> float | None:
        """Relative change for counts, money and durations; None for rates (use delta, in points)."""
        if self.unit == "rate" or self.delta is None:
            return None
        return ratio(self.delta, self.previous)


@dataclass(frozen=True)
class HourRow:
    hour: int  # 0..23 Berlin
    calls: int
    answered: int
    answer_rate: float | None
    leads_in: int


@dataclass(frozen=True)
class WeekdayRow:
    weekday: int  # 0 Monday .. 6 Sunday
    calls: int
    answered: int
    answer_rate: float | None
    leads_in: int


@dataclass(frozen=True)
class TrendDay:
    day: date
    leads_in: int
    calls: int
    answered: int
    booked: int
    emails_sent: int


@dataclass(frozen=True)
class RepRow:
    user_id: int | None  # None: leads without an owner
    name: str | None
    leads_in: int
    calls: int
    answered: int
    answer_rate: float | None
    wanted: int
    booked: int
    booking_conversion: float | None
    follow_ups: int
    appointments: int
    cost_cents: float | None


@dataclass(frozen=True)
class ProviderRow:
    provider: str | None
    calls: int
    answered: int
    answer_rate: float | None
    voicemail: int
    wanted: int
    booked: int
    booking_conversion: float | None
    talk_time_avg_s: float | None
    cost_cents: float | None
    per_call_cents: float | None


@dataclass(frozen=True)
class CampaignRow:
    campaign: str | None
    leads_in: int
    qualified: int
    calls: int
    answered: int
    answer_rate: float | None
    wanted: int
    booked: int
    booking_conversion: float | None
    cost_cents: float | None
    per_booked_cents: float | None


@dataclass(frozen=True)
class CriticalCall:
    interaction_id: int
    lead_id: int
    lead_name: str
    rep: str | None
    at: datetime
    provider: str | None
    outcome: str | None
    sentiment: str | None
    duration_s: int | None
    summary: str | None


@dataclass(frozen=True)
class FollowUp:
    lead_id: int
    lead_name: str
    company: str | None
    outcome: str
    last_call_at: datetime


@dataclass(frozen=True)
class RepFollowUps:
    user_id: int | None
    rep: str | None
    total: int
    leads: list[FollowUp]


@dataclass(frozen=True)
class KpiReport:
    period: Period
    previous_period: Period
    generated_at: datetime
    gate_threshold: int
    current: PeriodFigures
    previous: PeriodFigures
    headlines: list[Headline]
    by_hour: list[HourRow]
    by_weekday: list[WeekdayRow]
    trend: list[TrendDay]
    per_rep: list[RepRow]
    per_provider: list[ProviderRow]
    per_campaign: list[CampaignRow]
    critical_calls: list[CriticalCall]
    follow_ups: list[RepFollowUps]

    @property
    def has_data(self) -> bool:
        return self.current.has_data

    @property
    def to_date(self) -> bool:
        """Built while the period was still running: its figures go up to generated_at only."""
        return self.generated_at < self.period.end

    def headline(self, key: str) -> Headline:
        return next(h for h in self.headlines if h.key == key)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (the stored figures): dates as ISO strings, headline deltas included."""
        out = _jsonable(dataclasses.asdict(self))
        out["period"].update(start=self.period.start.isoformat(), end=self.period.end.isoformat())
        out["previous_period"].update(
            start=self.previous_period.start.isoformat(), end=self.previous_period.end.isoformat()
        )
        for h, raw in zip(self.headlines, out["headlines"], strict=True):
            raw.update(delta=h.delta, change=h.change)
        out["has_data"] = self.has_data
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> KpiReport:
        """The typed tree back from stored figures (Report.figures), e.g. for the dashboard or the email."""
        return _load(cls, data)


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, float) and not np.isfinite(value):
        return None
    return value


def _load(tp: Any, value: Any) -> Any:
    """JSON → the dataclass tree, by the fields' type hints (derived keys such as "delta" are ignored)."""
    if value is None:
        return None
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):
        inner = [a for a in typing.get_args(tp) if a is not type(None)]
        return _load(inner[0], value)
    if origin is list:
        (item,) = typing.get_args(tp)
        return [_load(item, v) for v in value]
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):  # a dataclass, not an instance of one
        hints = typing.get_type_hints(tp)
        return tp(
            **{
                f.name: _load(hints[f.name], value.get(f.name))
                for f in dataclasses.fields(tp)
                if f.init and f.name in value
            }
        )
    if tp is datetime:
        return datetime.fromisoformat(value)
    if tp is date:
        return date.fromisoformat(value)
    if tp is float:
        return float(value)
    return value
