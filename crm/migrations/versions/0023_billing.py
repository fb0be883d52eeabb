"""issue 20 (usage events, plans and limits, invoices, Stripe)

billing_accounts, usage_events and invoices are company-owned (row-level security on PostgreSQL, like
0013/0017's tables); billing_plans, invoice_counters and stripe_events are platform rows (a plan is shared,
the invoice number sequence is one for the platform, a Stripe event arrives before any company is known).

Revision ID: 0023
Revises: 0022
Create Date: 2026-12-07 00:50:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None

# Frozen copy of crm.tenancy.rls.POLICY (as 0013 froze it).
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)
OWNED = ("billing_accounts", "usage_events", "invoices")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _company(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f(f"fk_{table}_company_id_companies"))


def upgrade() -> None:
    _plans_and_accounts()
    _usage_and_invoices()
    _platform_rows()
    if op.get_bind().dialect.name == "postgresql":
        for table in OWNED:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY company_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def _plans_and_accounts() -> None:
    op.create_table(
        "billing_plans",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("base_fee_cents", sa.Integer(), nullable=False),
        sa.Column("unit_prices_cents", JSON, nullable=False),
        sa.Column("included", JSON, nullable=False),
        sa.Column("soft_limit_cents", sa.Integer(), nullable=True),
        sa.Column("hard_limit_cents", sa.Integer(), nullable=True),
        sa.Column("stripe_price_id", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_plans")),
        sa.UniqueConstraint("code", name=op.f("uq_billing_plans_code")),
    )
    op.create_table(
        "billing_accounts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("plan_id", sa.Integer(), nullable=True),
        sa.Column("legal_name", sa.String(length=200), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("vat_id", sa.String(length=20), nullable=True),
        sa.Column("is_business", sa.Boolean(), nullable=False),
        sa.Column("billing_email", sa.String(length=320), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("soft_limit_cents", sa.Integer(), nullable=True),
        sa.Column("hard_limit_cents", sa.Integer(), nullable=True),
        sa.Column("stripe_customer_id", sa.String(length=100), nullable=True),
        sa.Column("stripe_subscription_id", sa.String(length=100), nullable=True),
        sa.Column("payment_status", sa.String(length=16), nullable=False),
        sa.Column("payment_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        _company("billing_accounts"),
        sa.ForeignKeyConstraint(
            ["plan_id"],
            ["billing_plans.id"],
            name=op.f("fk_billing_accounts_plan_id_billing_plans"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_billing_accounts")),
        sa.UniqueConstraint("company_id", name="uq_billing_accounts_company"),
    )
    op.create_index(op.f("ix_billing_accounts_company_id"), "billing_accounts", ["company_id"], unique=False)


def _usage_and_invoices() -> None:
    op.create_table(
        "usage_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=240), nullable=False),
        sa.Column("metric", sa.String(length=32), nullable=False),
        sa.Column("provider", sa.String(length=32), nullable=True),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("cost_cents", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("quantity >= 0", name=op.f("ck_usage_events_quantity_nonnegative")),
        sa.CheckConstraint("cost_cents >= 0", name=op.f("ck_usage_events_cost_nonnegative")),
        _company("usage_events"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_usage_events")),
        sa.UniqueConstraint("key", name=op.f("uq_usage_events_key")),
    )
    op.create_index(op.f("ix_usage_events_company_id"), "usage_events", ["company_id"], unique=False)
    op.create_index("ix_usage_events_company_period", "usage_events", ["company_id", "period"], unique=False)
    op.create_table(
        "invoices",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("number", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=7), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lines", JSON, nullable=False),
        sa.Column("net_cents", sa.Integer(), nullable=False),
        sa.Column("vat_rate_percent", sa.Integer(), nullable=False),
        sa.Column("vat_cents", sa.Integer(), nullable=False),
        sa.Column("gross_cents", sa.Integer(), nullable=False),
        sa.Column("reverse_charge", sa.Boolean(), nullable=False),
        sa.Column("recipient", JSON, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("stripe_invoice_id", sa.String(length=100), nullable=True),
        sa.Column("emailed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        _company("invoices"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_invoices")),
        sa.UniqueConstraint("number", name=op.f("uq_invoices_number")),
        sa.UniqueConstraint("company_id", "period", name="uq_invoices_company_period"),
    )
    op.create_index(op.f("ix_invoices_company_id"), "invoices", ["company_id"], unique=False)


def _platform_rows() -> None:
    op.create_table(
        "invoice_counters",
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("year", name=op.f("pk_invoice_counters")),
    )
    op.create_table(
        "stripe_events",
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("type", sa.String(length=64), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("event_id", name=op.f("pk_stripe_events")),
    )


def downgrade() -> None:
    for table in ("stripe_events", "invoice_counters", "invoices", "usage_events", "billing_accounts", "billing_plans"):
        op.drop_table(table)
