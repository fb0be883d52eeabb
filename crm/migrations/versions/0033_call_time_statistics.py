"""issue 21 (reports in a second): on PostgreSQL, statistics on a call's time, coalesce(started_at, created_at)

The report's look-ups filter interactions by that expression (crm.reports.kpis.fast: the partial indexes
are on it). PostgreSQL keeps no statistics for an expression unless asked, and guesses a range on one at
half a percent of the table: for the monthly report over 1,000,000 interactions it expected 1,700 talked
calls where there were 260,000, so it sorted them (spilling to disk) to group them instead of hashing.
Extended statistics on the expression (PostgreSQL 14 and later) give it the real distribution; with them
and the talk-time query grouping by duration only, that query took 112 ms instead of 210 (docs/kpis.md).

Older PostgreSQL and SQLite: nothing (the report is correct either way, only its plan differs).

Revision ID: 0033
Revises: 0032
Create Date: 2026-12-08 01:30:00.000000

"""

from alembic import op

revision = "0033"
down_revision = "0032"
branch_labels = None
depends_on = None

NAME = "st_interactions_call_time"


def _supported() -> bool:
    bind = op.get_bind()
    return bind.dialect.name == "postgresql" and (bind.dialect.server_version_info or (0,)) >= (14,)


def upgrade() -> None:
    if not _supported():
        return
    op.execute(f"CREATE STATISTICS IF NOT EXISTS {NAME} ON (coalesce(started_at, created_at)) FROM interactions")
    # Filled now rather than at autovacuum's next visit: ANALYZE reads a sample (at most 30,000 rows).
    op.execute("ANALYZE interactions")


def downgrade() -> None:
    if not _supported():
        return
    op.execute(f"DROP STATISTICS IF EXISTS {NAME}")
