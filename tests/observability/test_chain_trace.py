"""The real chain, traced: a signed lead through the webhook, the relay's start, LeadChainWorkflow in the
workflow sandbox, its activities, and Retell's real adapter calling the provider sandbox over HTTP. One
trace from the relay's StartWorkflow to the provider call, the lead id on the activity spans, the
activity metrics counted, and no personal data of the lead on any span."""

from __future__ import annotations

import asyncio
import json
import uuid

import pytest

from activities.provider_activities import ProviderActivities
from crm import create_app
from crm.config import Settings
from crm.email.factory import build_sender
from crm.extensions import db
from crm.models import Campaign
from crm.observability.metrics import WorkerMetrics
from crm.observability.temporal import traced_client, worker_interceptors
from crm.observability.tracing import ContextThreadPoolExecutor, set_provider_metrics
from providers.factory import registry
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.conftest import WEBHOOK_SECRETS, _wipe, make_test_secrets, set_settings
from tests.helpers import signed_headers
from tests.sandbox_fixtures import ServerThread
from tests.workflows.conftest import FAST, always_open_policy
from tests.workflows.test_worker_kill import lead_payload
from workers import chain as chain_mod
from workers.relay import Relay


@pytest.fixture
def crm_app(temporal_env, migrated_urls):
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]},
        secrets=make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex),
        gate_policy=always_open_policy(),
        settings=Settings(temporal_address=temporal_env.client.service_client.config.target_host),
    )
    _wipe(app)
    yield app
    _wipe(app)


async def wait_for(found, timeout: float = 60.0):
    deadline = asyncio.get_running_loop().time() + timeout
    while not (result := found()):
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)
    return result


async def test_a_lead_is_traced_from_the_relay_to_the_providers_http_call(temporal_env, crm_app, spans):
    suffix = uuid.uuid4().hex[:8]
    settings = FAST.__class__(
        **{**FAST.__dict__, "chain_task_queue": f"c-{suffix}", "provider_task_queue": f"p-{suffix}"}
    )
    metrics = WorkerMetrics()
    set_provider_metrics(metrics.provider)
    client = traced_client(temporal_env.client)
    stop = asyncio.Event()
    with (
        ServerThread(crm_app) as crm_http,
        ServerThread(create_sandbox_app(SandboxConfig(webhook_base=crm_http.url, step_s=0.1))) as sandbox,
        ContextThreadPoolExecutor(max_workers=8) as pool,
    ):
        set_settings(crm_app, "providers", sandbox_url=sandbox.url)
        with crm_app.app_context():
            db.session.add(
                Campaign(name="t", provider="retell", agent_id="agent_t", from_number="+4930555000", is_default=True)
            )
            db.session.commit()
            db.session.remove()
        acts = ProviderActivities(crm_app, registry(crm_app), build_sender(crm_app))
        interceptors = worker_interceptors(metrics)
        runners = [
            chain_mod.worker_runner(
                chain_mod.chain_worker(
                    client, crm_app, pool, task_queue=settings.chain_task_queue, interceptors=interceptors
                )
            ),
            chain_mod.worker_runner(
                chain_mod.provider_worker(
                    client, acts, pool, task_queue=settings.provider_task_queue, interceptors=interceptors
                )
            ),
            Relay(crm_app, client, settings, poll_s=0.1, task_queue=settings.chain_task_queue).run,
        ]
        tasks = [asyncio.create_task(run(stop)) for run in runners]
        lead = lead_payload(1)
        chain_id = None
        try:
            body = json.dumps(lead).encode()
            r = crm_app.test_client().post(
                "/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body)
            )
            assert r.status_code == 202
            chain_id = r.get_json()["chain_id"]

            def provider_call_and_its_activity():
                finished = spans.get_finished_spans()
                ids = {s.context.span_id for s in finished}
                calls = [s for s in finished if s.name.startswith("provider retell ") and s.parent.span_id in ids]
                return (calls[0], finished) if calls else None

            call, finished = await wait_for(provider_call_and_its_activity)
            by_id = {s.context.span_id: s for s in finished}
            chain = [s for s in finished if s.context.trace_id == call.context.trace_id]
            names = {s.name for s in chain}
            # The relay signals-with-start: the root of the chain's trace.
            assert {"SignalWithStartWorkflow:LeadChainWorkflow", "RunWorkflow:LeadChainWorkflow"} <= names, names
            parent = by_id[call.parent.span_id]
            assert parent.name == "RunActivity:place_call"
            lead_ids = {s.attributes.get("leadchain.lead_id") for s in chain if s.name.startswith("RunActivity:")}
            assert len(lead_ids - {None}) == 1  # the lead's id, on the activities that take it
            everything = json.dumps([dict(s.attributes or {}) for s in finished], default=str)
            for value in (lead["first_name"], lead["last_name"], lead["email"], lead["phone"].replace(" ", "")):
                assert value not in everything
            ok = metrics.registry.get_sample_value(
                "leadchain_activity_duration_seconds_count",
                {"activity": "place_call", "task_queue": settings.provider_task_queue, "outcome": "ok"},
            )
            assert ok == 1
            assert (
                metrics.registry.get_sample_value(
                    "leadchain_provider_requests_total", {"provider": "retell", "status": "2xx"}
                )
                >= 1
            )
        finally:
            if chain_id:
                try:
                    await temporal_env.client.get_workflow_handle(chain_id).terminate("test finished")
                except Exception:  # noqa: BLE001 - already closed
                    pass
            stop.set()
            await asyncio.gather(*tasks, return_exceptions=True)
