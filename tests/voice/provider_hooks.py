"""Test support for the provider webhooks: an app with every provider's verification secret in its secrets
store, the documented payloads of tests/data/providers/, and correct signatures for each provider, all
written from docs/providers.md (§1.6, §2.4, §3.6), not with the product's own verifiers."""

from __future__ import annotations

import copy
import hashlib
import hmac
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from crm import create_app
from crm.extensions import db
from crm.models import Channel, ConsentRecord, Interaction, Lead, LegalBasis, UnparseablePayload, WebhookDelivery
from tests.conftest import _wipe, make_test_secrets
from tests.helpers import in_app

DATA = Path(__file__).resolve().parent.parent / "data" / "providers"
RETELL_KEY = "key_test_retell_webhooks"
VAPI_SECRET = "vapi-test-server-secret"
BLAND_SECRET = "bland-test-signing-secret"
SECRETS = {
    "LEADCHAIN_SECRET_PROVIDERS_RETELL_API_KEY": RETELL_KEY,
    "LEADCHAIN_SECRET_PROVIDERS_VAPI_WEBHOOK_SECRET": VAPI_SECRET,
    "LEADCHAIN_SECRET_PROVIDERS_BLAND_WEBHOOK_SECRET": BLAND_SECRET,
}


def fixture(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((DATA / name).read_text(encoding="utf-8"))
    return loaded


def compact(payload: Any) -> bytes:
    """As the providers send it: compact JSON (docs/providers.md §1.6)."""
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()


def sign(provider: str, body: bytes) -> dict[str, str]:
    if provider == "retell":
        ts = str(int(time.time() * 1000))
        digest = hmac.new(RETELL_KEY.encode(), body + ts.encode(), hashlib.sha256).hexdigest()
        return {"X-Retell-Signature": f"v={ts},d={digest}"}
    if provider == "vapi":
        ts = str(int(time.time()))
        digest = hmac.new(VAPI_SECRET.encode(), ts.encode() + b"." + body, hashlib.sha256).hexdigest()
        return {"x-timestamp": ts, "x-signature": digest}
    return {"X-Webhook-Signature": hmac.new(BLAND_SECRET.encode(), body, hashlib.sha256).hexdigest()}


def post(client: Any, provider: str, body: bytes, content_type: str = "application/json") -> Any:
    headers = {"Content-Type": content_type, **sign(provider, body)}
    return client.post(f"/webhooks/{provider}", data=body, headers=headers)


@pytest.fixture
def hooks_app(backend: str, migrated_urls: dict[str, str]) -> Any:
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[backend]}, secrets=make_test_secrets(**SECRETS)
    )
    _wipe(app)
    yield app
    with app.app_context():
        db.session.remove()
    _wipe(app)


def seed_lead(app: Any) -> int:
    def seed() -> int:
        lead = Lead(
            source="test",
            first_name="Dana",
            last_name="Weber",
            company="Acme",
            phone_e164="+4930231251000",
            phone_region="DE",
            phone_timezone="Europe/Berlin",
            phone_status="valid",
            tags=[],
            score=80,
            language="de",
        )
        db.session.add(lead)
        db.session.flush()
        db.session.add(
            ConsentRecord(
                lead_id=lead.id,
                channel=Channel.PHONE,
                legal_basis=LegalBasis.EXPRESS_CONSENT,
                source="test",
                proof_text="web form",
                proof_key=f"k{lead.id}",
                given_at=datetime.now(UTC) - timedelta(days=1),
            )
        )
        db.session.commit()
        return lead.id

    found: int = in_app(app, seed)
    return found


def ours(provider: str, payload: dict[str, Any], lead_id: int, call_id: str) -> dict[str, Any]:
    """A documented payload made about one of our calls: our lead id in its metadata, a call id of our
    choosing (no chain id: no workflow is told in these tests)."""
    payload = copy.deepcopy(payload)
    if provider == "retell":
        payload["call"]["call_id"] = call_id
        payload["call"]["metadata"] = {"lead_id": str(lead_id)}
    elif provider == "vapi":
        call = payload["message"]["call"]
        call["id"] = call_id
        call["assistantOverrides"] = {"metadata": {"lead_id": str(lead_id)}}
    else:
        payload["call_id"] = payload["c_id"] = call_id
        payload["metadata"] = {"lead_id": str(lead_id)}
    return payload


def counts(app: Any) -> dict[str, int]:
    def count() -> dict[str, int]:
        return {
            table.__tablename__: db.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0
            for table in (Interaction, WebhookDelivery, UnparseablePayload)
        }

    found: dict[str, int] = in_app(app, count)
    return found


def call_row(app: Any, provider: str, call_id: str) -> Interaction:
    found: Interaction = in_app(
        app,
        lambda: db.session.scalars(
            sa.select(Interaction).where(Interaction.provider == provider, Interaction.provider_ref == call_id)
        ).one(),
    )
    return found
