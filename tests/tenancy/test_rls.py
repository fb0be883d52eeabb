"""PostgreSQL's second wall: with the ORM criteria out of the way (raw SQL), company A's transaction sees no
row of company B in any company-owned table, and cannot write one (docs/tenancy.md rule 1)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.tenancy.context import company_scope, operator_scope
from crm.tenancy.orm import owned_tables
from crm.tenancy.rls import as_owner
from tests.tenancy.rows import populate


@pytest.fixture
def pg_app(migrated_urls):
    from crm import create_app
    from tests.conftest import _wipe, make_test_secrets

    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]}, secrets=make_test_secrets()
    )
    _wipe(app)
    yield app
    with app.app_context():
        db.session.remove()
    _wipe(app)


@pytest.fixture
def two_companies(pg_app):
    """Company 1 (the test company) and company 2, each with rows in every table; returns (a, b, counts)."""
    with pg_app.app_context(), db.engine.connect() as conn, as_owner(conn), conn.begin():
        b = conn.execute(
            sa.text(
                "INSERT INTO companies (slug, name, timezone, language, active, created_at)"
                " VALUES ('zweite', 'Zweite', 'Europe/Berlin', 'de', true, now()) RETURNING id"
            )
        ).scalar_one()
        tables = set(owned_tables()) | {"branches", "user_branches"}
        counts_a = populate(conn, company_id=1, tag="a", only=tables)
        counts_b = populate(conn, company_id=b, tag="b", only=tables)
    return 1, b, counts_a, counts_b


def _raw_counts(tables, company_id: int | None = None) -> dict[str, int]:
    where = "" if company_id is None else f" WHERE company_id = {int(company_id)}"
    return {t: db.session.execute(sa.text(f"SELECT count(*) FROM {t}{where}")).scalar_one() for t in tables}


def test_raw_sql_in_company_a_sees_no_row_of_company_b(pg_app, two_companies):
    a, b, counts_a, counts_b = two_companies
    tables = sorted(owned_tables())
    # Every company-owned table has rows of both companies: each assertion below could fail.
    assert set(tables) <= set(counts_a) and all(counts_a[t] and counts_b[t] for t in tables)
    with pg_app.app_context():
        with company_scope(a):
            assert _raw_counts(tables, b) == dict.fromkeys(tables, 0)
            assert _raw_counts(tables) == {t: counts_a[t] for t in tables}
            db.session.rollback()
        with company_scope(b):
            assert _raw_counts(tables) == {t: counts_b[t] for t in tables}
            db.session.rollback()
        # No scope at all: the settings are empty, a raw query sees nothing.
        assert _raw_counts(tables) == dict.fromkeys(tables, 0)
        db.session.rollback()
        with operator_scope("tests", "rls check"):
            assert _raw_counts(tables) == {t: counts_a[t] + counts_b[t] for t in tables}
            # The transaction stays open: a company scope entered now narrows the same transaction.
            with company_scope(a):
                assert _raw_counts(tables, b) == dict.fromkeys(tables, 0)
            assert _raw_counts(["leads"], b) == {"leads": counts_b["leads"]}
            db.session.rollback()


def test_company_a_cannot_write_a_row_of_company_b(pg_app, two_companies):
    a, b, _counts_a, _counts_b = two_companies
    tables = sorted(owned_tables())
    with pg_app.app_context(), company_scope(a):
        conn = db.session.connection()
        for table in tables:
            # A copy of one of A's rows, given to B, inserted through Core (no ORM check on the way).
            columns = [c["name"] for c in sa.inspect(conn).get_columns(table) if c["name"] not in ("id", "key")]
            if table in ("app_settings", "assignment_counters"):
                columns.append("key")
            listed = ", ".join(c for c in columns if c != "company_id")
            with pytest.raises(sa.exc.DBAPIError, match="row-level security"), conn.begin_nested():
                conn.execute(
                    sa.text(
                        f"INSERT INTO {table} (company_id, {listed}) SELECT {int(b)}, {listed} FROM {table} LIMIT 1"
                    )
                )
            # Nor move one of A's rows to B.
            with pytest.raises(sa.exc.DBAPIError, match="row-level security"), conn.begin_nested():
                conn.execute(sa.text(f"UPDATE {table} SET company_id = {int(b)}"))
        db.session.rollback()
    with pg_app.app_context(), operator_scope("tests", "rls check"):
        moved = {
            t: db.session.execute(sa.text(f"SELECT count(*) FROM {t} WHERE company_id = {int(b)}")).scalar_one()
            for t in tables
        }
        assert moved == {t: _counts_b[t] for t in tables}
        db.session.rollback()
