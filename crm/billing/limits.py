"""The soft and hard limits of a company's month, and the dial gate's question "may we call?".

The limits watch the month's usage charges (cents above the base fee, from the recorded usage and the
plan's prices), with the company's own limits winning over the plan's. A payment still failed after the
grace period counts as the hard limit too. Only new outbound calls pause: everything else (inbound
calls, emails, bookings) goes on, and a paused chain waits (not fails) until the limit is raised."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm.billing import invoicing, metering, payments
from crm.billing.metrics import period_of
from crm.billing.pricing import lines_for, usage_charges_cents
from crm.extensions import db
from crm.models import Plan
from crm.models.types import utcnow

OK, SOFT, HARD = "ok", "soft", "hard"


@dataclass(frozen=True)
class LimitState:
    level: str  # ok | soft | hard
    reason: str  # for the chain's timeline and logs (English); no personal data
    charges_cents: int = 0
    code: str = ""  # hard_limit | payment_overdue | payment_failed | soft_limit: the banner's text (crm.ui.billing)


def state(now: datetime | None = None, meter_first: bool = True) -> LimitState:
    """The current company's limit state for the month of `now`."""
    now = now or utcnow()
    acct = invoicing.account()
    if acct is None:
        return LimitState(OK, "")
    plan = db.session.get(Plan, acct.plan_id) if acct.plan_id else None
    period = period_of(now.year, now.month)
    if meter_first:
        metering.meter(period)
    charges = (
        usage_charges_cents(lines_for(invoicing.plan_prices(plan), invoicing.used_quantities(period))) if plan else 0
    )
    hard = acct.hard_limit_cents if acct.hard_limit_cents is not None else (plan.hard_limit_cents if plan else None)
    soft = acct.soft_limit_cents if acct.soft_limit_cents is not None else (plan.soft_limit_cents if plan else None)
    if payments.grace_over(acct, now):
        return LimitState(HARD, "payment overdue beyond the grace period", charges, "payment_overdue")
    if hard is not None and charges >= hard:
        return LimitState(HARD, f"hard usage limit reached ({charges} of {hard} cents)", charges, "hard_limit")
    if acct.payment_status == "failed":
        return LimitState(SOFT, "payment failed: please update the payment method", charges, "payment_failed")
    if soft is not None and charges >= soft:
        return LimitState(SOFT, f"soft usage limit reached ({charges} of {soft} cents)", charges, "soft_limit")
    return LimitState(OK, "", charges)
