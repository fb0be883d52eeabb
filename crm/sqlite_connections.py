"""Every SQLite connection the app opens shares one file with the rest of the local stack.

`leadchain up` runs the web (gunicorn, two workers), the chain, provider and reports workers and the voice
bridge as separate processes on `var/leadchain.db`. Three settings let them write it side by side:

* **WAL journal**: readers never block the writer and the writer never blocks readers.
* **A busy timeout** (pysqlite's ``timeout``; 30 s unless the engine options give one): a writer waits
  for the write lock instead of failing at once with "database is locked".
* **A savepoint opened outside a transaction begins it with BEGIN IMMEDIATE.** pysqlite (Python 3.11,
  legacy transaction control) sends BEGIN only before INSERT/UPDATE/DELETE, so SQLAlchemy's
  ``Session.begin_nested()`` arrives as a bare SAVEPOINT, which SQLite turns into a *deferred*
  transaction: it reads, and when it then writes after another process committed, SQLite answers
  SQLITE_BUSY at once: the busy timeout cannot help, waiting would not make its snapshot current. That
  savepoint's RELEASE would also commit, cutting the caller's unit of work into pieces. BEGIN IMMEDIATE
  takes the write lock first (waiting up to the busy timeout), so what follows cannot be refused, and
  the transaction ends when the caller commits or rolls back. (voice/bridge/booking.py opens its own
  transactions the same way; the two agree, as neither begins one inside a running transaction.)

Statements outside savepoints keep pysqlite's behaviour: reads run without a transaction (nothing to go
stale), the first write begins one and holds the write lock from then on.

The listeners are set on SQLAlchemy's classes, so they apply to every engine of every process (web,
workers, migrations, the CLI), not only to one app's; they do nothing for other databases.
"""

from __future__ import annotations

import sqlite3
from typing import Any

from sqlalchemy import event
from sqlalchemy.dialects.sqlite.pysqlite import SQLiteDialect_pysqlite
from sqlalchemy.engine import Connection, Engine

BUSY_TIMEOUT_S = 30.0


@event.listens_for(SQLiteDialect_pysqlite, "do_connect")
def _default_busy_timeout(dialect, conn_rec, cargs: tuple, cparams: dict[str, Any]) -> None:
    # An explicit `timeout` in the engine's connect_args wins (tests use a short one).
    cparams.setdefault("timeout", BUSY_TIMEOUT_S)


@event.listens_for(Engine, "connect")
def _wal_journal(dbapi_connection: Any, _record: Any) -> None:
    if isinstance(dbapi_connection, sqlite3.Connection):
        # Persistent in the file; on an in-memory database SQLite keeps "memory", which is fine.
        dbapi_connection.execute("PRAGMA journal_mode=WAL")


@event.listens_for(Engine, "savepoint")
def _savepoint_begins_a_write(conn: Connection, _name: str) -> None:
    if conn.dialect.name != "sqlite":
        return
    raw = conn.connection.driver_connection
    if isinstance(raw, sqlite3.Connection) and not raw.in_transaction:
        # Through SQLAlchemy, so a lock it cannot get within the busy timeout is an OperationalError
        # like any other statement's (callers retry on that).
        conn.exec_driver_sql("BEGIN IMMEDIATE")
