"""End to end: a lead's chain (real Temporal dev server, real workers, PostgreSQL) calls through the real Retell
adapter into the provider sandbox, whose call talks to the running voice bridge over the Custom LLM WebSocket;
the bridge runs the rules policy and books in the CRM; the sandbox's webhooks then reach the CRM and the chain.

* "books" persona (number ends in 0): "Gerne, nächsten Donnerstag ab 16 Uhr." ends with an appointment on
  Thursday of next week at 16:00 or later, inside the rep's working hours, and one confirmation with the .ics;
* "do_not_call" persona (ends in 3): "Rufen Sie mich nie wieder an!" ends do-not-contact, with no second call;
* a sandbox call whose line drops mid-answer reconnects and goes on (this one without the chain).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import httpx
import pytest
import sqlalchemy as sa

from activities.provider_activities import ProviderActivities
from crm import create_app
from crm.config import Settings
from crm.email.factory import build_sender
from crm.extensions import db
from crm.models import Appointment, AuditEntry, Interaction, InteractionKind, Lead, LeadStatus, Role, User
from providers.factory import registry
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.conftest import _wipe, make_test_secrets, set_settings
from tests.sandbox_fixtures import ServerThread
from tests.voice.content_timing import CONTENT_TIMING
from tests.workflows.conftest import FAST, ChainHarness, always_open_policy
from tests.workflows.test_lead_chain import HOT
from voice.bridge.config import BridgeConfig
from voice.bridge.dialog.factory import policy_from_env
from voice.bridge.server import BridgeServer, build_bridge
from workers import chain as chain_mod
from workers.relay import Relay

BERLIN = ZoneInfo("Europe/Berlin")
# The bridge's clock: Monday 18 November 2030, 10:00. "Nächsten Donnerstag" is then 28 November (no holiday).
BRIDGE_NOW = datetime(2030, 11, 18, 10, 0, tzinfo=BERLIN)
NEXT_WEEK_THURSDAY = datetime(2030, 11, 28).date()
PATH_SECRET = "e2e-path-secret-" + uuid.uuid4().hex[:12]


class LiveChain(ChainHarness):
    """The chain harness with the real provider registry (the sandbox) and the real SendGrid sender."""

    async def start(self) -> LiveChain:
        from concurrent.futures import ThreadPoolExecutor

        from crm.models import Campaign

        self.executor = ThreadPoolExecutor(max_workers=8)
        acts = ProviderActivities(self.app, registry(self.app), build_sender(self.app))
        self.db(
            lambda: (
                db.session.add(
                    Campaign(
                        name="default",
                        provider="retell",
                        agent_id="agent_bridge",
                        from_number="+4930555000",
                        is_default=True,
                    )
                ),
                db.session.commit(),
            )
        )
        workers = [
            chain_mod.chain_worker(self.client, self.app, self.executor, task_queue=self.chain_queue),
            chain_mod.provider_worker(self.client, acts, self.executor, task_queue=self.provider_queue),
        ]
        relay = Relay(self.app, self.client, self.settings, poll_s=0.1, task_queue=self.chain_queue)
        self.deliver_webhooks = False  # results come from the sandbox's webhooks, not the fake provider
        self._tasks = [asyncio.create_task(chain_mod.worker_runner(w)(self._stop)) for w in workers]
        self._tasks.append(asyncio.create_task(relay.run(self._stop)))
        return self


@pytest.fixture
async def live(temporal_env, migrated_urls):
    target = temporal_env.client.service_client.config.target_host
    secrets = make_test_secrets(
        LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex, LEADCHAIN_SECRET_BRIDGE_RETELL_PATH_SECRET=PATH_SECRET
    )
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"],
        },
        secrets=secrets,
        gate_policy=always_open_policy(),
        settings=Settings(temporal_address=target),
    )
    _wipe(app)
    with app.app_context():
        # Working hours Mon-Fri 09-18, so "ab 16 Uhr" has room on Thursday.
        hours = {day: [["09:00", "18:00"]] for day in ("mon", "tue", "wed", "thu", "fri")}
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
        db.session.remove()
    bridge = build_bridge(
        app,
        temporal_client=temporal_env.client,
        policy=policy_from_env({}),
        config=BridgeConfig(port=0, metrics_port=0, **CONTENT_TIMING),
        clock=lambda: BRIDGE_NOW,
    )
    server = BridgeServer(bridge)
    await server.start()
    with ServerThread(app) as crm_http:
        sandbox_app = create_sandbox_app(
            SandboxConfig(
                webhook_base=crm_http.url,
                step_s=0.05,
                retell_llm_websocket_url=f"{server.ws_url}/llm-websocket/{PATH_SECRET}",
            )
        )
        with ServerThread(sandbox_app) as sandbox:
            set_settings(app, "providers", sandbox_url=sandbox.url)
            harness = await LiveChain(app, temporal_env.client, FAST).start()
            harness.sandbox = sandbox_app.extensions["sandbox"]
            harness.sandbox_url = sandbox.url
            harness.bridge = bridge
            try:
                yield harness
            finally:
                await harness.stop()
                await server.stop()
                bridge.tools_factory.close()
    _wipe(app)


def retell_call(harness) -> object:
    calls = harness.sandbox.state.list("retell")
    assert len(calls) == 1, f"{len(calls)} Retell calls"
    extra = calls[0].extra
    assert "llm_error" not in extra, extra.get("llm_error")
    return calls[0]


async def test_a_caller_who_wants_next_thursday_after_4_is_booked_and_confirmed(live):
    chain_id = live.post_lead({**HOT, "phone": "+49 30 23125190"})["chain_id"]  # ends in 0: the "books" persona
    outcome = await live.outcome(chain_id, timeout=60)
    call = retell_call(live)
    spoken = call.extra["live_transcript"]
    assert ("callee", "Gerne, nächsten Donnerstag ab 16 Uhr.") in spoken
    assert outcome.stage == "booked", spoken

    def crm():
        [appointment] = db.session.scalars(sa.select(Appointment)).all()
        lead = db.session.get(Lead, outcome.lead_id)
        interaction = db.session.scalars(sa.select(Interaction).where(Interaction.kind == InteractionKind.CALL)).one()
        return appointment, lead, interaction

    appointment, lead, interaction = live.db(crm)
    start, end = appointment.starts_at.astimezone(BERLIN), appointment.ends_at.astimezone(BERLIN)
    assert start.date() == NEXT_WEEK_THURSDAY and start.time() >= time(16, 0), start
    assert end.time() <= time(18, 0) and end - start == timedelta(minutes=30)
    assert appointment.lead_id == lead.id and lead.status == LeadStatus.BOOKED
    assert appointment.idempotency_key.startswith(f"{call.call_id}:")  # the bridge booked it, during the call
    assert interaction.provider_ref == call.call_id and interaction.outcome == "booked"
    # The agent named the booked slot; the tool calls were recorded in the call's transcript.
    record = call.extra["llm_record"]
    tools = [t for t in record["transcript_with_tool_calls"] if t["role"].startswith("tool_call")]
    assert any(t["role"] == "tool_call_result" and t.get("successful") for t in tools)
    # Exactly one confirmation, with the invite.
    mails = live.sandbox.sendgrid.messages(lead_id=str(lead.id))
    confirmations = [m for m in mails if "booking_confirmation" in m.categories]
    assert len(confirmations) == 1, [m.categories for m in mails]
    [invite] = [a for a in confirmations[0].attachments if a["filename"].endswith(".ics")]
    assert invite["type"] == "text/calendar" and "BEGIN:VEVENT" in invite["content"]
    [dtstart] = re.findall(r"^DTSTART[^:\r\n]*:(\d{8}T\d{6}Z?)\r?$", invite["content"], re.MULTILINE)[-1:]
    wanted = start.astimezone(ZoneInfo("UTC")) if dtstart.endswith("Z") else start
    assert dtstart.rstrip("Z") == wanted.strftime("%Y%m%dT%H%M%S")  # the booked slot, not another
    # The bridge told the chain during the call (signal call_booking), not only the post-call webhook.
    history = await live.handle(chain_id).fetch_history()
    signals = [
        e.workflow_execution_signaled_event_attributes.signal_name
        for e in history.events
        if e.HasField("workflow_execution_signaled_event_attributes")
    ]
    assert "call_booking" in signals, signals
    # The bridge measured its turns.
    assert live.bridge.metrics.turn_seconds.labels("retell")._sum.get() > 0


async def test_a_caller_who_says_never_call_again_is_do_not_contact(live):
    chain_id = live.post_lead({**HOT, "phone": "+49 30 23125193"})["chain_id"]  # ends in 3: "do_not_call"
    outcome = await live.outcome(chain_id, timeout=60)
    call = retell_call(live)
    assert ("callee", "Rufen Sie mich nie wieder an!") in call.extra["live_transcript"]
    agent_lines = [t for who, t in call.extra["live_transcript"] if who == "agent"]
    assert len(agent_lines) == 2  # the introduction and the apology: the call ended right there

    def crm():
        lead = db.session.get(Lead, outcome.lead_id)
        by_bridge = db.session.scalars(
            sa.select(AuditEntry).where(
                AuditEntry.action == "lead.do_not_contact", AuditEntry.actor == f"voice-bridge:{call.call_id}"
            )
        ).all()
        return lead, by_bridge

    lead, by_bridge = live.db(crm)
    assert lead.do_not_contact and lead.status == LeadStatus.DO_NOT_CONTACT
    assert len(by_bridge) == 1, "the bridge did not record the objection during the call"
    assert outcome.stage in ("do_not_contact", "closed", "ended"), outcome
    await asyncio.sleep(1.0)
    async with httpx.AsyncClient() as client:
        stats = (await client.get(f"{live.sandbox_url}/sandbox/stats")).json()
    assert stats["created"].get("retell", 0) == 1  # no further call


@pytest.mark.parametrize("backend", ["sqlite"])  # the CRM only receives the sandbox's webhooks here
async def test_a_sandbox_call_survives_a_dropped_line_and_keeps_the_line_alive(
    app, crm_server, start_bridge, monkeypatch
):
    """The sandbox drops the WebSocket in the middle of the answer to the callee's second line and
    reconnects with the same call id: the bridge continues the call (no second introduction, answers
    computed from the transcript, the replayed booking booked once) and answers the sandbox's ping_pong
    keepalive throughout."""
    from providers.base import CallRequest
    from providers.retell import RetellProvider
    from sandbox import retell_llm
    from tests.voice.bridge.conftest import RETELL_SECRETS, ScriptPolicy

    monkeypatch.setattr(retell_llm, "PING_INTERVAL_S", 0.05)
    bridge = await start_bridge(policy=ScriptPolicy(chunk_delay_s=0.05))
    sandbox_app = create_sandbox_app(
        SandboxConfig(
            webhook_base=crm_server.url,
            step_s=0.05,
            retell_llm_drop_after=2,
            retell_llm_websocket_url=f"{bridge.server.ws_url}/llm-websocket/{RETELL_SECRETS[0]}",
        )
    )
    with ServerThread(sandbox_app) as sandbox:
        provider = RetellProvider(api_key="key_sandbox_retell", base_url=f"{sandbox.url}/retell")
        call = await asyncio.to_thread(
            provider.place_call,
            CallRequest(
                lead_id=1,
                chain_id="lead-x",
                idempotency_key="k-drop",
                to_number="+493023125190",
                language="de",
                agent_id="agent_llm",
                from_number="+4930555000",
            ),
        )
        extra = sandbox_app.extensions["sandbox"].state.get("retell", call.call_id).extra
        for _ in range(300):
            if "live_transcript" in extra or "llm_error" in extra:
                break
            await asyncio.sleep(0.05)
    assert "llm_error" not in extra, extra.get("llm_error")
    record, live = extra["llm_record"], extra["live_transcript"]
    assert record["reconnects"] == 1 and record["ping_pongs_answered"] > 0
    agent = [text for who, text in live if who == "agent"]
    callee = [text for who, text in live if who == "callee"]
    assert sum(text.startswith("Hallo") for text in agent) == 1  # introduced once
    assert len(agent) == len(callee) + 1  # every line answered once
    # The dropped turn ("... Terminvergabe ...": the script policy books) was asked again after the reconnect:
    # the replay found its booking, so exactly one exists; the next answer counts from the transcript.
    assert "termin" in callee[1].lower() and agent[2] == "Termin already_booked."
    assert len(bridge.backend.bookings) == 1
    assert agent[3] == f"Sie sagten: {callee[2]}. Das war Ihre 3. Antwort."
    assert [c for c, _, _ in bridge.backend.lookups] == [call.call_id, call.call_id]
