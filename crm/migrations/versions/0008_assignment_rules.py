"""assignment rules for new leads and their round-robin counters

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06 11:30:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    op.create_table(
        "assignment_rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("languages", JSON, nullable=False),
        sa.Column("countries", JSON, nullable=False),
        sa.Column("postcode_prefixes", JSON, nullable=False),
        sa.Column("sources", JSON, nullable=False),
        sa.Column("rep_ids", JSON, nullable=False),
        sa.Column("match_rep_language", sa.Boolean(), nullable=False),
        sa.Column("updated_by", sa.String(length=100), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_assignment_rules")),
    )
    op.create_table(
        "assignment_counters",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_assignment_counters")),
    )


def downgrade():
    op.drop_table("assignment_counters")
    op.drop_table("assignment_rules")
