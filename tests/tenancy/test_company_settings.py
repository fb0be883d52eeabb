"""Every setting is a company's own (issue 16 item 4): stored scoring rules, gate threshold and calling hours
per company with the shipped defaults where a company has none; public holidays by the company's state in
the gate and in reps' calendars; the company's sender, imprint, colour and logo in its mail and its PDF
reports, its own templates over the shipped ones; provider keys per company from the secrets store.

SQLite and PostgreSQL through the `app` fixture; the PDF is rendered by WeasyPrint and read back."""

from __future__ import annotations

import io
import re
from datetime import UTC, date, datetime
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from pypdf import PdfReader

from crm.config import ReportSettings
from crm.email import render as email_render
from crm.email import settings as email_settings
from crm.extensions import db
from crm.models import AppSetting, Channel, Company, ConsentRecord, Lead, LegalBasis
from crm.reports import kpis
from crm.reports.pdf import branding, render_pdf
from crm.reports.periods import period_for
from crm.secrets import EnvSecrets
from crm.services import app_settings, compliance, scoring, settings_store
from crm.services.business_calendar import BusinessCalendar
from crm.tenancy.context import NoCompanyScope, company_scope, operator_scope
from providers.factory import SANDBOX_KEYS, CompanyRegistries, provider_endpoint, webhook_secret_for
from providers.settings import ProviderSettings, company_api_key, company_webhook_secret

pytestmark = pytest.mark.tenancy

ADMIN = "user:1"
BERGER_IMPRINT = (
    "Autohaus Berger GmbH\n"
    "Leopoldstraße 12, 80802 München\n"
    "Amtsgericht München HRB 123456 · Geschäftsführer: Franz Berger\n"
    "USt-IdNr. DE123456789 · service@autohaus-berger.example · https://autohaus-berger.example"
)
BERGER_LOGO = (
    "data:image/svg+xml;base64,PHN2ZyB4bWxucz0iaHR0cDovL3d3dy53My5vcmcvMjAwMC9zdmciIHdpZHRoPSI0MCIgaGVpZ2h0PSIyMCIvPg=="
)
# Wednesday 6 January 2027, 10:00 in Berlin: Epiphany is a public holiday in Bavaria, not in Hamburg.
EPIPHANY_10 = datetime(2027, 1, 6, 9, 0, tzinfo=UTC)


def _company(slug: str, name: str, **values) -> int:
    with operator_scope("test", "create a company"):
        row = Company(slug=slug, name=name, **values)
        db.session.add(row)
        db.session.commit()
        return row.id


@pytest.fixture
def two(ctx) -> SimpleNamespace:
    berger = _company(
        "autohaus-berger",
        "Autohaus Berger",
        state="BY",
        brand_color="#1d4ed8",
        logo_url=BERGER_LOGO,
        sender_email="verkauf@autohaus-berger.example",
        sender_name="Autohaus Berger Verkauf",
        imprint=BERGER_IMPRINT,
    )
    nord = _company("solar-nord", "Solar Nord", state="HH", brand_color="#15803d", language="en")
    return SimpleNamespace(berger=berger, nord=nord)


# ---------------------------------------------------------------- stored settings


