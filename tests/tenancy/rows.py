"""Rows for every table of a schema, made from its reflected columns: the tenancy tests fill a database
with them so that a table nobody thought of is covered too."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)

# Values a column's CHECK or meaning needs; every other column gets a value made from its type.
OVERRIDES: dict[str, object] = {
    "language": "de",
    "state": "BY",
    "role": "sales",
    "status": "confirmed",
    "score": 55,
    "priority": "warm",
    "kind": "call",
    "direction": "outbound",
    "channel": "phone",
    "legal_basis": "express_consent",
    "provider": "retell",
    "failover_provider": None,
    "merged_into_id": None,
    "cost_cents": 12,
    "duration_s": 30,
    "ends_at": T0 + timedelta(hours=1),
    "leads.status": "new",
    "tasks.status": "open",
    "appointments.status": "confirmed",
    "side_effects.status": "done",
    "interactions.status": "ended",
    "possible_duplicates.status": "open",
    "reports.kind": "daily",
    "tasks.kind": "todo",
    "calendar_connections.kind": "caldav",
    "calendar_connections.status": "ok",
    "phone_numbers.holiday_behaviour": "closed",
    "privacy_requests.kind": "export",
    "privacy_requests.status": "open",
    "privacy_request_steps.status": "done",
    "suppression_list.kind": "email",
    "provisioned_objects.status": "created",
    "inbound_calls.outcome": "answered",
    "deals.status": "open",
    "deals.closed_at": None,
    "score_models.status": "candidate",
}
# Per-table rows beyond the first, for the per-company unique keys the migration rebuilds.
EXTRA_ROWS = {"leads": 2, "campaigns": 1, "dnc_list": 2, "app_settings": 2, "assignment_counters": 2}


def _value(table: sa.Table, column: sa.Column, n: int, ids: dict[str, list[int]], tag: str):
    if column.foreign_keys:
        target = next(iter(column.foreign_keys)).column.table.name
        return ids[target][0] if ids.get(target) else None
    for key in (f"{table.name}.{column.name}", column.name):
        if key in OVERRIDES:
            return OVERRIDES[key]
    type_ = column.type
    if isinstance(type_, sa.Boolean):
        return n % 2 == 0
    if isinstance(type_, sa.Integer):
        return n + 1
    if isinstance(type_, sa.DateTime):
        return T0 + timedelta(minutes=n * 90) if column.name == "starts_at" else T0
    if isinstance(type_, sa.Date):
        return T0.date() + timedelta(days=n)
    if isinstance(type_, sa.LargeBinary):
        return b"%PDF-1.7 " + bytes([n])
    if isinstance(type_, sa.JSON):
        return {"n": n}
    if isinstance(type_, sa.Float):
        return 0.5
    if isinstance(type_, sa.String | sa.Text):
        length = getattr(type_, "length", None) or 40
        return f"{tag}{table.name[:3]}{column.name[:4]}{n}"[:length]
    raise AssertionError(f"no sample value for {table.name}.{column.name} ({type_!r})")


def populate(
    conn: sa.Connection, *, company_id: int | None = None, tag: str = "", only: set[str] | None = None
) -> dict[str, int]:
    """Rows in every table of the schema `conn` has (reflected, so any revision): the row count per table.

    `company_id` given: the company exists already; every row belongs to it (and `tag` keeps its strings
    apart from another company's, for the keys unique across companies). `only`: these tables (with the
    tables they refer to listed too)."""
    meta = sa.MetaData()
    meta.reflect(conn)
    ids: dict[str, list[int]] = {"companies": [company_id]} if company_id is not None else {}
    counts: dict[str, int] = {}
    for table in meta.sorted_tables:
        if table.name == "alembic_version" or (company_id is not None and table.name == "companies"):
            continue
        if only is not None and table.name not in only:
            continue
        rows = []
        for n in range(1 + EXTRA_ROWS.get(table.name, 0)):
            row = {}
            for column in table.columns:
                if (
                    column.primary_key
                    and len(table.primary_key.columns) == 1
                    and isinstance(column.type, sa.Integer)
                    and not column.foreign_keys
                ):
                    continue  # the database numbers it (a part of a composite key is a value like any other)
                if table.name == "appointments" and column.name == "ends_at":
                    row["ends_at"] = T0 + timedelta(minutes=n * 90 + 30)
                    continue
                row[column.name] = _value(table, column, n, ids, tag)
            if table.name == "leads":
                row["merged_into_id"] = None
            rows.append(row)
        result = conn.execute(table.insert().returning(*table.primary_key.columns), rows)
        pk = result.fetchall()
        if len(table.primary_key.columns) == 1 and "id" in table.c:
            ids[table.name] = [r[0] for r in pk]
        counts[table.name] = len(rows)
    if company_id is not None:
        # What the company holds now: triggers add rows of their own (migration 0029's report rollups of the
        # interactions inserted here), which a query in the company's scope sees like any other.
        for name in counts:
            table = meta.tables[name]
            if "company_id" in table.c:
                query = sa.select(sa.func.count()).select_from(table).where(table.c.company_id == company_id)
                counts[name] = conn.execute(query).scalar_one()
    return counts
