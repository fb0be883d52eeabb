"""Route × role × ownership (docs/compliance.md §S5): every UI route of app.url_map, every perspective
(anonymous, sales rep on their own / a colleague's lead, manager, admin) answers the status in
tests/ui/route_expectations/, and a refused POST changes nothing. A new UI route without an
expectation fails test_every_ui_route_has_an_expectation: add it to your area's module there."""

from __future__ import annotations

import pytest
from flask import url_for

from crm import create_app
from crm.extensions import db
from tests.conftest import _wipe, make_test_secrets
from tests.ui.conftest import create_leads, create_team, signed_in
from tests.ui.route_expectations import PERSPECTIVES, Route, Subject, all_routes, ui_endpoints

_COLLECTING_APP = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}, secrets=make_test_secrets())
ENDPOINTS = ui_endpoints(_COLLECTING_APP)
ROUTES = all_routes()
REFUSED = {400, 401, 403, 404, 405, 422}


def test_every_ui_route_has_an_expectation():
    missing = sorted(e for e in ENDPOINTS if e not in ROUTES)
    uncovered = sorted(
        f"{e} {m}"
        for e, methods in ENDPOINTS.items()
        if e in ROUTES
        for m in methods
        if m not in {r.method for r in ROUTES[e]}
    )
    stale = sorted(e for e in ROUTES if e not in ENDPOINTS)
    assert not missing, f"UI routes without an expectation (add them to tests/ui/route_expectations/): {missing}"
    assert not uncovered, f"methods without an expectation: {uncovered}"
    assert not stale, f"expectations for routes that do not exist: {stale}"


def test_no_perspective_is_forgotten():
    for routes in ROUTES.values():
        for route in routes:
            for perspective in PERSPECTIVES:
                route.expected(perspective)  # raises KeyError with the missing one


class World:
    """The team and its three leads, made fresh on demand."""

    def __init__(self, app) -> None:
        self.app = app
        self.team = create_team(app)
        self.leads = create_leads(app, self.team)

    def renew(self) -> None:
        _wipe(self.app)
        self.team = create_team(self.app)
        self.leads = create_leads(self.app, self.team)

    def subject(self, perspective: str) -> Subject:
        lead = self.leads.own if perspective == "sales_own" else self.leads.foreign
        return Subject(self.app, self.team, self.leads, perspective, lead)


def _url(app, endpoint: str, route: Route, subject: Subject) -> str:
    args = route.url_args(subject) if route.url_args else {}
    query = route.query(subject) if route.query else {}
    with app.test_request_context():
        return url_for(endpoint, **args, **query)


def _snapshot(app, route: Route, subject: Subject):
    if route.snapshot is None:
        return None
    with app.app_context():
        value = route.snapshot(subject)
        db.session.rollback()
        return value


def _ask(world: World, endpoint: str, route: Route, perspective: str) -> None:
    app = world.app
    subject = world.subject(perspective)
    if route.setup is not None:
        with app.app_context():
            subject.extra.update(route.setup(subject) or {})
    member = subject.member
    client = app.test_client() if member is None else signed_in(app, member)
    url = _url(app, endpoint, route, subject)
    before = _snapshot(app, route, subject)
    if route.method == "GET":
        r = client.get(url, headers=route.headers or {})
    else:
        data = route.data(subject) if route.data else {}
        r = client.open(
            url, method=route.method, data={"csrf_token": client.csrf_token(), **data}, headers=route.headers or {}
        )
    expected = route.expected(perspective)
    assert r.status_code in expected, (
        f"{route.method} {url} ({endpoint}) as {perspective}: {r.status_code}, expected {expected}; "
        f"{r.get_data(as_text=True)[:300]!r}"
    )
    if route.method != "GET" and set(expected) <= REFUSED:
        assert _snapshot(app, route, subject) == before, f"{route.method} {url} as {perspective} changed data"


@pytest.mark.parametrize("endpoint", sorted(ENDPOINTS))
def test_route_matrix(ui_app, endpoint):
    if endpoint not in ROUTES:
        pytest.fail(f"{endpoint} has no expectation in tests/ui/route_expectations/")
    world = World(ui_app)
    for n, route in enumerate(ROUTES[endpoint]):
        if n > 0:
            world.renew()
        for i, perspective in enumerate(PERSPECTIVES):
            if route.isolated and i > 0:
                world.renew()
            _ask(world, endpoint, route, perspective)