def test_each_company_reads_its_own_settings_and_the_defaults_where_it_has_none(two):
    shipped = scoring.load_rules()
    with company_scope(two.berger):
        app_settings.set_gate_threshold(72, ADMIN)
        app_settings.set_scoring_rules(_rules_text("berger"), ADMIN)
        app_settings.set_calling_hours({"DE": {"days": "mon-sat", "start": "08:00", "end": "18:00"}}, ADMIN)
        db.session.commit()
    with company_scope(two.nord):
        # Nothing stored: the shipped rules, the caller's default threshold, the environment's hours.
        assert app_settings.stored(app_settings.GATE_THRESHOLD) is None
        assert app_settings.gate_threshold(default=50) == 50
        assert app_settings.scoring_rules().version == shipped.version
        assert app_settings.calling_hours() is None
        assert (
            compliance.gate_policy(compliance.GatePolicy()).window_for("DE").describe()
            == "Mon,Tue,Wed,Thu,Fri 09:00-20:00"
        )
        app_settings.set_gate_threshold(30, ADMIN)
        db.session.commit()
    with company_scope(two.berger):
        assert app_settings.gate_threshold(default=50) == 72
        assert app_settings.scoring_rules().version == "berger"
        assert scoring.rules_in_force().gate_threshold == 72
        window = compliance.gate_policy(compliance.GatePolicy()).window_for("DE")
        assert window.describe() == "Mon,Tue,Wed,Thu,Fri,Sat 08:00-18:00"
        # A reset is the company's own: Solar Nord's threshold stays.
        assert app_settings.reset(app_settings.GATE_THRESHOLD, ADMIN) is True
        db.session.commit()
    with company_scope(two.nord):
        assert app_settings.gate_threshold(default=50) == 30
    with operator_scope("test", "count the rows"):
        rows = db.session.execute(sa.select(AppSetting.company_id, AppSetting.key).order_by(AppSetting.key)).all()
    assert sorted(rows) == sorted(
        [(two.berger, "calling_hours"), (two.berger, "scoring.rules"), (two.nord, "gate.threshold")]
    )


def _rules_text(version: str) -> str:
    text = scoring.rules_path().read_text(encoding="utf-8")
    found = re.search(r'^version: "[^"]*"', text, re.MULTILINE)
    assert found is not None
    return text.replace(found.group(0), f'version: "{version}"')


def test_settings_outside_a_company_scope_fail_loudly(ctx):
    with pytest.raises(NoCompanyScope):
        app_settings.stored(app_settings.GATE_THRESHOLD)
    assert settings_store.company() is None  # the installation's configuration applies (mail, reports)


# ---------------------------------------------------------------- holidays by state


def _callable_lead(company_id: int) -> int:
    lead = Lead(
        company_id=company_id,
        first_name="Eva",
        last_name="Feiertag",
        phone_e164="+498999998194",
        phone_region="DE",
        phone_timezone="Europe/Berlin",
        phone_status="valid",
        source="website",
        score=90,
        tags=[],
    )
    db.session.add(lead)
    db.session.flush()
    db.session.add(
        ConsentRecord(
            company_id=company_id,
            lead_id=lead.id,
            channel=Channel.PHONE,
            legal_basis=LegalBasis.EXPRESS_CONSENT,
            source="website",
            proof_text="form",
            proof_key=f"k{lead.id}",
            given_at=datetime(2026, 12, 1, tzinfo=UTC),
        )
    )
    db.session.flush()
    return lead.id


def test_the_gate_and_the_reps_calendars_skip_the_company_states_holidays(two):
    decisions = {}
    for name, company_id in (("berger", two.berger), ("nord", two.nord)):
        with company_scope(company_id):
            lead_id = _callable_lead(company_id)
            decision = compliance.check_call_gate(
                lead_id, now_utc=EPIPHANY_10, threshold=50, policy=compliance.GatePolicy(), record_refusal=False
            )
            decisions[name] = decision
            calendar = BusinessCalendar.from_user_hours(None, None, company=settings_store.company())
            assert calendar.is_holiday(date(2027, 1, 6)) is (name == "berger")
            db.session.rollback()
    assert decisions["berger"].allowed is False and decisions["berger"].reason == "outside_hours"
    assert "public holiday" in decisions["berger"].detail
    # Thursday 7 January is a working day in Bavaria: the next window opens at 09:00 there.
    assert decisions["berger"].next_window_start == datetime(2027, 1, 7, 8, 0, tzinfo=UTC)
    assert decisions["nord"].allowed is True, decisions["nord"].detail


# ---------------------------------------------------------------- mail and PDF


