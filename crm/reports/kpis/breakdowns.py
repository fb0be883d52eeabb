"""The period's tables per rep, provider and campaign (from the call cube) and the follow-up lists per rep."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa

from crm.extensions import db
from crm.models import Lead
from crm.reports.kpis.model import FOLLOW_UPS_PER_REP, CampaignRow, FollowUp, ProviderRow, RepFollowUps, RepRow, ratio
from crm.reports.kpis.queries import lead_name
from crm.reports.kpis.shaping import CostPlan, sum_by

# The call cube's columns summed per rep, provider and campaign.
METRICS = ["calls", "answered", "voicemail", "wanted", "booked", "talk_sum", "talk_n", "cost_main", "priced_main"]
_EMPTY = dict.fromkeys(METRICS, 0)


def in_report_currency(cur_cube: pd.DataFrame, plan: CostPlan) -> pd.DataFrame:
    """The period's call cube with each call's cost in the report currency (by its billing currency's factor);
    calls billed in a currency without a rate stay out of these sums, as out of the totals."""
    if cur_cube.empty:
        return cur_cube
    factor = cur_cube["currency"].map(lambda c: float(plan.factors[c]) if c in plan.factors else np.nan)
    return cur_cube.assign(
        cost_main=(cur_cube["cost"] * factor).fillna(0), priced_main=cur_cube["priced"].where(factor.notna(), 0)
    )


def _cost_of(row: dict[str, float] | None, plan: CostPlan) -> float | None:
    return row["cost_main"] if row and plan.currency and row["priced_main"] else None


def _by_owner(frame: pd.DataFrame, column: str) -> dict[int | None, Any]:
    return {(None if k is None else int(k)): v[column] for k, v in sum_by(frame, "owner_id", [column]).items()}


def per_rep(
    cur_cube: pd.DataFrame,
    lead_owners: pd.DataFrame,
    cur_follow: pd.DataFrame,
    cur_appointments: pd.DataFrame,
    users: dict[int, str],
    plan: CostPlan,
) -> list[RepRow]:
    rep_calls = {(None if k is None else int(k)): v for k, v in sum_by(cur_cube, "owner_id", METRICS).items()}
    leads_owner = _by_owner(lead_owners, "n")
    follow_owner = _by_owner(cur_follow, "n") if not cur_follow.empty else {}
    appts_owner: dict[int | None, int] = {
        int(k): v["n"] for k, v in sum_by(cur_appointments, "owner_id", ["n"]).items()
    }
    rows = []
    for owner in set(rep_calls) | set(leads_owner) | set(follow_owner) | set(appts_owner):
        r = rep_calls.get(owner, _EMPTY)
        rows.append(
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
                cost_cents=_cost_of(rep_calls.get(owner), plan),
            )
        )
    rows.sort(key=lambda r: (r.user_id is None, -r.calls, -r.leads_in, r.name or "", r.user_id or 0))
    return rows


def per_provider(cur_cube: pd.DataFrame, plan: CostPlan) -> list[ProviderRow]:
    rows = []
    for provider, r in sum_by(cur_cube, "provider", METRICS).items():
        cost = _cost_of(r, plan)
        rows.append(
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
    rows.sort(key=lambda r: (-r.calls, r.provider or ""))
    return rows


def per_campaign(cur_cube: pd.DataFrame, cur_lead_cube: pd.DataFrame, plan: CostPlan) -> list[CampaignRow]:
    camp_calls = sum_by(cur_cube, "campaign", METRICS)
    camp_leads = sum_by(cur_lead_cube, "campaign", ["n", "qualified"])
    rows = []
    for name in set(camp_calls) | set(camp_leads):
        r, leads = camp_calls.get(name, _EMPTY), camp_leads.get(name, {"n": 0, "qualified": 0})
        cost = _cost_of(camp_calls.get(name), plan)
        rows.append(
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
    rows.sort(key=lambda r: (r.campaign is None, -r.leads_in, -r.calls, r.campaign or ""))
    return rows


def follow_up_lists(counts: pd.DataFrame, latest: pd.DataFrame, users: dict[int, str]) -> list[RepFollowUps]:
    """Per rep: the number of follow-up leads (`counts` of the period: owner_id, n) and the latest
    FOLLOW_UPS_PER_REP of them with names (`latest`: lead_id, owner_id, at, outcome, newest first per owner)."""
    if counts.empty:
        return []
    groups: list[tuple[int | None, int, pd.DataFrame]] = []
    for owner, total in _by_owner(counts, "n").items():
        mine = latest["owner_id"].isna() if owner is None else latest["owner_id"] == owner
        head = latest[mine].sort_values(["at", "lead_id"], ascending=[False, True]).head(FOLLOW_UPS_PER_REP)
        groups.append((owner, int(total), head))
    ids = sorted({int(x) for _, _, head in groups for x in head["lead_id"]})
    names: dict[int, tuple[str, str | None]] = {}
    for chunk in range(0, len(ids), 1000):
        for row in db.session.execute(
            sa.select(Lead.id, Lead.first_name, Lead.last_name, Lead.company).where(
                Lead.id.in_(ids[chunk : chunk + 1000])
            )
        ):
            names[row.id] = (lead_name(row.first_name, row.last_name, row.company, row.id), row.company)
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
