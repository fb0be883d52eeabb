"""Which company an incoming request belongs to (docs/tenancy.md rule 2): found from the credential or the
record it names, never from a company id the sender wrote.

Every look-up here reads platform rows (api_keys, lead_sources, provider_routes) or a record's company
across companies, so it runs in a short operator context (`platform_lookup`) whose transaction is closed
before the caller binds the company: PostgreSQL's row-level security setting is taken per transaction
(crm.tenancy.rls), and the request's own work must not run in the routing transaction.

The installation's company (DEFAULT_COMPANY_ID, migration 0013's first company) keeps what the installation
had before companies existed: the API keys in the secrets store's api/keys, the lead sources with a secret
at webhooks/leads-<source>, and the providers' webhook secrets; they all act for company 1."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Interaction, Lead, PhoneNumber, SideEffect
from crm.models.api_keys import ApiKey
from crm.models.companies import Company
from crm.models.lead_sources import LeadSource
from crm.models.provider_routes import ProviderRoute
from crm.models.types import utcnow
from crm.tenancy.context import operator_scope

DEFAULT_COMPANY_ID = 1
ROUTING_OPERATOR = "routing"


def lead_source_secret_name(company_id: int, slug: str) -> str:
    """The Standard Webhooks secrets (space-separated during a rotation) of a company's lead source."""
    return f"companies/{company_id}/lead-sources/{slug}"


def provider_secret_name(company_id: int, provider: str) -> str:
    """The secret a company's provider account signs its webhooks with (Retell signs with the API key)."""
    key = "api-key" if provider == "retell" else "webhook-secret"
    return f"companies/{company_id}/providers/{provider}/{key}"


@contextmanager
def platform_lookup(reason: str) -> Iterator[None]:
    """A short operator context for routing; its transaction ends with it, so read plain values (ids),
    not ORM objects, out of it."""
    if db.session.new or db.session.dirty or db.session.deleted:
        # The rollback below would drop them: a look-up belongs before the request's own work.
        raise RuntimeError("a routing look-up with unflushed changes in the session")
    with operator_scope(ROUTING_OPERATOR, reason):
        try:
            yield
        finally:
            db.session.rollback()


def _active(company_id: int) -> Any:
    return sa.select(Company.id).where(Company.id == company_id, Company.active.is_(True)).exists()


def company_is_active(company_id: int) -> bool:
    with platform_lookup("company active"):
        return bool(db.session.scalar(sa.select(_active(company_id))))


def company_of_lead(lead_id: int) -> int | None:
    """The company of a lead a verified token names (an unsubscribe link, a reply address)."""
    with platform_lookup("lead of a signed token"):
        return db.session.scalar(sa.select(Lead.company_id).where(Lead.id == lead_id))


# ---- API keys ----------------------------------------------------------------------------------------


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class ApiKeyMatch:
    company_id: int
    key_id: int
    name: str
    scopes: frozenset[str]


# last_used_at is written at most this often per key: a write per request would cost the intake.
LAST_USED_RESOLUTION = timedelta(seconds=60)


def company_of_api_key(presented: str) -> ApiKeyMatch | None:
    """The live key with this value (not revoked, not expired), of an active company; notes its use. Looked
    up by the hash's unique index: the hash of a 256-bit random key reveals nothing through the timing."""
    now = utcnow()
    with platform_lookup("api key"):
        row = db.session.execute(
            sa.select(ApiKey.id, ApiKey.company_id, ApiKey.name, ApiKey.scopes, ApiKey.last_used_at)
            .join(Company, Company.id == ApiKey.company_id)
            .where(
                ApiKey.key_sha256 == key_digest(presented),
                ApiKey.revoked_at.is_(None),
                sa.or_(ApiKey.expires_at.is_(None), ApiKey.expires_at > now),
                Company.active.is_(True),
            )
        ).first()
        if row is None:
            return None
        if row.last_used_at is None or now - row.last_used_at >= LAST_USED_RESOLUTION:
            db.session.execute(sa.update(ApiKey).where(ApiKey.id == row.id).values(last_used_at=now))
            db.session.commit()
        return ApiKeyMatch(row.company_id, row.id, row.name, frozenset(row.scopes.split()))


# ---- lead sources ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SourceMatch:
    company_id: int
    branch_id: int | None
    # the secret's name in the secrets store; None: the installation's webhooks/leads-<source> (company 1)
    secret_name: str


def lead_source(slug: str) -> SourceMatch | None:
    """The active source `slug` of an active company, or None."""
    with platform_lookup("lead source"):
        row = db.session.execute(
            sa.select(LeadSource.company_id, LeadSource.branch_id)
            .join(Company, Company.id == LeadSource.company_id)
            .where(LeadSource.slug == slug, LeadSource.active.is_(True), Company.active.is_(True))
        ).first()
    if row is None:
        return None
    return SourceMatch(row.company_id, row.branch_id, lead_source_secret_name(row.company_id, slug))


# ---- provider events ---------------------------------------------------------------------------------


