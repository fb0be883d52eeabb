"""Provider events through a durable inbox (issue 14 item 1, docs/reliability.md §3.3): the provider webhook
records the event, the call and the result for the chain in one transaction and answers 2xx without
calling Temporal; the relay in the chain worker delivers the result.

Real parts throughout: the sandbox's signed Retell webhooks over HTTP into the CRM served on a real port
(SQLite and PostgreSQL), the Temporal dev server, real chain and provider workers.
"""

from __future__ import annotations

import asyncio
import math
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa
from temporalio.api.enums.v1 import EventType

from activities.provider_activities import ProviderActivities
from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import CallResultDelivery, Campaign, Interaction
from crm.models.types import utcnow
from crm.services import call_outbox, calls
from providers.factory import registry
from providers.retell import RetellProvider
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.activity_env import activity_env
from tests.conftest import _wipe, make_test_secrets, set_settings
from tests.contention import CpuSteal
from tests.helpers import in_app
from tests.sandbox_fixtures import ServerThread, free_port
from tests.voice.test_retell import FROM, LEAD, STEP_S, _number, _seed_lead
from tests.workflows.conftest import FAST, ChainHarness, always_open_policy
from workers import chain as chain_mod
from workers.relay import Relay
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import ChainInput, PlaceCallInput

P99_LIMIT_S = 0.100


def p99(samples: list[float]) -> float:
    """Nearest-rank 99th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


class Timed:
    """Wraps the app's WSGI callable: the server-side time of every provider webhook (perf_counter)."""

    def __init__(self, app, prefix: str = "/webhooks/retell") -> None:
        self.inner, self.prefix = app.wsgi_app, prefix
        self.samples: list[float] = []
        self.statuses: list[int] = []
        app.wsgi_app = self

    def __call__(self, environ, start_response):
        started = time.perf_counter()

        def answer(status, headers, *rest):
            if environ.get("PATH_INFO", "").startswith(self.prefix):
                self.statuses.append(int(status.split()[0]))
            return start_response(status, headers, *rest)

        try:
            return self.inner(environ, answer)
        finally:
            if environ.get("PATH_INFO", "").startswith(self.prefix):
                self.samples.append(time.perf_counter() - started)


def _campaign(app) -> None:
    def add():
        db.session.add(
            Campaign(name="default", provider="retell", agent_id="agent_test", from_number=FROM, is_default=True)
        )
        db.session.commit()

    in_app(app, add)


def _place(app, lead_id: int, chain_id: str):
    acts = ProviderActivities(app, registry(app), None)
    placed = activity_env().run(acts.place_call, PlaceCallInput(lead_id, chain_id, 1, f"{chain_id}:{lead_id}"))
    assert placed.refused is None and placed.provider == "retell"
    return placed


# 40 calls, 112 webhooks: enough that the p99 (nearest rank) is not simply the slowest request, which on
# the CI machine's two shared cores is at times one the scheduler parked for a tick (216 ms once).
ROUNDS = 4


class Capture:
    """Where the sandbox sends its webhooks in test (a): kept (and answered 200) so the test can post them to
    the CRM one after another through the Flask test client, timing each on its own."""

    def __init__(self) -> None:
        from flask import Flask

        self.app = Flask("capture")
        self.app.add_url_rule("/webhooks/<provider>", "hook", lambda provider: ("", 200), methods=["POST"])


def _outbox(app) -> list[CallResultDelivery]:
    return in_app(app, lambda: list(db.session.scalars(sa.select(CallResultDelivery).order_by(CallResultDelivery.id))))


@pytest.fixture
def web(app, sandbox):
    """The CRM whose Temporal address is a port where nothing listens, and the sandbox placing its calls;
    the sandbox's signed webhooks are kept (Capture) for the test to deliver."""
    set_settings(app, "providers", sandbox_url=sandbox.url)
    set_settings(app, temporal_address=f"127.0.0.1:{free_port()}")
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    _campaign(app)
    sandbox.sandbox.config.step_s = 0.01
    assert isinstance(registry(app).get("retell"), RetellProvider)
    with ServerThread(Capture().app) as capture:
        sandbox.sandbox.config.webhook_base = capture.url
        yield app.test_client()


