"""The operator's billing overview (issue 20): per company and month, the usage, the provider cost, the
billed amount and the margin, as recorded (the monthly run and the admins' pages meter). Figures only, no
customer data, read in an operator context (as crm.ui.platform's list is)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, abort, g, render_template, request
from flask_login import login_required

from crm.billing import invoicing, metrics
from crm.billing.metrics import parse_period, period_of
from crm.billing.pricing import lines_for
from crm.extensions import db
from crm.models import BillingAccount, Company, Plan, UsageEvent
from crm.models.types import utcnow
from crm.tenancy.context import operator_scope
from crm.ui.access import user
from crm.ui.i18n import _

bp = Blueprint("platform_billing", __name__, url_prefix="/platform/billing")


def _operator_id() -> int:
    """The signed-in operator's id, else 403 (the same check as crm.ui.platform's pages)."""
    operator_id = getattr(g, "operator_id", None)
    if operator_id is None or operator_id != user().id:
        abort(403)
    return int(operator_id)


@dataclass(frozen=True)
class CompanyMonth:
    company_id: int
    name: str
    usage: dict[str, int]
    provider_cost_cents: int  # as the providers reported it (their currency; docs/billing.md)
    billed_cents: int  # net, the plan's base fee and usage
    margin_cents: int


def _months(month: str) -> list[CompanyMonth]:
    """Every company's recorded usage of `month`, read in one operator context with explicit company filters
    (an operator who entered a company is inside its scope; another company's scope cannot nest there)."""
    companies = db.session.execute(sa.select(Company.id, Company.name).order_by(Company.id)).all()
    used: dict[int, dict[str, int]] = {}
    cost: dict[int, int] = {}
    rows = db.session.execute(
        sa.select(
            UsageEvent.company_id,
            UsageEvent.metric,
            sa.func.sum(UsageEvent.quantity),
            sa.func.sum(UsageEvent.cost_cents),
        )
        .where(UsageEvent.period == month)
        .group_by(UsageEvent.company_id, UsageEvent.metric)
    )
    for company_id, metric, quantity, cents in rows:
        used.setdefault(company_id, {})[metric] = int(quantity or 0)
        if metric == metrics.PROVIDER_COST:
            cost[company_id] = int(cents or 0)
    plans = {
        company_id: plan
        for company_id, plan in db.session.execute(
            sa.select(BillingAccount.company_id, Plan).join(Plan, Plan.id == BillingAccount.plan_id)
        )
    }
    out = []
    for company_id, name in companies:
        plan = plans.get(company_id)
        usage = used.get(company_id, {})
        billed = sum(line.amount_cents for line in lines_for(invoicing.plan_prices(plan), usage)) if plan else 0
        out.append(
            CompanyMonth(company_id, name, usage, cost.get(company_id, 0), billed, billed - cost.get(company_id, 0))
        )
    return out


@bp.get("/")
@login_required
def overview():
    _operator_id()
    now = utcnow()
    month = (request.args.get("month") or "").strip() or period_of(now.year, now.month)
    problems: dict[str, str] = {}
    try:
        parse_period(month)
    except ValueError:
        problems["month"] = _("Must be YYYY-MM.")
        month = period_of(now.year, now.month)
    with operator_scope(f"user:{_operator_id()}", "billing overview"):
        rows = _months(month)
        db.session.rollback()
    body = render_template(
        "ui/platform/billing.html", month=month, rows=rows, metrics=metrics.BILLED, problems=problems
    )
    return body, 422 if problems else 200
