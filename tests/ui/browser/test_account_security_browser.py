"""Two-factor and company-provider sign-in in Chromium (issue 19): a person enrols in two-factor sign-in from
the enrolment page (typing the key the page shows into an "app": pyotp here), gets the recovery codes once,
and signs in again with password and code; and a person signs in through the company's OpenID Connect
provider (tests/oidc_provider.py on loopback) from the sign-in page, typing their email at the provider.

The users are made for these tests (enrolling a demo user would change every other browser test's sign-in)."""

from __future__ import annotations

import time
import uuid

import pyotp
import pytest
from playwright.sync_api import expect

from crm.extensions import db
from crm.models import Role
from crm.models.companies import Company
from crm.tenancy.context import company_scope
from tests.oidc_provider import OidcProvider
from tests.sandbox_fixtures import ServerThread
from tests.ui.conftest import PASSWORD, make_user

CLIENT_ID, CLIENT_SECRET = "leadchain-browser", "browser-provider-secret-0123456789"


def _new_user(app, role: Role = Role.SALES) -> str:
    email = f"person.{uuid.uuid4().hex[:8]}@example.test"
    with app.app_context(), company_scope(1):
        make_user(email, "Petra Person", role, language="en")
        db.session.remove()
    return email


def _sign_in_form(page, email: str) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    with page.expect_navigation():
        page.click("form[action='/login'] button[type=submit]")


def test_enrol_in_two_factor_and_sign_in_with_a_code(browser, live_server, screenshot):
    email = _new_user(live_server.app)
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        _sign_in_form(page, email)
        page.goto("/account/two-factor")
        secret = page.locator("#totp-secret").inner_text().replace(" ", "")
        assert page.locator("#otpauth-link").get_attribute("href").startswith("otpauth://totp/")
        page.fill("#new_code", pyotp.TOTP(secret).now())
        page.fill("#password", PASSWORD)
        page.click("button[type=submit]:has-text('Turn two-factor sign-in on')")
        expect(page.locator("#recovery-codes li")).to_have_count(10)
        screenshot(page, "two-factor-recovery-codes")
        page.reload()
        expect(page.locator("#recovery-codes")).to_have_count(0)  # shown once
        expect(page.locator("#two-factor-state")).to_contain_text("on")
    finally:
        context.close()

    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        _sign_in_form(page, email)
        assert page.url.endswith("/login/code")
        page.fill("#code", "000000")
        page.click("button[type=submit]")
        expect(page.locator(".flash-error")).to_be_visible()
        # The next step's code (enrolment used this one; a code is never accepted twice).
        page.fill("#code", pyotp.TOTP(secret).at(time.time() + 30))
        with page.expect_navigation():
            page.click("button[type=submit]")
        assert page.url == f"{live_server.url}/"
        expect(page.locator(".user-name")).to_have_text("Petra Person")
    finally:
        context.close()


class _WithOidcSecret:
    """The app's secrets, plus the company's OIDC client secret (as the secrets store would hold it)."""

    def __init__(self, inner, name: str, value: str) -> None:
        self.inner, self.name, self.value = inner, name, value

    def get(self, name: str):
        return self.value if name == self.name else self.inner.get(name)

    def get_list(self, name: str):
        return [self.value] if name == self.name else self.inner.get_list(name)

    def require(self, name: str):
        return self.value if name == self.name else self.inner.require(name)


@pytest.fixture
def company_provider(live_server):
    from crm.ui.oidc import client_secret_name

    app = live_server.app
    provider = OidcProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    original = app.extensions["leadchain.secrets"]
    with ServerThread(provider.app) as server:
        provider.issuer = server.url
        app.extensions["leadchain.secrets"] = _WithOidcSecret(original, client_secret_name(1), CLIENT_SECRET)
        with app.app_context(), company_scope(1):
            company = db.session.get(Company, 1)
            company.oidc_issuer, company.oidc_client_id = server.url, CLIENT_ID
            slug = company.slug
            db.session.commit()
            db.session.remove()
        try:
            yield provider, slug
        finally:
            app.extensions["leadchain.secrets"] = original
            with app.app_context(), company_scope(1):
                company = db.session.get(Company, 1)
                company.oidc_issuer = company.oidc_client_id = None
                db.session.commit()
                db.session.remove()


def test_sign_in_through_the_company_provider(browser, live_server, company_provider, screenshot):
    provider, slug = company_provider
    email = _new_user(live_server.app)
    context = browser.new_context(base_url=live_server.url, locale="en-GB")
    context.set_default_timeout(10_000)
    try:
        page = context.new_page()
        page.goto("/login")
        page.fill("#sso-company", slug)
        page.click("#sso-submit")
        page.wait_for_url(f"{provider.issuer}/authorize**")
        page.fill("#email", email)
        page.click("#provider-sign-in")
        page.wait_for_url(f"{live_server.url}/")
        expect(page.locator(".user-name")).to_have_text("Petra Person")
        screenshot(page, "oidc-signed-in")
        assert provider.issued == 1
    finally:
        context.close()


def test_the_admin_pages_fit_a_phone(open_page, screenshot):
    # The admin makes a key at 375 px: the list, the key shown once and the sign-in settings scroll nowhere sideways.
    page = open_page("admin", viewport="phone", lang="en")
    page.goto("/settings/api-keys")
    page.fill("#key-name", f"phone {uuid.uuid4().hex[:6]}")
    page.click("form[action='/settings/api-keys'] button[type=submit]")
    expect(page.locator("#new-api-key")).to_contain_text("lck_")
    for path in (None, "/settings/security", "/account/two-factor"):
        if path:
            page.goto(path)
        width = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert width[0] <= width[1], (path or "/settings/api-keys (new key)", width)
    screenshot(page, "two-factor-phone")