def _recipient():
    return SimpleNamespace(id=None, first_name="Jana", last_name="Kunde", company="", email="jana@kunde.example")


def _mail(company_id: int):
    with company_scope(company_id):
        return (
            email_render.render("follow_up", _recipient(), {"unsubscribe_url": "https://crm.example/u/x"}, "de"),
            email_settings.sender_address(),
        )


def test_mail_carries_the_companys_branding_imprint_and_sender(two, app):
    configured = app.config["LEADCHAIN"].email
    (berger, berger_from), (nord, nord_from) = _mail(two.berger), _mail(two.nord)
    for line in BERGER_IMPRINT.splitlines():
        assert line.replace("&", "&amp;") in berger.html and line in berger.text
        assert line not in nord.html and line not in nord.text
    assert "#1d4ed8" in berger.html and f'src="{BERGER_LOGO}"' in berger.html
    assert berger_from == ("verkauf@autohaus-berger.example", "Autohaus Berger Verkauf")
    # No imprint of its own: Solar Nord signs with the installation's, in its own colour, and the
    # installation's sender (it set none).
    assert configured.company.register in nord.html and configured.company.register not in berger.html
    assert "#15803d" in nord.html and "#1d4ed8" not in nord.html
    assert nord_from == (configured.from_address, configured.from_name or configured.company.name)


def test_a_lead_without_a_language_gets_its_companys(two):
    for company_id, expected in ((two.berger, "de"), (two.nord, "en")):
        with company_scope(company_id):
            mail = email_render.render("follow_up", _recipient(), {"unsubscribe_url": "https://crm.example/u/x"})
        assert f'<html lang="{expected}">' in mail.html


def test_a_company_template_goes_over_the_shipped_one_for_that_company_only(two, monkeypatch, tmp_path):
    monkeypatch.setenv("LEADCHAIN_VAR_DIR", str(tmp_path))
    folder = email_render.company_template_dir("solar-nord")
    folder.mkdir(parents=True)
    (folder / "follow_up.txt").write_text(
        '{% extends "layout.txt" %}{% block subject %}Ihr Solarangebot aus dem Norden{% endblock %}'
        "{% block body %}{{ greeting }}\nSonnige Grüße\n{% endblock %}\n",
        encoding="utf-8",
    )
    (nord, _), (berger, _) = _mail(two.nord), _mail(two.berger)
    assert nord.subject == "Ihr Solarangebot aus dem Norden" and "Sonnige Grüße" in nord.text
    assert "Sonnige Grüße" not in nord.html  # the .html it did not replace is the shipped one
    assert berger.subject != nord.subject and "Sonnige Grüße" not in berger.text


def _pdf_text(content: bytes) -> str:
    pages = [(p.extract_text() or "") for p in PdfReader(io.BytesIO(content)).pages]
    return re.sub(r"\s+", " ", " ".join(pages).replace("\xa0", " "))


def test_the_pdf_report_carries_the_companys_branding_and_imprint(two):
    with company_scope(two.berger):
        brand = branding()
        report = kpis.compute(period_for("daily", date(2026, 12, 1)), now=datetime(2026, 12, 2, 8, 0, tzinfo=UTC))
        text = _pdf_text(render_pdf(report, "de", brand=brand))
    assert (brand.company, brand.color, brand.logo_uri) == ("Autohaus Berger", "#1d4ed8", BERGER_LOGO)
    for line in BERGER_IMPRINT.splitlines():
        assert line in text, line
    with company_scope(two.nord):
        nord = branding()
    # Solar Nord has no imprint of its own: its colour, the configured logo and name, no imprint page.
    assert nord.color == "#15803d" and nord.logo_uri != BERGER_LOGO
    assert nord.imprint == () and nord.company == branding(ReportSettings()).company


# ---------------------------------------------------------------- provider keys


