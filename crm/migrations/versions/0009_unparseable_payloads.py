"""unparseable provider payloads, kept for a person to look at

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06 14:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "unparseable_payloads",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source", sa.String(length=100), nullable=False),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.Column("field", sa.String(length=200), nullable=False),
        sa.Column("problem", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_unparseable_payloads")),
    )
    op.create_index(op.f("ix_unparseable_payloads_source"), "unparseable_payloads", ["source"], unique=False)
    op.create_index(op.f("ix_unparseable_payloads_received_at"), "unparseable_payloads", ["received_at"], unique=False)


def downgrade():
    op.drop_index(op.f("ix_unparseable_payloads_received_at"), table_name="unparseable_payloads")
    op.drop_index(op.f("ix_unparseable_payloads_source"), table_name="unparseable_payloads")
    op.drop_table("unparseable_payloads")
