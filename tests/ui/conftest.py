"""Fixtures for UI tests (all run on SQLite and PostgreSQL through the `app` fixture of tests/conftest.py).

* ``team`` -- four users, committed: ``team.sales_a``, ``team.sales_b`` (both role sales), ``team.manager``,
  ``team.admin``; each a ``Member(id, email, password, role, name)`` (plain data, usable outside an app
  context). Passwords are ``PASSWORD`` for all of them (argon2 with cheap test parameters).
* ``leads`` -- three leads, committed: ``leads.own`` (owned by sales A), ``leads.foreign`` (owned by
  sales B), ``leads.unassigned`` (no owner); ids only.
* ``as_sales_a``, ``as_sales_b``, ``as_manager``, ``as_admin`` -- a signed-in ``UIClient`` per user;
  ``anon`` -- a UIClient that is not signed in. ``clients`` -- a dict of them by name
  ("anonymous", "sales_a", "sales_b", "manager", "admin").
* ``UIClient`` (the app's test_client_class here) adds:
  ``client.csrf_token()`` -- a valid token for this client's session (read from a page's
  ``<meta name="csrf-token">``), and ``client.submit(url, data=None, **kw)`` -- a POST with that token in
  the form and the ``X-CSRFToken`` header, as a browser form or htmx would send it.
* ``login(client, email, password)`` -- the plain sign-in POST (with CSRF), returns the response.

Example::

    def test_rep_sees_own_lead(as_sales_a, leads):
        assert as_sales_a.get(f"/leads/{leads.own}").status_code == 200
        assert as_sales_a.get(f"/leads/{leads.foreign}").status_code == 404
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest
from flask.testing import FlaskClient

from crm.extensions import db
from crm.models import Lead, Role, User

PASSWORD = "correct-horse-battery-staple-42"
_META = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


class UIClient(FlaskClient):
    def csrf_token(self) -> str:
        for path in ("/account/password", "/login"):
            r = self.get(path)
            if r.status_code == 200:
                match = _META.search(r.get_data(as_text=True))
                if match:
                    return match.group(1)
        raise AssertionError("no page with a CSRF token")

    def submit(self, url: str, data: dict | None = None, **kwargs):
        token = self.csrf_token()
        form = {"csrf_token": token, **(data or {})}
        headers = {"X-CSRFToken": token, **kwargs.pop("headers", {})}
        return self.post(url, data=form, headers=headers, **kwargs)


@dataclass(frozen=True)
class Member:
    id: int
    email: str
    password: str
    role: Role
    name: str


@dataclass(frozen=True)
class Team:
    sales_a: Member
    sales_b: Member
    manager: Member
    admin: Member

    def all(self) -> list[Member]:
        return [self.sales_a, self.sales_b, self.manager, self.admin]


@dataclass(frozen=True)
class Leads:
    own: int
    foreign: int
    unassigned: int


def make_user(email: str, name: str, role: Role, password: str = PASSWORD, language: str = "de") -> User:
    """A committed user with an argon2 hash of `password` (inside an app context)."""
    from crm.ui.auth import hasher

    user = User(email=email, name=name, role=role, language=language, password_hash=hasher().hash(password))
    db.session.add(user)
    db.session.commit()
    return user


def login(client: FlaskClient, email: str, password: str):
    token = client.csrf_token() if isinstance(client, UIClient) else None
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token or ""})


@pytest.fixture
def ui_app(app):
    app.test_client_class = UIClient
    return app


def create_team(app) -> Team:
    with app.app_context():
        members = []
        for email, name, role in (
            ("anna.sales@example.test", "Anna Sales", Role.SALES),
            ("bernd.sales@example.test", "Bernd Sales", Role.SALES),
            ("maria.manager@example.test", "Maria Manager", Role.MANAGER),
            ("arne.admin@example.test", "Arne Admin", Role.ADMIN),
        ):
            user = make_user(email, name, role)
            members.append(Member(user.id, email, PASSWORD, role, name))
        return Team(*members)


def create_leads(app, team: Team) -> Leads:
    with app.app_context():
        made = []
        for first, owner in (("Olga", team.sales_a.id), ("Fritz", team.sales_b.id), ("Uwe", None)):
            lead = Lead(
                first_name=first,
                last_name="Beispiel",
                email=f"{first.lower()}@example.test",
                email_key=f"{first.lower()}@example.test",
                source="test",
                owner_id=owner,
            )
            db.session.add(lead)
            db.session.flush()
            made.append(lead.id)
        db.session.commit()
        return Leads(*made)


@pytest.fixture
def team(ui_app) -> Team:
    return create_team(ui_app)


@pytest.fixture
def leads(ui_app, team) -> Leads:
    return create_leads(ui_app, team)


def signed_in(app, member: Member) -> UIClient:
    """A new UIClient signed in as `member`."""
    client = app.test_client()
    r = login(client, member.email, member.password)
    assert r.status_code == 302, f"sign-in of {member.email} failed: {r.status_code}"
    return client


@pytest.fixture
def anon(ui_app) -> UIClient:
    return ui_app.test_client()


@pytest.fixture
def as_sales_a(ui_app, team) -> UIClient:
    return signed_in(ui_app, team.sales_a)


@pytest.fixture
def as_sales_b(ui_app, team) -> UIClient:
    return signed_in(ui_app, team.sales_b)


@pytest.fixture
def as_manager(ui_app, team) -> UIClient:
    return signed_in(ui_app, team.manager)


@pytest.fixture
def as_admin(ui_app, team) -> UIClient:
    return signed_in(ui_app, team.admin)


@pytest.fixture
def clients(anon, as_sales_a, as_sales_b, as_manager, as_admin) -> dict[str, UIClient]:
    return {"anonymous": anon, "sales_a": as_sales_a, "sales_b": as_sales_b, "manager": as_manager, "admin": as_admin}