def test_each_company_calls_through_its_own_provider_account():
    secrets = EnvSecrets(
        {
            "LEADCHAIN_SECRET_PROVIDERS_VAPI_API_KEY": "installation-key",
            EnvSecrets.env_var(company_api_key(2, "vapi")): "company-2-key",
            EnvSecrets.env_var(company_webhook_secret(2, "vapi")): "company-2-webhook",
            "LEADCHAIN_SECRET_PROVIDERS_VAPI_WEBHOOK_SECRET": "installation-webhook",
        }
    )
    real = ProviderSettings()
    assert provider_endpoint(real, secrets, "vapi", 2) == ("company-2-key", "https://api.vapi.ai")
    assert provider_endpoint(real, secrets, "vapi", 1) == ("installation-key", "https://api.vapi.ai")
    assert provider_endpoint(real, secrets, "vapi", None) == ("installation-key", "https://api.vapi.ai")
    # Company 3 has no account: no provider at all, never the installation's or company 2's key.
    assert provider_endpoint(real, secrets, "vapi", 3) is None
    assert webhook_secret_for(real, secrets, "vapi", 2) == "company-2-webhook"
    assert webhook_secret_for(real, secrets, "vapi", 1) == "installation-webhook"
    assert webhook_secret_for(real, secrets, "vapi", 3) is None
    sandboxed = ProviderSettings(sandbox_url="http://127.0.0.1:9/")
    assert provider_endpoint(sandboxed, secrets, "vapi", 3) == (SANDBOX_KEYS["vapi"], "http://127.0.0.1:9/vapi")

    current: list[int | None] = [2]
    registries = CompanyRegistries(settings=real, secrets=secrets, company_of=lambda: current[0])
    two_vapi = registries.get("vapi")
    assert two_vapi is not None and registries.get("vapi") is two_vapi  # built once per company
    current[0] = 3
    assert registries.get("vapi") is None and registries.get("retell") is None
    current[0] = 1
    one_vapi = registries.get("vapi")
    assert one_vapi is not None and one_vapi is not two_vapi


def test_the_apps_registry_answers_for_the_company_of_the_unit_of_work(two, app):
    # What the provider worker's activities hold (workers.main.provider_registry → providers.factory.registry).
    from providers.factory import registry

    app.extensions.pop("leadchain.providers", None)
    app.extensions["leadchain.secrets"] = EnvSecrets(
        {EnvSecrets.env_var(company_api_key(c, "vapi")): f"key-of-{c}" for c in (two.berger, two.nord)}
    )
    found = registry(app)
    assert isinstance(found, CompanyRegistries)
    with company_scope(two.nord):
        nord = found.get("vapi")
        assert nord is not None and nord is found.for_company(two.nord).get("vapi")
    with company_scope(two.berger):
        assert found.get("vapi") is found.for_company(two.berger).get("vapi") is not nord
    assert found.get("vapi") is None  # no company: the installation's, which has no vapi key here


def test_a_company_without_its_own_account_verifies_the_sandboxs_events_only_where_there_is_a_sandbox(two, app):
    from crm.webhooks.provider_common import company_secrets
    from providers.factory import SANDBOX_WEBHOOK_SECRETS
    from tests.conftest import set_settings

    app.extensions["leadchain.secrets"] = EnvSecrets(
        {EnvSecrets.env_var(company_webhook_secret(two.berger, "vapi")): "berger-own-secret"}
    )
    with app.test_request_context():
        # Production (no sandbox): the company's own secret, or nothing to verify with (every event 401).
        assert company_secrets(two.berger, "vapi") == ["berger-own-secret"]
        assert company_secrets(two.nord, "vapi") == []
    set_settings(app, "providers", sandbox_url="http://127.0.0.1:9")
    with app.test_request_context():
        # The local stack: Solar Nord's calls went through the sandbox, which signs with its own secret.
        assert company_secrets(two.nord, "vapi") == [SANDBOX_WEBHOOK_SECRETS["vapi"]]
        assert company_secrets(two.berger, "vapi") == ["berger-own-secret"]


