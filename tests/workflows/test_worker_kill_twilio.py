"""The own-agent provider (twilio_realtime) beside test_worker_kill_providers.py: the worker is SIGKILLed right
after the sandbox's Twilio accepted the call (its answer held back 3 s), then restarted. Twilio has no
idempotency key: the restarted activity finds the call by the key in the CRM's record of Twilio's first
signed status callback (docs/audio-agent.md §T3). The call itself runs whole meanwhile (media client -> the
real bridge -> the Realtime stand-in; the callee asks never to be called again), and the chain gets its one result."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import sqlalchemy as sa

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import Campaign, Interaction, Lead, SideEffect
from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.openai_realtime import API_KEY as SANDBOX_OPENAI_KEY
from tests.conftest import WEBHOOK_SECRETS, _wipe, make_test_secrets, set_settings
from tests.helpers import signed_headers
from tests.sandbox_fixtures import ServerThread
from tests.voice.twilio_e2e.conftest import PATH_SECRET, BridgeThread
from tests.workflows.conftest import always_open_policy
from tests.workflows.test_worker_kill import WorkerProcess, lead_payload
from tests.workflows.worker_process import FileState
from workflows.payloads import ChainOutcome

FROM = "+4930555000"


def chain_results(history) -> list[str]:
    """The call results the chain was handed, by channel: `call_result` updates accepted and
    `call_result_signal` signals (the outbox's deliveries), and `fetch_call_result` polls that came back with a
    result (the chain asks the provider when no delivery came in time; the first result for a call wins)."""
    found = []
    scheduled: dict[int, str] = {}
    for event in history.events:
        if event.HasField("activity_task_scheduled_event_attributes"):
            scheduled[event.event_id] = event.activity_task_scheduled_event_attributes.activity_type.name
        if event.HasField("activity_task_completed_event_attributes"):
            done = event.activity_task_completed_event_attributes
            payloads = done.result.payloads
            if scheduled.get(done.scheduled_event_id) == "fetch_call_result" and payloads:
                if payloads[0].metadata.get("encoding") != b"binary/null":  # None: no result yet
                    found.append("fetch_call_result")
        if event.HasField("workflow_execution_update_accepted_event_attributes"):
            name = event.workflow_execution_update_accepted_event_attributes.accepted_request.input.name
            if name == "call_result":
                found.append(name)
        if event.HasField("workflow_execution_signaled_event_attributes"):
            name = event.workflow_execution_signaled_event_attributes.signal_name
            if name == "call_result_signal":
                found.append(name)
    return found


async def all_runs_results(client, chain_id: str, wait_s: float = 10.0) -> list[str]:
    """chain_results over every run of the chain (it continues as new after a call). The run list comes from
    visibility, which the dev server fills a moment after the run: looked at again until a result shows."""
    deadline = time.monotonic() + wait_s
    while True:
        results: list[str] = []
        async for run in client.list_workflows(f"WorkflowId = '{chain_id}'"):
            history = await client.get_workflow_handle(chain_id, run_id=run.run_id).fetch_history()
            results += chain_results(history)
        if results or time.monotonic() >= deadline:
            return results
        await asyncio.sleep(0.5)


async def test_kill_after_twilio_accepted_the_call(temporal_env, migrated_urls, tmp_path, monkeypatch):
    chain_key = uuid.uuid4().hex
    crm = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]},
        secrets=make_test_secrets(
            LEADCHAIN_SECRET_APP_CHAIN_KEY=chain_key,
            LEADCHAIN_SECRET_BRIDGE_TWILIO_MEDIA_PATH_SECRET=PATH_SECRET,
            LEADCHAIN_SECRET_BRIDGE_REALTIME_API_KEY=SANDBOX_OPENAI_KEY,
        ),
        gate_policy=always_open_policy(),
        settings=Settings(temporal_address=temporal_env.client.service_client.config.target_host),
    )
    _wipe(crm)
    sandbox_app = create_sandbox_app(SandboxConfig(step_s=0.1, realtime_port=0))
    realtime = sandbox_app.extensions["sandbox"].realtime
    set_settings(crm, "bridge", realtime_url=realtime.url)
    with (
        ServerThread(crm) as crm_http,
        ServerThread(sandbox_app) as sandbox,
        BridgeThread(crm) as bridge,
    ):
        set_settings(crm, "providers", sandbox_url=sandbox.url, public_url=crm_http.url)
        # The worker subprocess reads its settings from the environment.
        monkeypatch.setenv("LEADCHAIN_PUBLIC_URL", crm_http.url)
        monkeypatch.setenv("LEADCHAIN_TWILIO_STREAM_URL", bridge.media_url)
        monkeypatch.setenv("LEADCHAIN_TWILIO_FROM_NUMBER", FROM)
        with crm.app_context():
            db.session.add(
                Campaign(
                    name="kill", provider="twilio_realtime", agent_id="agent_kill", from_number=FROM, is_default=True
                )
            )
            db.session.commit()
            db.session.remove()
        payload = {**lead_payload(0), "phone": "+49 30 23125391"}  # ends in 1: answers
        httpx.post(
            f"{sandbox.url}/twilio_realtime/scripts", json={"to": "+493023125391", "script": "never_call"}
        ).raise_for_status()
        # The sandbox creates the call (and sends its first callback), then holds its answer: the worker dies.
        httpx.post(
            f"{sandbox.url}/sandbox/response-delay", json={"provider": "twilio_realtime", "seconds": 3}
        ).raise_for_status()
        suffix = uuid.uuid4().hex[:8]
        worker = WorkerProcess(
            [
                "--db",
                migrated_urls["postgresql"],
                "--temporal",
                temporal_env.client.service_client.config.target_host,
                "--chain-queue",
                f"chain-{suffix}",
                "--provider-queue",
                f"provider-{suffix}",
                "--state",
                str(FileState(tmp_path / "state.sqlite3").init().path),
                "--chain-key",
                chain_key,
                "--sandbox-url",
                sandbox.url,
            ],
            tmp_path / "worker.log",
        )
        worker.start()
        chain_id = None
        try:
            body = json.dumps(payload).encode()
            r = crm.test_client().post(
                "/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body)
            )
            assert r.status_code == 202
            chain_id = r.get_json()["chain_id"]

            def created() -> int:
                return httpx.get(f"{sandbox.url}/sandbox/stats").json()["created"].get("twilio_realtime", 0)

            deadline = time.monotonic() + 60
            while created() == 0:
                assert time.monotonic() < deadline, worker.log_tail()
                worker.check_alive()
                await asyncio.sleep(0.02)
            worker.sigkill()  # Twilio has the call; the activity never heard back
            httpx.post(f"{sandbox.url}/sandbox/response-delay", json={"provider": "twilio_realtime", "seconds": 0})
            await asyncio.sleep(1)
            worker.start()
            handle = temporal_env.client.get_workflow_handle(chain_id, result_type=ChainOutcome)
            outcome = await asyncio.wait_for(handle.result(), timeout=90)
            assert outcome.lead_id is not None, worker.log_tail()
            # The bridge's classification reached the chain (Twilio's completed carries none).
            assert outcome.stage == "do_not_contact", (outcome, worker.log_tail())
            assert created() == 1, "a second dial reached Twilio"
            # The chain continues as new after the call; every run's history counts.
            results = await all_runs_results(temporal_env.client, chain_id)
            # The chain was handed the call's result, and the outbox delivered it at most once; a poll may have
            # brought it first (the clean-clone CI at 24f0bfc, four test workers on two cores: the chain asked
            # Twilio before the delivery came, and the update/signal count alone was empty).
            deliveries = [r for r in results if r != "fetch_call_result"]
            assert results and len(deliveries) <= 1, results
            with crm.app_context():
                ledger = db.session.scalars(sa.select(SideEffect).where(SideEffect.kind == "call")).one()
                assert ledger.status == "done" and ledger.provider == "twilio_realtime" and ledger.attempts >= 1
                calls = db.session.scalars(
                    sa.select(Interaction).where(Interaction.provider == "twilio_realtime")
                ).all()
                assert len(calls) == 1 and calls[0].provider_ref == ledger.provider_ref
                # Twilio's end and the bridge's record, whose tools made the lead do-not-contact during the call.
                assert calls[0].data.get("final") and calls[0].data["bridge"]["ended_by"] == "stop"
                assert calls[0].data["analysis"] == {"outcome": "do_not_call"}
                assert db.session.get(Lead, calls[0].lead_id).do_not_contact
                db.session.remove()
        finally:
            worker.stop()
            if chain_id:
                try:
                    await temporal_env.client.get_workflow_handle(chain_id).terminate("test finished")
                except Exception:  # noqa: BLE001 - already closed
                    pass
            _wipe(crm)
