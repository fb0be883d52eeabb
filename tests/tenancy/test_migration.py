"""Migration 0013 moves a populated single-company database into company 1 without losing a row, and back.

The rows are written at revision 0012 through the schema reflected from the database (the models describe
0013), one or more per table, so a table the migration forgot, a row it dropped or a value it changed
fails here."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
import pytest
import sqlalchemy as sa

from crm import create_app
from crm.extensions import db
from crm.tenancy.rls import as_owner
from tests.conftest import make_test_secrets, pg_url
from tests.tenancy.rows import T0, populate

pytestmark = pytest.mark.tenancy


def _migration_0013():
    import importlib.util

    from crm import MIGRATIONS_DIR

    spec = importlib.util.spec_from_file_location("m0013", f"{MIGRATIONS_DIR}/versions/0013_companies_and_branches.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _counts(conn: sa.Connection, tables) -> dict[str, int]:
    return {t: conn.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


@contextmanager
def _owner() -> Iterator[sa.Connection]:
    # As the owner (the migration's role): the app's PostgreSQL connections take the tenant role, which
    # row-level security holds to one company (crm.tenancy.rls); this test looks at every company's rows.
    with db.engine.connect() as conn, as_owner(conn), conn.begin():
        yield conn


@pytest.fixture
def empty_url(backend, tmp_path, pg_admin_url):
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'populated.db'}"
        return
    name = f"leadchain_mig13_{uuid.uuid4().hex[:8]}"
    admin = psycopg.connect(pg_admin_url, autocommit=True)
    admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(pg_admin_url, name)
    finally:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()


def test_0013_moves_every_row_into_the_first_company_and_back(empty_url):
    from flask_migrate import downgrade, upgrade

    app = create_app({"SQLALCHEMY_DATABASE_URI": empty_url}, secrets=make_test_secrets())
    with app.app_context():
        upgrade(revision="0012")
        with _owner() as conn:
            before = populate(conn)
        # Every table of 0012 got rows, and 0013 gives every one of them a company.
        assert set(before) == set(_migration_0013().OWNED)
        assert all(before.values())

        upgrade(revision="0013")
        with _owner() as conn:
            assert _counts(conn, before) == before
            assert conn.execute(sa.text("SELECT id, slug FROM companies")).all() == [(1, "default")]
            for table in before:
                companies = conn.execute(sa.text(f"SELECT DISTINCT company_id FROM {table}")).scalars().all()
                assert companies == [1], table
            # The unique keys are per company now: a second company may hold the same email, phone, campaign
            # name, do-not-call number and setting key as the first; the first may not hold them twice.
            conn.execute(
                sa.text(
                    "INSERT INTO companies (slug, name, timezone, language, active, created_at)"
                    " VALUES ('second', 'Second', 'Europe/Berlin', 'de', true, :t)"
                ),
                {"t": T0},
            )
            second = conn.execute(sa.text("SELECT id FROM companies WHERE slug = 'second'")).scalar_one()
            assert second == 2  # the sequence moved past the explicit id 1
            lead = conn.execute(sa.text("SELECT email_key, phone_e164 FROM leads ORDER BY id LIMIT 1")).one()
            copy = (
                "INSERT INTO leads (company_id, email_key, phone_e164, email_status, phone_status, language, source,"
                " status, tags, do_not_contact, created_at, updated_at)"
                " VALUES (:c, :e, :p, 'unknown', 'unknown', 'de', 't', 'new', '[]', false, :t, :t)"
            )
            conn.execute(sa.text(copy), {"c": second, "e": lead.email_key, "p": lead.phone_e164, "t": T0})
            with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
                conn.execute(sa.text(copy), {"c": 1, "e": lead.email_key, "p": lead.phone_e164, "t": T0})
            setting = conn.execute(sa.text("SELECT key FROM app_settings LIMIT 1")).scalar_one()
            insert_setting = (
                "INSERT INTO app_settings (company_id, key, value, updated_by, updated_at)"
                " VALUES (:c, :k, '1', 'x', :t)"
            )
            conn.execute(sa.text(insert_setting), {"c": second, "k": setting, "t": T0})
            with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
                conn.execute(sa.text(insert_setting), {"c": 1, "k": setting, "t": T0})
            with pytest.raises(sa.exc.IntegrityError), conn.begin_nested():
                conn.execute(sa.text("UPDATE leads SET company_id = NULL WHERE id = (SELECT min(id) FROM leads)"))
            conn.execute(sa.text("DELETE FROM app_settings WHERE company_id = :c"), {"c": second})
            conn.execute(sa.text("DELETE FROM leads WHERE company_id = :c"), {"c": second})

        # Two companies cannot go back to the single-company schema: the downgrade refuses.
        from alembic import command

        config = app.extensions["migrate"].migrate.get_config()
        with pytest.raises(RuntimeError, match="needs a single company"):
            command.downgrade(config, "0012")
        assert sa.inspect(db.engine).has_table("companies")
        with _owner() as conn:
            conn.execute(sa.text("DELETE FROM companies WHERE slug = 'second'"))

        downgrade(revision="0012")
        with _owner() as conn:
            assert _counts(conn, before) == before
        inspector = sa.inspect(db.engine)
        assert "companies" not in inspector.get_table_names()
        assert all("company_id" not in {c["name"] for c in inspector.get_columns(t)} for t in before)
        upgrade()
        with _owner() as conn:
            assert _counts(conn, before) == before
        db.engine.dispose()
