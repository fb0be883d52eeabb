"""French in the UI (issue 15 item 5): the language switch offers it, a user, a lead and a campaign may have
it (the database's language checks included, on SQLite and PostgreSQL), a language outside the list is
refused with the field named, and a French manager's reports are listed by the language's name."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from click.testing import CliRunner

from crm.extensions import db
from crm.models import Campaign, Lead, Role, User
from crm.reports import store
from crm.ui import cli
from tests.ui.conftest import make_user, signed_in
from tests.ui.test_leads_pages import text_of
from tests.ui.test_reports_pages import _fake_report
from workers import cli as worker_cli


def test_the_language_switch_offers_french_and_the_user_keeps_it(ui_app, team, anon):
    login_page = anon.get("/login").get_data(as_text=True)
    assert '<option value="fr" lang="fr">Français</option>' in login_page
    anon.submit("/language", {"language": "fr", "next": "/login"})
    page = anon.get("/login").get_data(as_text=True)
    assert '<html lang="fr">' in page and "Se connecter" in page and "Sign in" not in page
    client = signed_in(ui_app, team.sales_a)
    assert client.submit("/language", {"language": "fr", "next": "/account/password"}).status_code == 302
    with ui_app.app_context():
        assert db.session.get(User, team.sales_a.id).language == "fr"
    page = text_of(client.get("/account/password"))
    assert "Changer le mot de passe" in page and "Mot de passe actuel" in page and "Current password" not in page
    # A code outside the list changes nothing: the German default is chosen, not a made-up language.
    client.submit("/language", {"language": "it", "next": "/account/password"})
    with ui_app.app_context():
        assert db.session.get(User, team.sales_a.id).language == "de"


def test_a_lead_can_be_french_and_another_language_is_refused_by_name(ui_app, as_sales_a, leads):
    url = f"/leads/{leads.own}/edit"
    assert as_sales_a.submit(url, {"language": "fr"}).status_code == 303
    with ui_app.app_context():
        assert db.session.get(Lead, leads.own).language == "fr"  # the database's check lets it in
    assert "Sprache Français" in text_of(as_sales_a.get(f"/leads/{leads.own}"))  # shown by its own name
    refused = as_sales_a.submit(url, {"language": "it"})  # the rep's language: German
    assert refused.status_code == 422
    html = refused.get_data(as_text=True)
    assert 'id="f-language" name="language" aria-invalid="true"' in html
    assert "Bitte wählen Sie eine Sprache aus der Liste." in html
    with ui_app.app_context():
        assert db.session.get(Lead, leads.own).language == "fr"
    # The same form in French says it in French.
    refused = as_sales_a.submit(f"{url}?lang=fr", {"language": "it"})
    assert refused.status_code == 422 and "Veuillez choisir une langue dans la liste." in refused.get_data(as_text=True)


def test_an_admin_creates_a_french_user_and_a_french_campaign(ui_app, as_admin):
    form = {
        "email": "claire@example.test",
        "name": "Claire Dubois",
        "role": "sales",
        "language": "fr",
        "password": "a long enough first password",
    }
    assert as_admin.submit("/settings/users", form).status_code == 302
    with ui_app.app_context():
        claire = db.session.scalar(sa.select(User).where(User.email == "claire@example.test"))
        assert claire.language == "fr"
        campaign = Campaign(
            name="romandie", provider="retell", agent_id="agent_1", from_number="+41215550000", language="de"
        )
        db.session.add(campaign)
        db.session.commit()
        cid = campaign.id
    assert '<option value="fr"' in as_admin.get("/settings/campaigns").get_data(as_text=True)
    saved = as_admin.submit(
        f"/settings/campaigns/{cid}",
        {"provider": "retell", "agent_id": "agent_1", "from_number": "+41215550000", "language": "fr", "active": "1"},
    )
    assert saved.status_code == 302
    with ui_app.app_context():
        assert db.session.get(Campaign, cid).language == "fr"


def test_a_french_manager_gets_french_reports_listed_by_name(ui_app, team, as_manager):
    with ui_app.app_context():
        make_user("camille@example.test", "Camille Martin", Role.MANAGER, language="fr")
        assert store.manager_languages() == ["de", "fr"]  # the report is built in each manager's language
    rid = _fake_report(ui_app, date(2026, 1, 15), ("de", "fr"))
    html = as_manager.get("/reports").get_data(as_text=True)
    assert f'href="/reports/{rid}/fr.pdf"' in html and "PDF Français" in html and "PDF Deutsch" in html
    r = as_manager.get(f"/reports/{rid}/fr.pdf")
    assert r.status_code == 200 and r.data.startswith(b"%PDF")
    assert as_manager.get(f"/reports/{rid}/en.pdf").status_code == 404  # not built: no manager reads English


def test_the_command_lines_offer_french(ui_app, monkeypatch):
    """`leadchain user create --language` and `leadchain report --lang` read the one list."""
    runner = CliRunner()
    monkeypatch.setattr(cli, "_app", lambda: ui_app)
    args = ["create", "luc@example.test", "--name", "Luc", "--language", "fr", "--password-stdin"]
    r = runner.invoke(cli.user_group, args, input="le premier mot de passe de Luc\n")
    assert r.exit_code == 0, r.output
    with ui_app.app_context():
        assert db.session.scalar(sa.select(User.language).where(User.email == "luc@example.test")) == "fr"
    r = runner.invoke(cli.user_group, [*args[:4], "--language", "it", "--password-stdin"], input="x\n")
    assert r.exit_code == 2 and "'de', 'en', 'fr'" in r.output
    report_lang = next(p for p in worker_cli.report.params if p.name == "lang")
    assert list(report_lang.type.choices) == ["de", "en", "fr"]
