"""A worker SIGKILLed right after the provider accepted a call, then restarted: exactly one call was placed
(the provider sandbox counts them), for each of Retell, Vapi and Bland, through the real adapters."""

from __future__ import annotations

import asyncio
import json
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import Campaign, Interaction, SideEffect
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.conftest import WEBHOOK_SECRETS, _wipe, make_test_secrets, set_settings
from tests.helpers import signed_headers
from tests.sandbox_fixtures import ServerThread
from tests.workflows.conftest import always_open_policy
from tests.workflows.test_worker_kill import WorkerProcess, lead_payload
from tests.workflows.worker_process import FileState
from workflows.payloads import ChainOutcome

FROM = {"retell": "+4930555000", "vapi": "pn_kill_test", "bland": "+4930555000"}


@pytest.mark.parametrize("provider", ["retell", "vapi", "bland"])
async def test_kill_after_the_provider_accepted_the_call(provider, temporal_env, migrated_urls, tmp_path):
    chain_key = uuid.uuid4().hex
    crm = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"],
        },
        secrets=make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=chain_key),
        gate_policy=always_open_policy(),
        settings=Settings(temporal_address=temporal_env.client.service_client.config.target_host),
    )
    _wipe(crm)
    with (
        ServerThread(crm) as crm_http,
        ServerThread(create_sandbox_app(SandboxConfig(webhook_base=crm_http.url, step_s=0.1))) as sandbox,
    ):
        set_settings(crm, "providers", sandbox_url=sandbox.url)
        with crm.app_context():
            db.session.add(
                Campaign(
                    name="kill", provider=provider, agent_id="agent_kill", from_number=FROM[provider], is_default=True
                )
            )
            db.session.commit()
        # The sandbox creates the call, then holds its answer: the worker dies in that window.
        httpx.post(
            f"{sandbox.url}/sandbox/response-delay", json={"provider": provider, "seconds": 3}
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
            payload = {**lead_payload(0), "phone": "+49 30 23125190"}  # ends in 0: the persona books
            body = json.dumps(payload).encode()
            r = crm.test_client().post(
                "/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body)
            )
            assert r.status_code == 202
            chain_id = r.get_json()["chain_id"]

            def created() -> int:
                return httpx.get(f"{sandbox.url}/sandbox/stats").json()["created"].get(provider, 0)

            deadline = time.monotonic() + 60
            while created() == 0:
                assert time.monotonic() < deadline, worker.log_tail()
                worker.check_alive()
                await asyncio.sleep(0.02)
            worker.sigkill()  # the provider has the call; the activity never heard back
            httpx.post(f"{sandbox.url}/sandbox/response-delay", json={"provider": provider, "seconds": 0})
            await asyncio.sleep(1)
            worker.start()
            handle = temporal_env.client.get_workflow_handle(chain_id, result_type=ChainOutcome)
            outcome = await asyncio.wait_for(handle.result(), timeout=90)
            assert outcome.stage == "booked", worker.log_tail()
            assert created() == 1
            with crm.app_context():
                ledger = db.session.scalars(sa.select(SideEffect).where(SideEffect.kind == "call")).one()
                # One dial reached the provider (created() == 1 above; the sandbox's Vapi and Bland keep no
                # idempotency keys, so a second dial would be a second call). The ledger counts attempts
                # that started a dial: on a loaded machine some give up inside their window (the sandbox
                # holds its answer 3 s of a 5 s window) or are killed before their dial leaves the worker,
                # so their number is not fixed; the next attempt always looks the call up first.
                assert ledger.status == "done" and ledger.provider == provider and ledger.attempts >= 1
                calls = db.session.scalars(sa.select(Interaction).where(Interaction.provider == provider)).all()
                assert len(calls) == 1 and calls[0].outcome == "booked"
                assert calls[0].provider_ref == ledger.provider_ref
                db.session.remove()
        finally:
            worker.stop()
            if chain_id:
                try:
                    await temporal_env.client.get_workflow_handle(chain_id).terminate("test finished")
                except Exception:  # noqa: BLE001 - already closed
                    pass
            _wipe(crm)
