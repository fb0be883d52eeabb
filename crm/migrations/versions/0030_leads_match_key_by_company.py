"""issue 21 (dedupe at scale): the fuzzy duplicate search's candidates are the newest leads of the company with
the same folded last name, read by an index on (company_id, match_key, id)

The search compares at most 200 candidates. Blocking on `match_key` alone gave it 200 arbitrary ones: in a
company of a million leads a common last name has thousands, and the lead just imported with another spelling
was rarely among them (bench/dedupe.py flagged none there, 190 in an empty company). The newest 200 of the
company are what an index on (company_id, match_key, id) reads backwards, and it replaces the index on
match_key alone, which nothing else reads.

Revision ID: 0030
Revises: 0029
Create Date: 2026-12-07 16:20:00.000000

"""

from alembic import op

revision = "0030"
down_revision = "0029"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_company_match_key", ["company_id", "match_key", "id"], unique=False)
        batch_op.drop_index("ix_leads_match_key")


def downgrade() -> None:
    with op.batch_alter_table("leads", schema=None) as batch_op:
        batch_op.create_index("ix_leads_match_key", ["match_key"], unique=False)
        batch_op.drop_index("ix_leads_company_match_key")
