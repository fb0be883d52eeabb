"""call_result_deliveries: the provider-event outbox, a call's result waiting for its chain (issue 14 item 1)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06 16:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "call_result_deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(length=200), nullable=False),
        sa.Column("chain_id", sa.String(length=100), nullable=False),
        sa.Column(
            "result", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("delivered_by", sa.String(length=16), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_call_result_deliveries")),
        sa.UniqueConstraint("event_id", name=op.f("uq_call_result_deliveries_event_id")),
    )
    op.create_index(op.f("ix_call_result_deliveries_chain_id"), "call_result_deliveries", ["chain_id"], unique=False)
    op.create_index(
        "ix_call_result_deliveries_due", "call_result_deliveries", ["delivered_at", "next_attempt_at"], unique=False
    )


def downgrade():
    op.drop_index("ix_call_result_deliveries_due", table_name="call_result_deliveries")
    op.drop_index(op.f("ix_call_result_deliveries_chain_id"), table_name="call_result_deliveries")
    op.drop_table("call_result_deliveries")
