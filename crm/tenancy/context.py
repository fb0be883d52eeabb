"""Whose data the current unit of work may touch: one company, or an explicit operator context.

A scope is a context variable, so it follows asyncio tasks and is copied into threads that
`contextvars.copy_context()` runs; a request, an activity or a relay batch enters it once, from the
record it handles, and everything below (ORM criteria, the PostgreSQL setting) reads it from here.

There is no implicit "all companies": with no scope entered, `current_company_id()` is None and the ORM
layer refuses company-owned rows (crm.tenancy.orm). The operator context is the one way to see across
companies; entering it names who and why, so the caller can audit it.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class NoCompanyScope(RuntimeError):
    """Company-owned data was touched with no company scope and no operator context entered."""


class CompanyScopeConflict(RuntimeError):
    """A different company's scope was entered inside an open one (a bug: scopes nest only for the same
    company, or inside an operator context)."""


@dataclass(frozen=True, slots=True)
class Scope:
    # The company whose rows are visible; None only in an operator context.
    company_id: int | None
    # Set in an operator context: who crosses companies ("user:3", "cli:migrate", "relay") and why.
    operator: str | None = None
    reason: str | None = None

    @property
    def is_operator(self) -> bool:
        return self.operator is not None


_SCOPE: contextvars.ContextVar[Scope | None] = contextvars.ContextVar("leadchain_company_scope", default=None)


def current_scope() -> Scope | None:
    return _SCOPE.get()


def current_company_id() -> int | None:
    """The company of the current scope; None outside any scope and in a cross-company operator context."""
    scope = _SCOPE.get()
    return scope.company_id if scope else None


def require_company_id() -> int:
    """The current company, or NoCompanyScope: for code that creates or reads one company's rows."""
    company_id = current_company_id()
    if company_id is None:
        raise NoCompanyScope("no company scope entered (crm.tenancy.context.company_scope)")
    return company_id


@contextmanager
def company_scope(company_id: int) -> Iterator[Scope]:
    """Everything inside sees and writes company `company_id` only.

    Nesting the same company is allowed (a helper re-entering its caller's scope); another company inside
    an open company scope raises CompanyScopeConflict. Inside an operator context a company scope narrows
    the view to that company (the operator acting on one company's behalf)."""
    if not isinstance(company_id, int) or isinstance(company_id, bool) or company_id <= 0:
        raise ValueError(f"company id must be a positive int, not {company_id!r}")
    outer = _SCOPE.get()
    if outer is not None and not outer.is_operator and outer.company_id != company_id:
        raise CompanyScopeConflict(f"company {company_id} entered inside company {outer.company_id}'s scope")
    scope = Scope(company_id, outer.operator if outer else None, outer.reason if outer else None)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


@contextmanager
def operator_scope(operator: str, reason: str) -> Iterator[Scope]:
    """The explicit cross-company context: platform administration, migrations, the relay's routing of a raw
    event to its company. `operator` and `reason` are required and non-empty so the audit can name them."""
    if not operator or not reason:
        raise ValueError("an operator context names who enters it and why")
    scope = Scope(None, operator, reason)
    token = _SCOPE.set(scope)
    try:
        yield scope
    finally:
        _SCOPE.reset(token)


# A boundary (a web request, an activity, a relay batch, a bridge session) is a new unit of work: it starts
# with no scope whatever the thread or task carried before, binds the company once it has resolved it from
# a verified record, and restores the outer value when it ends.


def begin_unit() -> contextvars.Token[Scope | None]:
    """Start a unit of work with no scope; hand the token to end_unit when it is over."""
    return _SCOPE.set(None)


def bind_company(company_id: int) -> None:
    """Bind the unit of work begun by begin_unit to `company_id`. Binding the same company again is a no-op;
    another company raises CompanyScopeConflict (one unit of work serves one company)."""
    if not isinstance(company_id, int) or isinstance(company_id, bool) or company_id <= 0:
        raise ValueError(f"company id must be a positive int, not {company_id!r}")
    outer = _SCOPE.get()
    if outer is not None and not outer.is_operator:
        if outer.company_id != company_id:
            raise CompanyScopeConflict(f"company {company_id} bound in company {outer.company_id}'s unit of work")
        return
    _SCOPE.set(Scope(company_id))


def end_unit(token: contextvars.Token[Scope | None]) -> None:
    _SCOPE.reset(token)


@contextmanager
def unit_of_work(company_id: int | None = None) -> Iterator[None]:
    """begin_unit / bind_company / end_unit as one block, for boundaries that know the company up front."""
    token = begin_unit()
    try:
        if company_id is not None:
            bind_company(company_id)
        yield
    finally:
        end_unit(token)
