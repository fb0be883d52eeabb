"""Every route that takes a row id, UI and API alike, takes ASCII digits from 1 to 2³¹ − 1 and nothing else.

Before crm/routing.py, ``/api/v1/leads/١`` (an Arabic-Indic one) answered with lead 1 and ids of 2³¹ and
more reached PostgreSQL's integer column and answered 500 (issue 14, item 3). An id that cannot exist is
now simply a URL that does not exist: 404, whatever the route and whether signed in or not. SQLite and
PostgreSQL."""

from __future__ import annotations

import pytest
from werkzeug.exceptions import MethodNotAllowed, NotFound
from werkzeug.routing import IntegerConverter

from crm.routing import MAX_ROW_ID

SENTINEL = 987654321
BAD_IDS = ("١", "٣٤", "１", "2147483648", str(10**30), "0", "-1", "1e3", "+1", " 1")


def _id_routes(app) -> list[tuple[str, str]]:
    """(method, url with SENTINEL for every row id) for every rule with an int converter."""
    adapter = app.url_map.bind("localhost")
    found = []
    for rule in app.url_map.iter_rules():
        ints = [name for name, conv in rule._converters.items() if isinstance(conv, IntegerConverter)]
        if not ints:
            continue
        values: dict[str, object] = {name: SENTINEL for name in ints}
        for name, conv in rule._converters.items():
            if name not in values:
                # any(...) and string parts: the first allowed word, or a plain word.
                options = getattr(conv, "items", None)
                values[name] = sorted(options)[0] if options else "x"
        method = sorted(m for m in rule.methods if m not in {"HEAD", "OPTIONS"})[0]
        found.append((method, adapter.build(rule.endpoint, values, method=method)))
    return found


def test_every_id_route_is_found_and_uses_the_one_converter(app):
    routes = _id_routes(app)
    # Leads, chains, tasks, users, campaigns, rules, flags, reports, calls: a score of routes take ids.
    assert len(routes) >= 20, routes
    for rule in app.url_map.iter_rules():
        for conv in rule._converters.values():
            if isinstance(conv, IntegerConverter):
                assert conv.max == MAX_ROW_ID and conv.min == 1, rule.rule


@pytest.mark.parametrize("bad", BAD_IDS)
def test_an_id_that_cannot_exist_matches_no_route(app, client, bad):
    adapter = app.url_map.bind("localhost")
    for method, url in _id_routes(app):
        target = url.replace(str(SENTINEL), bad)
        # Werkzeug answers 405 when a value fails a converter's bounds on a path another method's rule
        # shares (POST /leads/0/edit); either way no view runs.
        with pytest.raises((NotFound, MethodNotAllowed)):
            adapter.match(target, method=method)
        if method == "GET":
            # Over HTTP too (a POST meets the CSRF check first, which answers 400 before routing's 404).
            response = client.get(target)
            assert response.status_code == 404, (url, bad, response.status_code)


def test_a_well_formed_id_reaches_the_route(app, client):
    # The same routes with a plain id are not 404 by routing: they ask for a sign-in, an API key, a CSRF
    # token, or answer 404 from the view because no such row exists (the JSON/HTML body says so).
    routed = 0
    for method, url in _id_routes(app):
        response = client.open(url.replace(str(SENTINEL), "1"), method=method)
        assert response.status_code != 500, (method, url)
        if response.status_code != 404:
            routed += 1
    assert routed >= len(_id_routes(app)) // 2
