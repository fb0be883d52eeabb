"""A Bland inbound call reaches the caller's chain as a Retell or Vapi inbound call does (docs/inbound.md sec. 7):
a booking made with the BookAppointment tool is signalled `call_booking` (ids only) once, a retried tool
request signals nothing more, a move signals nothing (as on the bridge), and an unknown caller who becomes a
lead enters a chain of its own through the inbox. The real parts: the Temporal dev server with the chain
worker and the relay, the CRM over HTTP on PostgreSQL, and the sandbox playing Bland's side of the call from
the configuration the CRM sent it."""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from temporalio.client import Client

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.inbound import bland_config
from crm.inbound.numbers import clear_route_cache
from crm.models import Appointment, Lead, LeadSubmission, PhoneNumber, Role, User
from crm.tenancy.context import company_scope
from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.inbound_personas import PERSONAS, InboundRun, run_inbound_persona
from tests.conftest import _wipe, make_test_secrets
from tests.inbound import helpers as h
from tests.sandbox_fixtures import ServerThread
from tests.workflows.conftest import FAST, ChainHarness, always_open_policy
from tests.workflows.test_lead_chain import HOT
from workflows.payloads import ChainStatus

KEYS = SandboxConfig().keys
TO = h.NUMBERS["bland"]
CALLER = "+493023125101"  # HOT's phone: the lead whose chain is running
NEWCOMER = "+4930231257788"


@pytest.fixture
async def world(temporal_env: Any, migrated_urls: dict[str, str]) -> Any:
    target = temporal_env.client.service_client.config.target_host
    secrets = make_test_secrets(
        LEADCHAIN_SECRET_PROVIDERS_BLAND_WEBHOOK_SECRET=KEYS["bland_webhook_secret"],
        LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex,
    )
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]},
        secrets=secrets,
        gate_policy=always_open_policy(),
        settings=Settings(temporal_address=target),
    )
    _wipe(app)
    clear_route_cache()
    with app.app_context(), company_scope(1):
        every_day = {d: [["07:00", "21:00"]] for d in ("mon", "tue", "wed", "thu", "fri", "sat", "sun")}
        owner = User(email="owner.one@example.test", name="Olga Eins", role=Role.SALES, working_hours=every_day)
        db.session.add(owner)
        db.session.flush()
        db.session.add(h._number(TO, "bland", None, owner.id))
        db.session.commit()
        db.session.remove()
    harness = await ChainHarness(app, temporal_env.client, FAST).start()
    harness.deliver_webhooks = False  # the chain's own call stays live: the chain waits while the caller rings in
    try:
        with ServerThread(app) as crm, ServerThread(create_sandbox_app(SandboxConfig(webhook_base=crm.url))) as bland:
            yield harness, crm.url, bland.url
    finally:
        await harness.stop()
        with app.app_context():
            db.session.remove()
        _wipe(app)


def _configure(app: Any, crm_url: str, bland_url: str) -> dict[str, Any]:
    """The number configured at (the sandbox's) Bland by the CRM, and read back as Bland holds it."""
    with app.app_context(), company_scope(1):
        number = db.session.scalar(sa.select(PhoneNumber).where(PhoneNumber.provider == "bland"))
        bland_config.configure(
            number, api_key=KEYS["bland"], base_url=crm_url, secret=KEYS["bland_webhook_secret"], bland_url=bland_url
        )
        db.session.remove()
    held: dict[str, Any] = httpx.get(f"{bland_url}/v1/inbound/{TO}", headers={"authorization": KEYS["bland"]}).json()
    return held


def _bearer() -> dict[str, str]:
    return {"Content-Type": "application/json", "Authorization": f"Bearer {KEYS['bland_webhook_secret']}"}


def _call(config: dict[str, Any], persona: str, caller: str) -> InboundRun:
    played = dataclasses.replace(PERSONAS[persona], caller=caller)
    return run_inbound_persona("bland", played, crm_base="", keys=KEYS, to=TO, bland_config=config)