@dataclass
class ProviderHints:
    """What an (unverified) provider body says about its call: only used to choose whose secret verifies
    it. A forged hint gains nothing: the body must then carry that company's signature."""

    call_id: str | None = None
    lead_id: int | None = None
    agents: list[str] = field(default_factory=list)
    numbers: list[str] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)


def storable(value: Any) -> bool:
    """No NUL and no lone surrogate in any string: PostgreSQL refuses both in text and JSON (a 500 when a
    value naming one is looked up or stored). No provider sends either; a value carrying one names nothing."""
    if isinstance(value, str):
        return _utf8(value)
    if isinstance(value, dict):
        return all(storable(k) and storable(v) for k, v in value.items())
    if isinstance(value, list):
        return all(storable(v) for v in value)
    return True


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _texts(*values: Any) -> list[str]:
    return [v for v in values if isinstance(v, str) and 0 < len(v) <= 200]


def _lead_id(meta: dict[str, Any]) -> int | None:
    value = meta.get("lead_id")
    if isinstance(value, str) and value.isascii() and value.isdigit() and len(value) <= 10:
        value = int(value)
    if isinstance(value, int) and not isinstance(value, bool) and 0 < value < 2**31:
        return value
    return None


def provider_hints(provider: str, body: bytes) -> ProviderHints:
    """Read the routing hints of a provider's body (docs/providers.md §1.5, §2.3, §3.5); an unreadable body
    has none (its parser answers for it once the signature is checked)."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return ProviderHints()
    payload = _obj(payload)
    if provider == "retell":
        call = _obj(payload.get("call"))
        meta = _obj(call.get("metadata"))
        call_id, agents, numbers = (
            call.get("call_id"),
            _texts(call.get("agent_id")),
            _texts(call.get("from_number"), call.get("to_number")),
        )
    elif provider == "vapi":
        call = _obj(_obj(payload.get("message")).get("call"))
        meta = {
            **_obj(call.get("metadata")),
            **_obj(_obj(call.get("assistant")).get("metadata")),
            **_obj(_obj(call.get("assistantOverrides")).get("metadata")),
        }
        call_id = call.get("id")
        agents = _texts(call.get("assistantId"), call.get("phoneNumberId"))
        numbers = _texts(_obj(call.get("phoneNumber")).get("number"), _obj(call.get("customer")).get("number"))
    else:  # bland: the flat call-details object
        meta = _obj(payload.get("metadata"))
        call_id = payload.get("call_id")
        agents = _texts(payload.get("pathway_id"))
        numbers = _texts(payload.get("from"), payload.get("to"))
    return ProviderHints(
        call_id=call_id if isinstance(call_id, str) and 0 < len(call_id) <= 200 else None,
        lead_id=_lead_id(meta),
        agents=agents,
        numbers=numbers,
        routes=_texts(meta.get("route")),
    )


def company_of_provider_event(provider: str, hints: ProviderHints) -> int | None:
    """The company of the call the event is about: the call record we hold (provider call id → interaction,
    else the dial's side effect), else the lead our metadata names, else the provider_routes of its agent,
    number or route value, else the company whose inbound number (phone_numbers) it called or came from.
    None: it routes nowhere."""
    # Hints come from an unverified body: one PostgreSQL cannot hold names no record or route (the lookup
    # itself would fail, a 500), so it is dropped and the event answers as an unknown call.
    call_id = hints.call_id if hints.call_id and storable(hints.call_id) else None
    agents, numbers, routes = (
        [v for v in values if storable(v)] for values in (hints.agents, hints.numbers, hints.routes)
    )
    with platform_lookup(f"route {provider} event"):
        found: int | None = None
        if call_id:
            found = db.session.scalar(
                sa.select(Interaction.company_id).where(
                    Interaction.provider == provider, Interaction.provider_ref == call_id
                )
            )
        if found is None and call_id:
            # Placed by us but no event recorded yet: the ledger entry of the dial names the call.
            found = db.session.scalar(
                sa.select(SideEffect.company_id)
                .where(SideEffect.kind == "call", SideEffect.provider == provider, SideEffect.provider_ref == call_id)
                .limit(1)
            )
        if found is None and hints.lead_id is not None:
            found = db.session.scalar(sa.select(Lead.company_id).where(Lead.id == hints.lead_id))
        for kind, values in (("agent", agents), ("phone_number", numbers), ("metadata", routes)):
            if found is not None or not values:
                continue
            found = db.session.scalar(
                sa.select(ProviderRoute.company_id)
                .where(ProviderRoute.provider == provider, ProviderRoute.kind == kind, ProviderRoute.value.in_(values))
                .order_by(ProviderRoute.id)
                .limit(1)
            )
        if found is None and numbers:
            # An inbound call to one of a company's numbers (phone_numbers, unique across the platform).
            found = db.session.scalar(
                sa.select(PhoneNumber.company_id)
                .where(PhoneNumber.provider == provider, PhoneNumber.e164.in_(numbers))
                .order_by(PhoneNumber.id)
                .limit(1)
            )
        if found is None:
            return None
        active = db.session.scalar(sa.select(Company.active).where(Company.id == found))
        return found if active else None
