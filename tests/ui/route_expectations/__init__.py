"""What every UI route answers, per role and ownership: the table behind tests/ui/test_route_matrix.py.

Each UI area has its own module here (``auth.py``, ``settings.py``, ``leads.py``, ...) with one dict::

    from tests.ui.route_expectations import LEAD, Route, Subject

    ROUTES = {
        # endpoint: a Route, or a list of Routes (one per HTTP method)
        "leads.show": Route(url_args=lambda s: {"lead_id": s.lead},
                            expect={"anonymous": 302, "sales_own": 200, "sales_foreign": 404,
                                    "manager": 200, "admin": 200}),
        "leads.edit": Route(method="POST", url_args=lambda s: {"lead_id": s.lead},
                            data=lambda s: {"first_name": "X", "owner_id": s.team.sales_a.id},
                            snapshot=lead_snapshot,
                            expect={"anonymous": 302, "sales_own": 302, "sales_foreign": 404,
                                    "manager": 302, "admin": 302}),
    }

Every module's ROUTES are merged (an endpoint in two modules is an error). The matrix test walks
``app.url_map`` and FAILS for a UI endpoint (a blueprint from crm.ui, or any route outside /api/,
/webhooks/, /healthz, /unsubscribe/, static) with no entry here, or for a method of it that no Route covers.

The perspectives (keys of ``expect``); a status is an int or a tuple of acceptable ints:

* ``anonymous`` -- not signed in (GET → 302 to /login; htmx/JSON → 401);
* ``sales_own`` -- sales rep A, the record is A's own lead (``s.lead == leads.own``);
* ``sales_foreign`` -- sales rep A, the record is rep B's lead (``s.lead == leads.foreign``);
* ``manager``, ``admin`` -- on B's lead.
  ``"sales"`` sets both sales keys at once (routes without a record).

For every POST (sent with a valid CSRF token) whose expected status is 400, 401, 403 or 404, the test
asserts that ``snapshot(subject)`` (run in an app context; return any comparable value, e.g. the
lead's columns) is the same before and after. Roles run in the order anonymous, sales_foreign,
sales_own, manager, admin on the same data; ``isolated=True`` gives each perspective fresh data
(for routes that delete or can run only once). ``setup(subject)`` may create more records (a task of
the lead, say) and return values that ``url_args``/``data`` read from ``subject.extra``.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

PERSPECTIVES = ("anonymous", "sales_foreign", "sales_own", "manager", "admin")


@dataclass
class Subject:
    """One perspective on one route: who asks, about which lead."""

    app: Any
    team: Any  # tests.ui.conftest.Team
    leads: Any  # tests.ui.conftest.Leads
    perspective: str
    lead: int  # the lead under test for this perspective
    extra: dict = field(default_factory=dict)

    @property
    def member(self):
        return {
            "anonymous": None,
            "sales_own": self.team.sales_a,
            "sales_foreign": self.team.sales_a,
            "manager": self.team.manager,
            "admin": self.team.admin,
        }[self.perspective]


@dataclass(frozen=True)
class Route:
    expect: dict[str, int | tuple[int, ...]]
    method: str = "GET"
    url_args: Callable[[Subject], dict] | None = None
    data: Callable[[Subject], dict] | None = None
    query: Callable[[Subject], dict] | None = None
    headers: dict[str, str] | None = None
    snapshot: Callable[[Subject], Any] | None = None
    setup: Callable[[Subject], dict] | None = None
    isolated: bool = False

    def expected(self, perspective: str) -> tuple[int, ...]:
        table = dict(self.expect)
        if "sales" in table:
            table.setdefault("sales_own", table["sales"])
            table.setdefault("sales_foreign", table["sales"])
        if perspective not in table:
            raise KeyError(f"no expectation for {perspective!r}")
        value = table[perspective]
        return value if isinstance(value, tuple) else (value,)


def all_routes() -> dict[str, list[Route]]:
    merged: dict[str, list[Route]] = {}
    owners: dict[str, str] = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{info.name}")
        for endpoint, routes in getattr(module, "ROUTES", {}).items():
            if endpoint in merged:
                raise AssertionError(f"{endpoint} is in both {owners[endpoint]} and {info.name}")
            merged[endpoint] = list(routes) if isinstance(routes, (list, tuple)) else [routes]
            owners[endpoint] = info.name
    return merged


NON_UI_PREFIXES = (
    "/api",
    "/webhooks/",
    "/healthz",
    "/readyz",
    "/metrics",
    "/unsubscribe/",
    "/appointment/",  # the signed links in an appointment's mail (crm/email/appointment_page.py): public
    "/static/",
    "/ui/static/",
)


def ui_endpoints(app) -> dict[str, set[str]]:
    """{endpoint: HTTP methods (without HEAD/OPTIONS)} of every UI route of `app`."""
    ui_blueprints = {name for name, bp in app.blueprints.items() if bp.import_name.startswith("crm.ui")}
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "ui.static":
            continue
        blueprint = rule.endpoint.rpartition(".")[0]
        if blueprint in ui_blueprints or not rule.rule.startswith(NON_UI_PREFIXES):
            found.setdefault(rule.endpoint, set()).update((rule.methods or set()) - {"HEAD", "OPTIONS"})
    return found
