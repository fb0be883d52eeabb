"""compute(): every KPI of a period and of the period before it, from the queries (crm.reports.kpis.queries)
shaped by pandas (shaping, breakdowns) into the report's tree (model)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import pandas as pd
import sqlalchemy as sa

from crm.extensions import db
from crm.models import User
from crm.models.types import utcnow
from crm.reports.kpis import breakdowns
from crm.reports.kpis.fast import FastReportQueries
from crm.reports.kpis.model import (
    PRIORITIES,
    SCORE_BUCKETS,
    SENTIMENTS,
    Bucket,
    CallFigures,
    Headline,
    HourRow,
    KpiReport,
    LeadFigures,
    PeriodFigures,
    TrendDay,
    WeekdayRow,
    ratio,
)
from crm.reports.kpis.queries import FollowUpFrames, ReportQueries
from crm.reports.kpis.shaping import (
    CostPlan,
    between,
    buckets,
    column_total,
    cost_figures,
    cost_plan,
    count_by,
    email_figures,
    median,
    sum_by,
    sums_by_key,
)
from crm.reports.periods import Period
from crm.services import app_settings
from workflows.vocabulary import DEFAULT_GATE_THRESHOLD


@dataclass(frozen=True)
class ReportFrames:
    """What one report's queries returned, shaped once for every figure built from it."""

    call_hours: pd.DataFrame
    email_hours: pd.DataFrame
    lead_hours: pd.DataFrame
    lead_cube: pd.DataFrame
    lead_owners: pd.DataFrame
    # Calls of both periods by window and currency, per breakdown ("owner", "provider", "campaign", "outcome"):
    # the plain queries' one cube by all of them serves each; the fast path sums each apart.
    cubes: dict[str, pd.DataFrame]
    durations: pd.DataFrame
    follow: FollowUpFrames
    appointments: pd.DataFrame
    unsubscribed: dict[str, int]
    costs: pd.DataFrame  # priced calls' cost per window and billing currency
    plan: CostPlan
    scores: pd.DataFrame  # the lead cube with its score bucket labelled
    stages: pd.DataFrame  # the period's leads by chain stage


def compute(
    period: Period,
    *,
    previous: Period | None = None,
    gate_threshold: int | None = None,
    now: datetime | None = None,
    plain: bool = False,
) -> KpiReport:
    """Every KPI of `period` and of the period before it (inside an app context). "Qualified" counts
    scores above `gate_threshold`: by default the threshold an admin stored, else the chain's default
    (workflows.vocabulary.DEFAULT_GATE_THRESHOLD), as the gate uses. `plain` reads every figure from the
    interactions themselves instead of the hourly rollups (crm.reports.kpis.fast): the same figures, slower;
    the reference the fast path is tested against."""
    if gate_threshold is None:
        stored = app_settings.gate_threshold()
        gate_threshold = stored if stored is not None else DEFAULT_GATE_THRESHOLD
    previous = previous or period.previous()
    q = (ReportQueries if plain else FastReportQueries)(period, previous, gate_threshold)
    f = _frames(q)
    current, prior = _period_figures(f, "cur", period), _period_figures(f, "prev", previous)
    cur_calls, cur_leads = between(f.call_hours, period), between(f.lead_hours, period)

    # Per rep, provider, campaign (the period only), from the call cube.
    def cur_cube(dim: str) -> pd.DataFrame:
        return breakdowns.in_report_currency(_window_rows(f.cubes[dim], "cur"), f.plan)

    cur_follow = _window_rows(f.follow.counts, "cur")
    users = {u.id: u.name for u in db.session.execute(sa.select(User.id, User.name))}
    return KpiReport(
        period=period,
        previous_period=previous,
        generated_at=now or utcnow(),
        gate_threshold=gate_threshold,
        current=current,
        previous=prior,
        headlines=_headlines(current, prior),
        by_hour=[HourRow(*row) for row in _time_table(cur_calls, cur_leads, "local_hour", 24)],
        by_weekday=[WeekdayRow(*row) for row in _time_table(cur_calls, cur_leads, "weekday", 7)],
        trend=_trend(f, q.trend),
        per_rep=breakdowns.per_rep(
            cur_cube("owner"), f.lead_owners, cur_follow, _window_rows(f.appointments, "cur"), users, f.plan
        ),
        per_provider=breakdowns.per_provider(cur_cube("provider"), f.plan),
        per_campaign=breakdowns.per_campaign(cur_cube("campaign"), _window_rows(f.lead_cube, "cur"), f.plan),
        critical_calls=q.critical_calls(),
        follow_ups=breakdowns.follow_up_lists(cur_follow, f.follow.latest, users),
    )


def _frames(q: ReportQueries) -> ReportFrames:
    # The queries run in this order (as before the split): the figures do not depend on it, the
    # query log and the benchmark's timings read best when it stays put.
    call_hours, email_hours = q.activity_hours()
    lead_hours, lead_cube, lead_owners = q.lead_hours(), q.lead_cube(), q.lead_owners()
    cubes, durations, follow = q.call_cubes(), q.talk_durations(), q.follow_ups()
    unsubscribed, appointments = q.unsubscribes(), q.appointments()
    costs = _costs(cubes["outcome"])
    scores = (
        lead_cube.assign(
            score_bucket=lead_cube["score_bucket"].map(
                lambda b: SCORE_BUCKETS[-1] if b is None or int(b) < 0 else SCORE_BUCKETS[int(b)]
            )
        )
        if not lead_cube.empty
        else lead_cube
    )
    return ReportFrames(
        call_hours=call_hours,
        email_hours=email_hours,
        lead_hours=lead_hours,
        lead_cube=lead_cube,
        lead_owners=lead_owners,
        cubes=cubes,
        durations=durations,
        follow=follow,
        appointments=appointments,
        unsubscribed=unsubscribed,
        costs=costs,
        plan=cost_plan(costs),
        scores=scores,
        stages=lead_owners.assign(window="cur") if not lead_owners.empty else lead_owners,
    )


