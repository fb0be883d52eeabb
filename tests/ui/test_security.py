"""CSRF, security headers, side-effect-free GETs, HTML vs JSON errors (docs/compliance.md §S3, §S4, §S9, §S14)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import url_for

from crm import create_app
from crm.extensions import db
from crm.models import User
from tests.conftest import API_KEY, WEBHOOK_SECRETS, make_test_secrets
from tests.crm.test_webhook_leads import LEAD
from tests.helpers import post_signed
from tests.ui.conftest import PASSWORD, login, signed_in
from tests.ui.route_expectations import all_routes, ui_endpoints
from tests.ui.test_route_matrix import World, _snapshot, _url

_COLLECTING_APP = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}, secrets=make_test_secrets())
ENDPOINTS = ui_endpoints(_COLLECTING_APP)
ROUTES = all_routes()
ALL_GET_RULES = sorted({(r.rule, r.endpoint) for r in _COLLECTING_APP.url_map.iter_rules() if "GET" in r.methods})
assert len(ALL_GET_RULES) > 5
UI_POSTS = sorted((e, m) for e, methods in ENDPOINTS.items() for m in methods if m != "GET")

# Words that name an action: a GET-only route called like this is suspicious.
ACTION = re.compile(
    r"(^|_)(logout|delete|remove|done|complete|call|pause|resume|cancel|merge|dismiss|"
    r"reassign|assign|generate|deactivate|activate|set|update|create|add|save|send|"
    r"do_not_contact|revoke|import|upload|toggle|approve|reject)($|_)"
)


def _dummy_args(rule) -> dict:
    from werkzeug.routing.converters import NumberConverter  # int (the UI's bounded one too) and float

    return {name: 1 if isinstance(conv, NumberConverter) else "x" for name, conv in rule._converters.items()}


def _assert_security_headers(r, where: str) -> None:
    csp = r.headers.get("Content-Security-Policy", "")
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, where
    assert "'unsafe-eval'" not in csp, where
    if "/unsubscribe/" in where:  # the public email landing page: its own inline <style>, still no scripts
        assert "script-src 'none'" in csp, where
    else:
        assert "'unsafe-inline'" not in csp, where
        # Recordings play through the CRM (crm.ui.recordings): media, scripts, styles and frames stay on our origin.
        assert "media-src 'self';" in csp + ";" and "https:" not in csp and "script-src 'self'" in csp, where
    assert r.headers.get("X-Content-Type-Options") == "nosniff", where
    assert r.headers.get("X-Frame-Options") == "DENY", where
    assert r.headers.get("Referrer-Policy") in ("strict-origin-when-cross-origin", "no-referrer"), where


def test_security_headers_on_every_route(ui_app, team):
    """Every GET rule of app.url_map (UI, API, webhooks, health, static), anonymous and signed in."""
    admin = signed_in(ui_app, team.admin)
    checked = 0
    for url_rule in ui_app.url_map.iter_rules():
        if "GET" not in url_rule.methods:
            continue
        with ui_app.test_request_context():
            args = _dummy_args(url_rule)
            if url_rule.endpoint.endswith("static"):
                args["filename"] = "app.css"
            url = url_for(url_rule.endpoint, **args)
        for client in (ui_app.test_client(), admin):
            _assert_security_headers(client.get(url), f"GET {url}")
            checked += 1
    assert checked >= 2 * len(ALL_GET_RULES)


def test_headers_on_errors_and_hsts_on_https(ui_app, anon):
    _assert_security_headers(anon.get("/no-such-page"), "404")
    _assert_security_headers(anon.post("/login", data={}), "400 CSRF")
    assert "Strict-Transport-Security" not in anon.get("/login").headers  # plain http in tests
    prod = create_app(
        {"SQLALCHEMY_DATABASE_URI": ui_app.config["SQLALCHEMY_DATABASE_URI"]}, secrets=make_test_secrets()
    )
    r = prod.test_client().get("/login", base_url="https://crm.example.test")
    assert "max-age=31536000" in r.headers["Strict-Transport-Security"]


def test_session_cookie_flags(ui_app, team, anon):
    login(anon, team.sales_a.email, PASSWORD)
    assert ui_app.config["SESSION_COOKIE_HTTPONLY"] and ui_app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    prod = create_app(
        {"SQLALCHEMY_DATABASE_URI": ui_app.config["SQLALCHEMY_DATABASE_URI"]}, secrets=make_test_secrets()
    )
    r = prod.test_client().get("/login", base_url="https://crm.example.test")
    cookie = r.headers["Set-Cookie"]
    assert cookie.startswith("__Host-leadchain=") and "Secure" in cookie and "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie and "Path=/" in cookie and "Domain" not in cookie
    assert not prod.debug


def test_a_form_without_its_token_is_refused(ui_app, team, anon):
    assert anon.post("/login", data={"email": team.sales_a.email, "password": PASSWORD}).status_code == 400
    client = signed_in(ui_app, team.sales_a)
    r = client.post("/language", data={"language": "en"})
    assert r.status_code == 400 and "Formular" in r.get_data(as_text=True)
    # a token of another session does not count
    other = signed_in(ui_app, team.sales_b).csrf_token()
    assert client.post("/language", data={"language": "en", "csrf_token": other}).status_code == 400
    with ui_app.app_context():
        assert db.session.get(User, team.sales_a.id).language == "de"
    # htmx sends it as a header only
    assert (
        client.post("/language", data={"language": "en"}, headers={"X-CSRFToken": client.csrf_token()}).status_code
        == 302
    )


def test_every_ui_post_needs_the_token(ui_app):
    """Every UI route that is not a GET, from app.url_map, as the record's owner and as admin."""
    missing = sorted({e for e, _m in UI_POSTS if e not in ROUTES})
    assert not missing, f"no expectation in tests/ui/route_expectations/ for {missing}"
    world = World(ui_app)
    for endpoint, method in UI_POSTS:
        for route in (r for r in ROUTES[endpoint] if r.method == method):
            for perspective in ("sales_own", "admin"):
                subject = world.subject(perspective)
                if route.setup is not None:
                    with ui_app.app_context():
                        subject.extra.update(route.setup(subject) or {})
                client = signed_in(ui_app, subject.member)
                url = _url(ui_app, endpoint, route, subject)
                before = _snapshot(ui_app, route, subject)
                data = route.data(subject) if route.data else {}
                r = client.open(url, method=method, data=data)
                assert r.status_code == 400, f"{method} {url} without a CSRF token: {r.status_code}"
                assert _snapshot(ui_app, route, subject) == before, f"{method} {url} changed data"