def test_webhooks_answer_2xx_fast_and_queue_results_without_temporal(app, web, sandbox):
    """(a) Nothing reaches Temporal from the web: its address answers nothing, and every one of the
    sandbox's signed webhooks for 40 calls (112) is still 2xx, p99 under 100 ms (time.perf_counter around
    the Flask test client, one after another); each final call's result waits in the outbox for its chain.
    (On the previous code each final webhook tried Temporal and answered 503.)"""
    placed = {}
    for n in range(ROUNDS):
        for digit in "0123456789":
            chain_id = f"lead-inbox-{n}{digit}-{uuid.uuid4().hex[:6]}"
            placed[chain_id] = _place(app, _seed_lead(app, _number(digit, n=n)), chain_id)
    assert sandbox.sandbox.dispatcher.idle(30)
    sent = sandbox.sandbox.dispatcher.sent
    assert len(sent) == ROUNDS * (10 * 3 - 2) >= 50

    def deliver(delivery):
        headers = {"Content-Type": "application/json", **delivery.sign(delivery.body)}
        started = time.perf_counter()
        answer = web.post("/webhooks/retell", data=delivery.body, headers=headers)
        return answer.status_code, time.perf_counter() - started

    deliver(sent[0])  # the first request of a fresh app pays for its database connection, as a warm server has
    with CpuSteal() as steal:
        answers = [deliver(d) for d in sent]
    assert all(status == 200 for status, _ in answers), answers
    took = [t for _, t in answers]
    # The goal's 100 ms; 1 s where the host stole the CPU or other processes held the cores
    # (tests/contention.py) - the old code held each final webhook 5 s and then answered 500.
    assert p99(took) < steal.limit(P99_LIMIT_S, 1.0), sorted(round(t * 1000) for t in took)[-5:]

    rows = _outbox(app)
    assert sorted(r.chain_id for r in rows) == sorted(placed)
    assert all(r.delivered_at is None and r.attempts == 0 for r in rows)
    for row in rows:
        call = placed[row.chain_id]
        expected = in_app(
            app,
            lambda call=call: calls.result_for(
                db.session.scalars(sa.select(Interaction).where(Interaction.provider_ref == call.call_id)).one()
            ),
        )
        assert row.event_id == f"retell:{call.call_id}" and row.result == expected.__dict__

    # A provider's redelivery of a final event: 2xx again, still one row per call.
    final = next(d for d in sent if b'"call_analyzed"' in d.body)
    assert deliver(final)[0] == 200
    assert len(_outbox(app)) == len(placed)


def test_outbox_rows_back_off_and_stay_one_per_call(app, ctx):
    from workflows.payloads import CallResult

    result = CallResult("retell", "call_x", "retell:call_x", True, "completed", "booked", 42)
    row = call_outbox.enqueue("lead-a", result)
    db.session.commit()
    later = CallResult("retell", "call_x", "retell:call_x", True, "completed", "interested", 43)
    assert call_outbox.enqueue("lead-a", later).id == row.id
    db.session.commit()
    [(row_id, chain_id, due_result)] = call_outbox.due(10)
    assert (row_id, chain_id, due_result) == (row.id, "lead-a", later)
    # One clock for the failure and the look right after it: on a loaded host more than the first 1 s
    # backoff can pass between two statements, and the row is rightly due again by then.
    failed_at = utcnow()
    call_outbox.mark_failed([(row_id, "RPCError: unavailable")], now=failed_at)
    assert call_outbox.due(10, now=failed_at + timedelta(seconds=0.5)) == []  # backing off
    assert call_outbox.due(10, now=row.next_attempt_at + timedelta(seconds=1.01)) != []
    assert [call_outbox.backoff_s(n) for n in (1, 2, 3, 6, 20)] == [1, 2, 4, 30, 30]
    call_outbox.mark_delivered([(row_id, "signal")])
    assert call_outbox.due(10, now=row.next_attempt_at + timedelta(days=1)) == []
    # Delivered: a late event of the call changes nothing the chain already has.
    call_outbox.enqueue("lead-a", result)
    db.session.commit()
    assert db.session.get(CallResultDelivery, row_id).result["classification"] == "interested"


