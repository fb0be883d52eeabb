"""issue 18 (Cal.com, Google, Microsoft calendars)

Reserved while the work proceeds in parallel, so the revision chain stays linear; it changes nothing until
that work fills it in.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-06 23:50:00.000000

"""

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
