"""Traces from a client's span through Temporal (the SDK's TracingInterceptor) to the activity and its
provider HTTP calls, activity and provider metrics, and a failing activity's logs without personal data.

Real parts: the session's Temporal dev server, a worker with the production interceptors and thread
pool, the provider sandbox over HTTP with an injected 429."""

from __future__ import annotations

import asyncio
import json
import uuid

import httpx
import pytest
from flask import Flask
from temporalio import activity
from temporalio.client import WorkflowFailureError
from temporalio.worker import Worker

from crm.observability.metrics import WorkerMetrics
from crm.observability.settings import ObservabilitySettings
from crm.observability.temporal import traced_client, worker_interceptors
from crm.observability.tracing import ContextThreadPoolExecutor, install_web_tracing, set_provider_metrics, tracer
from crm.temporal_gateway import TemporalGateway
from providers.factory import SANDBOX_KEYS
from tests.observability import markers
from tests.observability.traced_workflow import Job, TracedWorkflow


@activity.defn(name="call_provider")
def call_provider(job: Job) -> list[int]:
    statuses = []
    with httpx.Client(timeout=5) as http:
        for _ in range(job.calls):
            # The sandbox's Bland key (providers.factory.SANDBOX_KEYS); an empty body is a 400 past the fault.
            statuses.append(http.post(job.url, json={}, headers={"authorization": SANDBOX_KEYS["bland"]}).status_code)
    if job.fail_with:
        # What a provider error often looks like: its answer echoes what it was sent.
        raise RuntimeError(job.fail_with)
    return statuses


def sample(metrics: WorkerMetrics, name: str, labels: dict[str, str]) -> float:
    return metrics.registry.get_sample_value(name, labels) or 0.0


async def run_job(client, metrics: WorkerMetrics, job: Job):
    queue = f"obs-{uuid.uuid4().hex[:8]}"
    with ContextThreadPoolExecutor(max_workers=2) as pool:
        async with Worker(
            client,
            task_queue=queue,
            workflows=[TracedWorkflow],
            activities=[call_provider],
            activity_executor=pool,
            interceptors=worker_interceptors(metrics),
        ):
            with tracer().start_as_current_span("webhook") as root:
                try:
                    result = await client.execute_workflow(TracedWorkflow.run, job, id=queue, task_queue=queue)
                except WorkflowFailureError as e:
                    result = e
    return root, result


async def test_one_trace_from_the_caller_to_the_provider_call(temporal_env, provider_sandbox, spans):
    metrics = WorkerMetrics()
    set_provider_metrics(metrics.provider)
    httpx.post(f"{provider_sandbox.url}/sandbox/faults", json={"provider": "bland", "status": 429, "count": 1})
    client = traced_client(temporal_env.client)
    root, statuses = await run_job(client, metrics, Job(lead_id=4711, url=f"{provider_sandbox.url}/bland/v1/calls"))

    assert statuses == [429, 400]
    trace_id = root.get_span_context().trace_id
    ours = [s for s in spans.get_finished_spans() if s.context.trace_id == trace_id]
    by_name = {s.name: s for s in ours}
    for name in (
        "StartWorkflow:TracedWorkflow",
        "RunWorkflow:TracedWorkflow",
        "StartActivity:call_provider",
        "RunActivity:call_provider",
    ):
        assert name in by_name, sorted(by_name)
    run_activity = by_name["RunActivity:call_provider"]
    assert run_activity.attributes["leadchain.lead_id"] == 4711
    provider_spans = [s for s in ours if s.name == "provider bland POST"]
    assert len(provider_spans) == 2
    # Inside the activity's span although the activity ran in a thread of the pool.
    assert {s.parent.span_id for s in provider_spans} == {run_activity.context.span_id}
    assert sorted(s.attributes["http.response.status_code"] for s in provider_spans) == sorted(statuses)
    assert all("url.full" not in s.attributes for s in provider_spans)

    assert sample(metrics, "leadchain_provider_rate_limited_total", {"provider": "bland"}) == 1
    assert sample(metrics, "leadchain_provider_errors_total", {"provider": "bland", "kind": "http_4xx"}) == 1
    assert sample(metrics, "leadchain_provider_requests_total", {"provider": "bland", "status": "4xx"}) == 2
    ok = {"activity": "call_provider", "outcome": "ok"}
    assert any(
        s.labels.items() >= ok.items() and s.value == 1
        for m in metrics.registry.collect()
        for s in m.samples
        if s.name == "leadchain_activity_duration_seconds_count"
    )


