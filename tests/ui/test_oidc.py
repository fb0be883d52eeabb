"""Sign-in through a company's OpenID Connect provider (issue 19 item 3), against tests/oidc_provider.py served
over real HTTP on loopback; the CRM is the app on both databases. The user must exist in the company (by
verified email) unless the company allows creation; an unverified email, another company's user, a forged
state and a wrong client secret are all refused; an enrolled user still gives the second factor."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest

from crm.extensions import db
from crm.models import Role, User
from crm.models.companies import Company
from crm.tenancy.context import operator_scope
from tests.conftest import TEST_COMPANY_ID, make_test_secrets
from tests.oidc_provider import OidcProvider
from tests.sandbox_fixtures import ServerThread

CLIENT_ID, CLIENT_SECRET = "leadchain-test", "provider-client-secret-0123456789"
SECRET_ENV = f"LEADCHAIN_SECRET_COMPANIES_{TEST_COMPANY_ID}_OIDC_CLIENT_SECRET"


@pytest.fixture
def provider(ui_app):
    """The provider on loopback, configured as the test company's (its client secret in the secrets store)."""
    oidc = OidcProvider(client_id=CLIENT_ID, client_secret=CLIENT_SECRET)
    with ServerThread(oidc.app) as server:
        oidc.issuer = server.url
        ui_app.extensions["leadchain.secrets"] = make_test_secrets(**{SECRET_ENV: CLIENT_SECRET})
        with ui_app.app_context():
            company = db.session.get(Company, TEST_COMPANY_ID)
            company.oidc_issuer, company.oidc_client_id = server.url, CLIENT_ID
            db.session.commit()
        yield oidc


def sign_in_via(client, provider: OidcProvider, email: str, *, state: str | None = None):
    """Start at /login/sso/test, sign in at the provider as `email`, come back: the CRM's last answer."""
    r = client.get("/login/sso/test?next=/leads")
    assert r.status_code == 302 and r.headers["Location"].startswith(provider.issuer), r.headers.get("Location")
    page = httpx.get(r.headers["Location"])
    assert page.status_code == 200
    form = dict(httpx.QueryParams(urlsplit(r.headers["Location"]).query))
    back = httpx.post(
        f"{provider.issuer}/authorize",
        data={
            "email": email,
            "redirect_uri": form["redirect_uri"],
            "state": state or form["state"],
            "nonce": form["nonce"],
        },
    )
    assert back.status_code == 302
    target = urlsplit(back.headers["Location"])
    return client.get(f"{target.path}?{target.query}")


def test_a_known_user_signs_in(ui_app, team, provider):
    client = ui_app.test_client()
    r = sign_in_via(client, provider, team.manager.email.upper())
    assert r.status_code == 302 and r.headers["Location"] == "/leads"
    assert client.get("/leads").status_code == 200 and provider.issued == 1


def test_an_unknown_email_is_refused_unless_the_company_creates_users(ui_app, team, provider):
    client = ui_app.test_client()
    assert sign_in_via(client, provider, "new.person@example.test").status_code == 403
    assert client.get("/leads").status_code == 302
    with ui_app.app_context():
        db.session.get(Company, TEST_COMPANY_ID).oidc_create_users = True
        db.session.commit()
    r = sign_in_via(client, provider, "new.person@example.test")
    assert r.status_code == 302 and client.get("/leads").status_code == 200
    with ui_app.app_context():
        created = db.session.query(User).filter_by(email="new.person@example.test").one()
        assert (created.role, created.company_id, created.password_hash) == (Role.SALES, TEST_COMPANY_ID, None)


def test_unverified_email_forged_state_and_wrong_secret_are_refused(ui_app, team, provider):
    provider.verified = False
    assert sign_in_via(ui_app.test_client(), provider, team.sales_a.email).status_code == 403
    provider.verified = True
    assert sign_in_via(ui_app.test_client(), provider, team.sales_a.email, state="forged").status_code == 401
    provider.client_secret = "another secret"
    client = ui_app.test_client()
    assert sign_in_via(client, provider, team.sales_a.email).status_code == 401
    assert client.get("/leads").status_code == 302


def test_another_companys_user_and_an_unconfigured_company_find_nothing(ui_app, team, provider):
    with ui_app.app_context(), operator_scope("tests", "a second company and its user"):
        other = Company(slug="zweite", name="Zweite GmbH")
        db.session.add(other)
        db.session.flush()
        db.session.add(User(email="someone@zweite.example", name="Z", role=Role.SALES, company_id=other.id))
        db.session.commit()
    assert sign_in_via(ui_app.test_client(), provider, "someone@zweite.example").status_code == 403
    assert ui_app.test_client().get("/login/sso/zweite").status_code == 404
    assert ui_app.test_client().get("/login/sso/Not_A_Slug").status_code == 404


def test_an_enrolled_user_still_gives_the_second_factor(ui_app, team, provider):
    import pyotp

    from crm.models.types import utcnow
    from crm.ui import totp_box

    secret = pyotp.random_base32()
    with ui_app.app_context():
        user = db.session.get(User, team.sales_a.id)
        user.totp_secret, user.totp_enabled_at = totp_box.seal(secret), utcnow()
        db.session.commit()
    client = ui_app.test_client()
    r = sign_in_via(client, provider, team.sales_a.email)
    assert r.status_code == 302 and r.headers["Location"].endswith("/login/code")
    assert client.get("/leads").status_code == 302
    token = client.get("/login/code").get_data(as_text=True).split('name="csrf-token" content="')[1].split('"')[0]
    r = client.post("/login/code", data={"csrf_token": token, "code": pyotp.TOTP(secret).now()})
    assert r.status_code == 302 and r.headers["Location"] == "/leads"
    assert client.get("/leads").status_code == 200
