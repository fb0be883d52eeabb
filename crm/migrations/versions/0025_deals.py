"""issue 23 (deals): per-company pipeline stages and lost reasons, and deals created from appointments

All three tables are company-owned (row-level security on PostgreSQL, like 0013's tables).

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07 09:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# Frozen copy of crm.tenancy.rls.POLICY (as 0013 froze it).
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)
OWNED = ("deal_stages", "deal_lost_reasons", "deals")


def _company(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f(f"fk_{table}_company_id_companies"))


def upgrade() -> None:
    _create_stages_and_reasons()
    _create_deals()
    if op.get_bind().dialect.name == "postgresql":
        for table in OWNED:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY company_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def _create_stages_and_reasons() -> None:
    op.create_table(
        "deal_stages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("probability", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("probability >= 0 AND probability <= 100", name=op.f("ck_deal_stages_probability_range")),
        _company("deal_stages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_stages")),
        sa.UniqueConstraint("company_id", "name", name="uq_deal_stages_company_name"),
    )
    op.create_index(op.f("ix_deal_stages_company_id"), "deal_stages", ["company_id"], unique=False)
    op.create_table(
        "deal_lost_reasons",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        _company("deal_lost_reasons"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deal_lost_reasons")),
        sa.UniqueConstraint("company_id", "label", name="uq_deal_lost_reasons_company_label"),
    )
    op.create_index(op.f("ix_deal_lost_reasons_company_id"), "deal_lost_reasons", ["company_id"], unique=False)


def _create_deals() -> None:
    op.create_table(
        "deals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("lead_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("stage_id", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum("open", "won", "lost", name="deal_status", native_enum=False, create_constraint=True, length=32),
            nullable=False,
        ),
        sa.Column("value_cents", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expected_close_on", sa.Date(), nullable=True),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("reason_id", sa.Integer(), nullable=True),
        sa.Column("reason_note", sa.String(length=500), nullable=True),
        sa.Column("stage_changed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("value_cents >= 0", name=op.f("ck_deals_value_nonnegative")),
        sa.CheckConstraint("(status = 'open') = (closed_at IS NULL)", name=op.f("ck_deals_closed_when_closed")),
        _company("deals"),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name=op.f("fk_deals_lead_id_leads"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_deals_appointment_id_appointments"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(["stage_id"], ["deal_stages.id"], name=op.f("fk_deals_stage_id_deal_stages")),
        sa.ForeignKeyConstraint(["owner_id"], ["users.id"], name=op.f("fk_deals_owner_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_deals_branch_id_branches"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["reason_id"],
            ["deal_lost_reasons.id"],
            name=op.f("fk_deals_reason_id_deal_lost_reasons"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_deals")),
        sa.UniqueConstraint("appointment_id", name=op.f("uq_deals_appointment_id")),
    )
    for column in ("company_id", "lead_id", "stage_id", "owner_id", "branch_id"):
        op.create_index(op.f(f"ix_deals_{column}"), "deals", [column], unique=False)
    op.create_index("ix_deals_company_status_stage", "deals", ["company_id", "status", "stage_id"], unique=False)


def downgrade() -> None:
    for table in ("deals", "deal_lost_reasons", "deal_stages"):
        op.drop_table(table)
