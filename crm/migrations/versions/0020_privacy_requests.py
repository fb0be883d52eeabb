"""privacy requests, their steps, the suppression list, retention policies (issue 19)

All four tables are company-owned (row-level security on PostgreSQL, like 0015/0017's tables). Grants to the
tenant role come from 0013's default privileges.

Revision ID: 0020
Revises: 0019
Create Date: 2026-12-06 23:50:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None

# Frozen copy of crm.tenancy.rls.POLICY (as 0013 froze it).
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OWNED = ("privacy_requests", "privacy_request_steps", "suppression_list", "retention_policies")
POSITIVE = (
    "coalesce(transcripts_days, 1) > 0 AND coalesce(recordings_days, 1) > 0"
    " AND coalesce(email_bodies_days, 1) > 0 AND coalesce(inactive_leads_days, 1) > 0"
)


def _company(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f(f"fk_{table}_company_id_companies"))


def upgrade():
    _requests()
    _steps()
    _suppression()
    _retention()
    if op.get_bind().dialect.name == "postgresql":
        for table in OWNED:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY company_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def _requests() -> None:
    op.create_table(
        "privacy_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("requester", sa.String(length=32), nullable=False),
        sa.Column("received_via", sa.String(length=32), nullable=False),
        sa.Column("identity_check", sa.String(length=300), nullable=False),
        sa.Column("lead_ids", JSON, nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("opened_by", sa.String(length=100), nullable=False),
        sa.Column("workflow_id", sa.String(length=100), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archive", sa.LargeBinary(), nullable=True),
        sa.Column("archive_sha256", sa.String(length=64), nullable=True),
        sa.Column("downloaded_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("downloaded_by", sa.String(length=100), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('export', 'erasure')", name=op.f("ck_privacy_requests_kind")),
        sa.CheckConstraint("status IN ('open', 'running', 'done', 'failed')", name=op.f("ck_privacy_requests_status")),
        _company("privacy_requests"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_requests")),
    )
    for column in ("company_id", "due_at"):
        op.create_index(op.f(f"ix_privacy_requests_{column}"), "privacy_requests", [column], unique=False)


def _steps() -> None:
    op.create_table(
        "privacy_request_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("step", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "status IN ('done', 'not_offered', 'failed', 'skipped')", name=op.f("ck_privacy_request_steps_status")
        ),
        _company("privacy_request_steps"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name=op.f("fk_privacy_request_steps_request_id_privacy_requests"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_request_steps")),
        sa.UniqueConstraint("request_id", "step", name="uq_privacy_request_steps_step"),
    )
    for column in ("company_id", "request_id"):
        op.create_index(op.f(f"ix_privacy_request_steps_{column}"), "privacy_request_steps", [column], unique=False)


def _suppression() -> None:
    op.create_table(
        "suppression_list",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("digest", sa.String(length=64), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=True),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("kind IN ('email', 'phone')", name=op.f("ck_suppression_list_kind")),
        _company("suppression_list"),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_requests.id"],
            name=op.f("fk_suppression_list_request_id_privacy_requests"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_suppression_list")),
        sa.UniqueConstraint("company_id", "kind", "digest", name="uq_suppression_list_digest"),
    )
    op.create_index(op.f("ix_suppression_list_company_id"), "suppression_list", ["company_id"], unique=False)


def _retention() -> None:
    op.create_table(
        "retention_policies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("transcripts_days", sa.Integer(), nullable=True),
        sa.Column("recordings_days", sa.Integer(), nullable=True),
        sa.Column("email_bodies_days", sa.Integer(), nullable=True),
        sa.Column("inactive_leads_days", sa.Integer(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(POSITIVE, name=op.f("ck_retention_policies_positive")),
        _company("retention_policies"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_retention_policies")),
        sa.UniqueConstraint("company_id", name="uq_retention_policies_company"),
    )
    op.create_index(op.f("ix_retention_policies_company_id"), "retention_policies", ["company_id"], unique=False)


def downgrade():
    # Dropping a table drops its policy and indexes with it.
    for table in ("retention_policies", "suppression_list", "privacy_request_steps", "privacy_requests"):
        op.drop_table(table)
