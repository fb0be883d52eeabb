"""The real Temporal dev server (from the pip-installed CLI), real workers, the real PostgreSQL."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa
from temporalio.client import Client, WorkflowHandle
from temporalio.service import RPCError

from activities.provider_activities import ProviderActivities
from crm import create_app
from crm.extensions import db
from crm.models import Campaign
from crm.tenancy.context import unit_of_work
from providers.base import ProviderRegistry
from tests.conftest import WEBHOOK_SECRETS, _wipe, make_test_secrets
from tests.fakes import FakeEmailSender, FakeVoiceProvider
from tests.helpers import signed_headers
from tests.temporal_fixtures import binary  # noqa: F401  (re-exported for other test modules)
from workers import chain as chain_mod
from workers.relay import Relay
from workflows.payloads import CallResult, ChainOutcome, ChainSettings

COMPANY_ID = 1  # the first company (migration 0013), whose lead source the tests' webhook secrets are

FAST = ChainSettings(
    call_result_timeout_s=20,
    call_poll_interval_s=1,
    max_call_polls=3,
    max_call_attempts=3,
    retry_delay_s=1,
    nurture_delays_s=[0, 1, 1],
    rescore_delay_s=1,
    max_nurture_cycles=2,
)


def always_open_policy():
    """Calling hours around the clock, so these tests do not depend on when they run (the hours
    themselves are tested in tests/crm/test_compliance.py and test_chain_calling_hours.py)."""
    from datetime import time

    from crm.services.compliance import CallingWindow, GatePolicy

    always = CallingWindow(tuple(range(7)), time(0), time(23, 59, 59, 999999))
    return GatePolicy(
        windows={"DE": always, "US": always},
        default_window=always,
        max_attempts_per_day=100,
        german_public_holidays=False,
    )


class ChainHarness:
    """Workers, relay and a webhook-like result deliverer, on task queues of their own."""

    def __init__(self, app, client: Client, settings: ChainSettings) -> None:
        suffix = uuid.uuid4().hex[:8]
        self.chain_queue, self.provider_queue = f"chain-{suffix}", f"provider-{suffix}"
        settings = dataclasses.replace(
            settings, chain_task_queue=self.chain_queue, provider_task_queue=self.provider_queue
        )
        self.app, self.client, self.settings = app, client, settings
        self.company_id = COMPANY_ID
        self.provider = FakeVoiceProvider(name="retell")
        self.email = FakeEmailSender()
        self.deliver_webhooks = True
        self.delivered: set[str] = set()
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []

    async def start(self) -> ChainHarness:
        executor = ThreadPoolExecutor(max_workers=8)
        self.executor = executor
        acts = ProviderActivities(self.app, ProviderRegistry({"retell": self.provider}), self.email)
        self.db(
            lambda: (
                db.session.add(
                    Campaign(
                        name="default",
                        provider="retell",
                        agent_id="agent_test",
                        from_number="+4930555000",
                        is_default=True,
                    )
                ),
                db.session.commit(),
            )
        )
        workers = [
            chain_mod.chain_worker(self.client, self.app, executor, task_queue=self.chain_queue),
            chain_mod.provider_worker(self.client, acts, executor, task_queue=self.provider_queue),
        ]
        relay = Relay(self.app, self.client, self.settings, poll_s=0.1, task_queue=self.chain_queue)
        self._tasks = [asyncio.create_task(chain_mod.worker_runner(w)(self._stop)) for w in workers]
        self._tasks.append(asyncio.create_task(relay.run(self._stop)))
        self._tasks.append(asyncio.create_task(self._deliver()))
        return self

    async def stop(self) -> None:
        # Leave no running chain behind for later tests.
        from crm.models import LeadSubmission

        chain_ids = self.db(lambda: set(db.session.scalars(sa.select(LeadSubmission.chain_id))))
        for chain_id in chain_ids:
            try:
                await self.client.get_workflow_handle(chain_id).terminate("test finished")
            except RPCError:
                pass
        self._stop.set()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def _deliver(self) -> None:
        """Play the provider's webhook: each placed call's result reaches its chain as an update."""
        while not self._stop.is_set():
            if self.deliver_webhooks:
                for request in list(self.provider.placed):
                    call = self.provider.by_key[request.idempotency_key]
                    if call.call_id in self.delivered:
                        continue
                    self.delivered.add(call.call_id)
                    result: CallResult = self.provider.results[call.call_id]
                    handle = self.client.get_workflow_handle(request.chain_id)
                    try:
                        await handle.execute_update("call_result", result, id=result.event_id)
                    except Exception:  # noqa: BLE001 - chain closed or result known: the webhook answers 2xx
                        pass
            await asyncio.sleep(0.05)

    def post_lead(self, payload: dict, source: str = "website") -> dict:
        body = json.dumps(payload).encode()
        r = self.app.test_client().post(
            f"/webhooks/leads/{source}", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body)
        )
        assert r.status_code == 202, r.get_json()
        return r.get_json()

    def handle(self, chain_id: str) -> WorkflowHandle:
        return self.client.get_workflow_handle(chain_id)

    async def outcome(self, chain_id: str, timeout: float = 60) -> ChainOutcome:
        # The relay may not have started the chain yet.
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            handle = self.client.get_workflow_handle(chain_id, result_type=ChainOutcome)
            try:
                return await asyncio.wait_for(
                    handle.result(), timeout=max(0.1, deadline - asyncio.get_running_loop().time())
                )
            except (RPCError, RuntimeError):
                # Not started yet; or (time-skipping server) a long poll that ended without the close event.
                if asyncio.get_running_loop().time() > deadline:
                    raise
                await asyncio.sleep(0.2)

    async def stage(self, chain_id: str, wanted: str, timeout: float = 30):
        from workflows.payloads import ChainStatus

        deadline = asyncio.get_running_loop().time() + timeout
        last = None
        while asyncio.get_running_loop().time() < deadline:
            try:
                last = await self.handle(chain_id).query("status", result_type=ChainStatus)
                if last.stage == wanted:
                    return last
            except Exception:  # noqa: BLE001 - not started yet
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"chain never reached {wanted}; last status {last}")

    def db(self, fn):
        # The harness acts for the company its leads belong to (the first company, which the migration
        # creates), as the relay and the activities do for each row.
        with self.app.app_context(), unit_of_work(self.company_id):
            try:
                return fn()
            finally:
                db.session.remove()


@pytest.fixture
async def chain(temporal_env, migrated_urls, request):
    settings = getattr(request, "param", FAST)
    # A chain key of its own: this test's workflow ids never meet another test's chains.
    secrets = make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex)
    app = create_app(
        {
            "TESTING": True,
            "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"],
        },
        secrets=secrets,
        gate_policy=always_open_policy(),
    )
    _wipe(app)
    harness = await ChainHarness(app, temporal_env.client, settings).start()
    yield harness
    await harness.stop()
    _wipe(app)
