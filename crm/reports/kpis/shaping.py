"""Shaping what the KPI queries return into figures: pandas only (the database did the counting)."""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
import pandas as pd

from crm.reports.kpis.model import Bucket, CostFigures, CurrencyCost, EmailFigures, FxRate, ratio
from crm.reports.periods import Period
from crm.services import money


def between(frame: pd.DataFrame, period: Period) -> pd.DataFrame:
    lo, hi = pd.Timestamp(period.start), pd.Timestamp(period.end)
    return frame[(frame["hour_utc"] >= lo) & (frame["hour_utc"] < hi)]


def column_total(frame: pd.DataFrame, column: str) -> int:
    return int(frame[column].fillna(0).sum()) if not frame.empty else 0


def _int(value: Any) -> int:
    return 0 if value is None or (isinstance(value, float) and np.isnan(value)) else int(value)


def buckets(
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


def median(frame: pd.DataFrame) -> float | None:
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


def email_figures(hours: pd.DataFrame, unsubscribed: int) -> EmailFigures:
    sent, delivered = column_total(hours, "sent"), column_total(hours, "delivered")
    opened, clicked = column_total(hours, "opened"), column_total(hours, "clicked")
    bounced, dropped = column_total(hours, "bounced"), column_total(hours, "dropped")
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


def cost_figures(costs: pd.DataFrame, window: str, booked: int, plan: CostPlan) -> CostFigures:
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
class CostPlan:
    """How the report shows money: its currency and the factor from each billed currency into it."""

    currency: str | None
    company: str
    factors: dict[str, Decimal]
    rates: list[FxRate]
    missing: set[str]


def cost_plan(costs: pd.DataFrame) -> CostPlan:
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
        return CostPlan(company if billed else primary, company, factors, rates, missing)
    return CostPlan(primary, company, {primary: Decimal(1)}, [], missing)


def _primary_currency(costs: pd.DataFrame) -> str | None:
    """The currency most priced calls of the period (else of the previous one) were billed in."""
    if costs.empty:
        return None
    for window in ("cur", "prev"):
        rows = costs[(costs["window"] == window) & costs["currency"].notna()]
        if not rows.empty:
            return str(rows.sort_values(["priced", "currency"], ascending=[False, True]).iloc[0]["currency"])
    return None


# ------------------------------------------------------------------------------------- sums over cubes


def count_by(frame: pd.DataFrame, key: str, value: str = "n") -> pd.DataFrame:
    """window, key, n: a cube summed over everything but `key` (None keys kept)."""
    if frame.empty:
        return pd.DataFrame(columns=["window", "key", "n"])
    out = frame.groupby(["window", key], dropna=False)[value].sum().reset_index()
    out = out.rename(columns={key: "key", value: "n"})
    return out.astype({"key": "object"}).replace({np.nan: None})


def sums_by_key(frame: pd.DataFrame, key: str, column: str) -> list[tuple[Any, Any]]:
    """(key, sum of `column`) per key, as plain Python values (pandas types its index keys as Hashable)."""
    sums = frame.groupby(key)[column].sum()
    return list(zip(sums.index.tolist(), sums.tolist(), strict=True))


def sum_by(frame: pd.DataFrame, key: str, columns: list[str]) -> dict[Any, dict[str, Any]]:
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
