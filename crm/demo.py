"""Demo data for the local stack: two companies side by side, each with its own branches, team, numbers,
calling hours, scoring, branding and lead source, and sample leads posted through each source's webhook.

* Autohaus Berger (Bavaria, blue): the installation's first company (migration 0013's company 1 is taken
  over on a fresh database), two branches (München, Augsburg); its leads come in through the
  installation's "demo" source (secret webhooks/leads-demo, which stays company 1's).
* Solar Nord (Hamburg, green): a company of its own; its leads come in through its own source
  "solar-nord-web" (secret companies/<id>/lead-sources/solar-nord-web; the local stack's secrets file
  holds it for company 2, the id it gets on a fresh database).

The demo users sign in with LEADCHAIN_DEMO_PASSWORD, or else with the well-known DEMO_PASSWORD below
(local demo only: it is set just for demo users that have no password yet, never changed afterwards,
and a real deployment creates its users with `leadchain user create`). Seeding is idempotent: what exists
(a company, a user, a campaign, a stored setting an admin may have changed since) is left as it is."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from flask import current_app, has_app_context

from crm import secret_names
from crm.config import DemoSettings
from crm.extensions import db
from crm.models import Branch, Campaign, Company, PhoneNumber, Role, User
from crm.models.lead_sources import LeadSource
from crm.services import app_settings
from crm.services.scoring import rules_path
from crm.tenancy.context import operator_scope, unit_of_work
from crm.tenancy.routing import DEFAULT_COMPANY_ID, lead_source_secret_name
from crm.ui.auth import hasher, password_problems

DEMO_PASSWORD = "leadchain-demo-2026"  # well-known, for the local demo stack only
DEMO_ACTOR = "demo"  # the audit actor and updated_by of what the seed stores

log = logging.getLogger(__name__)


def _logo(color: str, letter: str) -> str:
    # A tiny inline SVG: the pages' CSP and the PDF renderer take data: images, never a foreign URL.
    svg = (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="32" height="32" viewBox="0 0 32 32">'
        f'<rect width="32" height="32" rx="6" fill="{color}"/><text x="16" y="23" font-family="Arial" '
        f'font-size="20" font-weight="bold" fill="#fff" text-anchor="middle">{letter}</text></svg>'
    )
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode()).decode()


@dataclass(frozen=True)
class DemoUser:
    email: str
    name: str
    role: Role
    language: str
    branches: tuple[str, ...] = ()  # branch slugs (a manager with none sees the whole company)


@dataclass(frozen=True)
class DemoCompany:
    slug: str
    name: str
    state: str
    color: str
    letter: str
    sender_email: str
    sender_name: str
    imprint: str
    source: str  # the lead source its demo leads are posted through
    branches: tuple[tuple[str, str], ...]  # (slug, name)
    users: tuple[DemoUser, ...]
    campaign: dict[str, Any]
    gate_threshold: int
    calling_hours: dict[str, dict[str, str]]
    rules_version: str | None = None  # a ruleset of its own (the shipped one, renamed); None: the shipped
    # An inbound number at Bland (docs/inbound.md sec. 7): its callers are answered by Bland's agent on the
    # configuration the CRM sends once the stack is up (crm.inbound.bland_numbers); None: none.
    bland_number: str | None = None


BERGER = DemoCompany(
    slug="autohaus-berger",
    name="Autohaus Berger",
    state="BY",
    color="#1d4ed8",
    letter="B",
    sender_email="verkauf@autohaus-berger.example",
    sender_name="Autohaus Berger Verkauf",
    imprint=(
        "Autohaus Berger GmbH\n"
        "Leopoldstraße 12, 80802 München\n"
        "Amtsgericht München, HRB 000001 · Geschäftsführer: Franz Berger\n"
        "USt-IdNr. DE000000001 · verkauf@autohaus-berger.example · https://autohaus-berger.example"
    ),
    source="demo",
    branches=(("muenchen", "Filiale München"), ("augsburg", "Filiale Augsburg")),
    users=(
        DemoUser("admin@autohaus-berger.local", "Anton Berger", Role.ADMIN, "de"),
        DemoUser("manager@autohaus-berger.local", "Maria Huber", Role.MANAGER, "de"),
        DemoUser("sales.muenchen@autohaus-berger.local", "Sven Maier", Role.SALES, "de", ("muenchen",)),
        DemoUser("sales.augsburg@autohaus-berger.local", "Sarah Wagner", Role.SALES, "en", ("augsburg",)),
    ),
    # Keyless local stack: these agent/number ids only exist in the provider sandbox.
    campaign={
        "provider": "retell",
        "agent_id": "agent_demo_de",
        "from_number": "+4989555000",
        "language": "de",
        "script_variables": {"product": "Probefahrt im Autohaus Berger"},
        "failover_provider": "vapi",
        "failover_agent_id": "assistant_demo",
        "failover_from_number": "phone_number_demo",
    },
    gate_threshold=50,
    calling_hours={"DE": {"days": "mon-sat", "start": "09:00", "end": "19:00"}},
    bland_number="+4989555010",
)

NORD = DemoCompany(
    slug="solar-nord",
    name="Solar Nord",
    state="HH",
    color="#15803d",
    letter="S",
    sender_email="beratung@solar-nord.example",
    sender_name="Solar Nord Beratung",
    imprint=(
        "Solar Nord GmbH & Co. KG\n"
        "Am Sandtorkai 5, 20457 Hamburg\n"
        "Amtsgericht Hamburg, HRA 000002 · Geschäftsführerin: Frauke Hansen\n"
        "USt-IdNr. DE000000002 · beratung@solar-nord.example · https://solar-nord.example"
    ),
    source="solar-nord-web",
    branches=(),
    users=(
        DemoUser("admin@solar-nord.local", "Jens Petersen", Role.ADMIN, "de"),
        DemoUser("manager@solar-nord.local", "Frauke Hansen", Role.MANAGER, "de"),
        DemoUser("sales@solar-nord.local", "Ole Jensen", Role.SALES, "en"),
    ),
    campaign={
        "provider": "vapi",
        "agent_id": "assistant_demo",
        "from_number": "phone_number_demo",
        "language": "de",
        "script_variables": {"product": "Photovoltaik-Beratung von Solar Nord"},
        "failover_provider": "retell",
        "failover_agent_id": "agent_demo_de",
        "failover_from_number": "+4940555000",
    },
    gate_threshold=40,
    calling_hours={"DE": {"days": "mon-fri", "start": "08:00", "end": "18:00"}},
    rules_version="solar-nord-1",
)

COMPANIES = (BERGER, NORD)
# The id Solar Nord gets on a fresh database: the local stack's secrets file names its source's secret
# with it (workers.launcher), before the database can be asked.
EXPECTED_IDS = {BERGER.slug: DEFAULT_COMPANY_ID, NORD.slug: 2}
# What `make up` prints (workers/banner.py): every demo login, the company in the address.
USERS = [(u.email, u.name, u.role, u.language) for c in COMPANIES for u in c.users]


def demo_password(settings: DemoSettings | None = None) -> str:
    """The demo users' password: Settings.demo's (LEADCHAIN_DEMO_PASSWORD), else the well-known one."""
    if settings is None:
        settings = current_app.config["LEADCHAIN"].demo if has_app_context() else DemoSettings()
    return settings.password or DEMO_PASSWORD


def source_secret_name(company: DemoCompany, company_id: int | None = None) -> str:
    """Where the secret of `company`'s demo lead source lives: Berger's is the installation's "demo"
    source (company 1's), Solar Nord's its own source's."""
    if company.source == "demo":
        return secret_names.lead_webhook(company.source)
    return lead_source_secret_name(company_id or EXPECTED_IDS[company.slug], company.source)


def _company_row(spec: DemoCompany) -> tuple[Company, bool]:
    """The company row (inside an operator context): found by slug; Berger takes over an untouched first
    company (migration 0013's "default"), which owns the installation's "demo" source."""
    row = db.session.scalar(sa.select(Company).where(Company.slug == spec.slug))
    if row is not None:
        return row, False
    if spec.slug == BERGER.slug:
        first = db.session.get(Company, DEFAULT_COMPANY_ID)
        if first is not None and first.slug == "default":
            row = first
    if row is None:
        row = Company(slug=spec.slug, name=spec.name)
        db.session.add(row)
    row.slug, row.name, row.state, row.timezone, row.language = spec.slug, spec.name, spec.state, "Europe/Berlin", "de"
    row.brand_color, row.logo_url = spec.color, _logo(spec.color, spec.letter)
    row.sender_email, row.sender_name, row.imprint = spec.sender_email, spec.sender_name, spec.imprint
    db.session.flush()
    return row, True


def _rules_text(version: str) -> str:
    text = rules_path().read_text(encoding="utf-8")
    return text.replace('version: "v1"', f'version: "{version}"', 1)


def _settings(spec: DemoCompany, env_hours: bool) -> int:
    """The company's threshold, hours and rules, each only where it has none stored (an admin's stay)."""
    stored = 0
    if app_settings.stored(app_settings.GATE_THRESHOLD) is None:
        app_settings.set_gate_threshold(spec.gate_threshold, DEMO_ACTOR)
        stored += 1
    hours = app_settings.stored(app_settings.CALLING_HOURS)
    if env_hours:
        # LEADCHAIN_CALLING_HOURS is set (LEADCHAIN_DEMO_ANYTIME sets it): stored hours would win over it, so
        # the demo's own hours step back; an admin's stay.
        if hours is not None and hours.updated_by == DEMO_ACTOR:
            app_settings.reset(app_settings.CALLING_HOURS, DEMO_ACTOR)
    elif hours is None:
        app_settings.set_calling_hours(spec.calling_hours, DEMO_ACTOR)
        stored += 1
    if spec.rules_version and app_settings.stored(app_settings.SCORING_RULES) is None:
        app_settings.set_scoring_rules(_rules_text(spec.rules_version), DEMO_ACTOR)
        stored += 1
    return stored


def _bland_number(spec: DemoCompany, company_id: int) -> int:
    """The company's Bland inbound number, open Monday to Saturday 09:00-19:00, its first sales rep the owner of
    what callers book; 1 when it was made now. Bland is pointed at it once the stack runs (workers.launcher)."""
    if spec.bland_number is None or db.session.scalar(
        sa.select(PhoneNumber.id).where(PhoneNumber.e164 == spec.bland_number)
    ):
        return 0
    owner = db.session.scalar(
        sa.select(User.id).where(User.role == Role.SALES, User.company_id == company_id).order_by(User.id)
    )
    db.session.add(
        PhoneNumber(
            company_id=company_id,
            e164=spec.bland_number,
            provider="bland",
            language="de",
            greeting_name=spec.name,
            default_owner_id=owner,
            business_hours={day: [["09:00", "19:00"]] for day in ("mon", "tue", "wed", "thu", "fri", "sat")},
        )
    )
    return 1


def seed() -> dict[str, int]:
    """Both demo companies with their branches, teams, campaigns, settings and lead sources (idempotent)."""
    password = demo_password()
    if password_problems(password):
        raise ValueError("LEADCHAIN_DEMO_PASSWORD does not meet the password policy (15+ characters, not common)")
    env_hours = bool(current_app.config["LEADCHAIN"].chain.gate.calling_hours) if has_app_context() else False
    summary = {"companies_created": 0, "users_created": 0, "passwords_set": 0, "campaigns_created": 0}
    summary["settings_stored"] = summary["inbound_numbers_created"] = 0
    # Each step below is a unit of work of its own (its transaction takes its scope's database setting on
    # PostgreSQL): whatever the caller has open is committed first, not carried into another company.
    db.session.commit()
    for spec in COMPANIES:
        with unit_of_work(), operator_scope("cli:seed-demo", "create the demo companies"):
            company, created = _company_row(spec)
            company_id = company.id
            branches = {}
            for slug, name in spec.branches:
                branch = db.session.scalar(
                    sa.select(Branch).where(Branch.company_id == company_id, Branch.slug == slug)
                ) or Branch(company_id=company_id, slug=slug, name=name, state=spec.state)
                db.session.add(branch)
                branches[slug] = branch
            if (
                spec.source != "demo"
                and db.session.scalar(sa.select(LeadSource.id).where(LeadSource.slug == spec.source)) is None
            ):
                db.session.add(LeadSource(company_id=company_id, slug=spec.source, name=f"{spec.name} Website"))
            taken = {
                email: found
                for email, found in db.session.execute(
                    sa.select(User.email, User.company_id).where(User.email.in_([u.email for u in spec.users]))
                )
            }
            db.session.commit()
        summary["companies_created"] += created
        if company_id != EXPECTED_IDS[spec.slug]:
            log.warning(
                "demo company %s has id %s, not %s: its lead source's secret is %s",
                spec.slug,
                company_id,
                EXPECTED_IDS[spec.slug],
                source_secret_name(spec, company_id),
            )
        with unit_of_work(company_id):
            for person in spec.users:
                if person.email in taken and taken[person.email] != company_id:
                    log.warning("demo user %s belongs to another company; left as it is", person.email)
                    continue
                user = db.session.scalar(sa.select(User).where(User.email == person.email))
                if user is None:
                    user = User(email=person.email, name=person.name, role=person.role, language=person.language)
                    user.branches = [branches[b] for b in person.branches]
                    db.session.add(user)
                    summary["users_created"] += 1
                if user.password_hash is None:
                    user.password_hash = hasher().hash(password)
                    summary["passwords_set"] += 1
            if db.session.scalar(sa.select(Campaign.id).where(Campaign.name == "demo")) is None:
                db.session.add(Campaign(name="demo", is_default=True, **spec.campaign))
                summary["campaigns_created"] += 1
            summary["settings_stored"] += _settings(spec, env_hours)
            summary["inbound_numbers_created"] += _bland_number(spec, company_id)
            db.session.commit()
    if summary["passwords_set"] and password == DEMO_PASSWORD:
        log.warning("demo users were given the well-known demo sign-in; keep this database for demos only")
    return summary


def demo_leads(company: str | None = None) -> list[dict]:
    """Synthetic sample leads shipped with the package (no real people): `company`'s (a slug), else all."""
    by_company: dict[str, list[dict]] = json.loads(
        (Path(__file__).with_name("demo_leads.json")).read_text(encoding="utf-8")
    )
    if company is not None:
        return list(by_company[company])
    return [lead for leads in by_company.values() for lead in leads]


def company_of_source(source: str) -> DemoCompany:
    """The demo company whose leads go through `source` (an unknown source gets Berger's, company 1's)."""
    return next((c for c in COMPANIES if c.source == source), BERGER)


def post_demo_leads(base_url: str, source: str, secret: str) -> list[dict]:
    """Send the sample leads of the company behind `source` through the real signed webhook path, as a
    lead source would."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    answers = []
    with httpx.Client(base_url=base_url, timeout=10) as client:
        for lead in demo_leads(company_of_source(source).slug):
            body = json.dumps(lead).encode()
            msg_id, ts = f"demo_{uuid.uuid4().hex}", str(int(time.time()))
            signature = base64.b64encode(hmac.new(key, f"{msg_id}.{ts}.".encode() + body, hashlib.sha256).digest())
            r = client.post(
                f"/webhooks/leads/{source}",
                content=body,
                headers={
                    "Content-Type": "application/json",
                    "webhook-id": msg_id,
                    "webhook-timestamp": ts,
                    "webhook-signature": f"v1,{signature.decode()}",
                },
            )
            body = r.json() if r.headers.get("content-type", "").startswith("application/json") else {}
            # The answer's own "status" ("accepted") is kept: the HTTP status has a key of its own.
            answers.append({"http_status": r.status_code, **body})
    return answers


def describe_answer(answer: dict) -> str:
    """One line per posted demo lead (what `leadchain demo` and `make up` print), not the answer's dict."""
    status = answer.get("http_status")
    if status == 202:
        line = f"lead accepted: chain {answer.get('chain_id')}, status {answer.get('status_url')}"
        warnings = answer.get("warnings") or []
        return line + (f" ({len(warnings)} warning(s))" if warnings else "")
    detail = answer.get("detail") or answer.get("title") or answer.get("status") or ""
    return f"lead refused: HTTP {status} {detail}".rstrip()
