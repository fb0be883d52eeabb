"""The PostgreSQL second wall (docs/tenancy.md rule 1): row-level security keyed on transaction settings.

Migration 0013 puts a policy on every company-owned table: a row is visible and writable when its
company_id is `leadchain.company_id`, or when `leadchain.operator` is 'on'. This module keeps the settings
in step with the scope (crm.tenancy.context):

* Every connection checkout and every transaction start makes the settings those of the scope current at
  that moment: ORM sessions, raw `engine.connect()` and `engine.raw_connection()` alike, since the
  listeners are on the Engine and Pool classes. No scope: no company, no operator, so a raw query sees no
  company-owned row. crm.tenancy.orm re-applies them when the scope changes inside an open transaction (an
  operator look-up before binding a company).
* The settings are session-level (`set_config(..., false)`) and remembered per connection (conn.info
  APPLIED), so a connection that serves the same company transaction after transaction is not asked again:
  the statement is sent only when the scope differs from what the connection has. This took one round trip
  off every transaction of the intake (bench/fairness.py, docs/tenancy.md "Fair sharing"). A setting made
  inside a transaction is undone by PostgreSQL when that transaction (or the savepoint it was made in) rolls
  back, so a rollback of a transaction that made one, every savepoint rollback, pool reset inside a
  transaction and DBAPI error forgets what was remembered, and the next checkout or transaction sets it
  again: what is remembered is never more than what is in effect. A rollback of a transaction that set
  nothing (a routing look-up's, whose settings the checkout committed) undoes nothing and forgets nothing
  (issue 21: it cost the next checkout three round trips).
* Superusers bypass RLS, and so does a table's owner unless FORCE is set (migration 0013 sets it). Tests
  and a local stack connect as the `postgres` superuser, so every new connection whose session user is a
  superuser or a member of `leadchain_tenant` does `SET ROLE leadchain_tenant`: a NOLOGIN role with DML
  rights only, held to the policies. In production the app user is a non-superuser table owner, subject to
  FORCE, and no SET ROLE happens.
* Migrations and the test suite's wipe need the owner: `as_owner(conn)` resets the role on one
  connection and throws the connection away afterwards, so the owner role never returns to the pool.

SQLite has no RLS: there the ORM criteria and the explicit filters in raw SQL are the only wall."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool

from crm.tenancy.context import Scope
from crm.tenancy.testing_fallback import effective_scope

TENANT_ROLE = "leadchain_tenant"
# What migration 0013 (and a later migration adding a company-owned table) puts on each table.
POLICY = (
    "company_id = NULLIF(current_setting('leadchain.company_id', true), '')::int"
    " OR current_setting('leadchain.operator', true) = 'on'"
)
# conn.info keys: the (company, operator) applied to the open transaction; a connection working as owner.
APPLIED = "leadchain_rls_applied"
OWNER = "leadchain_rls_owner"
# conn.info key: the settings were changed inside the open transaction (its rollback undoes them).
SET_IN_TRANSACTION = "leadchain_rls_set_in_tx"


def policy_statements(table: str) -> list[str]:
    """The statements that put a new company-owned table behind the wall (for a later migration)."""
    return [
        f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY",
        f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY",
        f"CREATE POLICY company_isolation ON {table} USING ({POLICY}) WITH CHECK ({POLICY})",
    ]


def setting_values(scope: Scope | None) -> tuple[str, str]:
    """(leadchain.company_id, leadchain.operator) for a scope. An operator narrowed to one company sees that
    company only; the bare operator context sees all."""
    if scope is None:
        return "", "off"
    if scope.company_id is not None:
        return str(scope.company_id), "off"
    return "", "on" if scope.is_operator else "off"


def _set(raw: Any, values: tuple[str, str]) -> None:
    # Session-level (false): it outlives the transaction when that commits; a rollback undoes it (see the
    # listeners below, which then forget it).
    raw.execute(
        "SELECT set_config('leadchain.company_id', %s, false), set_config('leadchain.operator', %s, false)", values
    )


def apply(conn: Connection, scope: Scope | None) -> None:
    """Make `conn`'s company settings those of `scope` (PostgreSQL; no-op elsewhere or as owner). Sends the
    statement only when they differ from what the connection is known to have."""
    if conn.dialect.name != "postgresql" or conn.info.get(OWNER):
        return
    values = setting_values(scope)
    if conn.info.get(APPLIED) == values:
        return
    # On the DBAPI connection: this also runs from the `begin` event, where a statement through SQLAlchemy
    # would begin a transaction again. psycopg has already begun one or begins it with this statement.
    conn.info.pop(APPLIED, None)  # unknown until the statement has run
    conn.info[SET_IN_TRANSACTION] = True
    _set(conn.connection.driver_connection, values)
    conn.info[APPLIED] = values


@event.listens_for(Engine, "begin")
def _on_begin(conn: Connection) -> None:
    if conn.dialect.name != "postgresql":
        return
    # A connection that kept its settings from an earlier, committed transaction is not asked again.
    apply(conn, effective_scope())


@event.listens_for(Pool, "checkout")
def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
    # Also for `engine.raw_connection()`, which begins no SQLAlchemy transaction: the settings a connection
    # kept from its last user are replaced before anyone runs a statement on it.
    if not isinstance(dbapi_connection, psycopg.Connection) or record.info.get(OWNER):
        return
    values = setting_values(effective_scope())
    if record.info.get(APPLIED) != values:
        record.info.pop(APPLIED, None)
        if _in_transaction(dbapi_connection):
            _set(dbapi_connection, values)
            dbapi_connection.commit()
        else:
            # In autocommit, one round trip without BEGIN and COMMIT around it (issue 21); committed all the
            # same: the checkout leaves no transaction open (nor one a later rollback could take it back in).
            before = dbapi_connection.autocommit
            dbapi_connection.autocommit = True
            # With no BEGIN to bound (crm.BoundedConnection bounds a transaction's BEGIN as the pre-ping was),
            # this statement, as short as a ping, gets the ping's bound itself: a stalled server is found here.
            bound = getattr(dbapi_connection, "begin_timeout", None)
            limited = getattr(dbapi_connection, "limited", None)
            try:
                with limited(bound) if bound and limited else contextlib.nullcontext():
                    _set(dbapi_connection, values)
            finally:
                if not dbapi_connection.closed:
                    dbapi_connection.autocommit = before
        record.info[APPLIED] = values


# What a rollback may have undone is forgotten: the next checkout or transaction sets it again.
def _forget(conn: Connection | None) -> None:
    # An invalidated connection (a dropped or killed server connection) has no DBAPI connection to ask:
    # reading its .info would raise PendingRollbackError inside the rollback that cleans it up, and the
    # pool discards that DBAPI connection with whatever it had applied anyway.
    if conn is None or conn.invalidated:
        return
    conn.info.pop(APPLIED, None)
    conn.info.pop(SET_IN_TRANSACTION, None)


@event.listens_for(Engine, "commit")
def _kept_on_commit(conn: Connection) -> None:
    # Before the COMMIT is sent; a COMMIT that fails meets _forget_on_error.
    if conn.dialect.name == "postgresql":
        conn.info.pop(SET_IN_TRANSACTION, None)


@event.listens_for(Engine, "rollback")
def _forget_on_rollback(conn: Connection) -> None:
    if conn is None or conn.invalidated:
        return
    if conn.info.pop(SET_IN_TRANSACTION, None):
        _forget(conn)


@event.listens_for(Engine, "rollback_savepoint")
def _forget_on_savepoint_rollback(conn: Connection, _name: Any, _context: Any) -> None:
    _forget(conn)


@event.listens_for(Engine, "handle_error")
def _forget_on_error(context: Any) -> None:
    # A failed statement or commit leaves the transaction aborted or rolled back.
    _forget(context.connection)


@event.listens_for(Pool, "reset")
def _forget_on_reset(dbapi_connection: Any, record: Any, _reset_state: Any) -> None:
    # The pool's rollback on return (and on detach), not seen by the Engine's rollback event. It undoes
    # nothing when no transaction is open (the session committed before returning the connection, the
    # usual case); otherwise it may undo a setting made in that transaction.
    if not isinstance(dbapi_connection, psycopg.Connection) or _in_transaction(dbapi_connection):
        record.info.pop(APPLIED, None)
        record.info.pop(SET_IN_TRANSACTION, None)


def _in_transaction(dbapi_connection: psycopg.Connection) -> bool:
    return dbapi_connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE


@event.listens_for(Engine, "connect")
def _tenant_role(dbapi_connection: Any, _record: Any) -> None:
    if not isinstance(dbapi_connection, psycopg.Connection):
        return
    cur = dbapi_connection.cursor()
    try:
        cur.execute(
            "SELECT r.rolsuper OR pg_has_role(session_user, t.oid, 'MEMBER')"
            " FROM pg_roles r, pg_roles t WHERE r.rolname = session_user AND t.rolname = %s",
            (TENANT_ROLE,),
        )
        row = cur.fetchone()
        # No row: the role does not exist yet (a database before migration 0013). False: a plain
        # non-superuser owner, held by FORCE ROW LEVEL SECURITY.
        if row and row[0]:
            cur.execute(f"SET ROLE {TENANT_ROLE}")
    finally:
        cur.close()
    # Committed, or the pool's reset-on-return (a rollback) would undo the SET ROLE.
    dbapi_connection.commit()


@contextmanager
def as_owner(conn: Connection) -> Iterator[Connection]:
    """Work on `conn` as the connecting user (the owner): migrations, the test suite's wipe. The operator
    setting is on for the session, so a non-superuser owner held by FORCE sees every row too. The connection
    is invalidated afterwards: a pooled connection never keeps the owner's rights."""
    if conn.dialect.name != "postgresql":
        yield conn
        return
    conn.info[OWNER] = True
    try:
        conn.exec_driver_sql("RESET ROLE")
        conn.exec_driver_sql("SELECT set_config('leadchain.operator', 'on', false)")
        conn.commit()
        yield conn
    finally:
        conn.info.pop(OWNER, None)
        conn.info.pop(APPLIED, None)
        conn.info.pop(SET_IN_TRANSACTION, None)
        conn.invalidate()
