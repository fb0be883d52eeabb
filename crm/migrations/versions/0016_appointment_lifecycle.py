"""appointment lifecycle: the .ics sequence, cancellation and no-show times (issue 17 item 4)

Columns on appointments only. Change links need no table: a link carries the appointment's ics_sequence,
so it works once per change (crm/email/appointment_links.py); reminders and change emails are keyed in
the side-effect ledger (appointment:<id>:<sequence>:<what>).

Plain ALTERs, not a batch: rebuilding the table on SQLite would drop the triggers that keep confirmed
appointments from overlapping (as 0010).

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-06 20:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    # SEQUENCE of the event (RFC 5545 3.8.7.4): 0 when booked, +1 per reschedule or cancellation.
    op.add_column("appointments", sa.Column("ics_sequence", sa.Integer(), nullable=False, server_default="0"))
    op.add_column("appointments", sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("appointments", sa.Column("no_show_at", sa.DateTime(timezone=True), nullable=True))
    # Who marked the no-show: a user id (string) or "sweep" for the automatic mark.
    op.add_column("appointments", sa.Column("no_show_by", sa.String(length=64), nullable=True))


def downgrade():
    for column in ("no_show_by", "no_show_at", "cancelled_at", "ics_sequence"):
        op.drop_column("appointments", column)
