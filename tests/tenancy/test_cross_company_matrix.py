"""The cross-company matrix (issue 16, "What it must show"): every route of the web app (app.url_map: the UI,
the REST API, the webhooks, the public pages), every operation of the OpenAPI spec and every route of the
voice bridge has an expectation here; a route without one fails test_every_route_has_an_expectation, so a
new route forces a decision.

Two companies, each with users of every role, API keys, a lead source, provider secrets and routes, and
records (leads, a task, a call, a duplicate flag, a report, a campaign, assignment rules...). For every route
and every credential of the attacking company (its sales rep, manager, admin, an operator who entered it,
an operator who entered nothing, its API keys, its lead source's and provider accounts' secrets), a request
aimed at the other company's records or secrets answers the expected status — 404 for a record, 401/403
otherwise; a list answers the attacker's own page — and:

* no answer shows the victim's marker (a text only the victim's records hold);
* the victim's rows are unchanged: per table, the count and a checksum of the victim's rows (tables without
  company_id: all rows) before and after each route.

A request that answers other than expected is a mismatch; one that answers 2xx/3xx where a refusal was
expected, shows the victim's marker or changes the victim's rows is a leak. Both directions run (company 1,
the installation's own, attacking company 2 and the other way round) on SQLite and PostgreSQL; the counts
are printed (`pytest -s`), and both must be 0.

The UI part reuses the per-route URLs, forms and set-ups of tests/ui/route_expectations/ (what a request
needs), run against the victim's data; only the expected statuses are this file's."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa
from flask import url_for

from crm import create_app
from crm.api.auth import issue_api_key
from crm.extensions import db
from crm.models import (
    Company,
    Deal,
    Interaction,
    Lead,
    LeadSource,
    LeadSubmission,
    PhoneNumber,
    ProviderRoute,
    Role,
    User,
)
from crm.models.interactions import Direction, InteractionKind
from crm.services import deal_stages
from crm.tenancy.context import company_scope, operator_scope
from tests.conftest import API_KEY, TEST_COMPANY_ID, WEBHOOK_SECRETS, _wipe, make_test_secrets, set_settings
from tests.helpers import signed_headers
from tests.ui.conftest import PASSWORD, Leads, Member, Team, UIClient, login
from tests.ui.route_expectations import Route, Subject, all_routes
from tests.voice.provider_hooks import SECRETS as INSTALLATION_PROVIDER_SECRETS

pytestmark = pytest.mark.tenancy

OTHER_COMPANY_ID = 2
PROVIDERS = ("retell", "vapi", "bland")
REFUSED = {400, 401, 403, 404, 405, 422, 429}
UI_ROLES = ("sales", "manager", "admin", "operator_entered")


def marker(company_id: int) -> str:
    """A text only company `company_id`'s records hold."""
    return f"Qz{company_id}Marker"


def _company_secrets() -> dict[str, str]:
    """Company 2's secrets in its own path; company 1 also has the installation's (from before companies)."""
    extra = {
        "LEADCHAIN_SECRET_COMPANIES_1_LEAD_SOURCES_SRC_1": WEBHOOK_SECRETS[0],
        "LEADCHAIN_SECRET_COMPANIES_2_LEAD_SOURCES_SRC_2": WEBHOOK_SECRETS[1],
        "LEADCHAIN_SECRET_COMPANIES_2_PROVIDERS_RETELL_API_KEY": "key_company_two_retell",
        "LEADCHAIN_SECRET_COMPANIES_2_PROVIDERS_VAPI_WEBHOOK_SECRET": "company-two-vapi-secret",
        "LEADCHAIN_SECRET_COMPANIES_2_PROVIDERS_BLAND_WEBHOOK_SECRET": "company-two-bland-secret",
    }
    return {**INSTALLATION_PROVIDER_SECRETS, **extra}


def provider_secret(company_id: int, provider: str) -> str:
    if company_id == TEST_COMPANY_ID:
        key = {"retell": "RETELL_API_KEY", "vapi": "VAPI_WEBHOOK_SECRET", "bland": "BLAND_WEBHOOK_SECRET"}[provider]
        return INSTALLATION_PROVIDER_SECRETS[f"LEADCHAIN_SECRET_PROVIDERS_{key}"]
    env = {"retell": "RETELL_API_KEY", "vapi": "VAPI_WEBHOOK_SECRET", "bland": "BLAND_WEBHOOK_SECRET"}[provider]
    return _company_secrets()[f"LEADCHAIN_SECRET_COMPANIES_{company_id}_PROVIDERS_{env}"]


