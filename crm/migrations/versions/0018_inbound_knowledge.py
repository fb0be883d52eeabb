"""issue 17 (inbound dialog): knowledge base, inbound call records, missed calls

inbound_knowledge: question/answer entries per inbound number (the dialog answers callers' questions from
them); inbound_calls: one row per provider call (its outcome, whether a person took over, the missed-call
callback made at most once). Both company-owned, behind the row-level security wall on PostgreSQL like
0015's phone_numbers.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-06 23:50:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

# Frozen copies (a migration must not follow later code): crm.tenancy.rls.POLICY, crm.models.inbound.INBOUND_OUTCOMES.
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)
OUTCOMES = ("answered", "booked", "rescheduled", "cancelled", "question", "transferred", "message", "abandoned")
TABLES = ("inbound_knowledge", "inbound_calls")


def upgrade():
    op.create_table(
        "inbound_knowledge",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("phone_number_id", sa.Integer(), nullable=False),
        sa.Column("question", sa.String(length=500), nullable=False),
        sa.Column("answer", sa.Text(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_inbound_knowledge_company_id_companies")
        ),
        sa.ForeignKeyConstraint(
            ["phone_number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_inbound_knowledge_phone_number_id_phone_numbers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_knowledge")),
    )
    op.create_index(op.f("ix_inbound_knowledge_company_id"), "inbound_knowledge", ["company_id"], unique=False)
    op.create_index(
        op.f("ix_inbound_knowledge_phone_number_id"), "inbound_knowledge", ["phone_number_id"], unique=False
    )
    op.create_table(
        "inbound_calls",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("provider", sa.String(length=16), nullable=False),
        sa.Column("call_ref", sa.String(length=200), nullable=False),
        sa.Column("phone_number_id", sa.Integer(), nullable=True),
        sa.Column("lead_id", sa.Integer(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("needed_person", sa.Boolean(), nullable=False),
        sa.Column("callback_requested", sa.Boolean(), nullable=False),
        sa.Column("callback_task_id", sa.Integer(), nullable=True),
        sa.Column("within_hours", sa.Boolean(), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            f"outcome IN ({', '.join(repr(o) for o in OUTCOMES)})", name=op.f("ck_inbound_calls_outcome")
        ),
        sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f("fk_inbound_calls_company_id_companies")),
        sa.ForeignKeyConstraint(
            ["phone_number_id"],
            ["phone_numbers.id"],
            name=op.f("fk_inbound_calls_phone_number_id_phone_numbers"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["lead_id"], ["leads.id"], name=op.f("fk_inbound_calls_lead_id_leads"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["callback_task_id"],
            ["tasks.id"],
            name=op.f("fk_inbound_calls_callback_task_id_tasks"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_inbound_calls")),
        sa.UniqueConstraint("provider", "call_ref", name="uq_inbound_calls_call"),
    )
    op.create_index(op.f("ix_inbound_calls_company_id"), "inbound_calls", ["company_id"], unique=False)
    op.create_index(op.f("ix_inbound_calls_lead_id"), "inbound_calls", ["lead_id"], unique=False)
    op.create_index(op.f("ix_inbound_calls_started_at"), "inbound_calls", ["started_at"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY company_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(f"DROP POLICY IF EXISTS company_isolation ON {table}")
    op.drop_index(op.f("ix_inbound_calls_started_at"), table_name="inbound_calls")
    op.drop_index(op.f("ix_inbound_calls_lead_id"), table_name="inbound_calls")
    op.drop_index(op.f("ix_inbound_calls_company_id"), table_name="inbound_calls")
    op.drop_table("inbound_calls")
    op.drop_index(op.f("ix_inbound_knowledge_phone_number_id"), table_name="inbound_knowledge")
    op.drop_index(op.f("ix_inbound_knowledge_company_id"), table_name="inbound_knowledge")
    op.drop_table("inbound_knowledge")
