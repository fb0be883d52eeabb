"""`leadchain worker chain`: the lead chain workflows, the CRM activities and the outbox relay."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from flask import Flask
from temporalio.client import Client
from temporalio.worker import Interceptor, Worker

from activities.crm_activities import CrmActivities
from activities.provider_activities import ProviderActivities
from crm.config import Settings, SettingsError
from workers.relay import Relay
from workers.shutdown import graceful_shutdown_timeout
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import CHAIN_TASK_QUEUE, PROVIDER_TASK_QUEUE, ChainSettings

# A workflow task waits at most this long on the worker's sticky queue before it goes to the task queue
# itself, where the companies' fairness keys apply (workers/relay.py). Sticky queues are per worker and
# dispatch in order: on the dev server, with one company's 300 ten-activity workflows queued, another
# company's waited 51-62 s behind them, 8-13 s with this fallback, the backlog's own time about the same
# (tests/tenancy/test_fairness.py keeps the effect; bench/fairness.py measures the chain). Without a backlog
# a sticky task is taken at once, so this costs nothing then.
STICKY_FALLBACK = timedelta(seconds=1)


def chain_worker(
    client: Client,
    app: Flask,
    executor: ThreadPoolExecutor,
    *,
    task_queue: str = CHAIN_TASK_QUEUE,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    # Running activities get the grace period to finish on SIGTERM (workers/shutdown.py).
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[LeadChainWorkflow],
        activities=CrmActivities(app).all(),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        graceful_shutdown_timeout=graceful_shutdown_timeout(),
        sticky_queue_schedule_to_start_timeout=STICKY_FALLBACK,
        interceptors=interceptors,  # activity metrics (crm.observability.temporal)
    )


def provider_worker(
    client: Client,
    activities: ProviderActivities,
    executor: ThreadPoolExecutor,
    *,
    task_queue: str = PROVIDER_TASK_QUEUE,
    max_per_second: float | None = None,
    interceptors: Sequence[Interceptor] = (),
) -> Worker:
    # The rate limit is per task queue, across all provider workers: it protects the provider's quota.
    return Worker(
        client,
        task_queue=task_queue,
        activities=activities.all(),
        activity_executor=executor,
        max_concurrent_activities=executor._max_workers,
        max_task_queue_activities_per_second=max_per_second,
        graceful_shutdown_timeout=graceful_shutdown_timeout(),
        interceptors=interceptors,
    )


async def run_until_signalled(*runners) -> None:
    """Run workers/tasks until SIGTERM or SIGINT, then shut down cleanly (activities finish or time out)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(r(stop)) for r in runners]
    await stop.wait()
    await asyncio.gather(*tasks, return_exceptions=True)


def worker_runner(worker: Worker):
    async def run(stop: asyncio.Event) -> None:
        task = asyncio.create_task(worker.run())
        await stop.wait()
        await worker.shutdown()
        await task

    return run


def relay_runner(relay: Relay):
    return relay.run


def chain_settings(settings: Settings) -> ChainSettings:
    """The chain workflow's settings: LEADCHAIN_CHAIN_SETTINGS's overrides (Settings.chain) over the defaults."""
    try:
        return ChainSettings(**settings.chain.overrides)
    except TypeError as e:
        raise SettingsError("LEADCHAIN_CHAIN_SETTINGS", f"not a ChainSettings field ({e})") from None
