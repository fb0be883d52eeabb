"""Two companies side by side, as `make up` seeds them (crm.demo: Autohaus Berger and Solar Nord), in
Chromium: each company's people sign in and see only their own leads, their own company's name, logo and
colour in the header, and another company's lead does not exist for them (404); an admin's new colour
reaches the header of their company only; a stored report's PDF downloaded in the browser and a chain email
opened in it carry the company's branding and imprint, never the other's.

The app runs on its own migrated SQLite file with the demo seeded by crm.demo.seed() (the first company of
the fresh database becomes Autohaus Berger, as in `make up`); leads are the demo leads of each company,
stored in that company's unit of work."""

from __future__ import annotations

import io
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from playwright.sync_api import expect
from pypdf import PdfReader

from crm import create_app, demo
from crm.config import Settings
from crm.email.render import render
from crm.extensions import db
from crm.models import Company, Lead
from crm.reports import store
from crm.reports.periods import daily, local_date
from crm.tenancy.context import operator_scope, unit_of_work
from tests.conftest import _migrate, make_test_secrets
from tests.sandbox_fixtures import ServerThread, free_port

pytestmark = pytest.mark.tenancy

HEX = re.compile(r"#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})")


def rgb(color: str) -> str:
    """'#1d4ed8' as the browser's computed style writes it."""
    found = HEX.fullmatch(color.lower())
    assert found is not None
    return "rgb({}, {}, {})".format(*(int(part, 16) for part in found.groups()))


@dataclass
class Side:
    spec: demo.DemoCompany
    company_id: int
    leads: dict[str, int]  # display name -> id
    report_id: int


@pytest.fixture(scope="module")
def two_companies(sqlite_dir):
    url = f"sqlite:///{sqlite_dir / 'two-companies.db'}"  # tests/conftest.py sqlite_dir: on tmpfs
    _migrate(url)
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url},
        settings=Settings(temporal_address=f"127.0.0.1:{free_port()}"),  # no chain runs here
        secrets=make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex),
    )
    now = datetime.now(UTC)
    sides = {}
    with app.app_context():
        summary = demo.seed()
        assert summary["companies_created"] == 2 and summary["users_created"] == len(demo.USERS)
        with operator_scope("test", "find the demo companies"):
            ids = {c.slug: c.id for c in db.session.query(Company)}
            db.session.rollback()
        for spec in demo.COMPANIES:
            with unit_of_work(ids[spec.slug]):
                leads = {}
                for n, data in enumerate(demo.demo_leads(spec.slug)):
                    row = Lead(
                        first_name=data["first_name"],
                        last_name=data["last_name"],
                        company=data.get("company"),
                        email=data["email"],
                        email_key=data["email"],
                        email_status="valid",
                        phone_status="unknown",
                        source=spec.source,
                        language=data.get("language", "de"),
                        score=40 + 5 * n,
                        created_at=now - timedelta(hours=n + 1),
                    )
                    db.session.add(row)
                    db.session.flush()
                    leads[f"{row.first_name} {row.last_name}"] = row.id
                db.session.commit()
                stored = store.build(daily(local_date(now) - timedelta(days=1)), ["de"], created_by="test")
                sides[spec.slug] = Side(spec, ids[spec.slug], leads, stored.report_id)
        db.session.remove()
    with ServerThread(app) as server:
        server.app = app
        yield server, sides


