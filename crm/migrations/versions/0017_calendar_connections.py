"""calendar connections, busy table, written events, rep feeds (issue 18)

calendar_connections, calendar_busy and calendar_events are company-owned (row-level security on
PostgreSQL, like 0013's tables); calendar_feed_tokens is a platform row like api_keys (the public feed route
finds the company from the token's hash before any company is bound). Grants to the tenant role come from
0013's default privileges.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-06 20:45:00.000000

"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None

# Frozen copy of crm.tenancy.rls.POLICY (as 0013 froze it).
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)
OWNED = ("calendar_connections", "calendar_busy", "calendar_events")


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, create_constraint=True, length=32)


def _company(table: str, ondelete: str | None = None) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["company_id"], ["companies.id"], name=op.f(f"fk_{table}_company_id_companies"), ondelete=ondelete
    )


def upgrade():
    _connections()
    _feed_tokens()
    _busy()
    _events()
    if op.get_bind().dialect.name == "postgresql":
        for table in OWNED:
            op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
            op.execute(f"CREATE POLICY company_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def _connections() -> None:
    op.create_table(
        "calendar_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("branch_id", sa.Integer(), nullable=True),
        sa.Column("kind", _enum("calendar_kind", "caldav", "calcom", "google", "microsoft"), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("username", sa.String(length=320), nullable=True),
        sa.Column("secret_ref", sa.String(length=200), nullable=True),
        sa.Column("counts_as_busy", sa.Boolean(), nullable=False),
        sa.Column("write_bookings", sa.Boolean(), nullable=False),
        sa.Column("status", _enum("calendar_status", "ok", "broken", "syncing"), nullable=False),
        sa.Column("last_sync_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=500), nullable=True),
        sa.Column("ctag", sa.String(length=500), nullable=True),
        sa.Column("sync_token", sa.String(length=1000), nullable=True),
        sa.Column("expanded_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint(
            "user_id IS NOT NULL OR branch_id IS NOT NULL", name=op.f("ck_calendar_connections_has_owner")
        ),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_calendar_connections_branch_id_branches"), ondelete="CASCADE"
        ),
        _company("calendar_connections"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_calendar_connections_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_connections")),
    )
    for column in ("branch_id", "company_id", "user_id"):
        op.create_index(op.f(f"ix_calendar_connections_{column}"), "calendar_connections", [column], unique=False)


def _feed_tokens() -> None:
    op.create_table(
        "calendar_feed_tokens",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("token_sha256", sa.String(length=64), nullable=False),
        sa.Column("prefix", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        _company("calendar_feed_tokens", "CASCADE"),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_calendar_feed_tokens_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_feed_tokens")),
        sa.UniqueConstraint("token_sha256", name=op.f("uq_calendar_feed_tokens_token_sha256")),
    )
    for column in ("company_id", "user_id"):
        op.create_index(op.f(f"ix_calendar_feed_tokens_{column}"), "calendar_feed_tokens", [column], unique=False)


def _busy() -> None:
    op.create_table(
        "calendar_busy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("uid", sa.String(length=500), nullable=False),
        sa.Column("href", sa.String(length=1000), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("recurrence_id", sa.String(length=64), nullable=True),
        sa.Column("all_day", sa.Boolean(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.CheckConstraint("ends_at > starts_at", name=op.f("ck_calendar_busy_positive_length")),
        _company("calendar_busy"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["calendar_connections.id"],
            name=op.f("fk_calendar_busy_connection_id_calendar_connections"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_calendar_busy_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_busy")),
    )
    op.create_index(op.f("ix_calendar_busy_company_id"), "calendar_busy", ["company_id"], unique=False)
    op.create_index("ix_calendar_busy_connection_href", "calendar_busy", ["connection_id", "href"], unique=False)
    # The slot search's one query: a rep's busy rows overlapping the offer horizon.
    op.create_index("ix_calendar_busy_user_window", "calendar_busy", ["user_id", "starts_at", "ends_at"], unique=False)


def _events() -> None:
    op.create_table(
        "calendar_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("connection_id", sa.Integer(), nullable=False),
        sa.Column("appointment_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=500), nullable=False),
        sa.Column("href", sa.String(length=1000), nullable=False),
        sa.Column("etag", sa.String(length=200), nullable=True),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("deleted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["appointment_id"],
            ["appointments.id"],
            name=op.f("fk_calendar_events_appointment_id_appointments"),
            ondelete="CASCADE",
        ),
        _company("calendar_events"),
        sa.ForeignKeyConstraint(
            ["connection_id"],
            ["calendar_connections.id"],
            name=op.f("fk_calendar_events_connection_id_calendar_connections"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calendar_events")),
        sa.UniqueConstraint("connection_id", "appointment_id", name="uq_calendar_events_appointment"),
    )
    for column in ("appointment_id", "company_id", "connection_id"):
        op.create_index(op.f(f"ix_calendar_events_{column}"), "calendar_events", [column], unique=False)


def downgrade():
    # Dropping a table drops its policy and indexes with it.
    for table in ("calendar_events", "calendar_busy", "calendar_feed_tokens", "calendar_connections"):
        op.drop_table(table)
