"""issue 21 (rollups at bulk): on PostgreSQL the interaction rollups are kept by statement-level triggers

Migration 0029's trigger ran once per interaction row: every row of a bulk INSERT, UPDATE or DELETE upserted
its hour's rollup rows again. PostgreSQL writes a new version of a row at each update, and inside one
transaction none of the old versions can be cleaned up, so each upsert walked past all the versions the
statement had made before: the cost grew with the square of the rows (1,000 calls in one INSERT took 0.32 s,
2,000 took 0.85 s, 4,000 took 2.78 s; 50,000 took over 20 minutes, bench/inbound.py switched the trigger off).

Now one trigger per statement reads the statement's rows from its transition tables (`REFERENCING NEW TABLE`,
`OLD TABLE`) and adds them up per rollup key first: one upsert per key and statement, whatever the row count.
An UPDATE counts only the rows whose counted columns changed (a transition-table trigger may not name a
column list, which 0029's `UPDATE OF ...` did). What each row contributes is 0029's expression, unchanged.
The triggers on leads stay per row (a lead's owner or campaign change moves its calls' rows; a deleted lead
takes them with it before the cascade deletes its calls).

SQLite keeps 0029's per-row triggers: it updates a row in place, so a bulk statement there costs linear time.

Revision ID: 0031
Revises: 0030
Create Date: 2026-12-07 19:00:00.000000

"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0031"
down_revision = "0030"
branch_labels = None
depends_on = None


def _rollups():
    # 0029's expressions (what a row contributes, frozen there); the versions folder is not a package.
    path = Path(__file__).with_name("0029_interaction_rollups.py")
    spec = importlib.util.spec_from_file_location("leadchain_migration_0029", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _from_rows(m, rows: str, sign: int, changed: str = "") -> str:
    """The contribution of the transition table `rows` (aliased i), owner and campaign rows only while the lead
    exists; `changed`, for an update: a join to the other transition table and the condition on it."""
    return m._contribution(
        "postgresql",
        "i",
        sign,
        "l.owner_id",
        "l.campaign_id",
        "l.utm_campaign",
        f"{rows} i {changed}CROSS JOIN {m._dims(m.ALL_DIMS)} LEFT JOIN leads l ON l.id = i.lead_id",
        "(d.dim NOT IN ('owner', 'campaign') OR l.id IS NOT NULL)",
    )


def upgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    m = _rollups()

    def counted(alias: str) -> str:
        return "(" + ", ".join(f"{alias}.{c}" for c in m.UPDATE_COLUMNS) + ")"

    # An updated row counts when a column the rollup reads changed (0029's `UPDATE OF` list).
    old_changed = f"JOIN new_rows n ON n.id = i.id AND {counted('i')} IS DISTINCT FROM {counted('n')} "
    new_changed = f"JOIN old_rows o ON o.id = i.id AND {counted('o')} IS DISTINCT FROM {counted('i')} "
    op.execute("DROP TRIGGER IF EXISTS interaction_rollups ON interactions")
    op.execute("DROP FUNCTION IF EXISTS interaction_rollups_on_interaction()")
    bodies = {
        "insert": _from_rows(m, "new_rows", 1),
        "delete": _from_rows(m, "old_rows", -1),
        "update": f"{_from_rows(m, 'old_rows', -1, old_changed)}; {_from_rows(m, 'new_rows', 1, new_changed)}",
    }
    tables = {
        "insert": "NEW TABLE AS new_rows",
        "delete": "OLD TABLE AS old_rows",
        "update": "OLD TABLE AS old_rows NEW TABLE AS new_rows",
    }
    for event, body in bodies.items():
        op.execute(f"""
            CREATE FUNCTION interaction_rollups_on_{event}() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                {body};
                RETURN NULL;
            END $$""")
        op.execute(
            f"CREATE TRIGGER interaction_rollups_{event} AFTER {event.upper()} ON interactions"
            f" REFERENCING {tables[event]} FOR EACH STATEMENT EXECUTE FUNCTION interaction_rollups_on_{event}()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    m = _rollups()
    for event in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS interaction_rollups_{event} ON interactions")
        op.execute(f"DROP FUNCTION IF EXISTS interaction_rollups_on_{event}()")
    d = "postgresql"
    op.execute(f"""
        CREATE FUNCTION interaction_rollups_on_interaction() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF TG_OP IN ('UPDATE', 'DELETE') THEN {m._on_interaction(d, "OLD", -1)}; END IF;
            IF TG_OP IN ('UPDATE', 'INSERT') THEN {m._on_interaction(d, "NEW", 1)}; END IF;
            RETURN NULL;
        END $$""")
    op.execute(
        "CREATE TRIGGER interaction_rollups AFTER INSERT OR DELETE OR UPDATE OF "
        f"{', '.join(m.UPDATE_COLUMNS)} ON interactions FOR EACH ROW"
        " EXECUTE FUNCTION interaction_rollups_on_interaction()"
    )