def _everything(app) -> dict:
    """Every row of every table except the session bookkeeping."""
    with app.app_context():
        dump = {}
        for table in db.metadata.sorted_tables:
            if table.name == "user_sessions":
                continue
            rows = db.session.execute(sa.select(table)).all()
            dump[table.name] = sorted(repr(tuple(row)) for row in rows)
        db.session.rollback()
        return dump


def test_no_get_route_is_named_like_an_action():
    suspicious = sorted(
        e
        for e, methods in ENDPOINTS.items()
        if "GET" in methods and methods == {"GET"} and ACTION.search(e.rpartition(".")[2])
    )
    assert not suspicious, f"GET-only routes that sound like actions (make them POST): {suspicious}"


def test_get_routes_change_nothing(ui_app):
    world = World(ui_app)
    before = _everything(ui_app)
    asked = 0
    for endpoint, routes in ROUTES.items():
        for route in (r for r in routes if r.method == "GET" and r.setup is None):
            for perspective in ("sales_own", "sales_foreign", "admin"):
                subject = world.subject(perspective)
                client = signed_in(ui_app, subject.member)
                client.get(_url(ui_app, endpoint, route, subject), headers=route.headers or {})
                asked += 1
    assert asked and _everything(ui_app) == before


def test_api_and_webhooks_stay_json_and_csrf_exempt(ui_app, anon):
    r = anon.get("/api/v1/leads/999999", headers={"X-API-Key": API_KEY})
    assert r.status_code == 404 and r.is_json and r.get_json()["code"] == 404
    r = anon.post("/api/v1/leads", json={"leads": []}, headers={"X-API-Key": API_KEY})
    assert r.status_code != 400 or "CSRF" not in r.get_data(as_text=True)
    assert r.is_json
    r = anon.post("/api/v1/leads", json={}, headers={})
    assert r.status_code == 401 and r.is_json
    r = post_signed(anon, "website", LEAD, WEBHOOK_SECRETS[1])
    assert r.status_code == 202 and r.is_json
    r = anon.post("/webhooks/leads/website", data=b"{}", headers={"Content-Type": "application/json"})
    assert r.status_code == 401 and r.is_json
    assert anon.post("/unsubscribe/not-a-token", data={"List-Unsubscribe": "One-Click"}).status_code != 400
    assert anon.get("/healthz").is_json


