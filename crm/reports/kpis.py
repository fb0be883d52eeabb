"""Every KPI of the manager report, from one module: the PDF, the scheduled reports and the dashboard
read the same tree. Definitions: crm/reports/definitions.py (the PDF's appendix; docs/kpis.md is
generated from it).

How it is computed
------------------
The database filters and groups; pandas only shapes what comes back. Every query is a SQLAlchemy Core
select with GROUP BY that returns a few hundred or thousand rows whatever the table size:

* calls, emails and leads are counted per UTC hour with conditional aggregates over the range
  [min(previous start, trend start), period end). Europe/Berlin is a whole number of hours from UTC,
  so each UTC hour is exactly one Berlin hour: pandas turns the hours into the period totals, the
  previous period's totals, the hour-of-day and weekday tables and the 30-day trend without a second
  scan and without time-zone support in the database (SQLite has none);
* the median talk time comes from a GROUP BY duration_s frequency table (exact, and portable:
  SQLite has no percentile function);
* breakdowns (source, campaign, rep, provider, outcome, currency, score bucket) are GROUP BY queries;
* only the two lists (critical calls, follow-up potential) return rows, bounded by LIMIT.

A ratio whose denominator is zero is None (shown as "–"), never an exception.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, cast

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.orm import aliased

from crm.extensions import db
from crm.models import (
    Appointment,
    AppointmentStatus,
    AuditEntry,
    Campaign,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    User,
)
from crm.models.types import UTCDateTime, utcnow
from crm.reports.periods import Period
from crm.services import app_settings, money
from workflows.vocabulary import DEFAULT_GATE_THRESHOLD, CallOutcome, CallStatus
from workflows.vocabulary import FOLLOW_UP_OUTCOMES as _FOLLOW_UP
from workflows.vocabulary import WANTED_OUTCOMES as _WANTED

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


# ------------------------------------------------------------------------------------------ SQL bits

CALL_TS = sa.func.coalesce(Interaction.started_at, Interaction.created_at, type_=UTCDateTime())
END_STATUS = Interaction.data["end_status"].as_string()
ANSWERED = sa.or_(Interaction.data["answered"].as_boolean() == sa.true(), Interaction.outcome.in_(ANSWERED_OUTCOMES))
IS_CALL = sa.and_(Interaction.kind == InteractionKind.CALL, Interaction.direction == Direction.OUTBOUND)
IS_EMAIL = sa.and_(Interaction.kind == InteractionKind.EMAIL, Interaction.direction == Direction.OUTBOUND)
TALKED = sa.and_(ANSWERED, Interaction.duration_s.is_not(None))


def _status(value: str):
    return sa.or_(END_STATUS == value, Interaction.outcome == value)


def _n(condition) -> sa.ColumnElement:
    """COUNT of the rows meeting a condition (portable conditional aggregate)."""
    return sa.func.count(sa.case((condition, 1)))


def _sum(value, condition=None) -> sa.ColumnElement:
    return sa.func.sum(sa.case((condition, value)) if condition is not None else value)


def _hour(col, dialect: str) -> sa.ColumnElement:
    """The UTC hour a timestamp falls in (PostgreSQL: timestamp; SQLite: 'YYYY-MM-DD HH:00:00')."""
    if dialect == "postgresql":
        return sa.func.date_trunc("hour", sa.func.timezone("UTC", col))
    return sa.func.strftime("%Y-%m-%d %H:00:00", col)


def _window(ts, current: Period) -> sa.ColumnElement:
    return sa.case((ts >= current.start, "cur"), else_="prev")


def _in(ts, lo: datetime, hi: datetime) -> sa.ColumnElement:
    if ts is CALL_TS:
        # The same as lo <= coalesce(started_at, created_at) < hi, written on the plain columns so the
        # planner can use their statistics (no statistics exist for the expression: PostgreSQL then
        # guesses a few rows and picks a sort that spills to disk instead of a hash aggregate).
        return sa.or_(
            sa.and_(Interaction.started_at >= lo, Interaction.started_at < hi),
            sa.and_(Interaction.started_at.is_(None), Interaction.created_at >= lo, Interaction.created_at < hi),
        )
    return sa.and_(ts >= lo, ts < hi)


def _frame(stmt, columns: Iterable[str] | None = None) -> pd.DataFrame:
    result = db.session.execute(stmt)
    rows = result.all()
    return pd.DataFrame(rows, columns=list(columns) if columns else list(result.keys()))


def _hours(frame: pd.DataFrame, tz: str) -> pd.DataFrame:
    if frame.empty:
        frame = frame.assign(hour_utc=pd.Series(dtype="datetime64[ns, UTC]"))
    else:
        frame = frame.assign(hour_utc=pd.to_datetime(frame["bucket"], utc=True))
    local = frame["hour_utc"].dt.tz_convert(tz)
    return frame.assign(local_day=local.dt.date, local_hour=local.dt.hour, weekday=local.dt.day_of_week)


def _between(frame: pd.DataFrame, period: Period) -> pd.DataFrame:
    lo, hi = pd.Timestamp(period.start), pd.Timestamp(period.end)
    return frame[(frame["hour_utc"] >= lo) & (frame["hour_utc"] < hi)]


def _total(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].fillna(0).sum()) if not frame.empty else 0


def _int(value: Any) -> int:
    return 0 if value is None or (isinstance(value, float) and np.isnan(value)) else int(value)


def _lead_name(first: str | None, last: str | None, company: str | None, lead_id: int) -> str:
    name = " ".join(p for p in (first, last) if p)
    return name or company or f"#{lead_id}"


# ---------------------------------------------------------------------------------------- the queries


class _Query:
    """One report's queries, sharing the period bounds and the dialect. Each scans the interactions
    once: hours (calls and emails together), the call cube, talk durations, follow-ups, critical calls."""

    def __init__(self, period: Period, previous: Period, threshold: int) -> None:
        self.cur, self.prev, self.threshold = period, previous, threshold
        self.trend = period.trend_days(TREND_DAYS)
        self.lo = min(previous.start, self.trend.start)
        self.hi = period.end
        self.dialect = db.session.get_bind().dialect.name

    # --- calls and emails per UTC hour ----------------------------------------------------------------

    def _rows(self, lo: datetime, hi: datetime, kinds: tuple[InteractionKind, ...], *extra, join_lead=False):
        """The outbound interactions of [lo, hi) with their flags computed once per row. OFFSET 0 keeps
        PostgreSQL from inlining the subquery, which would evaluate the JSON look-ups once per aggregate."""
        columns = [
            Interaction.kind.label("kind"),
            sa.case((ANSWERED, 1), else_=0).label("answered"),
            sa.func.coalesce(END_STATUS, "").label("end_status"),
            sa.func.coalesce(Interaction.outcome, "").label("outcome_raw"),
            sa.func.coalesce(Interaction.outcome, END_STATUS, "pending").label("outcome"),
            sa.func.coalesce(Interaction.sentiment, "unknown").label("sentiment"),
            Interaction.duration_s.label("duration"),
            Interaction.status.label("status"),
            *extra,
        ]
        stmt = sa.select(*columns)
        if join_lead:
            stmt = stmt.select_from(
                Interaction.__table__.join(Lead.__table__, Lead.id == Interaction.lead_id).outerjoin(
                    Campaign.__table__, Campaign.id == Lead.campaign_id
                )
            )
        return (
            stmt.where(Interaction.direction == Direction.OUTBOUND, Interaction.kind.in_(kinds), _in(CALL_TS, lo, hi))
            .offset(0)
            .subquery("r")
        )

    @staticmethod
    def _call_counts(r) -> list:
        answered = r.c.answered == 1
        talked = sa.and_(answered, r.c.duration.is_not(None))

        def status(value: str):
            return sa.or_(r.c.end_status == value, r.c.outcome_raw == value)

        return [
            _n(answered).label("answered"),
            _n(status(CallStatus.VOICEMAIL)).label("voicemail"),
            _sum(r.c.duration, talked).label("talk_sum"),
            _n(talked).label("talk_n"),
            _n(status(CallStatus.NO_ANSWER)).label("no_answer"),
            _n(status(CallStatus.BUSY)).label("busy"),
            _n(status(CallStatus.FAILED)).label("failed"),
            _n(r.c.outcome_raw.in_(WANTED_OUTCOMES)).label("wanted"),
            _n(r.c.outcome_raw == CallOutcome.BOOKED).label("booked"),
        ]

    # --- calls and emails per UTC hour ----------------------------------------------------------------

    def activity_hours(self) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(calls, emails) per UTC hour over [lo, hi), with conditional counts."""
        r = self._rows(
            self.lo,
            self.hi,
            (InteractionKind.CALL, InteractionKind.EMAIL),
            _hour(CALL_TS, self.dialect).label("bucket"),
        )
        answered = r.c.answered == 1
        stmt = sa.select(
            r.c.bucket,
            r.c.kind,
            sa.func.count().label("n"),
            *self._call_counts(r),
            *[
                _n(
                    sa.and_(answered, r.c.sentiment == s)
                    if s != "unknown"
                    else sa.and_(answered, r.c.sentiment.not_in(SENTIMENTS[:3]))
                ).label(f"sent_{s}")
                for s in SENTIMENTS
            ],
            _n(sa.or_(r.c.sentiment == "negative", r.c.outcome_raw == CallOutcome.DO_NOT_CALL)).label("critical"),
            _n(r.c.status.in_(EMAIL_DELIVERED)).label("delivered"),
            _n(r.c.status.in_(EMAIL_OPENED)).label("opened"),
            _n(r.c.status == "clicked").label("clicked"),
            _n(r.c.status.in_(EMAIL_BOUNCED)).label("bounced"),
            _n(r.c.status == "dropped").label("dropped"),
        ).group_by(r.c.bucket, r.c.kind)
        frame = _hours(_frame(stmt), self.cur.tz)
        kinds = frame["kind"].map(lambda k: getattr(k, "value", k)) if not frame.empty else frame["kind"]
        calls = frame[kinds == InteractionKind.CALL.value].rename(columns={"n": "placed"})
        emails = frame[kinds == InteractionKind.EMAIL.value].rename(columns={"n": "sent"})
        return calls, emails

    # --- the call cube: both periods by rep, provider, campaign, outcome and currency ----------------

    def call_cube(self) -> pd.DataFrame:
        r = self._rows(
            self.prev.start,
            self.cur.end,
            (InteractionKind.CALL,),
            _window(CALL_TS, self.cur).label("window"),
            Lead.owner_id.label("owner_id"),
            Interaction.provider.label("provider"),
            campaign_label().label("campaign"),
            Interaction.currency.label("currency"),
            Interaction.cost_cents.label("cost_cents"),
            join_lead=True,
        )
        keys = [r.c.window, r.c.owner_id, r.c.provider, r.c.campaign, r.c.outcome, r.c.currency]
        stmt = sa.select(
            *keys,
            sa.func.count().label("calls"),
            *self._call_counts(r)[:4],
            sa.func.sum(r.c.cost_cents).label("cost"),
            sa.func.count(r.c.cost_cents).label("priced"),
        ).group_by(*keys)
        frame = _frame(stmt)
        if frame.empty:
            return frame
        frame = frame.assign(
            wanted=frame["calls"].where(frame["outcome"].isin(WANTED_OUTCOMES), 0),
            booked=frame["calls"].where(frame["outcome"] == CallOutcome.BOOKED.value, 0),
        )
        return frame.astype(
            {"owner_id": "object", "provider": "object", "campaign": "object", "currency": "object"}
        ).replace({np.nan: None})

    def talk_durations(self) -> pd.DataFrame:
        window = _window(CALL_TS, self.cur).label("window")
        stmt = (
            sa.select(window, Interaction.duration_s.label("duration"), sa.func.count().label("n"))
            .where(IS_CALL, TALKED, _in(CALL_TS, self.prev.start, self.cur.end))
            .group_by(window, Interaction.duration_s)
        )
        return _frame(stmt)

    def critical_calls(self) -> list[CriticalCall]:
        owner = aliased(User)
        stmt = (
            sa.select(
                Interaction.id,
                Interaction.lead_id,
                Lead.first_name,
                Lead.last_name,
                Lead.company,
                owner.name,
                CALL_TS.label("at"),
                Interaction.provider,
                Interaction.outcome,
                Interaction.sentiment,
                Interaction.duration_s,
                Interaction.summary,
            )
            .join(Lead, Lead.id == Interaction.lead_id)
            .outerjoin(owner, owner.id == Lead.owner_id)
            .where(
                IS_CALL,
                _in(CALL_TS, self.cur.start, self.cur.end),
                sa.or_(Interaction.sentiment == "negative", Interaction.outcome == CallOutcome.DO_NOT_CALL),
            )
            .order_by(CALL_TS.desc(), Interaction.id.desc())
            .limit(CRITICAL_LIMIT)
        )
        out = []
        for row in db.session.execute(stmt):
            summary = (row.summary or "").strip() or None
            if summary and len(summary) > 160:
                summary = summary[:159].rstrip() + "…"
            out.append(
                CriticalCall(
                    interaction_id=row.id,
                    lead_id=row.lead_id,
                    lead_name=_lead_name(row.first_name, row.last_name, row.company, row.lead_id),
                    rep=row.name,
                    at=row.at,
                    provider=row.provider,
                    outcome=row.outcome,
                    sentiment=row.sentiment,
                    duration_s=row.duration_s,
                    summary=summary,
                )
            )
        return out

    def follow_ups(self) -> pd.DataFrame:
        """Leads (per period) with an interested/callback call and neither a booked call nor an
        appointment (not cancelled) created in the same period: lead_id, owner_id, window, at, outcome."""
        window = _window(CALL_TS, self.cur).label("window")
        follow = Interaction.outcome.in_(FOLLOW_UP_OUTCOMES)
        last_at = sa.func.max(sa.case((follow, CALL_TS)), type_=UTCDateTime()).label("at")
        last_interested = sa.func.max(
            sa.case((Interaction.outcome == CallOutcome.INTERESTED, CALL_TS)), type_=UTCDateTime()
        ).label("interested_at")
        booked = _n(Interaction.outcome == CallOutcome.BOOKED)
        stmt = (
            sa.select(
                Interaction.lead_id.label("lead_id"), Lead.owner_id.label("owner_id"), window, last_at, last_interested
            )
            .join(Lead, Lead.id == Interaction.lead_id)
            .where(
                IS_CALL,
                Interaction.outcome.in_((*FOLLOW_UP_OUTCOMES, CallOutcome.BOOKED.value)),
                _in(CALL_TS, self.prev.start, self.cur.end),
            )
            .group_by(Interaction.lead_id, Lead.owner_id, window.element)
            .having(sa.and_(booked == 0, _n(follow) > 0))
        )
        frame = _frame(stmt, ["lead_id", "owner_id", "window", "at", "interested_at"])
        if frame.empty:
            return frame.assign(outcome=pd.Series(dtype=object))
        appt_window = _window(Appointment.created_at, self.cur).label("window")
        booked_leads = {
            (int(lead), w)
            for lead, w in db.session.execute(
                sa.select(Appointment.lead_id, appt_window)
                .distinct()
                .where(
                    Appointment.lead_id.is_not(None),
                    Appointment.status != AppointmentStatus.CANCELLED,
                    _in(Appointment.created_at, self.prev.start, self.cur.end),
                )
            )
        }
        keep = [(int(lead), w) not in booked_leads for lead, w in zip(frame["lead_id"], frame["window"], strict=True)]
        frame = frame[keep]
        return frame.assign(
            at=pd.to_datetime(frame["at"], utc=True),
            outcome=np.where(
                frame["at"] == frame["interested_at"],
                CallOutcome.INTERESTED.value,
                CallOutcome.CALLBACK_REQUESTED.value,
            ),
            owner_id=frame["owner_id"].astype("object").where(frame["owner_id"].notna(), None),
        )

    def appointments(self) -> pd.DataFrame:
        window = _window(Appointment.created_at, self.cur).label("window")
        stmt = (
            sa.select(window, Appointment.owner_id, sa.func.count().label("n"))
            .where(
                Appointment.status != AppointmentStatus.CANCELLED,
                _in(Appointment.created_at, self.prev.start, self.cur.end),
            )
            .group_by(window.element, Appointment.owner_id)
        )
        return _frame(stmt, ["window", "owner_id", "n"])

    def unsubscribes(self) -> dict[str, int]:
        window = _window(AuditEntry.at, self.cur).label("window")
        stmt = (
            sa.select(window, sa.func.count(sa.distinct(AuditEntry.entity_id)))
            .where(
                AuditEntry.action == "lead.email_unsubscribed",
                AuditEntry.entity_type == "lead",
                _in(AuditEntry.at, self.prev.start, self.cur.end),
            )
            .group_by(window.element)
        )
        return {w: int(n) for w, n in db.session.execute(stmt)}

    # --- leads --------------------------------------------------------------------------------------

    def _live_leads(self, lo: datetime, hi: datetime):
        return sa.and_(Lead.merged_into_id.is_(None), _in(Lead.created_at, lo, hi))

    def lead_hours(self) -> pd.DataFrame:
        bucket = _hour(Lead.created_at, self.dialect).label("bucket")
        stmt = (
            sa.select(bucket, sa.func.count().label("leads"), _n(Lead.score > self.threshold).label("qualified"))
            .where(self._live_leads(self.lo, self.hi))
            .group_by(bucket)
        )
        return _hours(_frame(stmt), self.cur.tz)

    def lead_cube(self) -> pd.DataFrame:
        """Leads of both periods by source, campaign, score bucket and priority."""
        keys: list[sa.Label[Any]] = [
            _window(Lead.created_at, self.cur).label("window"),
            sa.func.coalesce(Lead.source, "").label("source"),
            campaign_label().label("campaign"),
            score_bucket().label("score_bucket"),
            sa.func.coalesce(sa.type_coerce(Lead.priority, sa.String), "unscored").label("priority"),
        ]
        stmt = (
            sa.select(*keys, sa.func.count().label("n"), _n(Lead.score > self.threshold).label("qualified"))
            .select_from(Lead.__table__.outerjoin(Campaign.__table__, Campaign.id == Lead.campaign_id))
            .where(self._live_leads(self.prev.start, self.cur.end))
            .group_by(*[k.element for k in keys])
        )
        frame = _frame(stmt)
        return frame.astype({"campaign": "object"}).replace({np.nan: None}) if not frame.empty else frame

    def lead_owners(self) -> pd.DataFrame:
        """Leads of the period by owner and chain stage."""
        keys: list[sa.Label[Any]] = [
            Lead.owner_id.label("owner_id"),
            sa.func.coalesce(Lead.chain_stage, "none").label("stage"),
        ]
        stmt = (
            sa.select(*keys, sa.func.count().label("n"))
            .where(self._live_leads(self.cur.start, self.cur.end))
            .group_by(*[k.element for k in keys])
        )
        frame = _frame(stmt)
        return frame.astype({"owner_id": "object"}).replace({np.nan: None}) if not frame.empty else frame


