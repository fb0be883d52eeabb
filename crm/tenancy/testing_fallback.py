"""TEMPORARY, TESTING ONLY: the company a unit of work with no scope falls back to in a test app.

Until every entrance binds the company it verified (web requests, webhooks, activities: issue 16, helpers
H1b/H1c), the existing tests' requests would run with no scope and fail with NoCompanyScope. A test app sets
`app.config["TENANCY_TEST_DEFAULT_COMPANY"]` (tests/conftest.py `app` fixture) and, with TESTING on, a
statement with no scope runs in that company. Never set outside tests: the config key is read only when
`app.testing` is true. Remove this module (and its two callers, crm.tenancy.orm and crm.tenancy.rls) once
the entrances bind the company themselves."""

from __future__ import annotations

from flask import current_app, has_app_context

from crm.tenancy.context import Scope, current_scope

CONFIG_KEY = "TENANCY_TEST_DEFAULT_COMPANY"


def effective_scope() -> Scope | None:
    scope = current_scope()
    if scope is not None:
        return scope
    if has_app_context() and current_app.testing:
        company_id = current_app.config.get(CONFIG_KEY)
        if company_id:
            return Scope(int(company_id))
    return None
