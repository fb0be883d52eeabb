"""PostgreSQL: the company settings are kept per connection (crm.tenancy.rls), set only when the scope differs
from what the connection has, and never remembered past a rollback that undid them. One pooled connection
(pool_size 1), so every step below reuses the connection the step before left behind."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.tenancy.context import company_scope, operator_scope
from crm.tenancy.rls import APPLIED


@pytest.fixture
def pg_app(migrated_urls):
    from crm import create_app
    from tests.conftest import make_test_secrets

    # No TESTING fallback company: with no scope entered, no company at all.
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"],
            "SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0},
        },
        secrets=make_test_secrets(),
    )
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def _settings() -> tuple[str, str]:
    row = db.session.execute(
        sa.text("SELECT current_setting('leadchain.company_id', true), current_setting('leadchain.operator', true)")
    ).one()
    return row[0] or "", row[1] or "off"


def test_committed_settings_are_reused_and_replaced_when_the_scope_changes(pg_app):
    with pg_app.app_context():
        with company_scope(1):
            assert _settings() == ("1", "off")
            db.session.commit()
            conn_info = db.session.connection().info
            assert conn_info[APPLIED] == ("1", "off")  # kept on the pooled connection after the commit
            assert _settings() == ("1", "off")
            db.session.commit()
        # The same connection, no scope: its company-1 settings must not be what the next user gets.
        assert _settings() == ("", "off")
        db.session.commit()
        with operator_scope("tests", "rls settings"):
            assert _settings() == ("", "on")
            db.session.commit()
        with company_scope(2):
            assert _settings() == ("2", "off")
            db.session.commit()
        db.session.remove()
        # engine.raw_connection() begins no SQLAlchemy transaction: the checkout replaces the settings.
        raw = db.engine.raw_connection()
        try:
            cur = raw.cursor()
            cur.execute("SELECT current_setting('leadchain.company_id', true)")
            assert (cur.fetchone()[0] or "") == ""
        finally:
            raw.close()


def test_a_rolled_back_change_is_not_remembered(pg_app):
    with pg_app.app_context():
        with operator_scope("tests", "rls settings"):
            assert _settings() == ("", "on")  # set at checkout and committed: the connection's own now
            with company_scope(1):
                assert _settings() == ("1", "off")  # changed inside the open transaction
            db.session.rollback()  # PostgreSQL undoes the change: the connection is back to operator 'on'
        with company_scope(1):
            # Remembering company 1 past the rollback would skip the statement: this transaction would run
            # with the operator's settings, every company's rows visible to raw SQL.
            assert _settings() == ("1", "off")
            db.session.commit()


def test_a_savepoint_rollback_is_not_remembered(pg_app):
    with pg_app.app_context(), company_scope(1):
        assert _settings() == ("1", "off")
        db.session.commit()
        with operator_scope("tests", "rls settings"):
            assert _settings() == ("", "on")  # a new transaction, operator settings
            db.session.commit()
        with company_scope(1):
            assert _settings() == ("1", "off")
            savepoint = db.session.begin_nested()
            with operator_scope("tests", "inside a savepoint"):
                assert _settings() == ("", "on")
            savepoint.rollback()  # undoes the operator setting made inside it
            with operator_scope("tests", "after the savepoint"):
                assert _settings() == ("", "on")
            assert _settings() == ("1", "off")
            db.session.rollback()


def test_a_failed_statement_is_not_remembered(pg_app):
    with pg_app.app_context():
        with operator_scope("tests", "rls settings"):
            assert _settings() == ("", "on")
            with company_scope(1):
                assert _settings() == ("1", "off")
                with pytest.raises(sa.exc.DBAPIError):
                    db.session.execute(sa.text("SELECT 1 / 0"))  # the transaction is aborted
            db.session.rollback()
        with company_scope(1):
            assert _settings() == ("1", "off")
            db.session.rollback()


def test_no_set_config_after_the_first_while_the_company_stays(pg_app, monkeypatch):
    """The point of keeping them: a worker serving one company sends set_config once, not per transaction."""
    import crm.tenancy.rls as rls

    sent: list[tuple[str, str]] = []
    original = rls._set

    def counting(raw, values):
        sent.append(values)
        original(raw, values)

    monkeypatch.setattr(rls, "_set", counting)
    with pg_app.app_context(), company_scope(1):
        for _ in range(5):
            assert _settings() == ("1", "off")
            db.session.commit()
    assert sent.count(("1", "off")) == 1, sent
