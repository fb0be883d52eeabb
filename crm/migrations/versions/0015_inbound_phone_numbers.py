"""inbound phone numbers and caller recognition (issue 17)

phone_numbers: a company's inbound numbers (company-owned; behind the row-level security wall on
PostgreSQL like 0013's tables). The E.164 number is unique across the platform: an inbound call is routed
by it before a company is bound (crm.inbound.numbers), so it rings at exactly one company. The caller
look-up by number uses leads' existing uq_leads_phone_live (company_id, phone_e164).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-06 20:45:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

# Frozen copies (a migration must not follow later code): crm.tenancy.rls.POLICY, providers.settings.PROVIDER_NAMES,
# crm.languages.sql_check, crm.models.phone_numbers.HOLIDAY_BEHAVIOURS.
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "phone_numbers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("agent_ref", sa.String(length=200), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("greeting_name", sa.String(length=200), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("default_owner_id", sa.Integer(), nullable=True),
        sa.Column("business_hours", JSON, nullable=True),
        sa.Column("holiday_behaviour", sa.String(length=16), nullable=False),
        sa.Column("transfer_e164", sa.String(length=20), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("provider IN ('retell', 'vapi', 'bland')", name=op.f("ck_phone_numbers_provider")),
        sa.CheckConstraint("holiday_behaviour IN ('closed', 'open')", name=op.f("ck_phone_numbers_holiday_behaviour")),
        sa.CheckConstraint("language IN ('de', 'en', 'fr')", name=op.f("ck_phone_numbers_language")),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_phone_numbers_branch_id_branches"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f("fk_phone_numbers_company_id_companies")),
        sa.ForeignKeyConstraint(
            ["default_owner_id"],
            ["users.id"],
            name=op.f("fk_phone_numbers_default_owner_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_phone_numbers")),
        sa.UniqueConstraint("e164", name="uq_phone_numbers_e164"),
    )
    op.create_index(op.f("ix_phone_numbers_company_id"), "phone_numbers", ["company_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("ALTER TABLE phone_numbers ENABLE ROW LEVEL SECURITY")
        op.execute("ALTER TABLE phone_numbers FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY company_isolation ON phone_numbers USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY IF EXISTS company_isolation ON phone_numbers")
    op.drop_index(op.f("ix_phone_numbers_company_id"), table_name="phone_numbers")
    op.drop_table("phone_numbers")
