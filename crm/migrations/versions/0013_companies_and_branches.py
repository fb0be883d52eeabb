"""companies and branches; every business row belongs to a company (issue 16 items 1 and 2)

Creates companies, branches and user_branches, puts every existing row into a first company (id 1, slug
"default"), makes `company_id` NOT NULL on every company-owned table (nullable on users, user_sessions and
unparseable_payloads: an operator and their sessions belong to no company, an unreadable body may have no
known company), swaps the per-installation unique keys for per-company ones, adds `branch_id` to leads,
appointments and campaigns, and on PostgreSQL turns on row-level security (docs/tenancy.md, rule 1).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-06 17:30:00.000000

"""

from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# The company-owned tables as they stand in this revision (a later table gets its column, grants and
# policy in its own migration; crm.tenancy.rls.policy_statements says what to run).
NOT_NULL = (
    "audit_log",
    "webhook_deliveries",
    "leads",
    "appointments",
    "consent_records",
    "interactions",
    "possible_duplicates",
    "score_history",
    "tasks",
    "dnc_list",
    "lead_submissions",
    "side_effects",
    "campaigns",
    "reports",
    "report_documents",
    "app_settings",
    "assignment_rules",
    "assignment_counters",
    "call_result_deliveries",
)
NULLABLE = ("users", "user_sessions", "unparseable_payloads")
OWNED = NOT_NULL + NULLABLE
WITH_BRANCH = ("leads", "appointments", "campaigns")
STATES = ("BW", "BY", "BE", "BB", "HB", "HH", "HE", "MV", "NI", "NW", "RP", "SL", "SN", "ST", "SH", "TH")
STATE_CHECK = f"state IS NULL OR state IN ({', '.join(repr(s) for s in STATES)})"
LANGUAGE_CHECK = "language IN ('de', 'en', 'fr')"
ROLES_BEFORE = "role IN ('sales', 'manager', 'admin')"
ROLES_AFTER = "role IN ('sales', 'manager', 'admin', 'operator')"
# Frozen copy of the check on crm.models.users.User: an operator belongs to no company, everyone else to one.
OPERATOR_HAS_NO_COMPANY = "(role = 'operator') = (company_id IS NULL)"
TENANT_ROLE = "leadchain_tenant"
# Frozen copy of crm.tenancy.rls.POLICY: a row is visible and writable when it is the transaction's company,
# or the transaction runs in an operator context. No setting at all: no row.
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)

# Per-company unique keys: (table, old name, old columns, new name, new columns).
UNIQUES = (
    ("dnc_list", "uq_dnc_list_phone_e164", ["phone_e164"], "uq_dnc_list_company_phone", ["company_id", "phone_e164"]),
    ("campaigns", "uq_campaigns_name", ["name"], "uq_campaigns_company_name", ["company_id", "name"]),
    (
        "reports",
        "uq_reports_kind_period_start",
        ["kind", "period_start"],
        "uq_reports_company_kind_period_start",
        ["company_id", "kind", "period_start"],
    ),
    (
        "webhook_deliveries",
        "uq_webhook_deliveries_key",
        ["source", "delivery_key"],
        "uq_webhook_deliveries_key",
        ["company_id", "source", "delivery_key"],
    ),
)
PRIMARY_KEYS = ("app_settings", "assignment_counters")  # (key) -> (company_id, key)
LIVE_INDEXES = (("uq_leads_email_key_live", "email_key"), ("uq_leads_phone_live", "phone_e164"))

# SQLite rebuilds a table for a batch and a rebuilt table loses its triggers: migration 0001's overlap
# triggers on appointments are put back after (the same statements as 0001).
_OVERLAP = (
    "EXISTS (SELECT 1 FROM appointments a WHERE a.owner_id = NEW.owner_id "
    "AND a.status = 'confirmed' AND a.starts_at < NEW.ends_at AND NEW.starts_at < a.ends_at {extra})"
)


def _sqlite_overlap_triggers() -> None:
    for event, extra in (("INSERT", ""), ("UPDATE OF owner_id, starts_at, ends_at, status", "AND a.id != NEW.id")):
        name = "appointments_no_overlap_" + event.split()[0].lower()
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
        op.execute(
            f"CREATE TRIGGER {name} BEFORE {event} ON appointments "
            f"WHEN NEW.status = 'confirmed' AND {_OVERLAP.format(extra=extra)} "
            "BEGIN SELECT RAISE(ABORT, 'appointment overlaps a confirmed appointment of the same owner'); END"
        )


def _live_index(name: str, columns: list[str], column: str) -> None:
    where = sa.text(f"merged_into_id IS NULL AND {column} IS NOT NULL")
    op.create_index(name, "leads", columns, unique=True, sqlite_where=where, postgresql_where=where)


