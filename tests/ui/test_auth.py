"""Sign-in (docs/compliance.md §S1, §S2, §S9): argon2 passwords and their policy, login throttling that does not lock
the real user out, server-side sessions that logout, idle/absolute timeouts, password changes and
deactivation really end."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine
from argon2 import PasswordHasher

from crm.extensions import db
from crm.models import User, UserSession
from crm.ui.auth import password_problems, set_password
from tests.ui.conftest import PASSWORD, login, signed_in

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


def _cookie(client):
    cookie = client.get_cookie("leadchain_session")
    return cookie.value if cookie else None


def test_login_ok_goes_to_the_dashboard_and_stores_a_session(ui_app, team, anon):
    r = login(anon, team.sales_a.email, PASSWORD)
    assert r.status_code == 302 and r.headers["Location"] == "/"
    with ui_app.app_context():
        record = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == team.sales_a.id))
        assert record is not None and record.revoked_at is None and len(record.token_hash) == 64
        # only the hash is stored: the cookie's session id is not in the table
        with anon.session_transaction() as s:
            assert s["_user_id"] != record.token_hash and len(s["_user_id"]) >= 40
            assert "role" not in s and str(team.sales_a.id) != s["_user_id"]


@pytest.mark.parametrize(
    "email,password",
    [("anna.sales@example.test", "wrong password here!!"), ("nobody@example.test", PASSWORD), ("", "")],
)
def test_bad_login_is_generic(team, anon, email, password):
    r = login(anon, email, password)
    assert r.status_code == 401
    assert "E-Mail oder Passwort ist falsch." in r.get_data(as_text=True)
    assert anon.get("/account/password").status_code == 302


def test_passwords_are_argon2id_and_rehashed_when_parameters_change(ui_app, team, anon):
    with ui_app.app_context():
        user = db.session.get(User, team.sales_a.id)
        assert user.password_hash.startswith("$argon2id$") and PASSWORD not in user.password_hash
        user.password_hash = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)
        old = user.password_hash
        db.session.commit()
    assert login(anon, team.sales_a.email, PASSWORD).status_code == 302
    with ui_app.app_context():
        assert db.session.get(User, team.sales_a.id).password_hash != old


def test_next_only_goes_to_local_paths(team, anon):
    token = anon.csrf_token()
    for target, expected in (
        ("/leads?x=1", "/leads?x=1"),
        ("//evil.example", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
    ):
        r = anon.post(
            "/login", data={"email": team.sales_a.email, "password": PASSWORD, "csrf_token": token, "next": target}
        )
        assert r.headers["Location"] == expected
        anon.submit("/logout")
        token = anon.csrf_token()


def test_inactive_user_cannot_sign_in(ui_app, team, anon):
    with ui_app.app_context():
        db.session.get(User, team.sales_b.id).active = False
        db.session.commit()
    assert login(anon, team.sales_b.email, PASSWORD).status_code == 401


def test_twenty_bad_logins_are_throttled_without_locking_the_user_out(ui_app, team):
    attacker = ui_app.test_client()
    attacker.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    with time_machine.travel(START, tick=False) as clock:
        statuses = []
        for i in range(20):
            # a spoofed X-Forwarded-For is not trusted (no proxy configured)
            r = attacker.post(
                "/login",
                data={
                    "email": team.sales_a.email,
                    "password": f"guess {i:02d} xxxxxxxxx",
                    "csrf_token": attacker.csrf_token(),
                },
                headers={"X-Forwarded-For": f"198.51.100.{i}"},
            )
            statuses.append(r.status_code)
        assert statuses[:5] == [401] * 5 and set(statuses[5:]) == {429}
        assert int(r.headers["Retry-After"]) > 0
        assert "Zu viele Versuche" in r.get_data(as_text=True)
        # the real user elsewhere is not locked out
        assert signed_in(ui_app, team.sales_a).get("/account/password").status_code == 200
        # the IP's hourly limit: 20 failures over different accounts, then 429 for this IP
        clock.shift(timedelta(minutes=2))
        others = [
            attacker.post(
                "/login",
                data={"email": f"x{i}@example.test", "password": "y" * 20, "csrf_token": attacker.csrf_token()},
            ).status_code
            for i in range(20)
        ]
        assert others.count(429) >= 5 and 429 not in others[:15]
        # after the window the same IP may sign in with the right password
        clock.shift(timedelta(hours=1, minutes=1))
        assert login(attacker, team.sales_a.email, PASSWORD).status_code == 302


def test_long_passwords_are_accepted_short_and_common_ones_rejected(ui_app, team, anon):
    long_password = "Mein Hund heißt Bello und frisst gerne Würstchen am Sonntag, seit 2019! " * 2
    assert len(long_password) > 64 and password_problems(long_password) == []
    assert password_problems("short one") and password_problems("a" * 20)
    assert password_problems("passwordpassword") and password_problems("Correct Horse Battery Staple")
    assert password_problems("anna.sales@example.test", email="anna.sales@example.test")
    with ui_app.app_context():
        user = db.session.get(User, team.sales_a.id)
        set_password(user, long_password)
        db.session.commit()
        with pytest.raises(ValueError):
            set_password(user, "tooshort")
    assert login(anon, team.sales_a.email, long_password).status_code == 302


def test_change_password_form_enforces_the_policy_and_ends_other_sessions(ui_app, team):
    me, other_device = signed_in(ui_app, team.sales_a), signed_in(ui_app, team.sales_a)
    r = me.submit(
        "/account/password", {"current_password": PASSWORD, "new_password": "kurz", "new_password_repeat": "kurz"}
    )
    assert r.status_code == 422 and "mindestens 15 Zeichen" in r.get_data(as_text=True)
    new = "ein ganz neues langes Passwort"
    r = me.submit("/account/password", {"current_password": PASSWORD, "new_password": new, "new_password_repeat": new})
    assert r.status_code == 302
    assert me.get("/account/password").status_code == 200
    assert other_device.get("/account/password").status_code == 302
    assert login(ui_app.test_client(), team.sales_a.email, new).status_code == 302


def test_session_id_changes_on_login(team, anon):
    anon.get("/login")
    with anon.session_transaction() as s:
        s["_user_id"] = "attacker-chosen-session-id"  # fixation attempt
    before = _cookie(anon)
    assert login(anon, team.sales_a.email, PASSWORD).status_code == 302
    after = _cookie(anon)
    with anon.session_transaction() as s:
        first = s["_user_id"]
    assert before != after and first != "attacker-chosen-session-id"
    anon.submit("/logout")
    login(anon, team.sales_a.email, PASSWORD)
    with anon.session_transaction() as s:
        assert s["_user_id"] != first


def test_captured_cookie_is_worthless_after_logout(ui_app, team):
    client = signed_in(ui_app, team.manager)
    captured = _cookie(client)
    assert client.get("/account/password").status_code == 200
    assert client.submit("/logout").headers["Location"] == "/login"
    thief = ui_app.test_client()
    thief.set_cookie("leadchain_session", captured)
    r = thief.get("/account/password")
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")
    r = thief.get("/account/password", headers={"HX-Request": "true"})
    assert r.status_code == 401 and r.headers["HX-Redirect"] == "/login"
    with ui_app.app_context():
        record = db.session.scalar(sa.select(UserSession).where(UserSession.user_id == team.manager.id))
        assert record.revoked_at is not None and record.revoked_reason == "logout"


def test_idle_and_absolute_timeouts(ui_app, team):
    with time_machine.travel(START, tick=False) as clock:
        client = signed_in(ui_app, team.sales_a)
        clock.shift(timedelta(minutes=25))
        assert client.get("/account/password").status_code == 200  # activity extends the idle window
        clock.shift(timedelta(minutes=25))
        assert client.get("/account/password").status_code == 200
        clock.shift(timedelta(minutes=31))
        assert client.get("/account/password").status_code == 302  # idle too long

        busy = signed_in(ui_app, team.sales_b)
        for _ in range(int(12 * 60 / 25)):
            clock.shift(timedelta(minutes=25))
            assert busy.get("/account/password").status_code == 200
        clock.shift(timedelta(minutes=25))
        assert busy.get("/account/password").status_code == 302  # 12 hours are over, busy or not


def test_deactivated_user_loses_access_at_once(ui_app, team):
    client = signed_in(ui_app, team.sales_b)
    assert client.get("/account/password").status_code == 200
    with ui_app.app_context():
        db.session.get(User, team.sales_b.id).active = False
        db.session.commit()
    assert client.get("/account/password").status_code == 302


def test_language_switch_for_visitors_and_users(ui_app, team, anon):
    assert 'lang="de"' in anon.get("/login").get_data(as_text=True)
    assert "Sign in" in anon.get("/login?lang=en").get_data(as_text=True)
    anon.submit("/language", {"language": "en", "next": "/login"})
    assert ">Sign in</h1>" in anon.get("/login").get_data(as_text=True)
    client = signed_in(ui_app, team.sales_a)
    assert client.submit("/language", {"language": "en", "next": "/account/password"}).status_code == 302
    with ui_app.app_context():
        assert db.session.get(User, team.sales_a.id).language == "en"
    assert "Change password" in client.get("/account/password").get_data(as_text=True)


def test_purge_removes_only_sessions_that_ended(ui_app, team, anon):
    login(anon, team.sales_a.email, PASSWORD)
    live = signed_in(ui_app, team.sales_b)
    assert anon.post("/logout", data={"csrf_token": anon.csrf_token()}).status_code in (302, 303)
    from click.testing import CliRunner

    from workers.cli import main

    with ui_app.app_context():
        before = db.session.scalar(sa.select(sa.func.count()).select_from(UserSession))
    # The CLI builds its own app from the environment: point it at this test's database.
    env = {"DATABASE_URL": ui_app.config["SQLALCHEMY_DATABASE_URI"]}
    with time_machine.travel(datetime.now(UTC) + timedelta(seconds=5)):
        result = CliRunner().invoke(main, ["purge-sessions"], env=env)
    assert result.exit_code == 0, result.output
    with ui_app.app_context():
        left = list(db.session.scalars(sa.select(UserSession)))
    assert before >= 2 and [s.user_id for s in left] == [team.sales_b.id]
    assert live.get("/leads").status_code == 200


@pytest.mark.parametrize("target", ["/\r\nSet-Cookie: x=1", "/leads\nX: y", "/a\tb", "/\x7f", "/\x1b[31m"])
def test_next_with_control_characters_goes_to_the_dashboard(team, anon, target):
    """A line break in `next` reached the Location header, which werkzeug refuses with a 500."""
    from crm.ui.auth import safe_next

    assert safe_next(target) == "/"
    r = anon.post("/language", data={"language": "en", "next": target, "csrf_token": anon.csrf_token()})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    client = signed_in(anon.application, team.sales_a)
    r = client.get("/login", query_string={"next": target})
    assert r.status_code == 302 and r.headers["Location"] == "/"
    r = anon.post(
        "/login",
        data={"email": team.sales_b.email, "password": PASSWORD, "csrf_token": anon.csrf_token(), "next": target},
    )
    assert r.status_code == 302 and r.headers["Location"] == "/"
