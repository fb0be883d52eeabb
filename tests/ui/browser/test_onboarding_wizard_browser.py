"""The setup wizard in Chromium, as a new company's admin runs it (issue 20): every screen typed into and
submitted, the agent and number provisioned in the live provider sandbox, the lead source's secret shown,
and the test call's transcript on the page. The closing note gives the run's duration and screen count.

Its own app on a fresh migrated SQLite file with one new company and its admin (nothing seeded but them),
a provider sandbox of its own (short call steps), and the package's Chromium."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from playwright.sync_api import expect

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import Company, User
from crm.models.users import Role
from crm.tenancy.context import operator_scope, unit_of_work
from crm.ui.password_hashing import hasher
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.conftest import _migrate, make_test_secrets
from tests.onboarding.wizard_setup import use_sandbox
from tests.sandbox_fixtures import ServerThread, free_port

pytestmark = pytest.mark.tenancy

ADMIN_EMAIL, PASSWORD = "chefin@neu-solar.example.test", "ein-langes-testpasswort"


@pytest.fixture(scope="module")
def new_company(sqlite_dir):
    url = f"sqlite:///{sqlite_dir / 'onboarding.db'}"  # tests/conftest.py sqlite_dir: on tmpfs
    _migrate(url)
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url},
        settings=Settings(temporal_address=f"127.0.0.1:{free_port()}"),  # no chain runs here
        secrets=make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex),
    )
    with app.app_context():
        with operator_scope("test", "create the new company"):
            company = Company(slug="neu-solar", name="Neu Solar")
            db.session.add(company)
            db.session.commit()
            company_id = company.id
        with unit_of_work(company_id):
            db.session.add(
                User(
                    email=ADMIN_EMAIL,
                    name="Nina Neu",
                    role=Role.ADMIN,
                    language="de",
                    password_hash=hasher().hash(PASSWORD),
                )
            )
            db.session.commit()
        db.session.remove()
    sandbox_app = create_sandbox_app(SandboxConfig(step_s=0.02))
    with ServerThread(sandbox_app) as sandbox, ServerThread(app) as server:
        sandbox.sandbox = sandbox_app.extensions["sandbox"]
        use_sandbox(app, sandbox.url)
        yield server, sandbox


def test_a_new_admin_runs_the_whole_wizard_to_a_transcript(browser, new_company, capsys):
    server, sandbox = new_company
    context = browser.new_context(base_url=server.url, viewport={"width": 1366, "height": 800}, locale="de-DE")
    context.set_default_timeout(15_000)
    page = context.new_page()
    started = time.monotonic()
    try:
        page.goto("/login")
        page.fill("#email", ADMIN_EMAIL)
        page.fill("#password", PASSWORD)
        with page.expect_navigation():
            page.click("form[action='/login'] button[type=submit]")
        page.goto("/onboarding/")
        screens = 0

        def submit(screen: str) -> None:
            nonlocal screens
            screens += 1
            with page.expect_navigation():
                page.click(f"form[action$='/onboarding/{screen}'] button[type=submit]")

        expect(page).to_have_url(f"{server.url}/onboarding/company")
        page.fill("#wiz-name", "Neu Solar GmbH")
        page.fill("#wiz-imprint", "Neu Solar GmbH\nSonnenweg 3\n80331 München\nHRB 12345")
        submit("company")
        # German hours are the default; the admin closes Friday afternoon and picks Bavaria.
        page.fill("#wiz-fri-to", "14:00")
        page.select_option("#wiz-state", "BY")
        submit("hours")
        page.fill("#wiz-emails", "kollege@neu-solar.example.test")
        submit("team")
        page.check("input[name=provider][value=retell]")
        page.fill("#wiz-area", "415")
        submit("phone")
        expect(page.locator("form[action$='/onboarding/calendars']")).to_be_visible()
        submit("calendars")
        submit("lead_sources")
        expect(page.locator("#wiz-source-secret")).to_contain_text("whsec_")
        with page.expect_navigation():
            page.click("a.button[href$='/onboarding/test_call']")
        page.fill("#wiz-to", "+49 151 2345 6780")
        submit("test_call")
        expect(page.locator("#wiz-transcript")).not_to_be_empty()
        transcript = page.locator("#wiz-transcript").inner_text()
        with page.expect_navigation():
            page.click("#wiz-test-call a.button")
        expect(page.locator("#wiz-done")).to_be_visible()
        took = time.monotonic() - started  # sign-in to the summary page, as the admin lives it
        # Every screen also fits a phone (no sideways scrolling), as every other page does.
        phone = browser.new_context(
            base_url=server.url, viewport={"width": 390, "height": 844}, storage_state=context.storage_state()
        )
        try:
            small = phone.new_page()
            for screen in ("company", "hours", "team", "phone", "calendars", "lead_sources", "test_call"):
                small.goto(f"/onboarding/{screen}")
                assert small.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), screen
        finally:
            phone.close()
    finally:
        context.close()
    live = httpx.get(f"{sandbox.url}/sandbox/provisioned").json()["live"]
    assert sorted(o["kind"] for o in live) == ["agent", "phone_number"]
    assert [m.to_email for m in sandbox.sandbox.sendgrid.messages()] == ["kollege@neu-solar.example.test"]
    assert transcript.strip()
    with capsys.disabled():
        print(f"\nonboarding wizard in Chromium: {screens} screens, {took:.1f} s, transcript {len(transcript)} chars")