@pytest.fixture
def page_of(browser, two_companies):
    server, _ = two_companies
    contexts = []

    def open_(email: str):
        context = browser.new_context(
            base_url=server.url, viewport={"width": 1366, "height": 800}, locale="de-DE", accept_downloads=True
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.goto("/login")
        page.fill("#email", email)
        page.fill("#password", demo.DEMO_PASSWORD)
        with page.expect_navigation():
            page.click("form[action='/login'] button[type=submit]")
        assert "/login" not in page.url, f"sign-in as {email} failed"
        return page

    yield open_
    for context in contexts:
        context.close()


def _user(spec: demo.DemoCompany, role: str) -> str:
    return next(u.email for u in spec.users if u.role.value == role)


@pytest.mark.parametrize("role", ["admin", "manager"])
def test_each_company_sees_only_its_own_leads_under_its_own_name_and_colour(page_of, two_companies, role):
    _, sides = two_companies
    berger, nord = sides[demo.BERGER.slug], sides[demo.NORD.slug]
    for mine, theirs in ((berger, nord), (nord, berger)):
        page = page_of(_user(mine.spec, role))
        page.goto("/leads")
        header = page.locator(".site-header")
        expect(header.locator(".brand-name")).to_have_text(mine.spec.name)
        assert header.locator(".brand img").get_attribute("src").startswith("data:image/svg+xml")
        expect(header).to_have_css("border-top-color", rgb(mine.spec.color))
        results = page.locator("#lead-results")
        for name in mine.leads:
            expect(results.get_by_role("link", name=name)).to_be_visible()
        text = results.inner_text()
        for name in theirs.leads:
            assert name not in text, f"{mine.spec.name}'s {role} sees {theirs.spec.name}'s lead {name}"
        # Another company's lead does not exist for them.
        other = next(iter(theirs.leads.values()))
        assert page.goto(f"/leads/{other}").status == 404
        assert page.goto(f"/leads/{next(iter(mine.leads.values()))}").status == 200


def test_an_admins_new_colour_reaches_the_header_of_their_company_only(page_of, two_companies, screenshot):
    _, sides = two_companies
    page = page_of(_user(demo.NORD, "admin"))
    page.goto("/settings/company")
    expect(page.locator("#company-name")).to_have_value(demo.NORD.name)
    page.fill("#company-color", "orange")
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator("#brand_color-error")).to_be_visible()  # refused (422), nothing stored
    expect(page.locator(".site-header")).to_have_css("border-top-color", rgb(demo.NORD.color))
    page.fill("#company-color", "#b45309")
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator(".flashes")).to_contain_text("gespeichert")
    expect(page.locator(".site-header")).to_have_css("border-top-color", rgb("#b45309"))
    screenshot(page, "two-companies-solar-nord-settings")
    berger = page_of(_user(demo.BERGER, "manager"))
    berger.goto("/")
    expect(berger.locator(".site-header")).to_have_css("border-top-color", rgb(demo.BERGER.color))
    # Put the colour back for the other tests of the module (they share the seeded data).
    page.fill("#company-color", demo.NORD.color)
    page.get_by_role("button", name="Speichern").click()
    expect(page.locator(".site-header")).to_have_css("border-top-color", rgb(demo.NORD.color))


def _pdf_text(content: bytes) -> str:
    pages = [(p.extract_text() or "") for p in PdfReader(io.BytesIO(content)).pages]
    return re.sub(r"\s+", " ", " ".join(pages).replace("\xa0", " "))


def test_the_report_pdf_and_a_chain_email_carry_the_companys_branding_and_imprint(page_of, two_companies):
    server, sides = two_companies
    for mine, theirs in (
        (sides[demo.BERGER.slug], sides[demo.NORD.slug]),
        (sides[demo.NORD.slug], sides[demo.BERGER.slug]),
    ):
        page = page_of(_user(mine.spec, "manager"))
        page.goto("/reports")
        with page.expect_download() as download:
            page.locator(f"a[href='/reports/{mine.report_id}/de.pdf']").first.click()
        text = _pdf_text(open(download.value.path(), "rb").read())
        for line in mine.spec.imprint.splitlines():
            assert line in text, f"{mine.spec.name}'s PDF lacks {line!r}"
        assert theirs.spec.imprint.splitlines()[0] not in text
        assert page.goto(f"/reports/{theirs.report_id}/de.pdf").status == 404

        # The follow-up email as the lead's mail client shows it.
        with server.app.app_context(), unit_of_work(mine.company_id):
            lead = db.session.get(Lead, next(iter(mine.leads.values())))
            mail = render("follow_up", lead, {"unsubscribe_url": f"{server.url}/unsubscribe/x"}, "de")
            db.session.remove()
        page.goto("about:blank")  # a mail client's page, not under the CRM's CSP (which allows no inline style)
        page.set_content(mail.html)
        body = page.locator("body")
        for line in mine.spec.imprint.splitlines():
            expect(body).to_contain_text(line)
        expect(body).not_to_contain_text(theirs.spec.imprint.splitlines()[0])
        logo = page.get_by_role("img", name=mine.spec.name)
        assert logo.get_attribute("src").startswith("data:image/svg+xml")
        assert logo.evaluate("img => img.naturalWidth") > 0  # the inline logo renders
        cell = logo.locator("xpath=..")
        expect(cell).to_have_css("border-top-color", rgb(mine.spec.color))
