"""Email tests: the CRM over HTTP, the provider sandbox with SendGrid, the real `sendgrid` SDK."""

from __future__ import annotations

import base64
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from activities.provider_activities import ProviderActivities
from crm.email.factory import build_sender
from crm.extensions import db
from crm.models import Appointment, Channel, ConsentRecord, Interaction, InteractionKind, Lead, LegalBasis, User
from crm.services.normalize import normalise_email
from providers.base import ProviderRegistry
from tests.activity_env import activity_env
from tests.conftest import set_settings
from tests.sandbox_fixtures import ServerThread
from workflows.payloads import EmailSent, SendEmailInput


@dataclass
class FakeGateway:
    """Stands in for crm.temporal_gateway.TemporalGateway: records the signals the CRM sends."""

    signals: list[tuple[str, str, object]] = field(default_factory=list)

    def signal(self, chain_id, signal, arg=None):
        # The CRM passes the workflow's signal method (LeadChainWorkflow.stop); recorded by its name.
        self.signals.append((chain_id, signal.__name__, arg))


class FastServerThread(ServerThread):
    """tests/sandbox_fixtures.ServerThread, stopping in ~50 ms instead of serve_forever's 0.5 s poll."""

    def __init__(self, app, port=None) -> None:
        super().__init__(app, port)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)


@pytest.fixture
def crm_server(app):
    with FastServerThread(app) as server:
        yield server


@pytest.fixture
def sandbox(crm_server):
    from sandbox.app import SandboxConfig, create_sandbox_app

    sandbox_app = create_sandbox_app(SandboxConfig(webhook_base=crm_server.url, step_s=0.05))
    with FastServerThread(sandbox_app) as server:
        server.sandbox = sandbox_app.extensions["sandbox"]
        yield server


def with_unsubscribe(app):
    """The unsubscribe pages on the app (until crm.create_app registers crm.email.unsubscribe.bp)."""
    from crm.email.unsubscribe import bp

    if bp.name not in app.blueprints:
        app.register_blueprint(bp)
    return app


@pytest.fixture
def app(app):
    return with_unsubscribe(app)


@pytest.fixture
def mail(app, crm_server, sandbox):
    """The CRM (app over HTTP), the sandbox posting SendGrid events to it, a sender built by the
    factory (keyless: the sandbox), the provider activities with that sender, a recording gateway."""
    set_settings(app, "providers", sandbox_url=sandbox.url)
    set_settings(app, "email", public_url=crm_server.url)
    gateway = FakeGateway()
    app.extensions["leadchain.temporal"] = gateway
    sender = build_sender(app)
    return SimpleNamespace(
        app=app,
        sender=sender,
        sandbox=sandbox.sandbox,
        box=sandbox.sandbox.sendgrid,
        crm=crm_server,
        gateway=gateway,
        sandbox_url=sandbox.url,
        acts=ProviderActivities(app, ProviderRegistry({}), sender),
    )


def make_owner(app, email="olga.owner@leadchain.example", name="Olga Owner") -> int:
    with app.app_context():
        user = User(email=email, name=name, language="de", timezone="Europe/Berlin")
        db.session.add(user)
        db.session.commit()
        return user.id


def make_lead(
    app,
    email: str,
    *,
    language="de",
    first_name="Jürgen",
    last_name="Weber",
    company="Krause GmbH",
    owner_id=None,
    chain_id=None,
    email_consent=True,
) -> int:
    with app.app_context():
        address, key = normalise_email(email)
        lead = Lead(
            first_name=first_name,
            last_name=last_name,
            company=company,
            email=address,
            email_key=key,
            email_status="unknown",
            language=language,
            source="test",
            owner_id=owner_id,
            chain_id=chain_id,
            tags=[],
        )
        db.session.add(lead)
        db.session.flush()
        if email_consent:
            db.session.add(
                ConsentRecord(
                    lead_id=lead.id,
                    channel=Channel.EMAIL,
                    legal_basis=LegalBasis.EXPRESS_CONSENT,
                    source="test",
                    proof_text="newsletter box ticked",
                    proof_key=f"test-{lead.id}",
                    given_at=datetime.now(UTC) - timedelta(days=1),
                )
            )
        db.session.commit()
        return lead.id