def _sqlite_foreign_keys(on: bool) -> None:
    """SQLite: switch foreign-key enforcement around the table rebuilds.

    A batch rebuilds a table as copy, DROP, rename; with enforcement on (the app turns it on for every
    connection) the DROP is an implicit DELETE that cascades: rebuilding `leads` would delete every
    appointment, interaction and consent record. SQLite ignores the pragma inside a transaction, so the
    one Alembic's earlier steps opened (pysqlite begins one before their UPDATE of alembic_version) is
    committed first; every step before this one has finished by then."""
    raw: Any = op.get_bind().connection.driver_connection
    if not on and raw.in_transaction:
        raw.commit()
    raw.execute(f"PRAGMA foreign_keys={'ON' if on else 'OFF'}")
    if on:
        problems = raw.execute("PRAGMA foreign_key_check").fetchall()
        if problems:
            raise RuntimeError(f"0013 left foreign keys that point nowhere: {problems[:5]}")


def upgrade():
    pg = op.get_bind().dialect.name == "postgresql"
    if not pg:
        _sqlite_foreign_keys(on=False)
    slug_check = (
        "slug ~ '^[a-z0-9-]{2,40}$'" if pg else "length(slug) BETWEEN 2 AND 40 AND slug NOT GLOB '*[^a-z0-9-]*'"
    )
    _create_companies_and_branches(slug_check)
    # The first company: everything that exists belongs to it. Its name is a placeholder an operator renames.
    op.execute(
        "INSERT INTO companies (id, slug, name, timezone, language, active, created_at)"
        " VALUES (1, 'default', 'Default company', 'Europe/Berlin', 'de', true, CURRENT_TIMESTAMP)"
    )
    if pg:
        # The explicit id 1 did not advance the sequence: the next company must not collide with it.
        op.execute("SELECT setval(pg_get_serial_sequence('companies', 'id'), (SELECT max(id) FROM companies))")

    # The live-record indexes are partial: dropped before the batches (SQLite's table rebuild would not carry
    # the WHERE clause) and created again per company after.
    for name, _column in LIVE_INDEXES:
        op.drop_index(name, table_name="leads")

    for table in OWNED:
        _own_table(table)

    for name, column in LIVE_INDEXES:
        _live_index(name, ["company_id", column], column)
    if pg:
        _enable_row_level_security()
    else:
        _sqlite_overlap_triggers()
        _sqlite_foreign_keys(on=True)


