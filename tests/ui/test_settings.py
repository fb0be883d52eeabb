"""Settings (admins only): users and roles, read-only scoring and calling hours, campaigns, provider keys
that are never shown; the `leadchain user` commands and the demo team's passwords."""
from __future__ import annotations

import sqlalchemy as sa
from click.testing import CliRunner

from crm.extensions import db
from crm.models import AuditEntry, Campaign, Role, User
from tests.conftest import make_test_secrets
from tests.ui.conftest import PASSWORD, login, signed_in

PROVIDER_KEY = "key_live_0123456789abcdefSECRET"


def test_admin_creates_a_user_who_can_sign_in(ui_app, as_admin):
    r = as_admin.submit("/settings/users", {"email": "neu@example.test", "name": "Nina Neu", "role": "manager",
                                            "language": "en", "password": "a long enough first password"})
    assert r.status_code == 302
    with ui_app.app_context():
        nina = db.session.scalar(sa.select(User).where(User.email == "neu@example.test"))
        assert nina.role == Role.MANAGER and nina.password_hash.startswith("$argon2id$")
        assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.create")).actor.startswith("user:")
    assert login(ui_app.test_client(), "neu@example.test", "a long enough first password").status_code == 302


def test_new_user_form_names_every_problem(ui_app, team, as_admin):
    r = as_admin.submit("/settings/users", {"email": team.sales_a.email, "name": "", "role": "root",
                                            "password": "short"})
    page = r.get_data(as_text=True)
    assert r.status_code == 422
    for text in ("existiert bereits", "Namen", "Rolle", "mindestens 15 Zeichen"):
        assert text in page or text in page.replace("Es gibt bereits", "existiert bereits")
    with ui_app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 4


def test_role_change_and_deactivation_end_the_users_sessions(ui_app, team, as_admin):
    bernd = signed_in(ui_app, team.sales_b)
    assert as_admin.submit(f"/settings/users/{team.sales_b.id}/role", {"role": "manager"}).status_code == 302
    assert bernd.get("/account/password").status_code == 302          # signed out by the role change
    bernd = signed_in(ui_app, team.sales_b)
    assert as_admin.submit(f"/settings/users/{team.sales_b.id}/active", {"active": "0"}).status_code == 302
    assert bernd.get("/account/password").status_code == 302
    assert login(ui_app.test_client(), team.sales_b.email, PASSWORD).status_code == 401
    with ui_app.app_context():
        b = db.session.get(User, team.sales_b.id)
        assert b.role == Role.MANAGER and not b.active
    assert as_admin.submit(f"/settings/users/{team.sales_b.id}/active", {"active": "1"}).status_code == 302
    assert login(ui_app.test_client(), team.sales_b.email, PASSWORD).status_code == 302


def test_the_last_admin_stays(ui_app, team, as_admin):
    assert as_admin.submit(f"/settings/users/{team.admin.id}/active", {"active": "0"}).status_code == 303
    assert as_admin.submit(f"/settings/users/{team.admin.id}/role", {"role": "sales"}).status_code == 303
    with ui_app.app_context():
        admin = db.session.get(User, team.admin.id)
        assert admin.active and admin.role == Role.ADMIN
    assert as_admin.get("/settings").status_code == 200


def test_admin_resets_a_password(ui_app, team, as_admin):
    anna = signed_in(ui_app, team.sales_a)
    assert as_admin.submit(f"/settings/users/{team.sales_a.id}/password",
                           {"password": "kurz"}).status_code == 303
    assert anna.get("/account/password").status_code == 200
    assert as_admin.submit(f"/settings/users/{team.sales_a.id}/password",
                           {"password": "ein neues langes Passwort für Anna"}).status_code == 302
    assert anna.get("/account/password").status_code == 302
    assert login(ui_app.test_client(), team.sales_a.email, "ein neues langes Passwort für Anna").status_code == 302


def test_scoring_and_calling_hours_are_shown_read_only(as_admin, monkeypatch):
    page = as_admin.get("/settings/scoring").get_data(as_text=True)
    assert "Schwelle für Anrufe" in page and "<strong>50</strong>" in page and "LEADCHAIN_SCORING_RULES" in page
    assert 'action="/settings' not in page            # nothing to submit: read-only
    monkeypatch.setenv("LEADCHAIN_CALLING_HOURS", '{"AT": {"days": "mon-fri", "start": "10:00", "end": "18:00"}}')
    page = as_admin.get("/settings/calling-hours").get_data(as_text=True)
    assert "AT" in page and "10:00" in page and "Anrufversuche pro Tag" in page
    monkeypatch.setenv("LEADCHAIN_CALLING_HOURS", "{not json")
    r = as_admin.get("/settings/calling-hours")
    assert r.status_code == 200 and "nicht verwendbar" in r.get_data(as_text=True)


