"""issue 20: the setup wizard's provisioned provider objects and its progress

provisioned_objects: one row per company, provider and step (agent, assistant, phone number) of what the
wizard created at a voice provider, so a retry never buys twice and an undo leaves nothing behind;
onboarding_progress: the wizard screens a company has completed. Both company-owned (row-level security on
PostgreSQL, like 0020's tables); grants to the tenant role come from 0013's default privileges.

Revision ID: 0022
Revises: 0021
Create Date: 2026-12-07 00:50:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0022"
down_revision = "0021"
branch_labels = None
depends_on = None

# Frozen copy of crm.tenancy.rls.POLICY (as 0013 froze it).
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OWNED = ("provisioned_objects", "onboarding_progress")


def upgrade() -> None:
    op.create_table(
        "provisioned_objects",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=False),
        sa.Column("external_id", sa.String(length=200), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("status IN ('creating', 'created', 'deleted')", name=op.f("ck_provisioned_objects_status")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_provisioned_objects_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_provisioned_objects")),
        sa.UniqueConstraint("company_id", "provider", "step", name="uq_provisioned_objects_company_provider_step"),
    )
    op.create_index(op.f("ix_provisioned_objects_company_id"), "provisioned_objects", ["company_id"], unique=False)
    op.create_table(
        "onboarding_progress",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("completed", JSON, nullable=False),
        sa.Column("answers", JSON, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_onboarding_progress_company_id_companies")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_onboarding_progress")),
        sa.UniqueConstraint("company_id", name="uq_onboarding_progress_company"),
    )
    op.create_index(op.f("ix_onboarding_progress_company_id"), "onboarding_progress", ["company_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for table in OWNED:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY company_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade() -> None:
    # Dropping a table drops its policy and indexes with it.
    op.drop_table("onboarding_progress")
    op.drop_table("provisioned_objects")
