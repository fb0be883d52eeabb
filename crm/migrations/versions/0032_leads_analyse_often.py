"""issue 16 (tenancy at scale): on PostgreSQL the leads table is analysed after every 2,000 changed rows

A company that is not in the table's statistics yet (a new company, before the next ANALYZE) is estimated
at one row. The smallest index on `company_id` then looks cheapest for the look-ups by email key and by
phone number, and PostgreSQL reads every lead of that company per look-up instead of one row by the unique
index (docs/tenancy.md, "Not fixed in the product": 200,000 analysed leads of one company and 5,000 new ones
of another, 0.55-0.82 ms against about 0.01 ms). Autovacuum's default analyses `leads` only after 10 % of its
rows changed, so on a large installation a new company's whole first import runs unanalysed, and its intake
costs the square of its size. With a fixed threshold the window is about 2,000 rows and autovacuum's nap
(one minute by default); an ANALYZE of `leads` reads a sample of at most 30,000 rows, whatever the table's size.

Only where autovacuum runs (the default; this development machine's server has it off). SQLite: nothing.

Revision ID: 0032
Revises: 0031
Create Date: 2026-12-07 23:00:00.000000

"""

from alembic import op

revision = "0032"
down_revision = "0031"
branch_labels = None
depends_on = None

ANALYSE_AFTER_ROWS = 2000


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        "ALTER TABLE leads SET (autovacuum_analyze_scale_factor = 0,"
        f" autovacuum_analyze_threshold = {ANALYSE_AFTER_ROWS})"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE leads RESET (autovacuum_analyze_scale_factor, autovacuum_analyze_threshold)")
