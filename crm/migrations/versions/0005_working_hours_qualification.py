"""working hours per user, qualification answers per lead

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01 07:00:00.000000

"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        # {"mon": [["09:00", "17:00"]], ...} in the user's own time zone; null = the team default.
        batch_op.add_column(sa.Column("working_hours", JSON, nullable=True))
    with op.batch_alter_table("leads", schema=None) as batch_op:
        # What the voice bridge learnt on a call: need, timing, decision maker (and when it was said).
        batch_op.add_column(sa.Column("qualification", JSON, nullable=True))


def downgrade():
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.drop_column("qualification")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("working_hours")
