"""issue 21 (chain latency): a new inbox row wakes the outbox relay at its commit (PostgreSQL NOTIFY)

An insert into lead_submissions or call_result_deliveries sends a notification on the channel
`leadchain_relay` (workers/relay_wake.py listens there; activities/relay_notify.py names the channel too).
PostgreSQL delivers it when the inserting transaction commits, and never for one rolled back, so the relay
starts the chain or delivers the result at once instead of at its next poll; the poll stays, as the safety
net. Once per statement: a CSV import's batch insert is one notification. The notification carries the
table's name only, no row data. SQLite has no NOTIFY: nothing changes there.

Revision ID: 0028
Revises: 0027
Create Date: 2026-12-08 12:00:00.000000

"""

from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None

TABLES = ("lead_submissions", "call_result_deliveries")


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute(
        """
        CREATE FUNCTION leadchain_relay_wake() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('leadchain_relay', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_wake_relay AFTER INSERT ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION leadchain_relay_wake()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in TABLES:
        op.execute(f"DROP TRIGGER IF EXISTS {table}_wake_relay ON {table}")
    op.execute("DROP FUNCTION IF EXISTS leadchain_relay_wake()")