def make_appointment(app, lead_id: int, owner_id: int, starts_utc: datetime, minutes=30) -> int:
    with app.app_context():
        appt = Appointment(
            lead_id=lead_id,
            owner_id=owner_id,
            starts_at=starts_utc,
            ends_at=starts_utc + timedelta(minutes=minutes),
            title="",
            location="Videocall",
            idempotency_key=f"test-appt-{lead_id}",
        )
        db.session.add(appt)
        db.session.commit()
        return appt.id


def send(
    acts, lead_id: int, template: str, step: int = 0, key: str | None = None, chain_id: str = "chain-test"
) -> EmailSent:
    key = key or f"{chain_id}:email:{template}:0:{step}:{lead_id}"
    return activity_env().run(acts.send_email, SendEmailInput(lead_id, chain_id, template, step, key))


def settle(mail, timeout=20.0) -> None:
    assert mail.sandbox.dispatcher.idle(timeout), "the sandbox's webhooks did not finish"


def email_interactions(app, lead_id: int, direction="outbound") -> list[Interaction]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                sa.select(Interaction)
                .where(
                    Interaction.lead_id == lead_id,
                    Interaction.kind == InteractionKind.EMAIL,
                    Interaction.direction == direction,
                )
                .order_by(Interaction.id)
            )
        )
        db.session.expunge_all()
        return rows


def lead_row(app, lead_id: int) -> Lead:
    with app.app_context():
        lead = db.session.get(Lead, lead_id)
        db.session.expunge(lead)
        return lead


class Signer:
    """A SendGrid-like signer whose public key the CRM's secrets hold (tests without the sandbox)."""

    def __init__(self) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.public_b64 = base64.b64encode(
            self.key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).decode()

    def headers(self, body: bytes, ts: int | None = None) -> dict[str, str]:
        ts_s = str(int(time.time()) if ts is None else ts)
        sig = self.key.sign(ts_s.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(sig).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts_s,
            "Content-Type": "application/json",
        }

    def post(self, client, events, **kw):
        body = json.dumps(events).encode()
        return client.post("/webhooks/sendgrid", data=body, headers=self.headers(body, **kw))


def multipart(fields: dict[str, str]) -> tuple[bytes, str]:
    boundary = "xYzZY" + uuid.uuid4().hex
    body = (
        b"".join(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
            for k, v in fields.items()
        )
        + f"--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


# ---- the real chain (Temporal dev server, workers, PostgreSQL) with the SendGrid sender ------------


@pytest.fixture
async def mail_chain(temporal_env, migrated_urls, request):
    """tests/workflows' ChainHarness, its email sender replaced by SendGridSender against a live
    sandbox, and the CRM served over HTTP (the sandbox posts events, replies and one-click
    unsubscribes to it; the CRM signals the chain through its real Temporal gateway)."""
    import dataclasses

    from crm import create_app
    from crm.config import Settings
    from crm.email.sendgrid_sender import SendGridSender
    from sandbox.app import SandboxConfig, create_sandbox_app
    from tests.conftest import _wipe, make_test_secrets
    from tests.workflows.conftest import FAST, ChainHarness, always_open_policy

    settings = getattr(request, "param", dataclasses.replace(FAST, nurture_delays_s=[0, 30, 30], max_nurture_cycles=1))
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"],
        },
        secrets=make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex),
        gate_policy=always_open_policy(),
        settings=Settings(temporal_address=temporal_env.client.service_client.config.target_host),
    )
    with_unsubscribe(app)
    _wipe(app)
    sandbox_app = create_sandbox_app(SandboxConfig(step_s=0.05))
    sbx_state = sandbox_app.extensions["sandbox"]
    with FastServerThread(app) as crm, FastServerThread(sandbox_app) as sbx:
        sbx_state.config.webhook_base = crm.url
        set_settings(app, "providers", sandbox_url=sbx.url)
        set_settings(app, "email", public_url=crm.url)
        harness = ChainHarness(app, temporal_env.client, settings)
        harness.email = SendGridSender(api_key="SG.sandbox-key", host=f"{sbx.url}/sendgrid", app=app)
        harness.box, harness.sandbox = sbx_state.sendgrid, sbx_state
        await harness.start()
        try:
            yield harness
        finally:
            await harness.stop()
    _wipe(app)
