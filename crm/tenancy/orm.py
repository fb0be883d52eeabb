"""The application wall (docs/tenancy.md rule 1): every ORM statement is scoped to the current company.

* `do_orm_execute`: every SELECT, UPDATE and DELETE gets `with_loader_criteria(CompanyOwned, company_id ==
  current)`, aliases and relationship loads included, so a query that forgets the filter still sees one
  company. With no scope and no operator context, a statement that touches a company-owned table raises
  NoCompanyScope before it runs: a forgotten scope fails, it never leaks. The bare operator context adds no
  criteria. An ORM INSERT statement gets the scope's company when it names none.
* `before_flush`: a new company-owned object gets the scope's company; one that names another company, or
  an object moved to another company, is refused (CompanyScopeConflict). With no scope, NoCompanyScope.
* On PostgreSQL the connection's settings follow the scope (crm.tenancy.rls.apply) when the scope changes
  inside an open transaction (a no-op, without a round trip, while it does not change).

Raw SQL (`text()`, `exec_driver_sql`) is not reached by the criteria: it filters by company itself (and on
PostgreSQL meets the row-level security policies)."""

from __future__ import annotations

from functools import lru_cache
from typing import Any, cast

from sqlalchemy import event, inspect
from sqlalchemy.orm import ORMExecuteState, Session, with_loader_criteria
from sqlalchemy.sql import util as sql_util

from crm.tenancy import rls
from crm.tenancy.context import CompanyScopeConflict, NoCompanyScope, Scope
from crm.tenancy.owned import CompanyOwned
from crm.tenancy.testing_fallback import effective_scope

# Execution option that switches the criteria off for one statement: for tests that prove the database's
# own wall (tests/tenancy/test_rls.py). Application code never sets it.
UNSCOPED = "leadchain_unscoped"


def owned_tables() -> frozenset[str]:
    """The names of the company-owned tables: every mapped class that mixes in CompanyOwned."""
    found: set[str] = set()
    pending: list[type] = [CompanyOwned]
    while pending:
        cls = pending.pop()
        pending.extend(cls.__subclasses__())
        table = getattr(cls, "__table__", None)
        if table is not None:
            found.add(str(table.name))
    return frozenset(found)


def _touches_owned(state: ORMExecuteState) -> bool:
    if any(issubclass(m.class_, CompanyOwned) for m in state.all_mappers):
        return True
    names = owned_tables()
    return any(
        getattr(t, "name", None) in names for t in sql_util.find_tables(cast(Any, state.statement), include_joins=True)
    )


@lru_cache(maxsize=1024)
def _criteria(company_id: int) -> Any:
    # One option per company, built once: building it analyses the lambda each time (a third of the ORM
    # layer's cost per statement in the intake's profile). The option is immutable and the company is a
    # bound parameter of the lambda, so every company's statements share one compiled form in the cache.
    return with_loader_criteria(
        CompanyOwned,
        lambda cls: cls.company_id == company_id,
        include_aliases=True,
        propagate_to_loaders=True,
    )


@event.listens_for(Session, "do_orm_execute")
def _scope_statement(state: ORMExecuteState) -> None:
    scope = effective_scope()
    if state.execution_options.get(UNSCOPED):
        _sync_settings(state.session, scope)
        return
    if scope is None:
        if (state.is_select or state.is_update or state.is_delete or state.is_insert) and _touches_owned(state):
            raise NoCompanyScope("a company-owned table was queried with no company scope (crm.tenancy.context)")
        _sync_settings(state.session, scope)
        return
    _sync_settings(state.session, scope)
    if scope.company_id is None:
        return  # the operator context: every company
    if state.is_select or state.is_update or state.is_delete:
        state.statement = state.statement.options(_criteria(scope.company_id))
    elif state.is_insert:
        _fill_insert(state, scope.company_id)


