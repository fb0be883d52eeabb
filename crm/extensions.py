"""Extensions created once at import time and bound to an app by init_app (Flask's factory idiom)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, cast

from flask_migrate import Migrate
from flask_smorest import Api
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import CursorResult, MetaData, Result
from sqlalchemy.orm import DeclarativeBase

# Registers the setup of every SQLite connection (WAL, busy timeout, savepoints that begin as writers):
# imported here because every process that touches the database imports `db`.
from crm import sqlite_connections  # noqa: F401

# The tenancy walls listen on SQLAlchemy's Session and Engine classes (the ORM criteria, the PostgreSQL role
# and company settings): imported here for the same reason, so no process touches the database without them.
from crm.tenancy import orm as _tenancy_orm  # noqa: F401
from crm.tenancy import rls as _tenancy_rls  # noqa: F401

# Deterministic constraint names so Alembic migrations are identical on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


db = SQLAlchemy(model_class=Base)

# The base class of every model. At runtime it is `db.Model` (Base plus Flask-SQLAlchemy's bind-key and
# repr mixins); mypy cannot take a base class from an instance attribute (python/mypy#8603), so it checks the
# models against the declarative base that `db.Model` is built from: same metadata, same mapped columns.
if TYPE_CHECKING:
    Model = Base
else:
    Model = db.Model
migrate = Migrate()
api = Api()


def affected_rows(result: Result[*tuple[Any, ...]]) -> int:
    """The number of rows an UPDATE or DELETE touched. `Session.execute` is typed as returning the general
    `Result`; for a DML statement it is a `CursorResult` at runtime, the one that carries `rowcount`."""
    return cast(CursorResult[*tuple[Any, ...]], result).rowcount
