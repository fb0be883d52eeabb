"""Two companies with inbound numbers on every provider, and the providers' signed inbound requests, written
from the wire formats (docs/providers.md §1.6, §1.7, §2.4 and the providers' inbound docs), not with the product's
verifiers."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from crm.extensions import db
from crm.models import Appointment, Interaction, Lead, PhoneNumber, Role, User
from crm.models.interactions import Direction, InteractionKind
from crm.tenancy.context import company_scope
from tests.voice.provider_hooks import BLAND_SECRET, RETELL_KEY, VAPI_SECRET
from tests.voice.provider_hooks import SECRETS as INSTALLATION_SECRETS

OTHER = {"retell": "key_company_two_retell", "vapi": "company-two-vapi-secret", "bland": "company-two-bland-secret"}
SECRETS = {
    **INSTALLATION_SECRETS,
    "LEADCHAIN_SECRET_COMPANIES_2_PROVIDERS_RETELL_API_KEY": OTHER["retell"],
    "LEADCHAIN_SECRET_COMPANIES_2_PROVIDERS_VAPI_WEBHOOK_SECRET": OTHER["vapi"],
    "LEADCHAIN_SECRET_COMPANIES_2_PROVIDERS_BLAND_WEBHOOK_SECRET": OTHER["bland"],
}
OWN = {"retell": RETELL_KEY, "vapi": VAPI_SECRET, "bland": BLAND_SECRET}
# Company 1's numbers (one per provider) and company 2's Retell number.
NUMBERS = {"retell": "+498912345601", "vapi": "+498912345602", "bland": "+498912345603"}
OTHER_NUMBER = "+494012345601"
AGENTS = {"retell": "agent_c1_inbound", "vapi": "asst_c1_inbound", "bland": None}
# One person known to both companies under the same number, with different names.
KNOWN = "+4930231251000"
OBJECTOR = "+4930231251099"


def compact(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def retell_headers(body: bytes, key: str, ts_ms: int | None = None) -> dict[str, str]:
    ts = str(ts_ms if ts_ms is not None else int(time.time() * 1000))
    digest = hmac.new(key.encode(), body + ts.encode(), hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "X-Retell-Signature": f"v={ts},d={digest}"}


def retell_body(to: str, caller: str | None, call_id: str | None = None) -> bytes:
    inbound: dict[str, Any] = {"agent_id": "agent_bound", "agent_version": 1, "to_number": to}
    if caller is not None:
        inbound["from_number"] = caller
    if call_id is not None:
        inbound["call_id"] = call_id
    return compact({"event": "call_inbound", "event_timestamp": int(time.time() * 1000), "call_inbound": inbound})


def vapi_body(to: str, caller: str | None, call_id: str = "call_uuid_1") -> bytes:
    message: dict[str, Any] = {
        "type": "assistant-request",
        "timestamp": int(time.time() * 1000),
        "call": {"id": call_id, "orgId": "org_uuid", "type": "inboundPhoneCall"},
        "phoneNumber": {"id": "pn_uuid", "number": to},
    }
    if caller is not None:
        message["customer"] = {"number": caller}
    return compact({"message": message})


def vapi_headers(body: bytes, secret: str) -> dict[str, str]:
    ts = str(int(time.time()))
    digest = hmac.new(secret.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
    return {"Content-Type": "application/json", "x-timestamp": ts, "x-signature": digest}


def bland_body(to: str, caller: str | None, call_id: str = "bland-call-1") -> bytes:
    return compact({"from": caller, "to": to, "call_id": call_id})


def post(client: Any, provider: str, body: bytes, secret: str | None = None, **kw: Any) -> Any:
    """A signed inbound request of `provider` to its route (the number's company's secret by default)."""
    secret = secret or OWN[provider]
    if provider == "retell":
        return client.post("/webhooks/retell/inbound", data=body, headers=retell_headers(body, secret, **kw))
    if provider == "vapi":
        return client.post("/webhooks/vapi/assistant-request", data=body, headers=vapi_headers(body, secret))
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {secret}"}
    return client.post("/webhooks/bland/inbound", data=body, headers=headers)


def variables(provider: str, answer: dict[str, Any]) -> dict[str, str]:
    if provider == "retell":
        return answer["call_inbound"]["dynamic_variables"]
    if provider == "vapi":
        return answer["assistantOverrides"]["variableValues"]
    return answer["variables"]


@dataclass
class Seeded:
    company_two: int
    known_lead: int
    objector_lead: int
    other_lead: int


def _number(e164: str, provider: str, agent: str | None, owner_id: int | None) -> PhoneNumber:
    return PhoneNumber(
        e164=e164,
        provider=provider,
        agent_ref=agent,
        language="de",
        greeting_name=None,
        default_owner_id=owner_id,
        business_hours={k: [["00:00", "24:00"]] for k in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")},
        holiday_behaviour="open",
        transfer_e164="+498912345699",
        active=True,
    )


def seed(app: Any, company_two: int) -> Seeded:
    now = datetime.now(UTC)
    with app.app_context():
        with company_scope(1):
            owner = User(email="owner.one@example.test", name="Olga Eins", role=Role.SALES)
            db.session.add(owner)
            db.session.flush()
            for provider, e164 in NUMBERS.items():
                db.session.add(_number(e164, provider, AGENTS[provider], owner.id))
            known = Lead(
                source="web",
                first_name="Dana",
                last_name="Weber",
                company="Acme",
                phone_e164=KNOWN,
                language="en",
                owner_id=owner.id,
                tags=[],
            )
            objector = Lead(
                source="web",
                first_name="Otto",
                last_name="Nein",
                phone_e164=OBJECTOR,
                do_not_contact=True,
                dnc_reason="asked not to be called",
                tags=[],
            )
            db.session.add_all([known, objector])
            db.session.flush()
            db.session.add(
                Appointment(
                    lead_id=known.id,
                    owner_id=owner.id,
                    starts_at=now + timedelta(days=2),
                    ends_at=now + timedelta(days=2, hours=1),
                    title="Probefahrt",
                )
            )
            for i in range(4):
                db.session.add(
                    Interaction(
                        lead_id=known.id,
                        kind=InteractionKind.CALL,
                        direction=Direction.OUTBOUND,
                        summary=f"summary {i}",
                        created_at=now - timedelta(days=4 - i),
                    )
                )
            db.session.commit()
            ids = (known.id, objector.id)
        with company_scope(company_two):
            db.session.add(_number(OTHER_NUMBER, "retell", "agent_c2_inbound", None))
            other = Lead(source="web", first_name="Bertha", last_name="Qz2Marker", phone_e164=KNOWN, tags=[])
            db.session.add(other)
            db.session.commit()
            other_id = other.id
        db.session.remove()
    return Seeded(company_two, ids[0], ids[1], other_id)
