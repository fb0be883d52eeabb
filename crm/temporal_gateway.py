"""The web's line to Temporal: signals and queries from synchronous Flask views.

Flask views are synchronous and the Temporal client is asyncio; one background event loop per process
holds one client (gunicorn forks first, so each worker process makes its own on first use).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import timedelta
from typing import Any

from flask import Flask, current_app
from temporalio.client import (
    Client,
    WorkflowExecutionStatus,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from crm.errors import Unavailable
from crm.observability.temporal import traced_client
from crm.tenancy.temporal_headers import tenant_client
from workflows.client import connect
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import CallResult, ChainStatus


class TemporalUnavailable(Unavailable):
    """Temporal did not answer within the gateway's RPC timeout (a 503 with Retry-After where no view
    handles it itself)."""

    message = "Temporal is unavailable, retry later"


class ChainNotRunning(LookupError):
    pass


CONNECT_TIMEOUT_S = 5.0  # one connect attempt in the background; callers stop waiting at their own bound


class TemporalGateway:
    """Every call is bounded: each RPC carries `rpc_timeout_s` (the server's deadline) and the calling
    thread waits at most that plus a small margin, then raises TemporalUnavailable (issue 14 item 2). A
    Temporal that accepts TCP and never answers costs a request `rpc_timeout_s`, never a web worker."""

    def __init__(self, address: str, namespace: str, rpc_timeout_s: float = 1.0) -> None:
        self.address, self.namespace = address, namespace
        self.rpc_timeout_s = rpc_timeout_s
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None
        self._connecting: asyncio.Future[Client] | None = None
        self._lock = threading.Lock()

    @property
    def rpc_timeout(self) -> timedelta:
        """The deadline handed to each RPC (describe, signal, query, start...)."""
        return timedelta(seconds=self.rpc_timeout_s)

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="temporal-gateway", daemon=True).start()
                self._loop, self._client = loop, None
            return self._loop

    async def _get_client(self) -> Client:
        """The client; one connect at a time, shared by every waiting call and bounded on its own, so
        calls that give up neither cancel it nor start a pile of new ones."""
        if self._client is not None:
            return self._client
        if self._connecting is None or self._connecting.done():
            self._connecting = asyncio.ensure_future(asyncio.wait_for(self._connect(), CONNECT_TIMEOUT_S))
            # Read by the next call when every waiting one gave up (no "exception never retrieved").
            self._connecting.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._client = await asyncio.shield(self._connecting)
        return self._client

    async def _connect(self) -> Client:
        # The company header (the request's scope, docs/tenancy.md) and the trace (issue 14: a workflow the
        # web starts or signals is a child of the request's span) travel with every start, signal, update.
        return traced_client(tenant_client(await connect(self.address, self.namespace)))

    def run(self, fn: Callable[[Client], Awaitable[Any]], timeout: float | None = None) -> Any:
        """Run `fn(client)` on the gateway's loop; the caller waits at most `timeout` (default: the RPC
        timeout plus a quarter second). `fn` runs in a copy of the caller's context (run_coroutine_threadsafe
        schedules it with call_soon_threadsafe, which copies the calling thread's context), so the request's
        company scope and span are the ones the interceptors read."""
        timeout = self.rpc_timeout_s + 0.25 if timeout is None else timeout
        loop = self._ensure_loop()

        async def call():
            return await fn(await self._get_client())

        future = asyncio.run_coroutine_threadsafe(call(), loop)
        try:
            return future.result(timeout)
        except FutureTimeout:
            future.cancel()
            raise TemporalUnavailable("Temporal did not answer in time") from None
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                raise ChainNotRunning("the lead's chain is not running") from None
            if e.status in (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED):
                raise TemporalUnavailable(str(e)) from None
            raise
        except (ConnectionError, OSError, RuntimeError, TimeoutError) as e:
            if isinstance(e, RPCError | TemporalUnavailable):
                raise
            with self._lock:
                self._client = None
            raise TemporalUnavailable(f"cannot reach Temporal: {type(e).__name__}") from None

    def signal(self, chain_id: str, signal: Callable[..., Any], arg: Any = None) -> None:
        """Send one of the chain's signals, named by the workflow's method (`LeadChainWorkflow.pause`), so
        a renamed or misspelt signal is an error here and not a signal the chain silently never handles."""

        async def send(client: Client):
            handle = client.get_workflow_handle(chain_id)
            description = await handle.describe(rpc_timeout=self.rpc_timeout)

            if description.status != WorkflowExecutionStatus.RUNNING:
                raise ChainNotRunning("the lead's chain is not running")
            args = () if arg is None else (arg,)
            await handle.signal(signal, *args, rpc_timeout=self.rpc_timeout)

        self.run(send)

    def status(self, chain_id: str) -> ChainStatus | None:
        async def query(client: Client):
            handle = client.get_workflow_handle(chain_id)
            description = await handle.describe(rpc_timeout=self.rpc_timeout)

            if description.status != WorkflowExecutionStatus.RUNNING:
                return None
            return await handle.query(LeadChainWorkflow.status, rpc_timeout=self.rpc_timeout)

        return self.run(query)

    def check(self, timeout_s: float) -> None:
        """Readiness: Temporal's health RPC answered SERVING within `timeout_s`, else TemporalUnavailable."""

        async def health(client: Client) -> bool:
            return await client.service_client.check_health(timeout=timedelta(seconds=timeout_s))

        if not self.run(health, timeout=timeout_s):
            raise TemporalUnavailable("Temporal is not serving")


def deliver_call_result(gw: TemporalGateway, chain_id: str, result: CallResult) -> str:
    """Hand a call's result to its chain: an update (deduplicated by id), or, when no worker answers in
    time, the same result as a durable signal. Returns "update", "signal" or "ended"."""

    async def send(client: Client) -> str:
        handle = client.get_workflow_handle(chain_id)
        try:
            await asyncio.wait_for(
                handle.execute_update(LeadChainWorkflow.call_result, result, id=result.event_id), timeout=5
            )
            return "update"
        except WorkflowUpdateFailedError:
            return "update"  # validator: the chain already has this call's result
        except (TimeoutError, WorkflowUpdateRPCTimeoutOrCancelledError):  # the SDK's own timeout is the latter
            await handle.signal(LeadChainWorkflow.call_result_signal, result, rpc_timeout=gw.rpc_timeout)
            return "signal"

    try:
        return gw.run(send, timeout=15)
    except ChainNotRunning:
        return "ended"


def gateway(app: Flask | None = None) -> TemporalGateway:
    app = app or current_app
    gw = app.extensions.get("leadchain.temporal")
    if gw is None:
        cfg = app.config["LEADCHAIN"]
        gw = TemporalGateway(cfg.temporal_address, cfg.temporal_namespace, cfg.temporal_rpc_timeout_s)
        app.extensions["leadchain.temporal"] = gw
    return gw
