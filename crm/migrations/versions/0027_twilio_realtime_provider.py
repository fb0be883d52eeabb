"""issue 22 (our own audio agent): `twilio_realtime` may be a campaign's provider or failover, and an inbound
number's provider

Only the CHECK constraints change (the columns hold 16 characters; the name has 15). SQLite rebuilds the
tables (batch mode); PostgreSQL alters the constraints in place, keeping the tables' row-level security.

Revision ID: 0027
Revises: 0026
Create Date: 2026-12-07 10:30:00.000000

"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

OLD = "'retell', 'vapi', 'bland'"
NEW = "'retell', 'vapi', 'bland', 'twilio_realtime'"


def _checks(names: str) -> list[tuple[str, str, str]]:
    return [
        ("campaigns", "ck_campaigns_provider", f"provider IN ({names})"),
        ("campaigns", "ck_campaigns_failover_provider", f"failover_provider IS NULL OR failover_provider IN ({names})"),
        ("phone_numbers", "ck_phone_numbers_provider", f"provider IN ({names})"),
    ]


def _replace(names: str) -> None:
    for table, name, condition in _checks(names):
        with op.batch_alter_table(table, schema=None) as batch_op:
            # op.f: the name as it is, not run through the naming convention a second time.
            batch_op.drop_constraint(op.f(name), type_="check")
            batch_op.create_check_constraint(op.f(name), condition)


def upgrade() -> None:
    _replace(NEW)


def downgrade() -> None:
    _replace(OLD)
