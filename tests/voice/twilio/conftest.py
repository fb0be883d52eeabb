"""The Twilio provider against the sandbox's Twilio over HTTP, with the CRM receiving its signed callbacks
over HTTP (SQLite and PostgreSQL): fixtures and helpers."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from activities.provider_activities import ProviderActivities
from crm.extensions import db
from crm.models import Campaign, Channel, ConsentRecord, Interaction, Lead, LegalBasis, WebhookDelivery
from crm.services import call_outbox
from providers.factory import registry
from providers.twilio_realtime import TwilioRealtimeProvider
from sandbox.twilio_call import END
from tests.activity_env import activity_env
from tests.conftest import set_settings
from tests.sandbox_fixtures import free_port
from tests.workflows.conftest import always_open_policy
from workflows.payloads import PlaceCallInput

FROM = "+4930555000"


def in_db(app, fn):
    with app.app_context():
        try:
            return fn()
        finally:
            db.session.remove()


def number(digit: int) -> str:
    """A German number whose last digit picks the sandbox persona (sandbox.personas.BY_LAST_DIGIT)."""
    return f"+4930{uuid.uuid4().int % 10**6:06d}{digit}"


def seed_lead(app, phone: str, *, first_name: str = "Jürgen", last_name: str = "Weber", language: str = "de") -> int:
    """A lead with phone consent, in the app's current company scope."""

    def add() -> int:
        lead = Lead(
            first_name=first_name,
            last_name=last_name,
            phone_e164=phone,
            phone_region="DE",
            phone_timezone="Europe/Berlin",
            phone_status="valid",
            source="website",
            score=80,
            tags=[],
            language=language,
        )
        db.session.add(lead)
        db.session.flush()
        db.session.add(
            ConsentRecord(
                lead_id=lead.id,
                channel=Channel.PHONE,
                legal_basis=LegalBasis.EXPRESS_CONSENT,
                source="website",
                proof_text="form",
                proof_key=f"k-{lead.id}",
                given_at=datetime.now(UTC) - timedelta(days=1),
            )
        )
        db.session.commit()
        return lead.id

    return in_db(app, add)


def seed_campaign(app, provider: str = "twilio_realtime", failover: str | None = None) -> None:
    def add() -> None:
        db.session.add(
            Campaign(
                name="audio agent",
                provider=provider,
                agent_id="agent_en",
                from_number=FROM,
                is_default=True,
                failover_provider=failover,
                failover_agent_id="agent_fo" if failover else None,
                failover_from_number=FROM if failover else None,
            )
        )
        db.session.commit()

    in_db(app, add)


def the_call(app, call_sid: str) -> Interaction:
    return in_db(
        app,
        lambda: db.session.scalars(
            sa.select(Interaction).where(
                Interaction.provider == "twilio_realtime", Interaction.provider_ref == call_sid
            )
        ).one(),
    )


def deliveries(app) -> int:
    return in_db(
        app,
        lambda: db.session.scalar(
            sa.select(sa.func.count())
            .select_from(WebhookDelivery)
            .where(WebhookDelivery.source == "provider:twilio_realtime")
        ),
    )


class Env:
    def __init__(self, app, crm, box) -> None:
        self.app, self.crm, self.box, self.sandbox = app, crm, box, box.sandbox
        self.registry = registry(app)
        self.acts = ProviderActivities(app, self.registry, None)

    @property
    def provider(self) -> TwilioRealtimeProvider:
        found = in_db(self.app, lambda: self.registry.get("twilio_realtime"))
        assert isinstance(found, TwilioRealtimeProvider)
        return found

    def twilio(self):
        return self.sandbox_api().calls

    def sandbox_api(self):
        # The sandbox's Twilio (sandbox.twilio.TwilioApi) behind its blueprint's views.
        view = self.box.server.app.view_functions["sandbox_twilio.create"]
        return view.__self__

    def place(self, lead_id: int, key: str | None = None, attempt: int = 1):
        key = key or f"chain-{uuid.uuid4().hex[:8]}:call:0:1"
        env = activity_env()
        env.info = env.info.__class__(**{**env.info.__dict__, "attempt": attempt})
        return env.run(self.acts.place_call, PlaceCallInput(lead_id, key.split(":")[0], 1, key)), key

    def wait_ended(self, call_sid: str, timeout_s: float = 10.0) -> None:
        deadline = time.monotonic() + timeout_s
        while self.twilio()[call_sid].status not in END:
            assert time.monotonic() < deadline, "the sandbox call did not end"
            time.sleep(0.02)
        time.sleep(0.05)
        assert self.sandbox.dispatcher.idle(timeout_s=10)

    def results(self):
        return in_db(self.app, call_outbox.results)


@pytest.fixture
def tw(app, crm_server, sandbox):
    # No bridge listens on this port: the media client's connect is refused and the call ends, as a Twilio
    # call whose stream cannot connect does (error 31920). The bridge's own tests run the media path.
    set_settings(
        app,
        "providers",
        sandbox_url=sandbox.url,
        public_url=crm_server.url,
        twilio_stream_url=f"ws://127.0.0.1:{free_port()}/twilio/media/path-secret",
        twilio_from_number=FROM,
    )
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    return Env(app, crm_server, sandbox)