def sign_provider(provider: str, secret: str, body: bytes) -> dict[str, str]:
    """Each provider's signature as docs/providers.md §1.6, §2.4, §3.6 describe it (not the app's verifiers)."""
    if provider == "retell":
        ts = str(int(time.time() * 1000))
        digest = hmac.new(secret.encode(), body + ts.encode(), hashlib.sha256).hexdigest()
        return {"X-Retell-Signature": f"v={ts},d={digest}"}
    if provider == "vapi":
        ts = str(int(time.time()))
        digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {"x-timestamp": ts, "x-signature": digest}
    return {"X-Webhook-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()}


def provider_body(provider: str, *, call_id: str, lead_id: int | None = None, agent: str | None = None) -> bytes:
    meta = {"lead_id": str(lead_id)} if lead_id is not None else {}
    if provider == "retell":
        call: dict[str, Any] = {"call_id": call_id, "call_status": "ended", "metadata": meta, "direction": "outbound"}
        if agent:
            call["agent_id"] = agent
        payload: dict[str, Any] = {"event": "call_ended", "call": call}
    elif provider == "vapi":
        call = {"id": call_id, "metadata": meta}
        if agent:
            call["assistantId"] = agent
        payload = {
            "message": {"type": "status-update", "status": "ended", "endedReason": "customer-ended-call", "call": call}
        }
    else:
        payload = {"call_id": call_id, "c_id": call_id, "status": "completed", "completed": True, "metadata": meta}
        if agent:
            payload["pathway_id"] = agent
    return json.dumps(payload, separators=(",", ":")).encode()


# ---- the two companies ------------------------------------------------------------------------------


@dataclass
class Side:
    """One company's credentials and records (ids only)."""

    company_id: int
    team: Team
    leads: Leads
    operator: Member | None = None
    api_keys: list[str] = field(default_factory=list)
    source: str = ""
    source_secret: str = ""
    call_ref: str = ""
    submission_id: int = 0
    agent: str = ""
    deal_id: int = 0  # an open deal of its own lead, in a stage of its own
    stage_id: int = 0


def inbound_number(company_id: int, provider: str) -> str:
    """Company `company_id`'s inbound number on `provider` (phone_numbers: unique across the platform)."""
    return f"+4989{7000000 + company_id * 10 + PROVIDERS.index(provider)}"


def _member(c: int, role: Role, label: str) -> Member:
    from crm.ui.auth import hasher

    email = f"{label}.{c}@example.test"
    user = User(
        email=email,
        name=f"{label.title()} {marker(c)}",
        role=role,
        language="de",
        password_hash=hasher().hash(PASSWORD),
        company_id=c if role is not Role.OPERATOR else None,
    )
    db.session.add(user)
    db.session.flush()
    return Member(user.id, email, PASSWORD, role, user.name)


def _side(c: int, slug: str) -> Side:
    with company_scope(c):
        team = Team(
            _member(c, Role.SALES, "sales-a"),
            _member(c, Role.SALES, "sales-b"),
            _member(c, Role.MANAGER, "manager"),
            _member(c, Role.ADMIN, "admin"),
        )
        made = []
        for first, owner in (("Olga", team.sales_a.id), ("Fritz", team.sales_b.id), ("Uwe", None)):
            email = f"{first.lower()}.{c}@example.test"
            lead = Lead(
                company_id=c,
                first_name=first,
                last_name=marker(c),
                email=email,
                email_key=email,
                source="test",
                owner_id=owner,
            )
            db.session.add(lead)
            db.session.flush()
            made.append(lead.id)
        leads = Leads(*made)
        call_ref = f"call-of-company-{c}"
        db.session.add(
            Interaction(
                company_id=c,
                lead_id=leads.own,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="vapi",
                provider_ref=call_ref,
                status="in_progress",
                created_by="matrix",
            )
        )
        for provider in ("retell", "bland"):
            db.session.add(
                Interaction(
                    company_id=c,
                    lead_id=leads.own,
                    kind=InteractionKind.CALL,
                    direction=Direction.OUTBOUND,
                    provider=provider,
                    provider_ref=call_ref,
                    status="in_progress",
                    created_by="matrix",
                )
            )
        submission = LeadSubmission(
            company_id=c,
            source="test",
            channel="api",
            actor="matrix",
            chain_id=f"c{c}-lead-matrix",
            payload={"last_name": marker(c)},
        )
        db.session.add(submission)
        deal_stages.seed_defaults("matrix")  # the default board, as the pipeline's pages expect it
        stage = deal_stages.active_stages()[0]
        deal = Deal(company_id=c, lead_id=leads.own, title=f"Deal {marker(c)}", stage_id=stage.id)
        db.session.add(deal)
        for provider in PROVIDERS:
            db.session.add(PhoneNumber(e164=inbound_number(c, provider), provider=provider, agent_ref=f"agent-{c}"))
        db.session.commit()
        submission_id, deal_id, stage_id = submission.id, deal.id, stage.id
    agent = f"agent-of-company-{c}"
    with operator_scope("tests", "matrix routing rows"):
        db.session.add(LeadSource(company_id=c, slug=f"src-{c}", name="matrix"))
        for provider in PROVIDERS:
            db.session.add(ProviderRoute(provider=provider, kind="agent", value=agent, company_id=c))
        db.session.commit()
    return Side(
        company_id=c,
        team=team,
        leads=leads,
        api_keys=[issue_api_key(slug, "matrix")] + ([API_KEY] if c == TEST_COMPANY_ID else []),
        source=f"src-{c}",
        source_secret=WEBHOOK_SECRETS[0] if c == TEST_COMPANY_ID else WEBHOOK_SECRETS[1],
        call_ref=call_ref,
        submission_id=submission_id,
        agent=agent,
        deal_id=deal_id,
        stage_id=stage_id,
    )


class World:
    def __init__(self, app) -> None:
        self.app = app
        with app.app_context():
            with operator_scope("tests", "matrix companies"):
                other = Company(slug="zweite", name="Zweite Firma")  # platform data: an operator may see it
                db.session.add(other)
                db.session.commit()
                assert other.id == OTHER_COMPANY_ID
            self.sides = {TEST_COMPANY_ID: _side(TEST_COMPANY_ID, "test"), OTHER_COMPANY_ID: _side(2, "zweite")}
            with operator_scope("tests", "matrix operator"):
                self.operator = _member(0, Role.OPERATOR, "operator")
                db.session.commit()
            db.session.remove()
        self._clients: dict[tuple[int, str], UIClient] = {}

    def client(self, company_id: int, who: str) -> UIClient:
        """A signed-in client of `company_id`: sales, manager, admin, operator_entered, operator."""
        key = (company_id, who)
        if key not in self._clients:
            client = self.app.test_client()
            side = self.sides[company_id]
            member = {
                "sales": side.team.sales_a,
                "manager": side.team.manager,
                "admin": side.team.admin,
            }.get(who, self.operator)
            r = login(client, member.email, member.password)
            assert r.status_code == 302, f"sign-in of {who} of company {company_id}: {r.status_code}"
            if who == "operator_entered":
                r = client.post(
                    f"/platform/companies/{company_id}/enter",
                    data={"reason": "matrix: support ticket", "csrf_token": client.csrf_token()},
                )
                assert r.status_code == 303, r.get_data(as_text=True)[:300]
            self._clients[key] = client
        return self._clients[key]


# ---- the victim's rows --------------------------------------------------------------------------


def victim_rows(app, victim: int) -> dict[str, tuple[int, str]]:
    """Per table: (count, sha256) of the victim's rows (company_id = victim; all rows where the table has no
    company_id), read in an operator context."""
    found = {}
    with app.app_context(), operator_scope("tests", "matrix checksum"):
        for table in db.metadata.sorted_tables:
            query = sa.select(table)
            if "company_id" in table.c:
                query = query.where(table.c.company_id == victim)
            elif table.name == "companies":
                query = query.where(table.c.id == victim)
            rows = sorted(repr(tuple(row)) for row in db.session.execute(query))
            found[table.name] = (len(rows), hashlib.sha256("\n".join(rows).encode()).hexdigest())
        db.session.rollback()
    return found


# ---- the expectations -----------------------------------------------------------------------------

Ask = Callable[["Attack"], Any]  # sends the request, returns the response


@dataclass
class Attack:
    world: World
    attacker: Side
    victim: Side
    who: str


@dataclass(frozen=True)
class Expect:
    """One way to attack a non-UI route: `ask` sends it with the attacker's credential against the victim,
    `status` is what must answer, `why` says why that is the right answer."""

    ask: Ask
    status: int | tuple[int, ...]
    why: str

    def statuses(self) -> tuple[int, ...]:
        return self.status if isinstance(self.status, tuple) else (self.status,)


def _api(method: str, path: Callable[[Attack], str], body: Any = None, key: int = 0, **kw) -> Ask:
    def ask(a: Attack):
        headers = {"X-API-Key": a.attacker.api_keys[key]} if key is not None else {}
        client = a.world.app.test_client()
        return client.open(path(a), method=method, json=body, headers=headers, **kw)

    return ask


def _lead_webhook(target: Callable[[Attack], str], payload: Callable[[Attack], dict]) -> Ask:
    def ask(a: Attack):
        body = json.dumps(payload(a)).encode()
        return a.world.app.test_client().post(
            f"/webhooks/leads/{target(a)}", data=body, headers=signed_headers(a.attacker.source_secret, body)
        )

    return ask


def _provider(provider: str, body: Callable[[Attack], bytes]) -> Ask:
    def ask(a: Attack):
        data = body(a)
        headers = {
            "Content-Type": "application/json",
            **sign_provider(provider, provider_secret(a.attacker.company_id, provider), data),
        }
        return a.world.app.test_client().post(f"/webhooks/{provider}", data=data, headers=headers)

    return ask


def _inbound(provider: str, number: Callable[[Attack], str], caller: str) -> Ask:
    """An inbound call of `provider` to `number`, signed with the attacker's account (tests/inbound for the
    wire formats); `{c}` in `caller` is the attacker's company id (each company's own new caller)."""

    def ask(a: Attack):
        to, came_from = number(a), caller.replace("{c}", str(a.attacker.company_id)) + "01"
        if provider == "retell":
            payload: Any = {"event": "call_inbound", "call_inbound": {"from_number": came_from, "to_number": to}}
            path = "/webhooks/retell/inbound"
        elif provider == "vapi":
            message = {"type": "assistant-request", "phoneNumber": {"number": to}, "customer": {"number": came_from}}
            payload, path = {"message": message}, "/webhooks/vapi/assistant-request"
        else:
            payload, path = {"from": came_from, "to": to}, "/webhooks/bland/inbound"
        data = json.dumps(payload, separators=(",", ":")).encode()
        secret = provider_secret(a.attacker.company_id, provider)
        headers = {"Content-Type": "application/json", **sign_provider(provider, secret, data)}
        return a.world.app.test_client().post(path, data=data, headers=headers)

    return ask


def _bland_inbound(path: str, company: Callable[[Attack], int]) -> Ask:
    """A Bland tool use or post-call webhook for a call to `company`'s Bland number, signed by the attacker."""

    def ask(a: Attack):
        payload = {"call_id": "not-a-call-of-this-number", "to": inbound_number(company(a), "bland"), "inbound": True}
        data = json.dumps(payload, separators=(",", ":")).encode()
        secret = provider_secret(a.attacker.company_id, "bland")
        headers = {"Content-Type": "application/json", **sign_provider("bland", secret, data)}
        return a.world.app.test_client().post(path, data=data, headers=headers)

    return ask


def _get(path: Callable[[Attack], str]) -> Ask:
    return lambda a: a.world.app.test_client().get(path(a))


def _twilio(path: Callable[[Attack], str], form: Callable[[Attack], str]) -> Ask:
    """A Twilio form post with a made-up X-Twilio-Signature (no company's auth token made it)."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": "bm90LWEtc2lnbmF0dXJl"}

    def ask(a: Attack):
        body = f"CallSid=CA{'0' * 32}&From=%2B4915199900001&{form(a)}"
        return a.world.app.test_client().post(path(a), data=body, headers=headers)

    return ask


def _post(path: Callable[[Attack], str], **kw) -> Ask:
    return lambda a: a.world.app.test_client().post(path(a), **kw)


def _csv(a: Attack):
    body = (
        f"first_name,last_name,email\nImport,{marker(a.attacker.company_id)},imp.{uuid.uuid4().hex[:6]}@example.test\n"
    )
    return a.world.app.test_client().post(
        "/api/v1/leads/import",
        data=body.encode(),
        headers={"X-API-Key": a.attacker.api_keys[0], "Content-Type": "text/csv"},
    )


def _own_lead(a: Attack) -> dict:
    return {
        "first_name": "Neu",
        "last_name": marker(a.attacker.company_id),
        "email": f"n.{uuid.uuid4().hex[:8]}@example.test",
    }


NON_UI: dict[tuple[str, str], list[Expect]] = {
    # -- the REST API: the key binds its company; the victim's ids are not there for it
    ("api_leads.get_lead", "GET"): [
        Expect(
            _api("GET", lambda a: f"/api/v1/leads/{a.victim.leads.own}"),
            404,
            "the victim's lead, with the attacker's key",
        ),
        Expect(
            _api("GET", lambda a: f"/api/v1/leads/{a.victim.leads.own}", key=-1),
            404,
            "the same with the attacker's other key",
        ),
        Expect(_api("GET", lambda a: f"/api/v1/leads/{a.victim.leads.own}", key=None), 401, "no key at all"),
    ],
    ("api_leads.list_leads", "GET"): [
        Expect(_api("GET", lambda a: "/api/v1/leads"), 200, "the attacker's own leads only (no victim marker)"),
        Expect(_api("GET", lambda a: "/api/v1/leads?source=test&limit=200"), 200, "filtered: still the attacker's"),
    ],
    ("api_leads.create_leads", "POST"): [
        Expect(
            _api("POST", lambda a: "/api/v1/leads", body=None, key=0),
            (400, 415, 422),
            "an empty body: refused, nothing stored anywhere",
        ),
        Expect(
            _api("POST", lambda a: "/api/v1/leads", body=None, key=0, data=None),
            (400, 415, 422),
            "no body",
        ),
    ],
    ("api_leads.import_csv", "POST"): [Expect(_csv, 200, "imported into the attacker's company; victim unchanged")],
    ("api_leads.submission_status", "GET"): [
        Expect(_api("GET", lambda a: f"/api/v1/submissions/{a.victim.submission_id}"), 404, "the victim's submission")
    ],
    ("api_chains.chain_status", "GET"): [
        Expect(_api("GET", lambda a: f"/api/v1/leads/{a.victim.leads.own}/chain"), 404, "the victim's lead's chain")
    ],
    ("api_chains.chain_action", "POST"): [
        Expect(
            _api("POST", lambda a: f"/api/v1/leads/{a.victim.leads.own}/chain/cancel"), 404, "cancel the victim's chain"
        )
    ],
    ("api_chains.do_not_contact", "POST"): [
        Expect(
            _api("POST", lambda a: f"/api/v1/leads/{a.victim.leads.own}/do-not-contact"), 404, "block the victim's lead"
        )
    ],
    # -- deals (issue 23): the victim's deal is not there; its lead and stage cannot be named in a body
    ("api_deals.get_deal", "GET"): [
        Expect(_api("GET", lambda a: f"/api/v1/deals/{a.victim.deal_id}"), 404, "the victim's deal"),
        Expect(_api("GET", lambda a: f"/api/v1/deals/{a.victim.deal_id}", key=None), 401, "no key at all"),
    ],
    ("api_deals.list_deals", "GET"): [
        Expect(_api("GET", lambda a: "/api/v1/deals?limit=200"), 200, "the attacker's own deals only"),
        Expect(
            _api("GET", lambda a: f"/api/v1/deals?lead_id={a.victim.leads.own}"), 200, "filtered by the victim's lead"
        ),
    ],
    ("api_deals.create_deal", "POST"): [
        Expect(
            _api("POST", lambda a: "/api/v1/deals", body={"lead_id": 0}),
            422,
            "no such lead (a JSON body naming lead 0)",
        ),
        Expect(
            lambda a: _api("POST", lambda _: "/api/v1/deals", body={"lead_id": a.victim.leads.own})(a),
            422,
            "a deal for the victim's lead",
        ),
        Expect(
            lambda a: _api(
                "POST", lambda _: "/api/v1/deals", body={"lead_id": a.attacker.leads.own, "stage_id": a.victim.stage_id}
            )(a),
            422,
            "the attacker's lead in the victim's stage",
        ),
    ],
    ("api_deals.update_deal", "PATCH"): [
        Expect(_api("PATCH", lambda a: f"/api/v1/deals/{a.victim.deal_id}", body={"title": "x"}), 404, "edit it")
    ],
    ("api_deals.move_deal", "POST"): [
        Expect(
            lambda a: _api(
                "POST", lambda _: f"/api/v1/deals/{a.victim.deal_id}/move", body={"stage_id": a.attacker.stage_id}
            )(a),
            404,
            "move the victim's deal into the attacker's stage",
        )
    ],
    ("api_deals.close_deal", "POST"): [
        Expect(
            _api("POST", lambda a: f"/api/v1/deals/{a.victim.deal_id}/close", body={"outcome": "won"}), 404, "win it"
        )
    ],
    ("api_deals.reopen_deal", "POST"): [
        Expect(_api("POST", lambda a: f"/api/v1/deals/{a.victim.deal_id}/reopen"), 404, "reopen it")
    ],
    ("api_deals.pipeline", "GET"): [
        Expect(_api("GET", lambda a: "/api/v1/deals/pipeline"), 200, "the attacker's own pipeline only")
    ],
    ("api-docs.openapi_json", "GET"): [Expect(_get(lambda a: "/api/openapi.json"), 200, "public; no company data")],
    # -- lead sources: the source's own secret, and its company only
    ("webhooks_leads.receive_lead", "POST"): [
        Expect(
            _lead_webhook(lambda a: a.victim.source, lambda a: {"email": "x@example.test", "last_name": "X"}),
            401,
            "the attacker's source secret on the victim's source",
        ),
        Expect(
            _lead_webhook(
                lambda a: a.attacker.source,
                lambda a: {
                    "email": f"x.{uuid.uuid4().hex[:6]}@example.test",
                    "last_name": "X",
                    "company_id": a.victim.company_id,
                },
            ),
            (202, 422),
            "a company id in the body is not read: the lead is the source's company's (or refused as an unknown field)",
        ),
    ],
    # -- provider webhooks: routed by the victim's call, lead or agent, so only the victim's secret verifies
    **{
        (f"webhooks_{p}.receive_{p}", "POST"): [
            Expect(
                _provider(p, lambda a, p=p: provider_body(p, call_id=a.victim.call_ref)),
                401,
                "an event for the victim's call, signed by the attacker's account",
            ),
            Expect(
                _provider(
                    p, lambda a, p=p: provider_body(p, call_id=f"new-{uuid.uuid4().hex}", lead_id=a.victim.leads.own)
                ),
                401,
                "a new call naming the victim's lead in its metadata",
            ),
            Expect(
                _provider(p, lambda a, p=p: provider_body(p, call_id=f"new-{uuid.uuid4().hex}", agent=a.victim.agent)),
                401,
                "a call of the victim's agent (provider_routes)",
            ),
        ]
        for p in PROVIDERS
    },
    # -- inbound calls: the called number names the company, so only that company's secret verifies
    **{
        (endpoint, "POST"): [
            Expect(
                _inbound(p, lambda a, p=p: inbound_number(a.victim.company_id, p), "+4915199900001"),
                401,
                "a call to the victim's number, signed by the attacker's account",
            ),
            Expect(
                _inbound(
                    p, lambda a, p=p: inbound_number(a.attacker.company_id, p), f"+49151999{PROVIDERS.index(p)}{{c}}"
                ),
                200,
                "a call to the attacker's own number: the attacker's agent and data only (a new caller: its lead)",
            ),
        ]
        for p, endpoint in (
            ("retell", "webhooks_retell_inbound.receive_call_inbound"),
            ("vapi", "webhooks_vapi_assistant_request.receive_assistant_request"),
            ("bland", "webhooks_bland_inbound.receive_bland_inbound"),
        )
    },
    # -- Bland's tools and post-call webhook of an inbound number (docs/inbound.md sec. 7)
    ("webhooks_bland_inbound.receive_bland_tool", "POST"): [
        Expect(
            _bland_inbound("/webhooks/bland/inbound/tools/cancel", lambda a: a.victim.company_id),
            401,
            "a tool use on a call to the victim's number, signed by the attacker's account",
        ),
        Expect(
            _bland_inbound("/webhooks/bland/inbound/tools/cancel", lambda a: a.attacker.company_id),
            404,
            "a tool use on the attacker's own number naming a call that number never answered",
        ),
    ],
    ("webhooks_bland_inbound.receive_bland_inbound_call", "POST"): [
        Expect(
            _bland_inbound("/webhooks/bland/inbound/call", lambda a: a.victim.company_id),
            401,
            "a post-call webhook for a call to the victim's number, signed by the attacker's account",
        )
    ],
    # -- Twilio (twilio_realtime): signed with the account's auth token over the public URL and the form
    ("webhooks_twilio.receive_status", "POST"): [
        Expect(
            _twilio(
                lambda a: f"/webhooks/twilio/status?lead={a.victim.leads.own}&key=k", lambda a: "CallStatus=completed"
            ),
            401,
            "a completed call naming the victim's lead, signed with a token that is not the victim's",
        )
    ],
    ("webhooks_twilio.receive_voice", "POST"): [
        Expect(
            _twilio(
                lambda a: "/webhooks/twilio/voice",
                lambda a: f"To=%2B{inbound_number(a.victim.company_id, 'retell')[1:]}",
            ),
            404,
            "a Twilio call to the victim's number, which is not a Twilio number: nobody answers it",
        )
    ],
    # -- SendGrid: the installation's account signs for every company (no company credential to misuse)
    ("webhooks_sendgrid.events", "POST"): [
        Expect(
            _post(lambda a: "/webhooks/sendgrid", json=[{"event": "open", "lead_id": "1"}]),
            401,
            "unsigned: refused (events are routed per event to their own company once signed)",
        )
    ],
    ("webhooks_sendgrid.inbound", "POST"): [
        Expect(_post(lambda a: "/webhooks/sendgrid/inbound", data={"from": "x@example.test"}), 401, "unsigned")
    ],
    # -- Cal.com: the connection id names the company; only that connection's webhook secret verifies
    ("webhooks_calcom.receive_calcom", "POST"): [
        Expect(
            _post(lambda a: "/webhooks/calcom/999999999", json={"triggerEvent": "BOOKING_CREATED", "payload": {}}),
            404,
            "no Cal.com connection with that id (a signed body is checked against its own connection's secret)",
        )
    ],
    # -- Stripe: the installation's account signs for every company; a signed event's customer id names it
    ("webhooks_stripe.receive_stripe", "POST"): [
        Expect(
            _post(lambda a: "/webhooks/stripe", json={"id": "evt_x", "type": "invoice.paid"}),
            (401, 404),
            "unsigned: refused (404 where no Stripe webhook secret is configured)",
        )
    ],
    # -- public pages: no company data
    ("health.healthz", "GET"): [Expect(_get(lambda a: "/healthz"), 200, "liveness; no company data")],
    ("health.readyz", "GET"): [Expect(_get(lambda a: "/readyz"), (200, 503), "readiness; no company data")],
    ("metrics", "GET"): [Expect(_get(lambda a: "/metrics"), 200, "process metrics; no company data")],
    ("static", "GET"): [Expect(_get(lambda a: "/static/none.css"), 404, "no such file")],
    ("ui.static", "GET"): [Expect(_get(lambda a: "/ui/static/app.js"), 200, "the UI's script")],
    # -- unsubscribe: the signed token is the victim's lead's own capability; a forged one is nobody's
    ("email_unsubscribe.confirm_page", "GET"): [
        Expect(
            _get(lambda a: f"/unsubscribe/{_forged_token(a)}"), 404, "a token for the victim's lead, not signed by us"
        )
    ],
    ("email_unsubscribe.unsubscribe", "POST"): [
        Expect(
            _post(lambda a: f"/unsubscribe/{_forged_token(a)}"), 404, "a token for the victim's lead, not signed by us"
        )
    ],
    # -- appointment change links: the signed token is the attendee's own capability; a forged one is nobody's
    ("appointment_page.show", "GET"): [
        Expect(_get(lambda a: f"/appointment/{_forged_link(a)}"), 404, "a link naming the victim's company, not ours")
    ],
    ("appointment_page.reschedule", "POST"): [
        Expect(
            _post(lambda a: f"/appointment/{_forged_link(a)}/reschedule", data={"start": "2030-01-07T09:00:00+00:00"}),
            404,
            "a link naming the victim's company, not ours",
        )
    ],
    ("appointment_page.cancel", "POST"): [
        Expect(_post(lambda a: f"/appointment/{_forged_link(a)}/cancel"), 404, "a link naming the victim's company")
    ],
}


def _forged_link(a: Attack) -> str:
    from itsdangerous import URLSafeSerializer

    # [appointment id, company, sequence, expiry]: the shape crm/email/appointment_links.py signs, not our key.
    return URLSafeSerializer("not-the-app-key", salt="leadchain.appointment.link.v1").dumps(
        [1, a.victim.company_id, 0, 1_900_000_000]
    )


def _forged_token(a: Attack) -> str:
    from itsdangerous import URLSafeSerializer

    return URLSafeSerializer("not-the-app-key", salt="unsubscribe").dumps(a.victim.leads.own)


# The voice bridge (voice/bridge/server.py): its credentials are the installation's (bridge/retell-path-secret,
# bridge/vapi-secret), no company holds one; a session's company comes from the call's lead (H1c), so the
# cross-company cases are tool calls naming another company's call or lead: tests/voice/bridge/.
BRIDGE: dict[tuple[str, str], str] = {
    ("/llm-websocket/{secret}/{call_id}", "GET"): "installation path secret; company from the call's lead",
    ("/vapi/tools", "POST"): "installation Vapi secret; company from the call's lead",
    ("/vapi/llm/chat/completions", "POST"): "installation Vapi secret; company from the call's lead",
    ("/twilio/media/{secret}", "GET"): "installation path secret; company from the call's record or key",
    ("/healthz", "GET"): "liveness; no company data",
}


# The operator's own pages (crm.ui.platform, crm.ui.platform_billing): every company role is refused them.
PLATFORM = ("platform.", "platform_billing.")
# The operator who entered no company: their own account and the platform list only.
OPERATOR_OWN = {"auth.login", "auth.logout", "auth.set_language", "auth.change_password", "platform.companies"}
# Their own two-factor sign-in, and the sign-in pages before any account: no company's data (docs/security.md).
OPERATOR_OWN |= {"account.login_code", "account.two_factor", "oidc.choose"}
# ... and pages any signed-in person gets that hold no company's data.
OPERATOR_PLAIN = {"settings.brand_css": "the stylesheet of the header: the installation's default colours"}
# ... and public pages whose URL token is the whole credential: the operator is anyone without that token.
OPERATOR_AS_ANONYMOUS = {"calendar_feed.show": "a rep's secret feed: an unknown token is 404 for everyone"}
OPERATOR_AS_ANONYMOUS |= {
    "oidc.start": "sign-in through a company's provider, before any account: 404 without a configured provider",
    "oidc.callback": "the provider's answer, before any account: 404 without a configured provider",
    "onboarding.accept_invite": "a team invite's one-time link: an unknown token is 404 for everyone",
}


# Routes whose form (not their URL) names one of the company's records: the victim's is not among the
# attacker's, so the form is refused as naming no record of theirs (422), after the role check (403).
FORM_NAMES_A_RECORD = {"settings.add_knowledge"}


def _ui_expected(route: Route, who: str, has_record: bool, form_record: bool = False) -> tuple[int, ...]:
    same = {"sales": "sales_own", "manager": "manager", "admin": "admin", "operator_entered": "admin"}[who]
    expected = route.expected(same)
    if has_record:
        # The role check answers first (403); past it, another company's record is not there (404).
        return (403,) if 403 in expected else (404,)
    if form_record:
        return (403,) if 403 in expected else (422,)
    return expected


# ---- collecting every route -----------------------------------------------------------------------

_COLLECTING_APP = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": "sqlite://"}, secrets=make_test_secrets())
UI_ROUTES = all_routes()


def app_routes(app) -> set[tuple[str, str]]:
    return {
        (rule.endpoint, method)
        for rule in app.url_map.iter_rules()
        for method in (rule.methods or set()) - {"HEAD", "OPTIONS"}
    }


def spec_operations(app) -> set[tuple[str, str]]:
    """(endpoint, method) of every operation of /api/openapi.json, found through the URL map."""
    spec = app.test_client().get("/api/openapi.json").get_json()
    adapter = app.url_map.bind("localhost")
    found = set()
    for path, item in spec["paths"].items():
        for method in item:
            if method.upper() not in {"GET", "POST", "PUT", "PATCH", "DELETE"}:
                continue
            concrete = path.replace("{lead_id}", "1").replace("{submission_id}", "1").replace("{action}", "pause")
            concrete = concrete.replace("{source}", "website").replace("{connection_id}", "1").replace("{deal_id}", "1")
            endpoint, _args = adapter.match(concrete, method=method.upper())
            found.add((endpoint, method.upper()))
    return found


def bridge_routes() -> set[tuple[str, str]]:
    from voice.bridge import server

    app = server.create_app(None)  # type: ignore[arg-type]  (only its router is read)
    return {
        (route.resource.canonical, route.method)
        for route in app.router.routes()
        if route.method not in ("HEAD", "OPTIONS") and route.resource is not None
    }


def _is_ui(endpoint: str) -> bool:
    return endpoint in UI_ROUTES


def test_every_route_has_an_expectation():
    routes = app_routes(_COLLECTING_APP)
    missing = sorted(
        f"{e} {m}"
        for e, m in routes
        if (e, m) not in NON_UI and not (_is_ui(e) and m in {r.method for r in UI_ROUTES[e]})
    )
    assert not missing, f"routes without a cross-company expectation: {missing}"
    stale = sorted(f"{e} {m}" for e, m in NON_UI if (e, m) not in routes)
    assert not stale, f"expectations for routes that do not exist: {stale}"
    spec = spec_operations(_COLLECTING_APP)
    assert spec <= routes and spec, f"spec operations the URL map lacks: {sorted(spec - routes)}"
    assert spec <= set(NON_UI), f"spec operations without an expectation: {sorted(spec - set(NON_UI))}"
    bridge = bridge_routes()
    assert bridge == set(BRIDGE), f"bridge routes: {sorted(bridge ^ set(BRIDGE))}"


# ---- the matrix ---------------------------------------------------------------------------------


@pytest.fixture
def world(backend, migrated_urls):
    app = create_app(
        # An exception in a view answers 500 (a mismatch in the tally), not an exception in the test.
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[backend], "PROPAGATE_EXCEPTIONS": False},
        secrets=make_test_secrets(**_company_secrets()),
    )
    app.test_client_class = UIClient
    # Hundreds of refused credentials from one address: the failure throttle (tested elsewhere) stays out of it.
    set_settings(app, "security", auth_failure_limit="100000/minute")
    # Twilio's signatures are checked against the public URL (crm/webhooks/twilio_common.py).
    set_settings(app, "providers", public_url="https://crm.example")
    _wipe(app)
    yield World(app)
    with app.app_context():
        db.session.remove()
    _wipe(app)


@dataclass
class Tally:
    requests: int = 0
    leaks: list[str] = field(default_factory=list)
    mismatches: list[str] = field(default_factory=list)
    rows: dict[str, tuple[int, str]] | None = None  # the victim's rows after the last route

    def check(self, label: str, response, expected: tuple[int, ...], victim_marker: str) -> None:
        self.requests += 1
        status = response.status_code
        body = response.get_data(as_text=True)
        if victim_marker in body:
            self.leaks.append(f"{label}: {status} shows the victim's data")
        elif status not in expected and set(expected) <= REFUSED and status < 400:
            self.leaks.append(f"{label}: {status}, expected a refusal {expected}")
        elif status not in expected:
            self.mismatches.append(f"{label}: {status}, expected {expected}; {body[:200]!r}")


def _ui_attacks(world: World, tally: Tally, attacker: Side, victim: Side) -> None:
    app = world.app
    subject_leads = victim.leads
    for endpoint in sorted(UI_ROUTES):
        for n, route in enumerate(UI_ROUTES[endpoint]):
            subject = Subject(app, victim.team, subject_leads, "sales_own", subject_leads.own)
            if route.setup is not None:
                with app.app_context(), company_scope(victim.company_id):
                    try:
                        subject.extra.update(route.setup(subject) or {})
                    except Exception as e:  # noqa: BLE001 (a broken set-up is reported, the rest still runs)
                        tally.mismatches.append(f"{endpoint}#{n}: its set-up failed: {type(e).__name__}: {e}"[:300])
                        continue
                    finally:
                        db.session.remove()
            args = route.url_args(subject) if route.url_args else {}
            if endpoint.startswith("platform.") and "company_id" in args:
                args = {**args, "company_id": victim.company_id}
            has_record = any(isinstance(v, int) and not isinstance(v, bool) for v in args.values())
            query = route.query(subject) if route.query else {}
            with app.test_request_context():
                url = url_for(endpoint, **args, **query)
            # After the set-up (it adds the victim's records the route names).
            fresh = tally.rows is None or route.setup is not None
            before = victim_rows(app, victim.company_id) if fresh else tally.rows
            done_once = False  # an earlier perspective already made the change this form asks for
            for who in (*UI_ROLES, "operator"):
                if endpoint.startswith(PLATFORM) and who.startswith("operator") and endpoint != "platform.companies":
                    continue  # creating, deactivating, entering companies is the operator's own job, not a company's
                if who.startswith("operator") and endpoint == "platform.companies":
                    expected: tuple[int, ...] = (200,)  # the list of companies: platform data, no customer's
                elif who == "operator" and endpoint in OPERATOR_PLAIN:
                    expected = (200,)
                elif who == "operator" and endpoint in OPERATOR_AS_ANONYMOUS:
                    expected = route.expected("anonymous")
                elif who == "operator":
                    if endpoint not in OPERATOR_OWN:
                        expected = (403,)
                    elif endpoint == "platform.companies":
                        expected = (200,)
                    else:
                        expected = route.expected("admin")
                else:
                    expected = _ui_expected(route, who, has_record, endpoint in FORM_NAMES_A_RECORD)
                    if done_once and route.method != "GET":
                        # The same form again (a user with that email exists now, say): refused as a repeat.
                        expected = (*expected, 409, 422)
                if endpoint == "auth.logout" or (who == "operator" and endpoint == "platform.leave"):
                    continue  # run last (below): it ends the shared client's session
                client = world.client(attacker.company_id, who)
                if route.method == "GET":
                    r = client.get(url, headers=route.headers or {})
                else:
                    data = route.data(subject) if route.data else {}
                    r = client.open(
                        url,
                        method=route.method,
                        data={"csrf_token": client.csrf_token(), **data},
                        headers=route.headers or {},
                    )
                tally.check(
                    f"{route.method} {url} ({endpoint}#{n}) as {who} of {attacker.company_id}",
                    r,
                    expected,
                    marker(victim.company_id),
                )
                done_once = done_once or r.status_code < 400
            tally.rows = victim_rows(app, victim.company_id)
            if tally.rows != before:
                tally.leaks.append(f"{route.method} {url} ({endpoint}#{n}) changed company {victim.company_id}'s rows")


def _non_ui_attacks(world: World, tally: Tally, attacker: Side, victim: Side) -> None:
    for (endpoint, method), expects in sorted(NON_UI.items()):
        for n, expect in enumerate(expects):
            before = tally.rows if tally.rows is not None else victim_rows(world.app, victim.company_id)
            r = expect.ask(Attack(world, attacker, victim, "key"))
            label = f"{method} {endpoint}#{n} ({expect.why}) by company {attacker.company_id}"
            tally.check(label, r, expect.statuses(), marker(victim.company_id))
            tally.rows = victim_rows(world.app, victim.company_id)
            if tally.rows != before:
                tally.leaks.append(f"{label} changed company {victim.company_id}'s rows")


@pytest.mark.parametrize("direction", ["1->2", "2->1"])
def test_no_company_reaches_another(world, direction, capsys):
    attacker_id, victim_id = (int(x) for x in direction.split("->"))
    attacker, victim = world.sides[attacker_id], world.sides[victim_id]
    tally = Tally()
    _non_ui_attacks(world, tally, attacker, victim)
    _ui_attacks(world, tally, attacker, victim)
    # Last: signing out ends the shared clients' sessions; it must not touch the victim's.
    before = victim_rows(world.app, victim_id)
    for who in UI_ROLES:
        client = world.client(attacker_id, who)
        r = client.post("/logout", data={"csrf_token": client.csrf_token()})
        tally.check(f"POST /logout as {who} of {attacker_id}", r, (302,), marker(victim_id))
    if victim_rows(world.app, victim_id) != before:
        tally.leaks.append("POST /logout changed the victim's rows")
    with capsys.disabled():
        print(
            f"\ncross-company matrix {direction}: {tally.requests} requests, {len(tally.leaks)} leaks, "
            f"{len(tally.mismatches)} mismatches"
        )
    assert not tally.leaks and not tally.mismatches, "\n".join(
        ["LEAKS:", *tally.leaks, "MISMATCHES:", *tally.mismatches]
    )
