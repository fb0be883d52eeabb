"""leads.language and campaigns.language may be 'fr' (issue 15 item 5: French as the third language)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06 15:30:00.000000

"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

# The languages as they stand in this revision (a later language is a later migration, not an edit here);
# the models build the same check from crm.languages.LANGUAGES.
BEFORE = "language IN ('de', 'en')"
AFTER = "language IN ('de', 'en', 'fr')"
TABLES = ("leads", "campaigns")


def _replace_check(table: str, check: str) -> None:
    # A batch: SQLite cannot alter a CHECK in place and rebuilds the table (neither table has triggers);
    # PostgreSQL drops and adds the constraint.
    with op.batch_alter_table(table, schema=None) as batch_op:
        batch_op.drop_constraint(op.f(f"ck_{table}_language"), type_="check")
        batch_op.create_check_constraint(op.f(f"ck_{table}_language"), check)


def upgrade():
    for table in TABLES:
        _replace_check(table, AFTER)


def downgrade():
    # French rows would break the narrower check: they fall back to English, the other non-German language.
    for table in TABLES:
        op.execute(f"UPDATE {table} SET language = 'en' WHERE language = 'fr'")
        _replace_check(table, BEFORE)
