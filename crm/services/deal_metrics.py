"""The pipeline in figures (issue 23): per stage what is open and what it is worth, the win rate, the sales
cycle, the month's forecast and the deals that stand still. Definitions: docs/deals.md, "Metrics".

Money is never converted: every amount is a list of per-currency totals (most companies have one currency;
one with two sees two lines rather than a sum made with a rate nobody chose). Days are the company's calendar
days (its time zone), counted from `today`, which the caller passes so a report and a test can fix it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Company, Deal, DealStage, DealStatus, Lead
from crm.services.deal_stages import active_stages, stale_days
from crm.tenancy.context import require_company_id

# Win rate and cycle length look back this many days (today included).
LOOKBACK_DAYS = 90


@dataclass(frozen=True)
class Money:
    currency: str
    cents: int


@dataclass(frozen=True)
class DealCard:
    """One open deal as the board shows it."""

    id: int
    lead_id: int
    title: str
    value_cents: int
    currency: str
    owner_id: int | None
    expected_close_on: date | None
    stage_changed_at: datetime
    days_in_stage: int
    stale: bool


@dataclass(frozen=True)
class StageSummary:
    stage_id: int
    name: str
    probability: int
    count: int
    total: tuple[Money, ...]
    weighted: tuple[Money, ...]  # total × probability, rounded to whole cents per currency
    deals: tuple[DealCard, ...]  # oldest in the stage first


@dataclass(frozen=True)
class PipelineSummary:
    today: date
    stages: tuple[StageSummary, ...]
    open_count: int
    open_total: tuple[Money, ...]
    open_weighted: tuple[Money, ...]
    won: int  # closed in the last LOOKBACK_DAYS days
    lost: int
    win_rate: float | None  # won / (won + lost); None when nothing closed
    avg_cycle_days: float | None  # created → closed, won deals of the lookback; None without any
    forecast: tuple[Money, ...]  # this month: weighted open deals expected to close in it + won in it
    stale_after_days: int
    stale_count: int


def _zone() -> ZoneInfo:
    company = db.session.get(Company, require_company_id())
    try:
        return ZoneInfo(company.timezone if company is not None else "Europe/Berlin")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("Europe/Berlin")


def company_today() -> date:
    """Today in the current company's time zone: the `today` of the board, the dashboard and the API."""
    return datetime.now(_zone()).date()


def _start_of(day: date, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), zone).astimezone(UTC)


def _local_day(at: datetime, zone: ZoneInfo) -> date:
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(zone).date()


def per_currency(pairs: Iterable[tuple[str, float]]) -> tuple[Money, ...]:
    """Amounts summed per currency (rounded once, at the end), in currency order."""
    sums: dict[str, float] = defaultdict(float)
    for code, cents in pairs:
        sums[code] += cents
    return tuple(Money(code, round(total)) for code, total in sorted(sums.items()))


def _filtered(query: sa.Select, owner_id: int | None, branch_id: int | None, source: str | None) -> sa.Select:
    if owner_id is not None:
        query = query.where(Deal.owner_id == owner_id)
    if branch_id is not None:
        query = query.where(Deal.branch_id == branch_id)
    if source is not None:
        query = query.where(Deal.lead_id.in_(sa.select(Lead.id).where(Lead.source == source)))
    return query


def _card(deal: Deal, today: date, zone: ZoneInfo, threshold: int) -> DealCard:
    days = (today - _local_day(deal.stage_changed_at, zone)).days
    return DealCard(
        id=deal.id,
        lead_id=deal.lead_id,
        title=deal.title,
        value_cents=deal.value_cents,
        currency=deal.currency,
        owner_id=deal.owner_id,
        expected_close_on=deal.expected_close_on,
        stage_changed_at=deal.stage_changed_at,
        days_in_stage=days,
        stale=days > threshold,
    )


def _stages(open_deals: list[Deal], today: date, zone: ZoneInfo, threshold: int) -> tuple[StageSummary, ...]:
    by_stage: dict[int, list[Deal]] = defaultdict(list)
    for deal in open_deals:
        by_stage[deal.stage_id].append(deal)
    out = []
    for stage in active_stages():
        deals = sorted(by_stage.get(stage.id, []), key=lambda d: (d.stage_changed_at, d.id))
        out.append(
            StageSummary(
                stage_id=stage.id,
                name=stage.name,
                probability=stage.probability,
                count=len(deals),
                total=per_currency((d.currency, d.value_cents) for d in deals),
                weighted=per_currency((d.currency, d.value_cents * stage.probability / 100) for d in deals),
                deals=tuple(_card(d, today, zone, threshold) for d in deals),
            )
        )
    return tuple(out)


def pipeline_summary(
    *, owner_id: int | None = None, branch_id: int | None = None, source: str | None = None, today: date
) -> PipelineSummary:
    """The current company's pipeline as of `today` (its calendar), for one owner, branch or lead source
    when given."""
    zone, threshold = _zone(), stale_days()
    chance: dict[int, int] = {sid: p for sid, p in db.session.execute(sa.select(DealStage.id, DealStage.probability))}
    open_deals = list(
        db.session.scalars(
            _filtered(sa.select(Deal).where(Deal.status == DealStatus.OPEN), owner_id, branch_id, source)
        )
    )
    since, month_start = _start_of(today - timedelta(days=LOOKBACK_DAYS - 1), zone), today.replace(day=1)
    until = _start_of(today + timedelta(days=1), zone)
    closed_query = sa.select(Deal.status, Deal.created_at, Deal.closed_at, Deal.value_cents, Deal.currency).where(
        Deal.status != DealStatus.OPEN,
        Deal.closed_at >= min(since, _start_of(month_start, zone)),
        Deal.closed_at < until,
    )
    closed = db.session.execute(_filtered(closed_query, owner_id, branch_id, source)).all()
    recent = [row for row in closed if row.closed_at >= since]
    won = [row for row in recent if row.status == DealStatus.WON]
    cycles = [(row.closed_at - row.created_at).total_seconds() / 86400 for row in won]
    won_this_month = [
        (row.currency, row.value_cents)
        for row in closed
        if row.status == DealStatus.WON and _local_day(row.closed_at, zone) >= month_start
    ]
    expected = [
        (d.currency, d.value_cents * chance.get(d.stage_id, 0) / 100)
        for d in open_deals
        if d.expected_close_on is not None
        and (d.expected_close_on.year, d.expected_close_on.month) == (today.year, today.month)
    ]
    stages = _stages(open_deals, today, zone, threshold)
    return PipelineSummary(
        today=today,
        stages=stages,
        open_count=len(open_deals),
        open_total=per_currency((d.currency, d.value_cents) for d in open_deals),
        open_weighted=per_currency((d.currency, d.value_cents * chance.get(d.stage_id, 0) / 100) for d in open_deals),
        won=len(won),
        lost=len(recent) - len(won),
        win_rate=len(won) / len(recent) if recent else None,
        avg_cycle_days=sum(cycles) / len(cycles) if cycles else None,
        forecast=per_currency([*expected, *won_this_month]),
        stale_after_days=threshold,
        stale_count=sum(card.stale for stage in stages for card in stage.deals),
    )
