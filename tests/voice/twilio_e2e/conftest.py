"""Whole own-agent calls (issue 22) through the real parts: the twilio SDK (the provider's place_call
activity) dials the sandbox's Twilio, whose Media Streams client speaks to the real voice bridge; the bridge
talks to the sandbox's Realtime stand-in through the openai SDK and runs the CRM tools against a real
database; the sandbox's signed status callbacks reach the CRM's /webhooks/twilio/status over HTTP.

One CRM, sandbox and bridge per module and database (SQLite, then PostgreSQL); the bridge serves on an
event loop in a thread of its own."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from crm import create_app
from crm.extensions import db
from crm.models import Role, User
from crm.tenancy.context import company_scope
from crm.tenancy.testing_fallback import CONFIG_KEY as TENANCY_TEST_DEFAULT_COMPANY
from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.openai_realtime import API_KEY as SANDBOX_OPENAI_KEY
from tests.conftest import TEST_COMPANY_ID, _wipe, make_test_secrets, set_settings
from tests.sandbox_fixtures import ServerThread
from tests.voice.twilio.conftest import FROM, Env, in_db, seed_campaign
from tests.voice.twilio.conftest import seed_lead as seed_twilio_lead
from tests.workflows.conftest import always_open_policy
from voice.bridge.config import BridgeConfig
from voice.bridge.server import Bridge, BridgeServer, build_bridge

BERLIN = ZoneInfo("Europe/Berlin")
# The bridge's clock: Monday 18 November 2030, 10:00 in Berlin; "Tuesday after 2 pm" is the 19th from 14:00.
BRIDGE_NOW = datetime(2030, 11, 18, 10, 0, tzinfo=BERLIN)
PATH_SECRET = "e2e-twilio-media-" + uuid.uuid4().hex[:12]


class BridgeThread:
    """The production bridge (build_bridge) served on an asyncio loop in a daemon thread."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True, name="e2e-bridge")
        self.bridge: Bridge | None = None
        self.server: BridgeServer | None = None

    def run(self, coro: Any, timeout: float = 30.0) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    async def _start(self) -> None:
        self.bridge = build_bridge(
            self.app, config=BridgeConfig(port=0, metrics_port=0, shutdown_grace_s=1.0), clock=lambda: BRIDGE_NOW
        )
        self.server = BridgeServer(self.bridge)
        await self.server.start()

    def __enter__(self) -> BridgeThread:
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *exc: object) -> None:
        if self.server is not None:
            self.run(self.server.stop())
        if self.bridge is not None:
            self.bridge.tools_factory.close()
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    @property
    def media_url(self) -> str:
        assert self.server is not None
        return f"{self.server.ws_url}/twilio/media/{PATH_SECRET}"


@dataclass
class Stack:
    app: Any
    env: Env  # the twilio_realtime provider's activity and the sandbox's Twilio (tests/voice/twilio)
    sandbox: Any  # sandbox.context.Sandbox
    bridge: BridgeThread

    def db(self, fn: Any) -> Any:
        with company_scope(TEST_COMPANY_ID):
            return in_db(self.app, fn)


def seed_lead(app: Any, phone: str) -> int:
    """An English-speaking lead with phone consent (the bridge reads the callee's words in the call's
    language)."""
    with company_scope(TEST_COMPANY_ID):
        return seed_twilio_lead(app, phone, first_name="Jane", last_name="Miller", language="en")


def seed_rep(app: Any) -> None:
    """A sales rep working Mon-Fri 09:00-18:00 in Berlin (the slots the bridge offers)."""
    hours = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}

    def add() -> None:
        db.session.add(
            User(
                email="anna@leadchain.example",
                name="Anna Berger",
                role=Role.SALES,
                timezone="Europe/Berlin",
                working_hours=hours,
            )
        )
        db.session.commit()

    with company_scope(TEST_COMPANY_ID):
        in_db(app, add)


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def stack(migrated_urls, request) -> Iterator[Stack]:
    """The module's parts on one database; every test of the module runs on SQLite, then on PostgreSQL."""
    secrets = make_test_secrets(
        LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex,  # a lead posted by webhook gets a chain of its own
        LEADCHAIN_SECRET_BRIDGE_TWILIO_MEDIA_PATH_SECRET=PATH_SECRET,
        LEADCHAIN_SECRET_BRIDGE_REALTIME_API_KEY=SANDBOX_OPENAI_KEY,
    )
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": migrated_urls[request.param],
            TENANCY_TEST_DEFAULT_COMPANY: TEST_COMPANY_ID,
        },
        secrets=secrets,
    )
    _wipe(app)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    with ServerThread(app) as crm:
        sandbox_app = create_sandbox_app(SandboxConfig(webhook_base=crm.url, step_s=0.05, realtime_port=0))
        sandbox = sandbox_app.extensions["sandbox"]
        assert sandbox.realtime is not None
        set_settings(app, "bridge", realtime_url=sandbox.realtime.url)
        with ServerThread(sandbox_app) as box, BridgeThread(app) as bridge:
            box.sandbox = sandbox
            set_settings(
                app,
                "providers",
                sandbox_url=box.url,
                public_url=crm.url,
                twilio_stream_url=bridge.media_url,
                twilio_from_number=FROM,
            )
            with company_scope(TEST_COMPANY_ID):
                seed_campaign(app)
            seed_rep(app)
            try:
                yield Stack(app, Env(app, crm, box), sandbox, bridge)
            finally:
                sandbox.realtime.stop()
    _wipe(app)