# ---- with Temporal -------------------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ["postgresql"])
async def test_final_webhook_for_a_chain_no_worker_serves(app, crm_server, sandbox, temporal_env):
    """(c) The chain exists but no worker polls its queue. The previous code sent the update from the request
    and held the final webhook 5 s (asyncio.wait_for); the SDK then raises WorkflowUpdateRPCTimeoutOrCancelledError,
    which its asyncio.TimeoutError fallback does not catch (the issue's 500s; in this checkout, run against the
    previous provider_common, the webhook still answered 200, after 5.04 s, so the time is what fails there).
    Now every webhook is 2xx at once, and the relay gets the result to the chain as the durable signal
    (the update timed out), or finds the chain gone."""
    client = temporal_env.client
    set_settings(app, "providers", sandbox_url=sandbox.url)
    set_settings(app, temporal_address=client.service_client.config.target_host)
    app.extensions["leadchain.gate_policy"] = always_open_policy()
    _campaign(app)
    sandbox.sandbox.config.step_s = STEP_S
    timed = Timed(app)
    chain_id = f"lead-unserved-{uuid.uuid4().hex[:8]}"
    handle = await client.start_workflow(
        LeadChainWorkflow.run, ChainInput(chain_id=chain_id), id=chain_id, task_queue=f"nobody-{chain_id}"
    )
    gone_id = f"lead-gone-{uuid.uuid4().hex[:8]}"
    gone = await client.start_workflow(
        LeadChainWorkflow.run, ChainInput(chain_id=gone_id), id=gone_id, task_queue=f"nobody-{gone_id}"
    )
    await gone.terminate("test: the chain ended")
    try:
        call = await asyncio.to_thread(_place, app, _seed_lead(app, _number("0")), chain_id)
        await asyncio.to_thread(_place, app, _seed_lead(app, _number("3")), gone_id)
        assert await asyncio.to_thread(sandbox.sandbox.dispatcher.idle, 30)
        assert set(timed.statuses) == {200}, timed.statuses
        assert max(timed.samples) < 1.0

        relay = Relay(app, client, FAST, result_rpc_timeout_s=1.0)
        started = time.monotonic()
        assert await relay.deliver_results() == 2
        assert time.monotonic() - started < 5
        by_chain = {r.chain_id: r for r in _outbox(app)}
        assert by_chain[chain_id].delivered_by == "signal" and by_chain[gone_id].delivered_by == "ended"
        assert await relay.deliver_results() == 0  # delivered rows are not sent again
        history = await handle.fetch_history()
        signals = [
            e.workflow_execution_signaled_event_attributes
            for e in history.events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]
        assert [s.signal_name for s in signals] == ["call_result_signal"]
        assert call.call_id.encode() in signals[0].input.payloads[0].data
    finally:
        await handle.terminate("test finished")


# ---- the chain worker stopped while the webhooks come ----------------------------------------------------

# Results come only through the webhook and the relay here: the chain's own provider poll starts long after.
NO_POLL = FAST.__class__(**{**FAST.__dict__, "call_result_timeout_s": 900, "call_result_grace_s": 900})


