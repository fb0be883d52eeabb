"""Billing (issue 20): plans, a company's billing account, usage events, invoices, the invoice counter and
the Stripe events seen. Amounts are integer cents throughout: no float ever touches money."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from crm.extensions import Model
from crm.models.types import JSONType, UTCDateTime, utcnow
from crm.tenancy.owned import CompanyOwned


class Plan(Model):
    """A price list (platform row): base fee, unit price and included quantity per metric, and the limits.

    `unit_prices_cents` and `included` map a metric (crm.billing.metrics) to an int. The limits are on the
    month's usage charges (cents above the base fee): soft warns the admin, hard pauses new outbound calls."""

    __tablename__ = "billing_plans"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(32), unique=True)
    name: Mapped[str] = mapped_column(sa.String(100))
    base_fee_cents: Mapped[int] = mapped_column(default=0)
    unit_prices_cents: Mapped[dict] = mapped_column(JSONType, default=dict)
    included: Mapped[dict] = mapped_column(JSONType, default=dict)
    soft_limit_cents: Mapped[int | None] = mapped_column()
    hard_limit_cents: Mapped[int | None] = mapped_column()
    stripe_price_id: Mapped[str | None] = mapped_column(sa.String(100))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class BillingAccount(CompanyOwned, Model):
    """A company's billing contact, tax status, plan and payment state (one per company)."""

    __tablename__ = "billing_accounts"
    __table_args__ = (sa.UniqueConstraint("company_id", name="uq_billing_accounts_company"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int | None] = mapped_column(sa.ForeignKey("billing_plans.id", ondelete="SET NULL"))
    legal_name: Mapped[str] = mapped_column(sa.String(200), default="")
    address: Mapped[str] = mapped_column(sa.Text, default="")
    country: Mapped[str] = mapped_column(sa.String(2), default="DE")
    vat_id: Mapped[str | None] = mapped_column(sa.String(20))
    is_business: Mapped[bool] = mapped_column(default=True)
    billing_email: Mapped[str | None] = mapped_column(sa.String(320))
    language: Mapped[str] = mapped_column(sa.String(2), default="de")
    # A company's own limits override the plan's (None = the plan's): "raising the limit" writes here.
    soft_limit_cents: Mapped[int | None] = mapped_column()
    hard_limit_cents: Mapped[int | None] = mapped_column()
    stripe_customer_id: Mapped[str | None] = mapped_column(sa.String(100))
    stripe_subscription_id: Mapped[str | None] = mapped_column(sa.String(100))
    payment_status: Mapped[str] = mapped_column(sa.String(16), default="ok")  # ok | failed
    payment_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class UsageEvent(CompanyOwned, Model):
    """One billable fact, exactly once: `key` is derived from the ledger row or provider record it counts."""

    __tablename__ = "usage_events"
    __table_args__ = (
        sa.Index("ix_usage_events_company_period", "company_id", "period"),
        sa.CheckConstraint("quantity >= 0", name="quantity_nonnegative"),
        sa.CheckConstraint("cost_cents >= 0", name="cost_nonnegative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(sa.String(240), unique=True)
    metric: Mapped[str] = mapped_column(sa.String(32))
    provider: Mapped[str | None] = mapped_column(sa.String(32))
    quantity: Mapped[int] = mapped_column(default=1)
    # What the provider charged us (the margin's other side), 0 when not a cost event.
    cost_cents: Mapped[int] = mapped_column(default=0)
    period: Mapped[str] = mapped_column(sa.String(7))  # "YYYY-MM" (UTC) of occurred_at
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class Invoice(CompanyOwned, Model):
    """A company's invoice for one month: at most one per company and month (the schedule's idempotency)."""

    __tablename__ = "invoices"
    __table_args__ = (sa.UniqueConstraint("company_id", "period", name="uq_invoices_company_period"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(sa.String(32), unique=True)
    period: Mapped[str] = mapped_column(sa.String(7))
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    lines: Mapped[list] = mapped_column(JSONType)
    net_cents: Mapped[int] = mapped_column()
    vat_rate_percent: Mapped[int] = mapped_column()
    vat_cents: Mapped[int] = mapped_column()
    gross_cents: Mapped[int] = mapped_column()
    reverse_charge: Mapped[bool] = mapped_column(default=False)
    # The recipient as invoiced (§14 UStG): frozen here, a later address change does not alter the invoice.
    recipient: Mapped[dict] = mapped_column(JSONType)
    status: Mapped[str] = mapped_column(sa.String(16), default="open")  # open | paid | failed
    stripe_invoice_id: Mapped[str | None] = mapped_column(sa.String(100))
    emailed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class InvoiceCounter(Model):
    """The gapless invoice number sequence (platform row, one per year): incremented in the transaction that
    inserts the invoice, so a rolled-back invoice gives its number back."""

    __tablename__ = "invoice_counters"

    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(default=0)


class StripeEventSeen(Model):
    """Each Stripe webhook event id handled once (platform row): a replayed event is refused."""

    __tablename__ = "stripe_events"

    event_id: Mapped[str] = mapped_column(sa.String(100), primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(64))
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