async def _signals(client: Client, chain_id: str) -> list[tuple[str, Any]]:
    history = await client.get_workflow_handle(chain_id).fetch_history()
    found = []
    for event in history.events:
        if event.HasField("workflow_execution_signaled_event_attributes"):
            attrs = event.workflow_execution_signaled_event_attributes
            found.append((attrs.signal_name, attrs.input))
    return found


async def test_a_bland_booking_reaches_the_callers_chain_once_and_a_new_caller_gets_a_chain(world):
    harness, crm_url, bland_url = world
    chain_id = harness.post_lead(HOT)["chain_id"]
    await harness.stage(chain_id, "waiting_for_result")
    config = await asyncio.to_thread(_configure, harness.app, crm_url, bland_url)
    booked = await asyncio.to_thread(_call, config, "known_books", CALLER)
    assert [status for _tool, status, _answer in booked.tool_uses] == [200, 200], booked.tool_uses
    assert booked.tool_uses[-1][2]["result"] == "booked", booked.tool_uses

    def appointment() -> tuple[int, int]:
        appt = db.session.scalar(sa.select(Appointment))
        return appt.id, appt.lead_id

    appointment_id, lead_id = harness.db(appointment)
    signals = [s for s in await _signals(harness.client, chain_id) if s[0] == "call_booking"]
    assert len(signals) == 1, signals
    payload = signals[0][1].payloads[0].data
    # Ids only: Bland's call id and the appointment's id, nothing the caller said or is.
    assert booked.call_id.encode() in payload and str(appointment_id).encode() in payload and b"+49" not in payload

    # Bland retries a tool that timed out with the same request: answered from the delivery record, no signal.
    book_tool = next(t for t in config["tools"] if t["name"] == "BookAppointment")
    sent = {"call_id": booked.call_id, "to": TO, "start": _first_start(booked)}
    body = h.compact({name: sent[name] for name in book_tool["body"]})  # the template's order, as Bland fills it
    again = httpx.post(book_tool["url"], content=body, headers=book_tool["headers"])
    assert again.status_code == 200 and again.json()["result"] == "booked", again.text
    # A move of that appointment, as on Retell and Vapi, is nobody's signal.
    moved = await asyncio.to_thread(_call, config, "known_moves", CALLER)
    assert moved.tool_uses[-1][2]["result"] == "rescheduled", moved.tool_uses
    await asyncio.sleep(0.5)
    assert [s[0] for s in await _signals(harness.client, chain_id)].count("call_booking") == 1

    # An unknown caller becomes a lead and enters a chain of its own (the inbox, then the relay).
    newcomer = await asyncio.to_thread(_call, config, "unknown_caller", NEWCOMER)
    assert newcomer.tool_uses and all(status == 200 for _t, status, _a in newcomer.tool_uses), newcomer.tool_uses

    def submission() -> tuple[int, str]:
        lead = db.session.scalar(sa.select(Lead).where(Lead.phone_e164 == NEWCOMER))
        rows = db.session.scalars(sa.select(LeadSubmission).where(LeadSubmission.lead_id == lead.id)).all()
        assert len(rows) == 1, rows  # one person, one chain
        return lead.id, rows[0].chain_id

    new_lead, new_chain = harness.db(submission)
    assert new_lead != lead_id and new_chain != chain_id
    status = await _status(harness, new_chain)
    assert status.lead_id == new_lead


def _first_start(run: InboundRun) -> str:
    """The start the agent booked: FreeTimes' first offer."""
    free = next(answer for tool, _status, answer in run.tool_uses if tool == "FreeTimes")
    start: str = free["first_start"]
    return start


async def _status(harness: ChainHarness, chain_id: str, timeout: float = 30) -> ChainStatus:
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        try:
            status: ChainStatus = await harness.handle(chain_id).query("status", result_type=ChainStatus)
            if status.lead_id is not None:
                return status
        except Exception:  # noqa: BLE001 - the relay has not started it yet
            if asyncio.get_running_loop().time() > deadline:
                raise
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"chain {chain_id} never imported its lead")
        await asyncio.sleep(0.2)