class OutageHarness(ChainHarness):
    """ChainHarness with the real Retell provider of the sandbox, whose chain process (chain worker and
    relay, as `leadchain worker chain` runs them) can be stopped and started again."""

    async def start(self) -> OutageHarness:
        self.executor = ThreadPoolExecutor(max_workers=8)
        _campaign(self.app)
        acts = ProviderActivities(self.app, registry(self.app), self.email)
        provider = chain_mod.provider_worker(self.client, acts, self.executor, task_queue=self.provider_queue)
        self._tasks = [asyncio.create_task(chain_mod.worker_runner(provider)(self._stop))]
        await self.start_chain_process()
        return self

    async def start_chain_process(self) -> None:
        self.chain_stop = asyncio.Event()
        worker = chain_mod.chain_worker(self.client, self.app, self.executor, task_queue=self.chain_queue)
        relay = Relay(self.app, self.client, self.settings, poll_s=0.1, task_queue=self.chain_queue)
        self.chain_tasks = [
            asyncio.create_task(chain_mod.worker_runner(worker)(self.chain_stop)),
            asyncio.create_task(relay.run(self.chain_stop)),
        ]

    async def stop_chain_process(self) -> None:
        self.chain_stop.set()
        await asyncio.gather(*self.chain_tasks, return_exceptions=True)

    async def stop(self) -> None:
        await self.stop_chain_process()
        await super().stop()


@pytest.fixture
async def outage(temporal_env, migrated_urls):
    secrets = make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex)
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]},
        secrets=secrets,
        gate_policy=always_open_policy(),
        # The web's Temporal: a port where nothing listens (the web must not need it).
        settings=Settings(temporal_address=f"127.0.0.1:{free_port()}"),
    )
    _wipe(app)
    timed = Timed(app)
    with ServerThread(app) as crm:
        sandbox_app = create_sandbox_app(SandboxConfig(webhook_base=crm.url, step_s=STEP_S))
        with ServerThread(sandbox_app) as sandbox_server:
            set_settings(app, "providers", sandbox_url=sandbox_server.url)
            harness = OutageHarness(app, temporal_env.client, NO_POLL)
            harness.deliver_webhooks = False
            harness.sandbox, harness.sandbox_url, harness.timed = (
                sandbox_app.extensions["sandbox"],
                sandbox_server.url,
                timed,
            )
            await harness.start()
            try:
                yield harness
            finally:
                await harness.stop()
    _wipe(app)


OUTAGE_S = 20.0