def _costs(cube: pd.DataFrame) -> pd.DataFrame:
    """window, currency, total, priced: the priced calls' cost per period and billing currency."""
    priced = cube[cube["priced"] > 0] if not cube.empty else cube
    if priced.empty:
        return pd.DataFrame(columns=["window", "currency", "total", "priced"])
    return (
        priced.groupby(["window", "currency"], dropna=False)[["cost", "priced"]]
        .sum()
        .reset_index()
        .rename(columns={"cost": "total"})
    )


def _window_rows(frame: pd.DataFrame, window: str) -> pd.DataFrame:
    return frame[frame["window"] == window] if not frame.empty else frame


def _period_figures(f: ReportFrames, window: str, p: Period) -> PeriodFigures:
    calls = _call_figures(f, window, p)
    return PeriodFigures(
        leads=_lead_figures(f, window, p),
        calls=calls,
        costs=cost_figures(f.costs, window, calls.booked, f.plan),
        emails=email_figures(between(f.email_hours, p), f.unsubscribed.get(window, 0)),
    )


def _lead_figures(f: ReportFrames, window: str, p: Period) -> LeadFigures:
    hours = between(f.lead_hours, p)
    leads_in, qualified = column_total(hours, "leads"), column_total(hours, "qualified")
    return LeadFigures(
        leads_in=leads_in,
        qualified=qualified,
        qualified_share=ratio(qualified, leads_in),
        by_source=buckets(count_by(f.lead_cube, "source"), window, label=lambda k: k or None),
        by_campaign=buckets(count_by(f.lead_cube, "campaign"), window),
        score_buckets=buckets(count_by(f.scores, "score_bucket"), window, order=SCORE_BUCKETS, keep_zero=True),
        priorities=buckets(count_by(f.lead_cube, "priority"), window, order=PRIORITIES, keep_zero=True),
        chain_stages=buckets(count_by(f.stages, "stage"), window),
    )


def _call_figures(f: ReportFrames, window: str, p: Period) -> CallFigures:
    hours = between(f.call_hours, p)
    placed, answered = column_total(hours, "placed"), column_total(hours, "answered")
    voicemail, no_answer = column_total(hours, "voicemail"), column_total(hours, "no_answer")
    wanted, booked = column_total(hours, "wanted"), column_total(hours, "booked")
    talk_sum, talk_n = column_total(hours, "talk_sum"), column_total(hours, "talk_n")
    outcomes = sum_by(_window_rows(f.cubes["outcome"], window), "outcome", ["calls"])
    return CallFigures(
        placed=placed,
        answered=answered,
        answer_rate=ratio(answered, placed),
        voicemail=voicemail,
        voicemail_rate=ratio(voicemail, placed),
        no_answer=no_answer,
        no_answer_rate=ratio(no_answer, placed),
        busy=column_total(hours, "busy"),
        failed=column_total(hours, "failed"),
        talk_time_avg_s=ratio(talk_sum, talk_n),
        talk_time_median_s=median(_window_rows(f.durations, window)),
        sentiment=[Bucket(s, column_total(hours, f"sent_{s}")) for s in SENTIMENTS],
        outcomes=[Bucket(k, v["calls"]) for k, v in sorted(outcomes.items(), key=lambda kv: (-kv[1]["calls"], kv[0]))],
        wanted=wanted,
        booked=booked,
        booking_conversion=ratio(booked, wanted),
        follow_ups=column_total(_window_rows(f.follow.counts, window), "n"),
        appointments=column_total(_window_rows(f.appointments, window), "n"),
        critical=column_total(hours, "critical"),
    )


def _grouped(frame: pd.DataFrame, key: str, column: str) -> dict[int, int]:
    return {int(k): int(v) for k, v in sums_by_key(frame, key, column)} if not frame.empty else {}


def _time_table(
    calls: pd.DataFrame, leads: pd.DataFrame, key: str, size: int
) -> list[tuple[int, int, int, float | None, int]]:
    """(slot, calls, answered, answer rate, leads) for each hour of the day or weekday of the period."""
    placed, answered, leads_in = (
        _grouped(calls, key, "placed"),
        _grouped(calls, key, "answered"),
        _grouped(leads, key, "leads"),
    )
    return [
        (i, placed.get(i, 0), answered.get(i, 0), ratio(answered.get(i, 0), placed.get(i, 0)), leads_in.get(i, 0))
        for i in range(size)
    ]


def _trend(f: ReportFrames, trend: Period) -> list[TrendDay]:
    """The last TREND_DAYS days: leads, calls, answered, booked and emails per local day."""

    def daily(frame: pd.DataFrame, column: str) -> dict[date, int]:
        frame = between(frame, trend)
        return {k: int(v) for k, v in sums_by_key(frame, "local_day", column)} if not frame.empty else {}

    leads, calls, answered = (
        daily(f.lead_hours, "leads"),
        daily(f.call_hours, "placed"),
        daily(f.call_hours, "answered"),
    )
    booked, emails = daily(f.call_hours, "booked"), daily(f.email_hours, "sent")
    return [
        TrendDay(d, leads.get(d, 0), calls.get(d, 0), answered.get(d, 0), booked.get(d, 0), emails.get(d, 0))
        for d in trend.days
    ]


def _headlines(current: PeriodFigures, prior: PeriodFigures) -> list[Headline]:
    return [
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