async def test_a_failing_activity_is_counted_and_logged_without_personal_data(
    temporal_env, provider_sandbox, spans, json_logs
):
    metrics = WorkerMetrics()
    set_provider_metrics(metrics.provider)
    echo = json.dumps({"error": "invalid number", "phone_number": markers.PHONE, "first_name": markers.NAME})
    job = Job(
        lead_id=4712,
        url=f"{provider_sandbox.url}/bland/v1/calls",
        calls=1,
        fail_with=f"bland refused {echo} for {markers.EMAIL} with api_key={markers.API_KEY} (call {markers.PHONE})",
    )
    _, failure = await run_job(traced_client(temporal_env.client), metrics, job)

    assert isinstance(failure, WorkflowFailureError)
    failed = {"activity": "call_provider", "error": "RuntimeError"}
    assert sample(metrics, "leadchain_activity_failures_total", failed) == 1
    logs = json_logs.getvalue()
    records = [json.loads(line) for line in logs.splitlines()]
    # The SDK logged the failure (with the exception), so the markers had their chance to leak.
    assert any("call_provider" in json.dumps(r) and "RuntimeError" in json.dumps(r) for r in records), logs[-2000:]
    for marker in markers.ALL:
        assert marker not in logs


@pytest.mark.parametrize(
    ("url", "provider"),
    [
        ("https://api.retellai.com/v2/create-phone-call", "retell"),
        ("https://api.vapi.ai/call", "vapi"),
        ("https://api.bland.ai/v1/calls", "bland"),
        ("http://127.0.0.1:8765/retell/v2/create-phone-call", "retell"),
        ("http://127.0.0.1:8765/v1/chat/completions", None),
        ("https://example.org/bland/x", "bland"),
    ],
)
def test_provider_of(url, provider):
    from crm.observability.tracing import provider_of

    assert provider_of(url) == provider


async def test_a_web_started_workflow_is_a_child_of_the_request_span(temporal_env, provider_sandbox, spans):
    """The web's gateway client has the TracingInterceptor: a workflow a view starts belongs to the
    request's trace (StartWorkflow's parent is the request's span), down to its activity."""
    app = Flask(__name__)
    install_web_tracing(app, ObservabilitySettings())
    target = temporal_env.client.service_client.config.target_host
    gw = TemporalGateway(target, temporal_env.client.namespace, rpc_timeout_s=10)
    queue = f"obs-web-{uuid.uuid4().hex[:8]}"
    job = Job(lead_id=4712, url=f"{provider_sandbox.url}/bland/v1/calls", calls=1)

    @app.post("/start")
    def start_view():
        # A web view's call: the gateway runs it on its own loop thread.
        gw.run(lambda c: c.execute_workflow(TracedWorkflow.run, job, id=queue, task_queue=queue), timeout=30)
        return "", 204

    with ContextThreadPoolExecutor(max_workers=2) as pool:
        async with Worker(
            traced_client(temporal_env.client),  # the workers' client, as workers/main.py makes it
            task_queue=queue,
            workflows=[TracedWorkflow],
            activities=[call_provider],
            activity_executor=pool,
        ):
            response = await asyncio.to_thread(app.test_client().post, "/start")
    assert response.status_code == 204
    finished = spans.get_finished_spans()
    [request_span] = [s for s in finished if s.name == "POST /start"]
    ours = {s.name: s for s in finished if s.context.trace_id == request_span.context.trace_id}
    start = ours["StartWorkflow:TracedWorkflow"]
    assert start.parent is not None and start.parent.span_id == request_span.context.span_id
    assert {"RunWorkflow:TracedWorkflow", "RunActivity:call_provider"} <= set(ours), sorted(ours)
