"""appointments.offer_matched: whether a slot booked on a call satisfied the caller's wish

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06 15:00:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    # Nullable: appointments booked before this column (or outside a call) do not know. A plain ALTER, not
    # a batch: rebuilding the table on SQLite would drop the triggers that keep appointments from overlapping.
    op.add_column("appointments", sa.Column("offer_matched", sa.Boolean(), nullable=True))


def downgrade():
    op.drop_column("appointments", "offer_matched")