async def test_results_reach_their_chains_soon_after_the_chain_worker_returns(outage):
    """(b), scaled: chains wait for their calls' results; the chain worker (with its relay) stops; the
    sandbox's webhooks come in the outage (2xx, fast, the web's Temporal unreachable) and so do new leads
    (202); ~20 s later the worker returns and every result is in its chain within 60 s.
    bench/worker_outage.py runs the 5-minute version."""
    # The sandbox answers each dial at once and sends each of a call's webhooks 5 s after the one before:
    # by then the chains are waiting for their results and the chain worker is stopped.
    httpx.post(f"{outage.sandbox_url}/sandbox/webhook-mode", json={"provider": "retell", "delay_s": 5.0})
    accepted = [
        outage.post_lead({**LEAD, "email": f"p{n}{d}@krause.de", "phone": f"+49 30 231251{n}{d}"})
        for n, d in ((0, 0), (0, 3), (0, 5), (1, 0), (1, 3), (1, 5))
    ]
    chain_ids = [a["chain_id"] for a in accepted]
    for chain_id in chain_ids:
        await outage.stage(chain_id, "waiting_for_result", timeout=60)
    await outage.stop_chain_process()
    stopped_at = time.monotonic()
    steal = CpuSteal().__enter__()

    during = [
        outage.post_lead({**LEAD, "email": f"new{i}@krause.de", "phone": f"+49 30 231252{i:02d}"}) for i in range(5)
    ]
    assert len({a["chain_id"] for a in during}) == 5  # each answered 202 (post_lead checks)
    assert await asyncio.to_thread(outage.sandbox.dispatcher.idle, 30)
    sent = outage.sandbox.dispatcher.sent
    assert len(sent) >= 6 * 2 and all(d.attempts == [200] for d in sent), (
        len(sent),
        len(outage.sandbox.state.list("retell")),
        round(time.monotonic() - stopped_at, 1),
    )
    # Each answered at once, none held the way the old code held them (5 s, then 500). The latency figure is test
    # (a)'s p99 and bench/worker_outage.py's: here the sandbox, the provider worker and the CRM share one Python
    # process and its GIL, so one webhook can wait out another thread's work. 0.5 s was exceeded once in a
    # parallel run on a quiet host; 1 s once in the clean-clone CI (1.13 s, three test workers on two cores, no
    # steal measured); so 2 s, and 3 s where the host or other processes took the CPU (tests/contention.py):
    # still well under the old code's 5 s hold, which is what this assertion tells apart.
    steal.__exit__()
    assert max(outage.timed.samples) < steal.limit(2.0, 3.0), outage.timed.samples
    # The sandbox's dispatcher can be idle between one call's scripted events (seen in CI: 5 of 6 results
    # stored at that moment), so wait for the last call's result to be stored too: each waits, none is
    # delivered while no chain worker runs.
    pending, until = 0, time.monotonic() + 30
    while time.monotonic() < until:
        pending = outage.db(call_outbox.pending_count)
        if pending >= len(chain_ids):
            break
        await asyncio.sleep(0.2)
    assert pending == len(chain_ids)
    # The results that wait through the outage: one per chain, each its chain's first call. A no-answer callee
    # (the phones ending in 5) is called again once its result is in, so a chain can own a later row too.
    waited = {r.event_id: r.chain_id for r in _outbox(outage.app) if r.chain_id in chain_ids}
    assert sorted(waited.values()) == sorted(chain_ids)
    # The run that waits (a chain that goes on to nurture continues as new, and its later run has other calls).
    runs = {chain_id: (await outage.handle(chain_id).describe()).run_id for chain_id in chain_ids}
    await asyncio.sleep(max(0.0, OUTAGE_S - (time.monotonic() - stopped_at)))

    await outage.start_chain_process()
    returned = time.monotonic()
    waiting = set(chain_ids)
    while waiting and time.monotonic() - returned < 60:
        for chain_id in list(waiting):
            try:
                status = await outage.handle(chain_id).query(LeadChainWorkflow.status)
            except Exception:  # noqa: BLE001 - the worker is still starting
                continue
            if status.stage != "waiting_for_result":
                waiting.discard(chain_id)
        await asyncio.sleep(0.2)
    took = time.monotonic() - returned
    assert not waiting, f"still waiting for results after {took:.1f} s: {waiting}"
    # Each waited result reached its chain by the relay (update or signal), once.
    rows = [r for r in _outbox(outage.app) if r.event_id in waited]
    assert len(rows) == len(chain_ids) and all(r.delivered_by in ("update", "signal") for r in rows), [
        (r.chain_id[-6:], r.event_id, r.delivered_by) for r in rows
    ]
    # Each chain took that result once: one record_call_outcome for the call, and no provider poll for it.
    for event_id, chain_id in waited.items():
        call_id = event_id.split(":", 1)[1].encode()
        history = await outage.client.get_workflow_handle(chain_id, run_id=runs[chain_id]).fetch_history()
        scheduled = [
            (
                e.activity_task_scheduled_event_attributes.activity_type.name,
                b"".join(p.data for p in e.activity_task_scheduled_event_attributes.input.payloads),
            )
            for e in history.events
            if e.HasField("activity_task_scheduled_event_attributes")
        ]
        recorded = [name for name, data in scheduled if name == "record_call_outcome" and call_id in data]
        polled = [name for name, data in scheduled if name == "fetch_call_result" and call_id in data]
        assert len(recorded) == 1 and not polled, (chain_id, [name for name, _ in scheduled])