def _fill_insert(state: ORMExecuteState, company_id: int) -> None:
    mapper = state.bind_mapper
    if mapper is None or not issubclass(mapper.class_, CompanyOwned):
        return
    statement: Any = state.statement
    params: Any = state.parameters
    if isinstance(params, list):
        for row in params:
            if row.get("company_id", company_id) != company_id:
                raise CompanyScopeConflict(f"insert of company {row['company_id']} in company {company_id}'s scope")
        state.parameters = [{**row, "company_id": company_id} for row in params] if params else params
        return
    given = {getattr(c, "key", c): v for c, v in (getattr(statement, "_values", None) or {}).items()}
    if "company_id" in given:
        # Named in the statement: SQLite has no second wall, so the value is checked here. A bound literal
        # carries its value; anything else (a subquery, a column) is refused rather than trusted.
        named = getattr(given["company_id"], "value", given["company_id"])
        if named != company_id:
            raise CompanyScopeConflict(f"insert of company {named!r} in company {company_id}'s scope")
        return
    if params and "company_id" in params:
        if params["company_id"] != company_id:
            raise CompanyScopeConflict(f"insert of company {params['company_id']} in company {company_id}'s scope")
        return
    state.statement = statement.values(company_id=company_id)


# session.info key: the PostgreSQL connection of the session's open transaction (after_begin below).
_PG_CONNECTION = "leadchain_rls_connection"


def _sync_settings(session: Session, scope: Scope | None) -> None:
    """On PostgreSQL, a transaction already open under another scope gets the current one's settings.

    The connection is the one the transaction began on, remembered by after_begin: asking the session for
    it (get_bind, connection) on every statement was most of the tenancy layer's own cost (issue 21). A
    session transaction that has no connection yet needs nothing: its connection's begin applies the scope
    current then (crm.tenancy.rls)."""
    conn = session.info.get(_PG_CONNECTION)
    if conn is not None:
        rls.apply(conn, scope)


@event.listens_for(Session, "after_begin")
def _remember_connection(session: Session, _transaction: Any, connection: Any) -> None:
    if connection.dialect.name == "postgresql":
        session.info[_PG_CONNECTION] = connection


@event.listens_for(Session, "after_transaction_end")
def _forget_connection(session: Session, transaction: Any) -> None:
    if transaction.parent is None:  # the outermost transaction (a savepoint's end keeps the connection)
        session.info.pop(_PG_CONNECTION, None)


@event.listens_for(Session, "before_flush")
def _stamp_company(session: Session, _flush_context: Any, _instances: Any) -> None:
    owned_new = [o for o in session.new if isinstance(o, CompanyOwned)]
    owned_dirty = [o for o in session.dirty if isinstance(o, CompanyOwned)]
    if not owned_new and not owned_dirty:
        return
    scope = effective_scope()
    if scope is None:
        raise NoCompanyScope("company-owned rows written with no company scope (crm.tenancy.context)")
    _sync_settings(session, scope)
    company_id = scope.company_id
    for obj in owned_new:
        if company_id is None:
            continue  # the operator context names the company of what it creates (or leaves it NULL)
        current = getattr(obj, "company_id", None)
        if getattr(getattr(obj, "role", None), "value", None) == "operator":
            # An operator user belongs to no company (crm.models.users): only an operator context makes one.
            raise CompanyScopeConflict(f"an operator user cannot be added in company {company_id}'s scope")
        if current is None:
            obj.company_id = company_id
        elif current != company_id:
            raise CompanyScopeConflict(
                f"a {type(obj).__name__} of company {current} added in company {company_id}'s scope"
            )
    for obj in owned_dirty:
        history = inspect(obj).attrs.company_id.history
        if history.has_changes() and history.deleted and company_id is not None:
            raise CompanyScopeConflict(f"a {type(obj).__name__} cannot move to another company")
        if company_id is not None and obj.company_id not in (None, company_id):
            raise CompanyScopeConflict(
                f"a {type(obj).__name__} of company {obj.company_id} changed in company {company_id}'s scope"
            )