def _create_companies_and_branches(slug_check: str) -> None:
    op.create_table(
        "companies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("language", sa.String(length=2), nullable=False),
        sa.Column("brand_color", sa.String(length=7), nullable=True),
        sa.Column("logo_url", sa.String(length=500), nullable=True),
        sa.Column("sender_email", sa.String(length=254), nullable=True),
        sa.Column("sender_name", sa.String(length=200), nullable=True),
        sa.Column("imprint", sa.Text(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(LANGUAGE_CHECK, name=op.f("ck_companies_language")),
        sa.CheckConstraint(STATE_CHECK, name=op.f("ck_companies_state")),
        sa.CheckConstraint(
            "brand_color IS NULL OR (length(brand_color) = 7 AND substr(brand_color, 1, 1) = '#')",
            name=op.f("ck_companies_brand_color"),
        ),
        sa.CheckConstraint(slug_check, name=op.f("ck_companies_slug")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_companies")),
        sa.UniqueConstraint("slug", name=op.f("uq_companies_slug")),
    )
    op.create_table(
        "branches",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("company_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("slug", sa.String(length=40), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=True),
        sa.Column("state", sa.String(length=2), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(STATE_CHECK, name=op.f("ck_branches_state")),
        sa.CheckConstraint(slug_check, name=op.f("ck_branches_slug")),
        sa.ForeignKeyConstraint(
            ["company_id"], ["companies.id"], name=op.f("fk_branches_company_id_companies"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_branches")),
        sa.UniqueConstraint("company_id", "slug", name="uq_branches_company_slug"),
    )
    op.create_index(op.f("ix_branches_company_id"), "branches", ["company_id"], unique=False)
    op.create_table(
        "user_branches",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("branch_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["branch_id"], ["branches.id"], name=op.f("fk_user_branches_branch_id_branches"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_user_branches_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "branch_id", name=op.f("pk_user_branches")),
    )
    op.create_index(op.f("ix_user_branches_branch_id"), "user_branches", ["branch_id"], unique=False)


def _own_table(table: str) -> None:
    # Nullable first, filled, then tightened: a NOT NULL column cannot be added to a table with rows.
    op.add_column(table, sa.Column("company_id", sa.Integer(), nullable=True))
    op.execute(f"UPDATE {table} SET company_id = 1")
    with op.batch_alter_table(table, schema=None) as batch_op:
        if table in NOT_NULL:
            batch_op.alter_column("company_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f(f"ix_{table}_company_id"), ["company_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f(f"fk_{table}_company_id_companies"), "companies", ["company_id"], ["id"])
        if table in WITH_BRANCH:
            batch_op.add_column(sa.Column("branch_id", sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_{table}_branch_id"), ["branch_id"], unique=False)
            batch_op.create_foreign_key(
                batch_op.f(f"fk_{table}_branch_id_branches"), "branches", ["branch_id"], ["id"], ondelete="SET NULL"
            )
        for t, old, _old_cols, new, new_cols in UNIQUES:
            if t == table:
                batch_op.drop_constraint(old, type_="unique")
                batch_op.create_unique_constraint(new, new_cols)
        if table in PRIMARY_KEYS:
            batch_op.drop_constraint(f"pk_{table}", type_="primary")
            batch_op.create_primary_key(f"pk_{table}", ["company_id", "key"])
        if table == "users":
            batch_op.drop_constraint(op.f("ck_users_user_role"), type_="check")
            batch_op.create_check_constraint(op.f("ck_users_user_role"), ROLES_AFTER)
            batch_op.create_check_constraint(op.f("ck_users_operator_has_no_company"), OPERATOR_HAS_NO_COMPANY)


def _enable_row_level_security() -> None:
    # The role the application's sessions run as when they connect as a superuser (tests, a local stack on
    # the postgres user): superusers and the owner without FORCE bypass RLS, so without it the second wall
    # would not stand where it is tested. NOLOGIN: nobody connects as it, a member SETs it
    # (crm.tenancy.rls). Created once per cluster; a concurrent migration may have created it meanwhile.
    op.execute(
        f"DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '{TENANT_ROLE}') THEN"
        f" CREATE ROLE {TENANT_ROLE} NOLOGIN; END IF;"
        " EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL; END $$"
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {TENANT_ROLE}")
    op.execute(f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {TENANT_ROLE}")
    op.execute(f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {TENANT_ROLE}")
    # Tables and sequences a later migration creates (as the same owner) get the same grants.
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {TENANT_ROLE}"
    )
    op.execute(f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {TENANT_ROLE}")
    for table in OWNED:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        # FORCE: the table's owner (the production app user) is held to the policy too.
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(f"CREATE POLICY company_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})")


def _disable_row_level_security() -> None:
    for table in OWNED:
        op.execute(f"DROP POLICY IF EXISTS company_isolation ON {table}")
        op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {TENANT_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public REVOKE USAGE, SELECT, UPDATE ON SEQUENCES FROM {TENANT_ROLE}"
    )
    op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {TENANT_ROLE}")
    op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {TENANT_ROLE}")
    op.execute(f"REVOKE USAGE ON SCHEMA public FROM {TENANT_ROLE}")
    # The role itself stays: it is the cluster's, other databases of the cluster may use it.


def downgrade():
    bind = op.get_bind()
    pg = bind.dialect.name == "postgresql"
    # One company's data fits the old schema; several companies' would collide on the old unique keys and lose
    # who owns what. Refuse rather than merge them.
    companies = bind.execute(sa.text("SELECT count(*) FROM companies")).scalar()
    if companies and companies > 1:
        raise RuntimeError(f"downgrade below 0013 needs a single company, this database has {companies}")
    if bind.execute(sa.text("SELECT count(*) FROM users WHERE role = 'operator'")).scalar():
        raise RuntimeError("downgrade below 0013: operator users have no place in the old schema; remove them first")
    if pg:
        _disable_row_level_security()
    else:
        _sqlite_foreign_keys(on=False)
    for name, _column in LIVE_INDEXES:
        op.drop_index(name, table_name="leads")
    for table in reversed(OWNED):
        with op.batch_alter_table(table, schema=None) as batch_op:
            if table == "users":
                batch_op.drop_constraint(op.f("ck_users_operator_has_no_company"), type_="check")
                batch_op.drop_constraint(op.f("ck_users_user_role"), type_="check")
                batch_op.create_check_constraint(op.f("ck_users_user_role"), ROLES_BEFORE)
            if table in PRIMARY_KEYS:
                batch_op.drop_constraint(f"pk_{table}", type_="primary")
                batch_op.create_primary_key(f"pk_{table}", ["key"])
            for t, old, old_cols, new, _new_cols in UNIQUES:
                if t == table:
                    batch_op.drop_constraint(new, type_="unique")
                    batch_op.create_unique_constraint(old, old_cols)
            if table in WITH_BRANCH:
                batch_op.drop_constraint(batch_op.f(f"fk_{table}_branch_id_branches"), type_="foreignkey")
                batch_op.drop_index(batch_op.f(f"ix_{table}_branch_id"))
                batch_op.drop_column("branch_id")
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_company_id_companies"), type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{table}_company_id"))
            batch_op.drop_column("company_id")
    for name, column in LIVE_INDEXES:
        _live_index(name, [column], column)
    op.drop_index(op.f("ix_user_branches_branch_id"), table_name="user_branches")
    op.drop_table("user_branches")
    op.drop_index(op.f("ix_branches_company_id"), table_name="branches")
    op.drop_table("branches")
    op.drop_table("companies")
    if not pg:
        _sqlite_overlap_triggers()
        _sqlite_foreign_keys(on=True)