def test_the_second_demo_company_takes_its_leads_through_its_own_source(app):
    # What `make up` does after the banner (workers.launcher): Solar Nord's demo leads, signed with its own
    # source's secret, become Solar Nord's submissions; its secret does not open the first company's source.
    import base64
    import secrets as token

    from crm import demo
    from crm.models import LeadSubmission
    from tests.conftest import make_test_secrets
    from tests.sandbox_fixtures import ServerThread

    with app.app_context():
        demo.seed()
        with operator_scope("test", "find the demo company"):
            nord_id = db.session.scalar(sa.select(Company.id).where(Company.slug == demo.NORD.slug))
            db.session.rollback()
    secret = "whsec_" + base64.b64encode(token.token_bytes(32)).decode()
    app.extensions["leadchain.secrets"] = make_test_secrets(
        LEADCHAIN_SECRET_APP_CHAIN_KEY=token.token_hex(16),
        LEADCHAIN_SECRET_WEBHOOKS_LEADS_DEMO="whsec_" + base64.b64encode(token.token_bytes(32)).decode(),
        **{EnvSecrets.env_var(demo.source_secret_name(demo.NORD, nord_id)): secret},
    )
    with ServerThread(app) as server:
        answers = demo.post_demo_leads(server.url, demo.NORD.source, secret)
        refused = demo.post_demo_leads(server.url, "demo", secret)
    assert [a["http_status"] for a in answers] == [202] * len(demo.demo_leads(demo.NORD.slug))
    assert {a["http_status"] for a in refused} == {401}
    with app.app_context(), operator_scope("test", "count the submissions"):
        rows = db.session.execute(sa.select(LeadSubmission.company_id, LeadSubmission.source)).all()
    assert sorted(rows) == [(nord_id, demo.NORD.source)] * len(answers)


def test_the_providers_page_says_which_of_its_companys_keys_are_set(app):
    from crm.models import Role
    from tests.ui.conftest import PASSWORD, UIClient, login, make_user

    app.test_client_class = UIClient
    ids = []
    # Requests run outside this block: a test's app context would be shared by them (flask-login's user in g).
    with app.app_context():
        for slug in ("berger", "nord"):
            company_id = _company(slug, slug.capitalize())
            with company_scope(company_id):
                admin = make_user(f"admin@{slug}.example", "Admin", Role.ADMIN)
                admin.company_id = company_id  # a user's company is named (users may have none: operators)
                db.session.commit()
            ids.append(company_id)
        db.session.remove()
    berger, nord = ids
    app.extensions["leadchain.secrets"] = EnvSecrets(
        {
            EnvSecrets.env_var(company_api_key(nord, "vapi")): "nord-vapi-key",
            "LEADCHAIN_SECRET_PROVIDERS_RETELL_API_KEY": "installation-retell-key",
        }
    )
    pages = {}
    for slug, company_id in (("berger", berger), ("nord", nord)):
        client = app.test_client()
        assert login(client, f"admin@{slug}.example", PASSWORD).status_code == 302
        page = client.get("/settings/providers")
        assert page.status_code == 200
        pages[company_id] = re.sub(r"\s+", " ", page.text)

    def state(company_id: int, secret: str) -> str:
        found = re.search(rf"<code>{secret}</code></td> <td><span class=\"badge badge-(ok|off)\">", pages[company_id])
        assert found is not None, secret
        return found.group(1)

    assert state(nord, company_api_key(nord, "vapi")) == "ok"
    assert state(berger, company_api_key(berger, "vapi")) == "off"
    # Neither is company 1: the installation's Retell key is not theirs.
    for company_id in (berger, nord):
        assert state(company_id, company_api_key(company_id, "retell")) == "off"
        assert "providers/retell-api-key" not in pages[company_id]