def test_health_endpoints_answer_json_to_browsers_too(anon):
    # Liveness and readiness are for machines: JSON whatever the Accept header, a NUL in the query is
    # theirs to ignore (not the UI's 400 page), and /readyz names each check it made.
    html = {"Accept": "text/html"}
    r = anon.get("/healthz?x=%00", headers=html)
    assert r.status_code == 200 and r.get_json() == {"status": "ok"}
    r = anon.get("/readyz?x=%00", headers=html)
    assert r.status_code in (200, 503) and r.is_json
    assert set(r.get_json()["checks"]) == {"database", "vault", "temporal"}
    assert r.get_json()["checks"]["database"] == "ok" and r.get_json()["checks"]["vault"] == "not used"


def test_ui_errors_are_html_pages_in_the_users_language(ui_app, team, anon):
    r = anon.get("/no-such-page")
    assert r.status_code == 404 and r.mimetype == "text/html" and "Nicht gefunden" in r.get_data(as_text=True)
    r = anon.get("/no-such-page?lang=en")
    assert "Not found" in r.get_data(as_text=True)
    client = signed_in(ui_app, team.sales_a)
    r = client.delete("/account/password", headers={"X-CSRFToken": client.csrf_token()})
    assert r.status_code == 405 and r.mimetype == "text/html" and "Nicht erlaubt" in r.get_data(as_text=True)


def test_a_nul_character_in_a_query_or_form_is_a_400_page(ui_app, team, leads):
    """PostgreSQL refuses NUL in text: GET /leads?q=%00 was a 500 there (and fine on SQLite)."""
    from crm.models import Interaction

    client = signed_in(ui_app, team.sales_a)
    for url in ("/leads?q=%00", "/leads?q=a%00b", "/leads?source=%00", "/tasks?tab=%00", "/?x%00=1"):
        r = client.get(url)
        assert r.status_code == 400 and r.mimetype == "text/html", url
    r = client.submit(f"/leads/{leads.own}/notes", {"text": "Rückruf\x00"})
    assert r.status_code == 400
    r = client.submit("/login", {"email": "anna\x00@example.test", "password": "x"})
    assert r.status_code == 400
    with ui_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(Interaction.id))) == 0
    assert client.get("/leads?q=Olga").status_code == 200
    # the API and webhooks judge their own bodies
    assert client.get(f"/api/v1/leads/{leads.own}?x=%00", headers={"Authorization": f"Bearer {API_KEY}"}).is_json


def test_ids_beyond_an_integer_column_are_404_not_500(ui_app, team, leads):
    """2**31 overflowed PostgreSQL's INTEGER, 2**63 SQLite's: the UI's <int:...> rules stop at 2**31 - 1."""
    client = signed_in(ui_app, team.admin)
    for bad in (2**31, 2**63, 10**30, "9" * 5000, "%D9%A1"):
        for url in (f"/leads/{bad}", f"/leads/{bad}/edit", f"/reports/{bad}/de.pdf"):
            assert client.get(url).status_code == 404, url
        for url in (
            f"/leads/{bad}/notes",
            f"/tasks/{bad}/done",
            f"/leads/{leads.own}/merge/{bad}",
            f"/settings/users/{bad}/role",
        ):
            assert client.submit(url, {"text": "x", "role": "sales"}).status_code == 404, url
    assert client.get(f"/leads/{2**31 - 1}").status_code == 404
    assert client.get(f"/leads/{leads.own}").status_code == 200
