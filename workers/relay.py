"""The outbox relay: starts or signals the chain of every stored submission until Temporal has it.

Runs inside the chain worker (and in tests on its own). Signal-with-start makes a redelivery harmless:
a running chain gets the signal (and ignores a submission it has seen), a missing one is started.

It also carries admins' settings changes to chains that wait for a calling window: their timer was
set from the old calling hours, so each gets `settings_changed` and checks the gate again. The change is
read from the audit log (any `setting.*` entry newer than the last one broadcast), so a change made while
Temporal or this worker was down still reaches the chains once both are up (the first pass after a start
always broadcasts: one extra gate check per waiting chain is cheap).

And it delivers calls' final results from the provider-event outbox (crm/services/call_outbox.py,
docs/reliability.md §3.5): the webhook stored the result and answered; here it goes to its chain as the `call_result`
update with a short RPC deadline, or, when no chain worker accepts it in time (the SDK raises
WorkflowUpdateRPCTimeoutOrCancelledError), as the durable `call_result_signal`. A chain that is gone
(NOT_FOUND) needs nothing more. A failed attempt waits call_outbox.backoff_s before the next; each pass
tries at most `results_batch` rows once.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.service import RPCError, RPCStatusCode

from crm.extensions import db
from crm.models import AuditEntry
from crm.services import call_outbox, submissions
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import (
    CHAIN_TASK_QUEUE,
    LEAD_STAGE_ATTRIBUTE,
    CallResult,
    ChainInput,
    ChainSettings,
    SubmissionRef,
)
from workflows.vocabulary import ChainStage

log = logging.getLogger(__name__)

# How long the update may wait for a chain worker to accept it before the result goes as a signal.
RESULT_RPC_TIMEOUT_S = 2.0
# Temporal's answers that mean "not now" (try the signal, then again later), and "that chain is gone".
_TRANSIENT = (RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED)


class Relay:
    def __init__(
        self,
        app: Flask,
        client: Client,
        settings: ChainSettings | None = None,
        *,
        poll_s: float = 0.25,
        batch: int = 200,
        task_queue: str = CHAIN_TASK_QUEUE,
        settings_poll_s: float = 10.0,
        results_batch: int = 100,
        result_rpc_timeout_s: float = RESULT_RPC_TIMEOUT_S,
    ) -> None:
        self.app, self.client = app, client
        self.settings = settings or ChainSettings()
        self.poll_s, self.batch, self.task_queue = poll_s, batch, task_queue
        self.settings_poll_s = settings_poll_s
        self.results_batch, self.result_rpc_timeout_s = results_batch, result_rpc_timeout_s
        self._settings_seen: int | None = None  # the newest settings audit id already broadcast
        self._settings_checked_at = float("-inf")

    def _latest_settings_change(self) -> int:
        with self.app.app_context():
            try:
                return (
                    db.session.scalar(
                        sa.select(sa.func.coalesce(sa.func.max(AuditEntry.id), 0)).where(
                            AuditEntry.entity_type == "app_setting", AuditEntry.action.like("setting.%")
                        )
                    )
                    or 0
                )
            finally:
                db.session.remove()

    async def broadcast_settings(self, force: bool = False) -> int:
        """Signal `settings_changed` to this queue's chains that wait for a calling window, when the
        settings changed since the last broadcast. Returns how many chains were signalled."""
        latest = await asyncio.to_thread(self._latest_settings_change)
        if not force and self._settings_seen is not None and latest <= self._settings_seen:
            return 0
        query = (
            f'{LEAD_STAGE_ATTRIBUTE} = "{ChainStage.WAITING_FOR_WINDOW}" AND ExecutionStatus = "Running"'
            f' AND TaskQueue = "{self.task_queue}"'
        )
        signalled = 0
        async for execution in self.client.list_workflows(query):
            try:
                await self.client.get_workflow_handle(execution.id).signal(LeadChainWorkflow.settings_changed)
                signalled += 1
            except Exception as e:  # noqa: BLE001 - it ended meanwhile; the others still get theirs
                log.info("settings_changed not delivered to a chain: %s", type(e).__name__)
        self._settings_seen = latest
        if signalled:
            log.info("settings changed: %d waiting chains check their calling window again", signalled)
        return signalled

    def _pending(self) -> list[tuple[int, str]]:
        with self.app.app_context():
            return submissions.pending(self.batch)

    def _mark(self, ok: list[int], failed: list[tuple[int, str]]) -> None:
        with self.app.app_context():
            submissions.mark_dispatched(ok)
            for submission_id, error in failed:
                submissions.mark_failed(submission_id, error)

    async def _dispatch(self, submission_id: int, chain_id: str) -> None:
        await self.client.start_workflow(
            LeadChainWorkflow.run,
            ChainInput(chain_id=chain_id, settings=self.settings),
            id=chain_id,
            task_queue=self.task_queue,
            # start_signal takes a name only; @workflow.signal names the signal after its method.
            start_signal=LeadChainWorkflow.submission.__name__,
            start_signal_args=[SubmissionRef(submission_id)],
        )

    async def run_once(self) -> int:
        rows = await asyncio.to_thread(self._pending)
        if not rows:
            return 0
        results = await asyncio.gather(*(self._dispatch(i, c) for i, c in rows), return_exceptions=True)
        # gather answers one result per row, in order.
        paired = list(zip(rows, results, strict=True))
        ok = [i for (i, _), r in paired if not isinstance(r, BaseException)]
        failed = [(i, f"{type(r).__name__}: {r}") for (i, _), r in paired if isinstance(r, BaseException)]
        for submission_id, error in failed:
            log.warning("submission %s not yet handed to its chain: %s", submission_id, error[:200])
        await asyncio.to_thread(self._mark, ok, failed)
        return len(ok)

    # ---- calls' results (the provider-event outbox) ----------------------------------------------------

    def _due_results(self) -> list[tuple[int, str, CallResult]]:
        with self.app.app_context():
            try:
                return call_outbox.due(self.results_batch)
            finally:
                db.session.remove()

    def _mark_results(self, done: list[tuple[int, str]], failed: list[tuple[int, str]]) -> None:
        with self.app.app_context():
            try:
                call_outbox.mark_delivered(done)
                call_outbox.mark_failed(failed)
            finally:
                db.session.remove()

    async def deliver_result(self, chain_id: str, result: CallResult) -> str:
        """Hand one result to its chain: "update", "signal", or "ended" (the chain is gone). Raises when
        Temporal could take neither (the row is tried again later)."""
        handle = self.client.get_workflow_handle(chain_id)
        deadline = timedelta(seconds=self.result_rpc_timeout_s)
        try:
            await asyncio.wait_for(
                handle.execute_update(LeadChainWorkflow.call_result, result, id=result.event_id, rpc_timeout=deadline),
                self.result_rpc_timeout_s + 1.0,
            )
            return "update"
        except WorkflowUpdateFailedError:
            return "update"  # the validator: the chain already has this call's result
        except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
            pass  # no chain worker took it in time: the signal is durable without one
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                return "ended"
            if e.status not in _TRANSIENT:
                raise
        try:
            await handle.signal(LeadChainWorkflow.call_result_signal, result, rpc_timeout=deadline)
        except RPCError as e:
            if e.status == RPCStatusCode.NOT_FOUND:
                return "ended"
            raise
        return "signal"

    async def deliver_results(self) -> int:
        """One pass over the due results: each tried once. Returns how many were delivered."""
        rows = await asyncio.to_thread(self._due_results)
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self.deliver_result(c, r) for _, c, r in rows), return_exceptions=True)
        paired = list(zip(rows, outcomes, strict=True))
        done = [(row[0], how) for row, how in paired if isinstance(how, str)]
        failed = [(row[0], f"{type(e).__name__}: {e}") for row, e in paired if isinstance(e, BaseException)]
        for row_id, error in failed:
            log.warning("call result %s not yet delivered to its chain: %s", row_id, error[:200])
        await asyncio.to_thread(self._mark_results, done, failed)
        return len(done)

    async def run(self, stop: asyncio.Event) -> None:
        backoff = self.poll_s
        while not stop.is_set():
            try:
                moved = await self.run_once()
                moved += await self.deliver_results()
                backoff = self.poll_s
                now = asyncio.get_running_loop().time()
                if now - self._settings_checked_at >= self.settings_poll_s:
                    self._settings_checked_at = now
                    await self.broadcast_settings()
            except Exception:  # noqa: BLE001 - the relay must outlive a database or Temporal outage
                log.exception("relay pass failed; retrying")
                moved, backoff = 0, min(backoff * 2, 10.0)
            if not moved:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                except TimeoutError:
                    pass
