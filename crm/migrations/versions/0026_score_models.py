"""issue 23 (learned score): per-company score models (JSON coefficients, never pickles) and training runs

Both tables are company-owned (row-level security on PostgreSQL, as 0025 does it).

Revision ID: 0026
Revises: 0025
Create Date: 2026-12-07 10:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None

# Frozen copy of crm.tenancy.rls.POLICY (as 0013 froze it).
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)
OWNED = ("score_models", "score_training_runs")


def _json() -> sa.types.TypeEngine:
    return sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _company(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(["company_id"], ["companies.id"], name=op.f(f"fk_{table}_company_id_companies"))


def upgrade() -> None:
    op.create_table(
        "score_models",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column(
            "status",
            sa.Enum(
                "candidate",
                "promoted",
                "retired",
                name="score_model_status",
                native_enum=False,
                create_constraint=True,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("feature_names", _json(), nullable=False),
        sa.Column("coefficients", _json(), nullable=False),
        sa.Column("intercept", sa.Float(), nullable=False),
        sa.Column("scaling", _json(), nullable=False),
        sa.Column("spec", _json(), nullable=False),
        sa.Column("metrics", _json(), nullable=False),
        sa.Column("train_rows", sa.Integer(), nullable=False),
        sa.Column("holdout_rows", sa.Integer(), nullable=False),
        sa.Column("trained_until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("trained_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("promoted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retired_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        _company("score_models"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_models")),
        sa.UniqueConstraint("company_id", "version", name="uq_score_models_company_version"),
    )
    op.create_index(op.f("ix_score_models_company_id"), "score_models", ["company_id"], unique=False)
    op.create_index("ix_score_models_company_status", "score_models", ["company_id", "status"], unique=False)
    op.create_table(
        "score_training_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_key", sa.String(length=200), nullable=False),
        sa.Column("outcome", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=True),
        sa.Column("closed_rows", sa.Integer(), nullable=False),
        sa.Column("won_rows", sa.Integer(), nullable=False),
        sa.Column("lost_rows", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("company_id", sa.Integer(), nullable=False),
        _company("score_training_runs"),
        sa.ForeignKeyConstraint(
            ["model_id"],
            ["score_models.id"],
            name=op.f("fk_score_training_runs_model_id_score_models"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_score_training_runs")),
        sa.UniqueConstraint("company_id", "run_key", name="uq_score_training_runs_company_run_key"),
    )
    op.create_index(op.f("ix_score_training_runs_company_id"), "score_training_runs", ["company_id"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        for table in OWNED:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY company_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def downgrade() -> None:
    for table in ("score_training_runs", "score_models"):
        op.drop_table(table)
