"""Every web request is one unit of work (docs/tenancy.md rule 2): it starts with no company, whatever the
worker thread ran before, and the entrance that verifies who is asking binds the company — the sign-in
session (crm.ui.security), the API key (crm.api.auth), the lead source's signature (crm.webhooks.leads),
the provider account's signature (crm.webhooks.provider_common). Until then a statement on a company-owned
table raises NoCompanyScope (crm.tenancy.orm): a route that forgot to bind fails, it never leaks."""

from __future__ import annotations

import contextvars

from flask import Flask, g

from crm.extensions import db
from crm.tenancy.context import Scope, begin_unit, bind_company, current_scope, end_unit

_TOKEN = "tenancy_unit"


def init_web(app: Flask) -> None:
    """Register the unit of work; before every other request hook, so none of them runs in a stale scope."""
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)
    app.teardown_request(_end)


def _begin() -> None:
    setattr(g, _TOKEN, begin_unit())


def _end(_error: BaseException | None) -> None:
    token: contextvars.Token[Scope | None] | None = g.pop(_TOKEN, None)
    if token is None:
        return
    try:
        end_unit(token)
    except ValueError:
        # The token belongs to another context (a streamed response finishing elsewhere): the scope ends
        # with that context anyway.
        pass


def bind_request_company(company_id: int) -> None:
    """Bind this request to `company_id` from a verified credential. A transaction still open from before
    (an operator look-up that was not closed) is ended first: the database's company setting is taken when
    a transaction begins, and the company's work must run in a transaction of its own."""
    scope = current_scope()
    if scope is not None and scope.company_id == company_id and not scope.is_operator:
        return
    if db.session().in_transaction():
        db.session.rollback()
    bind_company(company_id)
