"""Every web entrance binds the company of the credential it verified (docs/tenancy.md rule 2), on both
databases and without the TESTING fallback company (tests/tenancy is marked `tenancy`): sign-in and the
operator's audited entering of a company, API keys from the database and the installation's, lead sources,
provider webhooks routed by record or route and refused when they route nowhere; plus the issue-14 leftovers
of these files: failed provider and SendGrid signatures are throttled like the lead signature, and the Vapi
webhook's 200 answer matches the OpenAPI spec."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid

import pytest
import redis
import sqlalchemy as sa
from click.testing import CliRunner

from crm import create_app
from crm.extensions import db
from crm.models import (
    ApiKey,
    AuditEntry,
    Company,
    LeadSource,
    LeadSubmission,
    ProviderRoute,
    Role,
    User,
    WebhookDelivery,
)
from crm.tenancy.context import company_scope, operator_scope
from tests.conftest import API_KEY, WEBHOOK_SECRETS, _wipe, make_test_secrets, set_settings
from tests.helpers import signed_headers
from tests.ui.conftest import PASSWORD, UIClient, login

REDIS_URL = "redis://127.0.0.1:6379/0"
TWO_VAPI = "company-two-vapi-secret"
EXTRA = {
    "LEADCHAIN_SECRET_COMPANIES_2_LEAD_SOURCES_ZWEI_WEB": WEBHOOK_SECRETS[1],
    "LEADCHAIN_SECRET_COMPANIES_2_PROVIDERS_VAPI_WEBHOOK_SECRET": TWO_VAPI,
}


INSTALLATION_VAPI = "vapi-installation-secret"


def _make_app(url: str, **extra: str):
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "PROPAGATE_EXCEPTIONS": False},
        secrets=make_test_secrets(**EXTRA, **extra),
    )
    app.test_client_class = UIClient
    _wipe(app)
    with app.app_context(), operator_scope("tests", "second company"):
        db.session.add(Company(slug="zweite", name="Zweite GmbH"))
        db.session.flush()
        db.session.add(LeadSource(company_id=2, slug="zwei-web", name="Web form"))
        db.session.add(ProviderRoute(provider="vapi", kind="agent", value="asst-zwei", company_id=2))
        db.session.commit()
    return app


@pytest.fixture
def app(backend, migrated_urls):
    """Company 1 (the installation's, with no provider account of its own) and company 2 with a lead source
    and a Vapi account routed by its assistant."""
    app = _make_app(migrated_urls[backend])
    yield app
    with app.app_context():
        db.session.remove()
    _wipe(app)


@pytest.fixture
def installation_app(backend, migrated_urls):
    """The same, and the installation has its own Vapi account (company 1's, from before companies)."""
    app = _make_app(migrated_urls[backend], LEADCHAIN_SECRET_PROVIDERS_VAPI_WEBHOOK_SECRET=INSTALLATION_VAPI)
    yield app
    with app.app_context():
        db.session.remove()
    _wipe(app)


def _user(app, company_id: int | None, role: Role, email: str) -> int:
    from crm.ui.auth import hasher

    with app.app_context():
        scope = company_scope(company_id) if company_id else operator_scope("tests", "operator user")
        with scope:
            user = User(
                email=email, name=email, role=role, password_hash=hasher().hash(PASSWORD), company_id=company_id
            )
            db.session.add(user)
            db.session.commit()
            return user.id


def _operator_rows(app, query):
    with app.app_context(), operator_scope("tests", "check"):
        return db.session.execute(query).all()


# ---- sign-in and the operator --------------------------------------------------------------------------


def test_a_user_signs_into_their_company_and_an_operator_into_none(app):
    _user(app, 2, Role.ADMIN, "admin@zweite.test")
    _user(app, None, Role.OPERATOR, "op@platform.test")
    admin = app.test_client()
    assert login(admin, "admin@zweite.test", PASSWORD).status_code == 302
    assert admin.get("/leads").status_code == 200
    assert admin.get("/platform/companies").status_code == 403

    operator = app.test_client()
    assert login(operator, "op@platform.test", PASSWORD).status_code == 302
    assert operator.get("/leads").status_code == 403  # no customer data until they enter a company
    page = operator.get("/platform/companies")
    assert page.status_code == 200 and "zweite" in page.get_data(as_text=True)


def test_entering_a_company_needs_a_reason_and_is_audited_in_that_company(app):
    operator_id = _user(app, None, Role.OPERATOR, "op@platform.test")
    client = app.test_client()
    login(client, "op@platform.test", PASSWORD)
    token = client.csrf_token()
    assert client.post("/platform/companies/2/enter", data={"csrf_token": token}).status_code == 422
    assert (
        client.post("/platform/companies/2/enter", data={"csrf_token": token, "reason": "ticket 42"}).status_code == 303
    )
    assert client.get("/leads").status_code == 200  # inside company 2 now, as its admin would be
    entries = _operator_rows(
        app, sa.select(AuditEntry.company_id, AuditEntry.actor, AuditEntry.action, AuditEntry.after)
    )
    assert entries == [(2, f"operator:{operator_id}", "operator.entered", {"reason": "ticket 42"})]
    assert client.post("/platform/leave", data={"csrf_token": token}).status_code == 303
    assert client.get("/leads").status_code == 403


def test_a_deactivated_company_signs_nobody_in_and_ends_its_sessions(app):
    _user(app, 2, Role.ADMIN, "admin@zweite.test")
    _user(app, None, Role.OPERATOR, "op@platform.test")
    admin = app.test_client()
    login(admin, "admin@zweite.test", PASSWORD)
    operator = app.test_client()
    login(operator, "op@platform.test", PASSWORD)
    r = operator.post(
        "/platform/companies/2/deactivate", data={"csrf_token": operator.csrf_token(), "reason": "contract ended"}
    )
    assert r.status_code == 303
    assert admin.get("/leads").status_code == 302  # the session no longer signs anyone in
    assert login(app.test_client(), "admin@zweite.test", PASSWORD).status_code == 401


def test_an_admin_makes_users_of_their_company_only(app):
    _user(app, 1, Role.SALES, "taken@firma.de")
    _user(app, 2, Role.ADMIN, "admin@zweite.test")
    admin = app.test_client()
    login(admin, "admin@zweite.test", PASSWORD)
    form = {
        "csrf_token": admin.csrf_token(),
        "name": "Neu",
        "language": "de",
        "password": "ein langer satz als passwort",
    }
    # Another company's user has the email (emails are unique across companies): refused, not a 500.
    assert admin.post("/settings/users", data={**form, "email": "taken@firma.de", "role": "sales"}).status_code == 422
    # No operator from a company's settings page.
    assert (
        admin.post("/settings/users", data={**form, "email": "op@zweite.test", "role": "operator"}).status_code == 422
    )
    assert admin.post("/settings/users", data={**form, "email": "neu@zweite.test", "role": "sales"}).status_code == 302
    made = _operator_rows(app, sa.select(User.company_id, User.role).where(User.email == "neu@zweite.test"))
    assert made == [(2, Role.SALES)]


# ---- API keys --------------------------------------------------------------------------------------


def test_a_database_key_binds_its_company_and_the_installation_key_company_1(app, monkeypatch):
    from workers.cli import main

    monkeypatch.setenv("DATABASE_URL", app.config["SQLALCHEMY_DATABASE_URI"])  # the CLI builds its own app

    result = CliRunner().invoke(main, ["api-key", "create", "--company", "zweite", "--name", "crm-sync"])
    assert result.exit_code == 0, result.output
    key = result.output.strip()
    rows = _operator_rows(app, sa.select(ApiKey.company_id, ApiKey.prefix, ApiKey.key_sha256))
    assert rows == [(2, key[:12], hashlib.sha256(key.encode()).hexdigest())]  # the hash, never the key
    client = app.test_client()
    for credential, company_id in ((key, 2), (API_KEY, 1)):
        email = f"k{company_id}.{uuid.uuid4().hex[:6]}@firma.de"
        r = client.post("/api/v1/leads", json={"email": email, "last_name": "Key"}, headers={"X-API-Key": credential})
        assert r.status_code == 202, r.get_json()
        stored = _operator_rows(
            app, sa.select(LeadSubmission.company_id).where(LeadSubmission.id == r.get_json()["submission_id"])
        )
        assert stored == [(company_id,)]
    again = CliRunner().invoke(main, ["api-key", "create", "--company", "zweite", "--name", "crm-sync"])
    assert again.exit_code != 0 and "already has a key" in again.output


def test_a_revoked_key_and_a_key_of_a_deactivated_company_are_bad_keys(app):
    from crm.api.auth import issue_api_key

    with app.app_context():
        revoked, live = issue_api_key("zweite", "old"), issue_api_key("zweite", "new")
    with app.app_context(), operator_scope("tests", "revoke"):
        db.session.execute(sa.update(ApiKey).where(ApiKey.name == "old").values(revoked_at=sa.func.now()))
        db.session.commit()
    client = app.test_client()
    assert client.get("/api/v1/leads", headers={"X-API-Key": revoked}).status_code == 401
    assert client.get("/api/v1/leads", headers={"X-API-Key": live}).status_code == 200
    with app.app_context(), operator_scope("tests", "deactivate"):
        db.session.execute(sa.update(Company).where(Company.id == 2).values(active=False))
        db.session.commit()
    assert client.get("/api/v1/leads", headers={"X-API-Key": live}).status_code == 401


# ---- lead sources -------------------------------------------------------------------------------


def _post_lead(client, source: str, secret: str, payload: dict):
    body = json.dumps(payload).encode()
    return client.post(f"/webhooks/leads/{source}", data=body, headers=signed_headers(secret, body))


def test_a_lead_source_binds_its_company_and_the_installation_sources_stay_company_1s(app):
    client = app.test_client()
    two = _post_lead(client, "zwei-web", WEBHOOK_SECRETS[1], {"email": "z@firma.de", "company_id": 1})
    one = _post_lead(client, "website", WEBHOOK_SECRETS[0], {"email": "w@firma.de"})
    assert (two.status_code, one.status_code) == (202, 202), (two.get_json(), one.get_json())
    companies = dict(_operator_rows(app, sa.select(LeadSubmission.id, LeadSubmission.company_id)))
    # The body's company_id is not read: the source's company it is.
    assert companies == {two.get_json()["submission_id"]: 2, one.get_json()["submission_id"]: 1}
    # Company 1's secret on company 2's source, and a source nobody configured.
    assert _post_lead(client, "zwei-web", WEBHOOK_SECRETS[0], {"email": "x@firma.de"}).status_code == 401
    assert _post_lead(client, "nobody", WEBHOOK_SECRETS[0], {"email": "x@firma.de"}).status_code == 404


# ---- provider webhooks ----------------------------------------------------------------------------


def _vapi(client, secret: str, call: dict):
    body = json.dumps({"message": {"type": "status-update", "status": "ringing", "call": call}}).encode()
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    headers = {"Content-Type": "application/json", "x-timestamp": ts, "x-signature": digest}
    return client.post("/webhooks/vapi", data=body, headers=headers)


def test_a_provider_event_is_verified_with_the_secret_of_the_company_it_routes_to(app):
    client = app.test_client()
    routed = _vapi(client, TWO_VAPI, {"id": "call-z", "assistantId": "asst-zwei"})
    assert routed.status_code == 200, routed.get_json()
    assert _operator_rows(app, sa.select(WebhookDelivery.company_id, WebhookDelivery.source)) == [(2, "provider:vapi")]
    # Company 2's secret on an event no record or route claims, and no installation account: nobody's, 404.
    assert _vapi(client, TWO_VAPI, {"id": "call-y"}).status_code == 404
    assert len(_operator_rows(app, sa.select(WebhookDelivery.id))) == 1


def test_the_installations_provider_account_is_company_1s_and_reaches_no_other(installation_app):
    client = installation_app.test_client()
    # Not routed: the installation's account (company 1) sent it, as before companies (unknown call: ignored).
    r = _vapi(client, INSTALLATION_VAPI, {"id": "call-x"})
    assert r.status_code == 200 and r.get_json()["results"][0]["status"] == "ignored"
    assert _operator_rows(installation_app, sa.select(WebhookDelivery.company_id)) == [(1,)]
    # Company 2's assistant signed by the installation's account, and the other way round: 401.
    assert _vapi(client, INSTALLATION_VAPI, {"id": "call-w", "assistantId": "asst-zwei"}).status_code == 401
    assert _vapi(client, TWO_VAPI, {"id": "call-v"}).status_code == 401
    assert len(_operator_rows(installation_app, sa.select(WebhookDelivery.id))) == 1


def test_a_call_we_placed_routes_by_its_dial_before_any_event_is_recorded(installation_app):
    from crm.models import SideEffect

    with installation_app.app_context(), company_scope(2):
        db.session.add(
            SideEffect(key="c2-call-1", kind="call", status="done", provider="vapi", provider_ref="placed-1")
        )
        db.session.commit()
    client = installation_app.test_client()
    # The installation's account cannot speak for company 2's call; company 2's own can.
    assert _vapi(client, INSTALLATION_VAPI, {"id": "placed-1"}).status_code == 401
    assert _vapi(client, TWO_VAPI, {"id": "placed-1"}).status_code == 200
    assert _operator_rows(installation_app, sa.select(WebhookDelivery.company_id)) == [(2,)]


# ---- issue 14 leftovers: throttled signatures, the Vapi answer in the spec -------------------------


@pytest.fixture
def throttled(app):
    prefix = f"leadchain-test-{uuid.uuid4().hex[:12]}"
    app.config["RATELIMIT_KEY_PREFIX"] = prefix
    app.config["RATELIMIT_STORAGE_URI"] = REDIS_URL
    set_settings(app, "security", auth_failure_limit="3/minute")
    from crm.ui.security import limiter

    limiter.init_app(app)  # counted in Redis, as in the stack (shared by every web process)
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        pytest.fail(f"Redis at {REDIS_URL} is required for the throttling test: {e}", pytrace=False)
    yield app, client, prefix
    keys = list(client.scan_iter(f"*{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.mark.parametrize("backend", ["sqlite"])
def test_failed_provider_and_sendgrid_signatures_are_throttled(throttled, backend):
    app, store, prefix = throttled
    client = app.test_client()
    forged = [_vapi(client, "not-the-secret", {"id": "c", "assistantId": "asst-zwei"}).status_code for _ in range(4)]
    assert forged == [401, 401, 401, 429]
    r = _vapi(client, TWO_VAPI, {"id": "c", "assistantId": "asst-zwei"})
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0  # not even checked past the limit
    headers = {"X-Twilio-Email-Event-Webhook-Signature": "AAAA", "X-Twilio-Email-Event-Webhook-Timestamp": "1"}
    statuses = [client.post("/webhooks/sendgrid", data=b"[]", headers=headers).status_code for _ in range(4)]
    assert statuses == [401, 401, 401, 429]
    counted = {key.decode() for key in store.scan_iter(f"*{prefix}*")}
    assert any("provider-signature" in k for k in counted) and any("sendgrid-signature" in k for k in counted)


def test_the_vapi_answer_matches_the_spec(app):
    import schemathesis
    from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

    schema = schemathesis.openapi.from_wsgi("/api/openapi.json", app)
    body = {"message": {"type": "status-update", "status": "ringing", "call": {"id": "c9", "assistantId": "asst-zwei"}}}
    case = schema["/webhooks/vapi"]["POST"].Case(
        body=body, media_type="application/json", headers={"X-Vapi-Secret": TWO_VAPI}
    )
    response = case.call()
    assert response.status_code == 200, response.text
    case.validate_response(response, checks=[status_code_conformance, response_schema_conformance])


# ---- SendGrid: one signed batch, each event to its own company ---------------------------------------


def test_each_sendgrid_event_is_recorded_in_the_company_of_its_message(app):
    from crm.email.sendgrid_sender import PROVIDER
    from crm.models import Direction, Interaction, InteractionKind, Lead
    from tests.email.conftest import FakeGateway, Signer

    signer = Signer()
    app.extensions["leadchain.secrets"] = make_test_secrets(
        **EXTRA, LEADCHAIN_SECRET_PROVIDERS_SENDGRID_WEBHOOK_PUBLIC_KEY=signer.public_b64
    )
    app.extensions["leadchain.temporal"] = FakeGateway()
    leads = {}
    with app.app_context():
        for company_id in (1, 2):
            with company_scope(company_id):
                lead = Lead(email=f"m{company_id}@firma.de", email_key=f"m{company_id}@firma.de", source="test")
                db.session.add(lead)
                db.session.flush()
                db.session.add(
                    Interaction(
                        lead_id=lead.id,
                        kind=InteractionKind.EMAIL,
                        direction=Direction.OUTBOUND,
                        provider=PROVIDER,
                        provider_ref=f"message-{company_id}",
                        status="sent",
                    )
                )
                db.session.commit()
                leads[company_id] = lead.id
        db.session.remove()
    now = int(time.time())
    events = [
        {"event": "open", "sg_message_id": "message-2.filter0", "sg_event_id": "ev-2", "timestamp": now},
        {"event": "open", "sg_message_id": "message-1.filter0", "sg_event_id": "ev-1", "timestamp": now},
        {"event": "open", "sg_message_id": "nobodys.filter0", "sg_event_id": "ev-0", "timestamp": now},
    ]
    r = signer.post(app.test_client(), events)
    assert r.status_code == 200, r.get_json()
    assert [x["status"] for x in r.get_json()["results"]] == ["recorded", "recorded", "ignored"]
    stored = sorted(_operator_rows(app, sa.select(WebhookDelivery.company_id, WebhookDelivery.source)))
    assert stored == [(1, "provider:sendgrid"), (2, "provider:sendgrid")]
