"""Entry points of the worker processes (`leadchain worker NAME`)."""

from __future__ import annotations

import asyncio
import logging
import os
import signal

from activities.provider_activities import ProviderActivities
from crm import create_app
from crm.config import Settings
from crm.email.factory import build_sender
from crm.observability import install_worker
from crm.observability.temporal import traced_client, worker_interceptors
from crm.observability.tracing import ContextThreadPoolExecutor
from crm.tenancy.temporal_headers import tenant_client
from providers.factory import registry
from voice.bridge.server import BridgeServer, build_bridge
from workers import chain as chain_mod
from workers import demo_window
from workers import reports as reports_mod
from workers.relay import Relay
from workflows.client import connect

log = logging.getLogger(__name__)
WORKERS = ("chain", "provider", "reports", "calendars", "voice-bridge")


def provider_registry(app):
    """Voice providers from the app's settings and secrets (real with a key, the sandbox without)."""
    return registry(app)


def email_sender(app):
    """SendGrid with a key, the sandbox's SendGrid without one (crm.email.factory)."""
    return build_sender(app)


async def run_voice_bridge(app) -> None:
    """The voice bridge (voice.bridge.server) until SIGTERM: running turns finish, open calls are closed
    with 1001 (Retell reconnects to another instance). Temporal is optional here: without it a booking
    still reaches the chain through the post-call webhook, and the client is retried on the next booking."""
    cfg = app.config["LEADCHAIN"]

    async def temporal():
        # The bridge's notices to chains go inside the call's company scope: the header carries it.
        return traced_client(tenant_client(await connect(cfg.temporal_address, cfg.temporal_namespace)))

    client = None
    try:
        client = await asyncio.wait_for(temporal(), 10)
    except Exception as e:  # noqa: BLE001 - any failure: run without, connect later
        log.warning(
            "voice bridge: Temporal at %s not reachable (%s); continuing without it",
            cfg.temporal_address,
            type(e).__name__,
        )
    bridge = build_bridge(app, temporal_client=client, temporal_connect=temporal)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await BridgeServer(bridge).serve_until(stop)
    finally:
        bridge.tools_factory.close()


async def run(name: str) -> None:
    settings = Settings.from_env(os.environ)  # the process's one read of its settings
    # JSON logs with personal data redacted, the tracer, and this worker's /metrics port (docs/observability.md)
    observed = install_worker(name, settings.observability, serve=name != "voice-bridge")  # bridge: own metrics
    # A demo-only calling window must never reach a real deployment: refuse to start with it there.
    # (LEADCHAIN_DEMO_ANYTIME is a launcher flag, checked on the raw environment before anything starts.)
    demo_window.check_allowed(os.environ)
    if demo_window.requested(os.environ):
        log.warning("%s", demo_window.NOTICE)
    app = create_app(settings=settings)
    cfg = app.config["LEADCHAIN"]
    if name == "voice-bridge":
        await run_voice_bridge(app)
        log.info("%s worker stopped", name)
        return
    # Starts and signals carry the company header; the Workers built on this client bind it in activities
    # and copy it to what workflows schedule (crm.tenancy.temporal_headers), and carry the trace.
    client = traced_client(tenant_client(await connect(cfg.temporal_address, cfg.temporal_namespace)))
    interceptors = worker_interceptors(observed.metrics)
    executor = ContextThreadPoolExecutor(max_workers=16, thread_name_prefix=f"{name}-activity")
    if name == "chain":
        relay = Relay(app, client, chain_mod.chain_settings(settings))
        worker = chain_mod.chain_worker(client, app, executor, interceptors=interceptors)
        await chain_mod.run_until_signalled(chain_mod.worker_runner(worker), chain_mod.relay_runner(relay))
    elif name == "provider":
        acts = ProviderActivities(app, provider_registry(app), email_sender(app))
        worker = chain_mod.provider_worker(client, acts, executor, interceptors=interceptors)
        await chain_mod.run_until_signalled(chain_mod.worker_runner(worker))
    elif name == "reports":
        await reports_mod.run(app, client, interceptors)
    elif name == "calendars":
        from workers import calendars as calendars_mod  # issue 18: the calendar sync workflows

        await calendars_mod.run(app, client, interceptors)
    else:
        raise SystemExit(f"unknown worker {name!r}; choose one of {', '.join(WORKERS)}")
    executor.shutdown(wait=False, cancel_futures=True)
    log.info("%s worker stopped", name)
