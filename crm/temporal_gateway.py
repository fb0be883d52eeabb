"""The web's line to Temporal: signals and queries from synchronous Flask views.

Flask views are synchronous and the Temporal client is asyncio; one background event loop per process
holds one client (gunicorn forks first, so each worker process makes its own on first use).
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

from flask import Flask, current_app
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowUpdateFailedError
from temporalio.service import RPCError, RPCStatusCode

from workflows.client import connect
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import CallResult, ChainStatus


class TemporalUnavailable(RuntimeError):
    pass


class ChainNotRunning(LookupError):
    pass


class TemporalGateway:
    def __init__(self, address: str, namespace: str) -> None:
        self.address, self.namespace = address, namespace
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: Client | None = None
        self._lock = threading.Lock()

    def _ensure_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or not self._loop.is_running():
                loop = asyncio.new_event_loop()
                threading.Thread(target=loop.run_forever, name="temporal-gateway", daemon=True).start()
                self._loop, self._client = loop, None
            return self._loop

    async def _get_client(self) -> Client:
        if self._client is None:
            self._client = await connect(self.address, self.namespace)
        return self._client

    def run(self, fn: Callable[[Client], Awaitable[Any]], timeout: float = 10.0) -> Any:
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
        except (ConnectionError, OSError, RuntimeError) as e:
            if isinstance(e, RPCError):
                raise
            with self._lock:
                self._client = None
            raise TemporalUnavailable(f"cannot reach Temporal: {type(e).__name__}") from None

    def signal(self, chain_id: str, signal: Callable[..., Any], arg: Any = None) -> None:
        """Send one of the chain's signals, named by the workflow's method (`LeadChainWorkflow.pause`), so
        a renamed or misspelt signal is an error here and not a signal the chain silently never handles."""

        async def send(client: Client):
            handle = client.get_workflow_handle(chain_id)
            description = await handle.describe()

            if description.status != WorkflowExecutionStatus.RUNNING:
                raise ChainNotRunning("the lead's chain is not running")
            await (handle.signal(signal) if arg is None else handle.signal(signal, arg))

        self.run(send)

    def status(self, chain_id: str) -> ChainStatus | None:
        async def query(client: Client):
            handle = client.get_workflow_handle(chain_id)
            description = await handle.describe()

            if description.status != WorkflowExecutionStatus.RUNNING:
                return None
            return await handle.query(LeadChainWorkflow.status)

        return self.run(query)


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
        except TimeoutError:
            await handle.signal(LeadChainWorkflow.call_result_signal, result)
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
        gw = TemporalGateway(cfg.temporal_address, cfg.temporal_namespace)
        app.extensions["leadchain.temporal"] = gw
    return gw