def test_campaign_provider_and_failover(ui_app, as_admin):
    with ui_app.app_context():
        c = Campaign(name="herbst", provider="retell", agent_id="agent_1", from_number="+4930555000",
                     language="de", script_variables={})
        db.session.add(c)
        db.session.commit()
        cid = c.id
    assert "herbst" in as_admin.get("/settings/campaigns").get_data(as_text=True)
    same = {"provider": "vapi", "agent_id": "assistant_1", "from_number": "pn_1", "language": "en",
            "failover_provider": "vapi", "failover_agent_id": "a", "failover_from_number": "b", "active": "1"}
    assert as_admin.submit(f"/settings/campaigns/{cid}", same).status_code == 303       # failover = primary
    ok = {**same, "failover_provider": "bland", "failover_agent_id": "pathway_1",
          "failover_from_number": "+4930555111", "is_default": "1", "agent_id": "assistant_1"}
    assert as_admin.submit(f"/settings/campaigns/{cid}", {**ok, "script_variables": "{}", "name": "x"}).status_code == 302
    with ui_app.app_context():
        c = db.session.get(Campaign, cid)
        assert (c.provider, c.failover_provider, c.language, c.is_default, c.name) == (
            "vapi", "bland", "en", True, "herbst")


def test_provider_keys_are_only_set_or_not_set(backend, migrated_urls):
    from crm import create_app
    from tests.ui.conftest import UIClient, create_team
    from tests.conftest import _wipe
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[backend],
                      "SECRETS": make_test_secrets(LEADCHAIN_SECRET_PROVIDERS_RETELL_API_KEY=PROVIDER_KEY)})
    app.test_client_class = UIClient
    _wipe(app)
    try:
        team = create_team(app)
        admin = signed_in(app, team.admin)
        page = admin.get("/settings/providers").get_data(as_text=True)
        assert PROVIDER_KEY not in page and PROVIDER_KEY[:12] not in page
        row = page.split("providers/retell-api-key")[1].split("</tr>")[0]
        assert "gesetzt" in row and "nicht gesetzt" not in row
        row = page.split("providers/vapi-api-key")[1].split("</tr>")[0]
        assert "nicht gesetzt" in row
        for path in ("/settings", "/settings/users", "/settings/campaigns", "/settings/scoring"):
            assert PROVIDER_KEY not in admin.get(path).get_data(as_text=True)
        assert "not set" in admin.get("/settings/providers?lang=en").get_data(as_text=True)
    finally:
        _wipe(app)


def test_cli_creates_users_and_sets_passwords(ui_app, monkeypatch):
    from crm.ui import cli
    monkeypatch.setattr(cli, "_app", lambda: ui_app)
    runner = CliRunner()
    r = runner.invoke(cli.user_group, ["create", "chef@example.test", "--name", "Chefin", "--role", "admin",
                                       "--password-stdin"], input="das erste Passwort der Chefin\n")
    assert r.exit_code == 0, r.output
    assert login(ui_app.test_client(), "chef@example.test", "das erste Passwort der Chefin").status_code == 302
    r = runner.invoke(cli.user_group, ["create", "kurz@example.test", "--name", "K", "--password-stdin"],
                      input="short\n")
    assert r.exit_code != 0 and "15" in r.output
    r = runner.invoke(cli.user_group, ["set-password", "chef@example.test", "--generate"])
    assert r.exit_code == 0, r.output
    generated = r.output.split("password (shown once): ")[1].strip()
    assert len(generated) >= 15
    assert login(ui_app.test_client(), "chef@example.test", generated).status_code == 302
    assert login(ui_app.test_client(), "chef@example.test", "das erste Passwort der Chefin").status_code == 401


def test_demo_team_signs_in_with_the_demo_password(ui_app, monkeypatch):
    from crm import demo
    monkeypatch.delenv("LEADCHAIN_DEMO_PASSWORD", raising=False)
    with ui_app.app_context():
        assert demo.seed()["passwords_set"] == 4
        assert demo.seed()["passwords_set"] == 0          # idempotent, never overwrites
    for email, _name, _role, _lang in demo.USERS:
        assert login(ui_app.test_client(), email, demo.DEMO_PASSWORD).status_code == 302
