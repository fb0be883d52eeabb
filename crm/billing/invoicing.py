"""Issuing a company's invoice for a month, once, with the next number of the gapless sequence.

The number comes from a counter row (`invoice_counters`, one per year) incremented in the same transaction
that inserts the invoice: on PostgreSQL the UPDATE locks the row until commit, so two issuers take turns,
and a rolled-back invoice rolls its increment back with it: no number is skipped or used twice. The
invoice is unique per company and month, so a re-run (the monthly schedule retried or run again) finds
the existing invoice and changes nothing."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from crm.billing import metering
from crm.billing.metrics import parse_period
from crm.billing.pricing import PlanPrices, lines_for, reverse_charge_applies, totals_for
from crm.extensions import db
from crm.models import BillingAccount, Invoice, InvoiceCounter, Plan
from crm.models.types import utcnow


class NoBillingAccount(LookupError):
    """The company has no billing account or no plan: nothing to invoice."""


@dataclass(frozen=True)
class Issued:
    invoice_id: int
    number: str
    created: bool


def account() -> BillingAccount | None:
    return db.session.scalar(sa.select(BillingAccount))


def plan_prices(plan: Plan) -> PlanPrices:
    return PlanPrices(plan.base_fee_cents, dict(plan.unit_prices_cents or {}), dict(plan.included or {}))


def used_quantities(period: str) -> dict[str, int]:
    used: dict[str, int] = {}
    for total in metering.usage_of(period):
        used[total.metric] = used.get(total.metric, 0) + total.quantity
    return used


def next_number(year: int) -> str:
    """Take the year's next invoice number inside the caller's transaction (never commits)."""
    insert = postgresql.insert if db.session.get_bind().dialect.name == "postgresql" else sqlite.insert
    db.session.execute(
        insert(InvoiceCounter).values(year=year, last_number=0).on_conflict_do_nothing(index_elements=["year"])
    )
    number = db.session.scalar(
        sa.update(InvoiceCounter)
        .where(InvoiceCounter.year == year)
        .values(last_number=InvoiceCounter.last_number + 1)
        .returning(InvoiceCounter.last_number)
    )
    return f"LC-{year}-{int(number or 0):06d}"


def issue(period: str) -> Issued:
    """The current company's invoice for `period`: metered, priced, numbered and stored once."""
    year, _ = parse_period(period)
    existing = db.session.scalar(sa.select(Invoice).where(Invoice.period == period))
    if existing is not None:
        return Issued(existing.id, existing.number, False)
    acct = account()
    plan = db.session.get(Plan, acct.plan_id) if acct is not None and acct.plan_id else None
    if acct is None or plan is None:
        raise NoBillingAccount("no billing account with a plan")
    metering.meter(period)
    lines = lines_for(plan_prices(plan), used_quantities(period))
    reverse = reverse_charge_applies(acct.country, acct.vat_id, acct.is_business)
    totals = totals_for(lines, reverse)
    try:
        invoice = Invoice(
            number=next_number(year),
            period=period,
            issued_at=utcnow(),
            lines=[line.as_dict() for line in lines],
            net_cents=totals.net_cents,
            vat_rate_percent=totals.vat_rate_percent,
            vat_cents=totals.vat_cents,
            gross_cents=totals.gross_cents,
            reverse_charge=totals.reverse_charge,
            recipient={
                "legal_name": acct.legal_name,
                "address": acct.address,
                "country": acct.country,
                "vat_id": acct.vat_id,
                "language": acct.language,
            },
        )
        db.session.add(invoice)
        db.session.commit()
    except sa.exc.IntegrityError:
        # Another run issued it first; our number increment rolled back with us.
        db.session.rollback()
        won = db.session.scalars(sa.select(Invoice).where(Invoice.period == period)).one()
        return Issued(won.id, won.number, False)
    return Issued(invoice.id, invoice.number, True)
