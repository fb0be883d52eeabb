"""Two-factor sign-in (issue 19 item 3) through the app's pages on both databases: enrolment with the
password, the code step after the password, no replay of a code, recovery codes once each, the throttle on
wrong codes, enrolment forced for admins and for a company that requires it, and the code asked again
before a password change. Codes are computed from the stored secret as an authenticator app would."""

from __future__ import annotations

import re
import time

import pyotp
import pytest

from crm.extensions import db
from crm.models import User
from crm.models.companies import Company
from tests.conftest import TEST_COMPANY_ID, set_settings
from tests.ui.conftest import PASSWORD, login, signed_in


def _secret_of(app, user_id: int) -> str:
    """The user's TOTP secret, opened from its sealed form: the row itself never holds it (crm.ui.totp_box)."""
    from crm.ui import totp_box

    with app.app_context():
        stored = db.session.get(User, user_id).totp_secret
        secret = totp_box.unseal(stored)
        assert secret is not None and secret not in stored, stored
        return secret


def _shown_secret(client) -> str:
    """The key the enrolment page shows (as a person would type it into the app)."""
    page = client.get("/account/two-factor").get_data(as_text=True)
    return re.search(r'<code id="totp-secret">([A-Z2-7 ]+)</code>', page).group(1).replace(" ", "")


def _code(secret: str, steps_ahead: int = 0) -> str:
    return pyotp.TOTP(secret).at(time.time() + 30 * steps_ahead)


def _enrol(app, client, member) -> tuple[str, list[str]]:
    secret = _shown_secret(client)
    r = _submit_while_enrolling(
        client, "/account/two-factor", {"action": "enable", "new_code": _code(secret), "password": member.password}
    )
    assert r.status_code == 200, r.get_data(as_text=True)
    codes = re.findall(r"<li><code>([0-9a-f]{5}-[0-9a-f]{5})</code></li>", r.get_data(as_text=True))
    assert len(codes) == 10
    return secret, codes


def _submit_while_enrolling(client, url: str, data: dict):
    """A form POST by a user who reaches only the enrolment page (the token read from that page)."""
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/account/two-factor").get_data(True))
    return client.post(url, data={"csrf_token": token.group(1), **data})


def _password_step(client, member):
    r = login(client, member.email, member.password)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login/code"), r.headers.get("Location")
    return r


def test_enrol_then_sign_in_with_a_code_never_replayed(ui_app, team):
    sales = team.sales_a
    client = signed_in(ui_app, sales)
    # Enrolment wants the password too.
    secret = _shown_secret(client)
    bad = client.submit("/account/two-factor", {"action": "enable", "new_code": _code(secret), "password": "wrong"})
    assert bad.status_code == 422
    secret, _codes = _enrol(ui_app, client, sales)
    assert _secret_of(ui_app, sales.id) == secret
    client.submit("/logout")

    fresh = ui_app.test_client()
    _password_step(fresh, sales)
    assert fresh.get("/").status_code == 302  # the half sign-in is no sign-in
    assert fresh.submit("/login/code", {"code": "000000"}).status_code == 401
    # A later step's code (the app's clock a little ahead) signs in; it cannot be used again.
    code = _code(secret, steps_ahead=1)
    r = fresh.submit("/login/code", {"code": code})
    assert r.status_code == 302 and fresh.get("/").status_code == 200
    again = ui_app.test_client()
    _password_step(again, sales)
    assert again.submit("/login/code", {"code": code}).status_code == 401


def test_a_recovery_code_works_once(ui_app, team):
    sales = team.sales_b
    _secret_, codes = _enrol(ui_app, signed_in(ui_app, sales), sales)
    first = ui_app.test_client()
    _password_step(first, sales)
    assert first.submit("/login/code", {"code": codes[3].upper()}).status_code == 302
    second = ui_app.test_client()
    _password_step(second, sales)
    assert second.submit("/login/code", {"code": codes[3]}).status_code == 401
    with ui_app.app_context():
        assert len(db.session.get(User, sales.id).recovery_code_hashes) == 9


def test_wrong_codes_are_throttled(ui_app, team):
    sales = team.sales_a
    secret, _codes = _enrol(ui_app, signed_in(ui_app, sales), sales)
    client = ui_app.test_client()
    _password_step(client, sales)
    statuses = [client.submit("/login/code", {"code": "123456"}).status_code for _ in range(6)]
    assert statuses == [401] * 5 + [429], statuses
    r = client.submit("/login/code", {"code": _code(secret)})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0  # even a right code waits


@pytest.mark.parametrize("who", ["admin", "company"])
def test_enrolment_is_forced_where_required(ui_app, team, who):
    if who == "admin":
        set_settings(ui_app, "security", two_factor_for_admins=True)
        member = team.admin
    else:
        with ui_app.app_context():
            db.session.get(Company, TEST_COMPANY_ID).require_two_factor = True
            db.session.commit()
        member = team.manager
    client = signed_in(ui_app, member)
    for path in ("/", "/leads", "/account/password"):
        r = client.get(path)
        assert r.status_code == 302 and r.headers["Location"].endswith("/account/two-factor"), path
    page = client.get("/account/two-factor").get_data(as_text=True)
    assert "otpauth://totp/" in page and 'id="totp-secret"' in page
    _enrol(ui_app, client, member)
    assert client.get("/leads").status_code == 200
    # Required: it cannot be turned off.
    secret = _secret_of(ui_app, member.id)
    r = client.submit(
        "/account/two-factor", {"action": "disable", "password": member.password, "code": _code(secret, 1)}
    )
    assert r.status_code == 422
    with ui_app.app_context():
        assert db.session.get(User, member.id).totp_enabled_at is not None
    # Others are not asked.
    assert signed_in(ui_app, team.sales_a).get("/leads").status_code == (302 if who == "company" else 200)


def test_a_password_change_asks_for_the_code_too(ui_app, team):
    sales = team.sales_a
    client = signed_in(ui_app, sales)
    secret, _codes = _enrol(ui_app, client, sales)
    form = {"current_password": PASSWORD, "new_password": "a whole new sentence of words", "new_password_repeat": ""}
    form["new_password_repeat"] = form["new_password"]
    assert client.submit("/account/password", {**form, "code": "000000"}).status_code == 422
    r = client.submit("/account/password", {**form, "code": _code(secret, 1)})
    assert r.status_code == 302


def test_an_operators_used_code_is_stored_too(ui_app):
    # An operator's loaded user is a detached copy (they belong to no company): the used step must still be
    # written to their row, or the same code would work twice.
    from crm.models import Role
    from crm.models.types import utcnow
    from crm.tenancy.context import operator_scope
    from crm.ui import totp_box
    from crm.ui.password_hashing import hasher

    secret = pyotp.random_base32()
    email = "olga.operator@example.test"
    with ui_app.app_context(), operator_scope("tests", "an enrolled operator"):
        user = User(
            email=email, name="Olga", role=Role.OPERATOR, company_id=None, password_hash=hasher().hash(PASSWORD)
        )
        user.totp_secret, user.totp_enabled_at = totp_box.seal(secret), utcnow()
        db.session.add(user)
        db.session.commit()
        operator_id = user.id
    code = _code(secret)
    first = ui_app.test_client()
    assert login(first, email, PASSWORD).headers["Location"].endswith("/login/code")
    assert first.submit("/login/code", {"code": code}).status_code == 302
    second = ui_app.test_client()
    login(second, email, PASSWORD)
    assert second.submit("/login/code", {"code": code}).status_code == 401
    with ui_app.app_context(), operator_scope("tests", "read the operator"):
        assert db.session.get(User, operator_id).totp_last_step is not None