def campaign_label() -> sa.ColumnElement:
    """A lead's campaign: the calling campaign it is assigned to, else its utm_campaign."""
    return sa.func.coalesce(Campaign.name, Lead.utm_campaign)


def score_bucket() -> sa.ColumnElement:
    return sa.case((Lead.score.is_(None), -1), (Lead.score >= 90, 9), else_=Lead.score // 10)


# ------------------------------------------------------------------------------------------ shaping


def _buckets(
    frame: pd.DataFrame, window: str, order: Iterable[str] | None = None, keep_zero: bool = False, label=lambda k: k
) -> list[Bucket]:
    """Counts per key in `window`; for the current period with the previous period's count beside it."""
    counts: dict[str, dict[Any, int]] = {"cur": defaultdict(int), "prev": defaultdict(int)}
    # Plain tuples of the three columns (name=None): the values as stored, without pandas' row types.
    for raw_key, in_window, n in frame[["key", "window", "n"]].itertuples(index=False, name=None):
        key = None if isinstance(raw_key, float) and np.isnan(raw_key) else raw_key
        counts[in_window][key] += int(n)
    other = "prev" if window == "cur" else None
    mine, theirs = counts[window], counts[other] if other else {}
    keys = (
        list(order)
        if order is not None
        else sorted(set(mine) | set(theirs), key=lambda k: (-mine.get(k, 0), -theirs.get(k, 0), str(k)))
    )
    out = []
    for key in keys:
        n, prev = mine.get(key, 0), theirs.get(key, 0)
        if n or prev or keep_zero:
            out.append(Bucket(label(key), n, prev if other else None))
    return out


def _median(frame: pd.DataFrame) -> float | None:
    """The exact median from a (duration, n) frequency table."""
    if frame.empty or int(frame["n"].sum()) == 0:
        return None
    table = frame.sort_values("duration")
    values = table["duration"].to_numpy(dtype=float)
    cumulative = table["n"].to_numpy(dtype=np.int64).cumsum()
    total = int(cumulative[-1])
    lower = values[np.searchsorted(cumulative, (total + 1) // 2)]
    upper = values[np.searchsorted(cumulative, total // 2 + 1)]
    return float((lower + upper) / 2)


def _email_figures(hours: pd.DataFrame, unsubscribed: int) -> EmailFigures:
    sent, delivered = _total(hours, "sent"), _total(hours, "delivered")
    opened, clicked = _total(hours, "opened"), _total(hours, "clicked")
    bounced, dropped = _total(hours, "bounced"), _total(hours, "dropped")
    return EmailFigures(
        sent=sent,
        delivered=delivered,
        opened=opened,
        clicked=clicked,
        bounced=bounced,
        dropped=dropped,
        unsubscribed=unsubscribed,
        delivery_rate=ratio(delivered, sent),
        open_rate=ratio(opened, delivered),
        click_rate=ratio(clicked, delivered),
        bounce_rate=ratio(bounced, sent),
        unsubscribe_rate=ratio(unsubscribed, delivered),
    )


def _cost_figures(costs: pd.DataFrame, window: str, booked: int, plan: _CostPlan) -> CostFigures:
    rows = costs[costs["window"] == window] if not costs.empty else costs
    by_currency = []
    ordered = rows.sort_values("total", ascending=False)[["currency", "total", "priced"]] if not rows.empty else rows
    for row_currency, row_total, row_priced in ordered.itertuples(index=False, name=None) if not rows.empty else []:
        code, total, priced = row_currency or "", _int(row_total), _int(row_priced)
        factor = plan.factors.get(code)
        by_currency.append(
            CurrencyCost(
                currency=code,
                total_cents=total,
                priced_calls=priced,
                per_call_cents=ratio(total, priced),
                rate=str(factor) if factor is not None and code != plan.currency else None,
                converted_cents=float(total * factor) if factor is not None else None,
            )
        )
    included = [c for c in by_currency if c.converted_cents is not None]
    converted = sum(c.converted_cents for c in included if c.converted_cents is not None) if included else None
    priced = sum(c.priced_calls for c in included)
    figures = CostFigures(
        currency=plan.currency,
        total_cents=converted,
        per_call_cents=ratio(converted, priced),
        per_booked_cents=ratio(converted, booked),
        by_currency=by_currency,
        company_currency=plan.company,
        rates=plan.rates,
        missing_rates=[c.currency for c in by_currency if c.currency in plan.missing],
    )
    if len(included) == 1 and included[0].rate is not None:
        only = included[0]
        figures = dataclasses.replace(
            figures,
            source_currency=only.currency,
            source_total_cents=float(only.total_cents),
            source_per_call_cents=only.per_call_cents,
            source_per_booked_cents=ratio(only.total_cents, booked),
            rate=only.rate,
        )
    return figures


@dataclass(frozen=True)
class _CostPlan:
    """How the report shows money: its currency and the factor from each billed currency into it."""

    currency: str | None
    company: str
    factors: dict[str, Decimal]
    rates: list[FxRate]
    missing: set[str]


def _cost_plan(costs: pd.DataFrame) -> _CostPlan:
    """The company currency when the main billing currency converts to it (every billed currency with a
    rate is converted, the rest listed apart); else the main billing currency alone, as it was billed."""
    company, table = money.company_currency(), money.rate_table()
    primary = _primary_currency(costs)
    billed = sorted({str(c) for c in costs["currency"].dropna()}) if not costs.empty else []
    found = {code: table.find(code, company) for code in billed}
    missing = {code for code, rate in found.items() if rate is None}
    if primary is None or found.get(primary) is not None:
        factors = {code: rate.rate for code, rate in found.items() if rate is not None}
        rates = [
            FxRate(r.source, r.target, str(r.rate), r.origin)
            for r in found.values()
            if r is not None and r.source != r.target
        ]
        return _CostPlan(company if billed else primary, company, factors, rates, missing)
    return _CostPlan(primary, company, {primary: Decimal(1)}, [], missing)


def _primary_currency(costs: pd.DataFrame) -> str | None:
    """The currency most priced calls of the period (else of the previous one) were billed in."""
    if costs.empty:
        return None
    for window in ("cur", "prev"):
        rows = costs[(costs["window"] == window) & costs["currency"].notna()]
        if not rows.empty:
            return str(rows.sort_values(["priced", "currency"], ascending=[False, True]).iloc[0]["currency"])
    return None


# -------------------------------------------------------------------------------------------- compute


def _count_by(frame: pd.DataFrame, key: str, value: str = "n") -> pd.DataFrame:
    """window, key, n: a cube summed over everything but `key` (None keys kept)."""
    if frame.empty:
        return pd.DataFrame(columns=["window", "key", "n"])
    out = frame.groupby(["window", key], dropna=False)[value].sum().reset_index()
    out = out.rename(columns={key: "key", value: "n"})
    return out.astype({"key": "object"}).replace({np.nan: None})


def _sums(frame: pd.DataFrame, key: str, column: str) -> list[tuple[Any, Any]]:
    """(key, sum of `column`) per key, as plain Python values (pandas types its index keys as Hashable)."""
    sums = frame.groupby(key)[column].sum()
    return list(zip(sums.index.tolist(), sums.tolist(), strict=True))


def _sum_by(frame: pd.DataFrame, key: str, columns: list[str]) -> dict[Any, dict[str, Any]]:
    """{key: {column: sum}} over a cube's rows (None keys kept). A sum is an int for counts and a float for
    converted costs (Any: which columns are which is the caller's choice)."""
    if frame.empty:
        return {}
    grouped = frame.groupby(key, dropna=False)[columns].sum()
    # Counts are whole; a converted cost keeps its fraction of a cent (rounded only when shown).
    return {
        (None if isinstance(k, float) and np.isnan(k) else k): {
            str(c): int(v) if float(v).is_integer() else float(v) for c, v in row.items()
        }
        for k, row in grouped.iterrows()
    }


def compute(
    period: Period, *, previous: Period | None = None, gate_threshold: int | None = None, now: datetime | None = None
) -> KpiReport:
    """Every KPI of `period` and of the period before it (inside an app context). "Qualified" counts
    scores above `gate_threshold`: by default the threshold an admin stored, else the chain's default
    (workflows.vocabulary.DEFAULT_GATE_THRESHOLD), as the gate uses."""
    if gate_threshold is None:
        stored = app_settings.gate_threshold()
        gate_threshold = stored if stored is not None else DEFAULT_GATE_THRESHOLD
    previous = previous or period.previous()
    q = _Query(period, previous, gate_threshold)

    call_hours, email_hours = q.activity_hours()
    lead_hours, lead_cube, lead_owners = q.lead_hours(), q.lead_cube(), q.lead_owners()
    cube, durations, follow = q.call_cube(), q.talk_durations(), q.follow_ups()
    unsub, appointments = q.unsubscribes(), q.appointments()

    priced = cube[cube["priced"] > 0] if not cube.empty else cube
    costs = (
        (
            priced.groupby(["window", "currency"], dropna=False)[["cost", "priced"]]
            .sum()
            .reset_index()
            .rename(columns={"cost": "total"})
        )
        if not priced.empty
        else pd.DataFrame(columns=["window", "currency", "total", "priced"])
    )
    plan = _cost_plan(costs)
    currency = plan.currency
    scores = (
        lead_cube.assign(
            score_bucket=lead_cube["score_bucket"].map(
                lambda b: SCORE_BUCKETS[-1] if b is None or int(b) < 0 else SCORE_BUCKETS[int(b)]
            )
        )
        if not lead_cube.empty
        else lead_cube
    )
    stages = lead_owners.assign(window="cur") if not lead_owners.empty else lead_owners

    def lead_figures(window: str, p: Period) -> LeadFigures:
        hours = _between(lead_hours, p)
        leads_in, qualified = _total(hours, "leads"), _total(hours, "qualified")
        return LeadFigures(
            leads_in=leads_in,
            qualified=qualified,
            qualified_share=ratio(qualified, leads_in),
            by_source=_buckets(_count_by(lead_cube, "source"), window, label=lambda k: k or None),
            by_campaign=_buckets(_count_by(lead_cube, "campaign"), window),
            score_buckets=_buckets(_count_by(scores, "score_bucket"), window, order=SCORE_BUCKETS, keep_zero=True),
            priorities=_buckets(_count_by(lead_cube, "priority"), window, order=PRIORITIES, keep_zero=True),
            chain_stages=_buckets(_count_by(stages, "stage"), window),
        )

    def window_rows(frame: pd.DataFrame, window: str) -> pd.DataFrame:
        return frame[frame["window"] == window] if not frame.empty else frame

    def call_figures(window: str, p: Period) -> CallFigures:
        hours = _between(call_hours, p)
        placed, answered = _total(hours, "placed"), _total(hours, "answered")
        voicemail, no_answer = _total(hours, "voicemail"), _total(hours, "no_answer")
        wanted, booked = _total(hours, "wanted"), _total(hours, "booked")
        talk_sum, talk_n = _total(hours, "talk_sum"), _total(hours, "talk_n")
        outcomes = _sum_by(window_rows(cube, window), "outcome", ["calls"])
        return CallFigures(
            placed=placed,
            answered=answered,
            answer_rate=ratio(answered, placed),
            voicemail=voicemail,
            voicemail_rate=ratio(voicemail, placed),
            no_answer=no_answer,
            no_answer_rate=ratio(no_answer, placed),
            busy=_total(hours, "busy"),
            failed=_total(hours, "failed"),
            talk_time_avg_s=ratio(talk_sum, talk_n),
            talk_time_median_s=_median(window_rows(durations, window)),
            sentiment=[Bucket(s, _total(hours, f"sent_{s}")) for s in SENTIMENTS],
            outcomes=[
                Bucket(k, v["calls"]) for k, v in sorted(outcomes.items(), key=lambda kv: (-kv[1]["calls"], kv[0]))
            ],
            wanted=wanted,
            booked=booked,
            booking_conversion=ratio(booked, wanted),
            follow_ups=int((follow["window"] == window).sum()) if not follow.empty else 0,
            appointments=_total(window_rows(appointments, window), "n"),
            critical=_total(hours, "critical"),
        )

    def figures(window: str, p: Period) -> PeriodFigures:
        calls = call_figures(window, p)
        return PeriodFigures(
            leads=lead_figures(window, p),
            calls=calls,
            costs=_cost_figures(costs, window, calls.booked, plan),
            emails=_email_figures(_between(email_hours, p), unsub.get(window, 0)),
        )

    current, prior = figures("cur", period), figures("prev", previous)

    # Hour of day and weekday of the period; the 30-day trend.
    cur_calls, cur_leads = _between(call_hours, period), _between(lead_hours, period)

    def grouped(frame: pd.DataFrame, key: str, column: str) -> dict[int, int]:
        return {int(k): int(v) for k, v in _sums(frame, key, column)} if not frame.empty else {}

    calls_h, answered_h, leads_h = (
        grouped(cur_calls, "local_hour", "placed"),
        grouped(cur_calls, "local_hour", "answered"),
        grouped(cur_leads, "local_hour", "leads"),
    )
    by_hour = [
        HourRow(
            h,
            calls_h.get(h, 0),
            answered_h.get(h, 0),
            ratio(answered_h.get(h, 0), calls_h.get(h, 0)),
            leads_h.get(h, 0),
        )
        for h in range(24)
    ]
    calls_w, answered_w, leads_w = (
        grouped(cur_calls, "weekday", "placed"),
        grouped(cur_calls, "weekday", "answered"),
        grouped(cur_leads, "weekday", "leads"),
    )
    by_weekday = [
        WeekdayRow(
            d,
            calls_w.get(d, 0),
            answered_w.get(d, 0),
            ratio(answered_w.get(d, 0), calls_w.get(d, 0)),
            leads_w.get(d, 0),
        )
        for d in range(7)
    ]

    def daily(frame: pd.DataFrame, column: str) -> dict[date, int]:
        frame = _between(frame, q.trend)
        return {k: int(v) for k, v in _sums(frame, "local_day", column)} if not frame.empty else {}

    t_leads, t_calls, t_answered = (
        daily(lead_hours, "leads"),
        daily(call_hours, "placed"),
        daily(call_hours, "answered"),
    )
    t_booked, t_emails = daily(call_hours, "booked"), daily(email_hours, "sent")
    trend = [
        TrendDay(d, t_leads.get(d, 0), t_calls.get(d, 0), t_answered.get(d, 0), t_booked.get(d, 0), t_emails.get(d, 0))
        for d in q.trend.days
    ]

    # Per rep, provider, campaign (the period only), from the call cube.
    cur_cube = window_rows(cube, "cur")
    if not cur_cube.empty:
        # Each call's cost in the report currency (by its billing currency's factor); calls billed in a
        # currency without a rate stay out of these sums, as out of the totals.
        factor = cur_cube["currency"].map(lambda c: float(plan.factors[c]) if c in plan.factors else np.nan)
        cur_cube = cur_cube.assign(
            cost_main=(cur_cube["cost"] * factor).fillna(0), priced_main=cur_cube["priced"].where(factor.notna(), 0)
        )
    metrics = ["calls", "answered", "voicemail", "wanted", "booked", "talk_sum", "talk_n", "cost_main", "priced_main"]
    users = {u.id: u.name for u in db.session.execute(sa.select(User.id, User.name))}

    def cost_of(row: dict[str, float] | None) -> float | None:
        return row["cost_main"] if row and currency and row["priced_main"] else None

    rep_calls = {(None if k is None else int(k)): v for k, v in _sum_by(cur_cube, "owner_id", metrics).items()}
    leads_owner = {(None if k is None else int(k)): v["n"] for k, v in _sum_by(lead_owners, "owner_id", ["n"]).items()}
    cur_follow = follow[follow["window"] == "cur"] if not follow.empty else follow
    follow_owner = (
        {(None if k is None else int(k)): v["n"] for k, v in _sum_by(cur_follow.assign(n=1), "owner_id", ["n"]).items()}
        if not cur_follow.empty
        else {}
    )
    appts_owner: dict[int | None, int] = {
        int(k): v["n"] for k, v in _sum_by(window_rows(appointments, "cur"), "owner_id", ["n"]).items()
    }
    empty = dict.fromkeys(metrics, 0)
    per_rep = []
    for owner in set(rep_calls) | set(leads_owner) | set(follow_owner) | set(appts_owner):
        r = rep_calls.get(owner, empty)
        per_rep.append(
            RepRow(
                user_id=owner,
                name=users.get(owner) if owner is not None else None,
                leads_in=leads_owner.get(owner, 0),
                calls=r["calls"],
                answered=r["answered"],
                answer_rate=ratio(r["answered"], r["calls"]),
                wanted=r["wanted"],
                booked=r["booked"],
                booking_conversion=ratio(r["booked"], r["wanted"]),
                follow_ups=follow_owner.get(owner, 0),
                appointments=appts_owner.get(owner, 0),
                cost_cents=cost_of(rep_calls.get(owner)),
            )
        )
    per_rep.sort(key=lambda r: (r.user_id is None, -r.calls, -r.leads_in, r.name or "", r.user_id or 0))

    per_provider = []
    for provider, r in _sum_by(cur_cube, "provider", metrics).items():
        cost = cost_of(r)
        per_provider.append(
            ProviderRow(
                provider=provider,
                calls=r["calls"],
                answered=r["answered"],
                answer_rate=ratio(r["answered"], r["calls"]),
                voicemail=r["voicemail"],
                wanted=r["wanted"],
                booked=r["booked"],
                booking_conversion=ratio(r["booked"], r["wanted"]),
                talk_time_avg_s=ratio(r["talk_sum"], r["talk_n"]),
                cost_cents=cost,
                per_call_cents=ratio(cost, r["priced_main"]),
            )
        )
    per_provider.sort(key=lambda r: (-r.calls, r.provider or ""))

    camp_calls = _sum_by(cur_cube, "campaign", metrics)
    camp_leads = _sum_by(window_rows(lead_cube, "cur"), "campaign", ["n", "qualified"])
    per_campaign = []
    for name in set(camp_calls) | set(camp_leads):
        r, leads = camp_calls.get(name, empty), camp_leads.get(name, {"n": 0, "qualified": 0})
        cost = cost_of(camp_calls.get(name))
        per_campaign.append(
            CampaignRow(
                campaign=name,
                leads_in=leads["n"],
                qualified=leads["qualified"],
                calls=r["calls"],
                answered=r["answered"],
                answer_rate=ratio(r["answered"], r["calls"]),
                wanted=r["wanted"],
                booked=r["booked"],
                booking_conversion=ratio(r["booked"], r["wanted"]),
                cost_cents=cost,
                per_booked_cents=ratio(cost, r["booked"]),
            )
        )
    per_campaign.sort(key=lambda r: (r.campaign is None, -r.leads_in, -r.calls, r.campaign or ""))

    follow_ups = _follow_up_lists(cur_follow, users)

    headlines = [
        Headline("leads_in", "count", current.leads.leads_in, prior.leads.leads_in),
        Headline("qualified_share", "rate", current.leads.qualified_share, prior.leads.qualified_share),
        Headline("calls_placed", "count", current.calls.placed, prior.calls.placed),
        Headline("answer_rate", "rate", current.calls.answer_rate, prior.calls.answer_rate),
        Headline("talk_time_avg", "seconds", current.calls.talk_time_avg_s, prior.calls.talk_time_avg_s),
        Headline("booked", "count", current.calls.booked, prior.calls.booked),
        Headline("booking_conversion", "rate", current.calls.booking_conversion, prior.calls.booking_conversion),
        Headline("follow_ups", "count", current.calls.follow_ups, prior.calls.follow_ups),
        Headline("cost_per_call", "money", current.costs.per_call_cents, prior.costs.per_call_cents),
        Headline("cost_per_booked", "money", current.costs.per_booked_cents, prior.costs.per_booked_cents),
        Headline("emails_sent", "count", current.emails.sent, prior.emails.sent),
        Headline("open_rate", "rate", current.emails.open_rate, prior.emails.open_rate),
    ]
    return KpiReport(
        period=period,
        previous_period=previous,
        generated_at=now or utcnow(),
        gate_threshold=gate_threshold,
        current=current,
        previous=prior,
        headlines=headlines,
        by_hour=by_hour,
        by_weekday=by_weekday,
        trend=trend,
        per_rep=per_rep,
        per_provider=per_provider,
        per_campaign=per_campaign,
        critical_calls=q.critical_calls(),
        follow_ups=follow_ups,
    )


def _follow_up_lists(frame: pd.DataFrame, users: dict[int, str]) -> list[RepFollowUps]:
    """Per rep: the number of follow-up leads and the latest FOLLOW_UPS_PER_REP of them with names."""
    if frame.empty:
        return []
    frame = frame.assign(owner_key=frame["owner_id"].map(lambda v: -1 if v is None or pd.isna(v) else int(v)))
    groups: list[tuple[int | None, int, pd.DataFrame]] = []
    for owner_key, group in frame.groupby("owner_key"):
        head = group.sort_values(["at", "lead_id"], ascending=[False, True]).head(FOLLOW_UPS_PER_REP)
        # owner_key holds the ints mapped above; pandas types a group key as any scalar.
        owner_id = int(cast(int, owner_key))
        groups.append((None if owner_id == -1 else owner_id, len(group), head))
    ids = sorted({int(x) for _, _, head in groups for x in head["lead_id"]})
    names: dict[int, tuple[str, str | None]] = {}
    for chunk in range(0, len(ids), 1000):
        for row in db.session.execute(
            sa.select(Lead.id, Lead.first_name, Lead.last_name, Lead.company).where(
                Lead.id.in_(ids[chunk : chunk + 1000])
            )
        ):
            names[row.id] = (_lead_name(row.first_name, row.last_name, row.company, row.id), row.company)
    out = []
    for owner, total, head in groups:
        leads = [
            FollowUp(
                lead_id=int(lead_id),
                lead_name=names.get(int(lead_id), (f"#{lead_id}", None))[0],
                company=names.get(int(lead_id), (None, None))[1],
                outcome=str(outcome),
                last_call_at=at.to_pydatetime().astimezone(UTC),
            )
            # Plain tuples of the three columns (name=None): the values as stored, without pandas' row types.
            for lead_id, outcome, at in head[["lead_id", "outcome", "at"]].itertuples(index=False, name=None)
        ]
        out.append(
            RepFollowUps(user_id=owner, rep=users.get(owner) if owner is not None else None, total=total, leads=leads)
        )
    out.sort(key=lambda r: (r.user_id is None, -r.total, r.rep or ""))
    return out
