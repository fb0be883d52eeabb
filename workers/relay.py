"""The outbox relay: starts or signals the chain of every stored submission until Temporal has it.

Runs inside the chain worker (and in tests on its own). Signal-with-start makes a redelivery harmless:
a running chain gets the signal (and ignores a submission it has seen), a missing one is started.

It also carries admins' settings changes to chains that wait for a calling window: their timer was
set from the old calling hours, so each gets `settings_changed` and checks the gate again. The change is
read from the audit log (any `setting.*` entry newer than the last one broadcast), so a change made while
Temporal or this worker was down still reaches the chains once both are up (the first pass after a start
always broadcasts: one extra gate check per waiting chain is cheap).
"""

from __future__ import annotations

import asyncio
import logging

import sqlalchemy as sa
from flask import Flask
from temporalio.client import Client

from crm.extensions import db
from crm.models import AuditEntry
from crm.services import submissions
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import CHAIN_TASK_QUEUE, LEAD_STAGE_ATTRIBUTE, ChainInput, ChainSettings, SubmissionRef
from workflows.vocabulary import ChainStage

log = logging.getLogger(__name__)


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
    ) -> None:
        self.app, self.client = app, client
        self.settings = settings or ChainSettings()
        self.poll_s, self.batch, self.task_queue = poll_s, batch, task_queue
        self.settings_poll_s = settings_poll_s
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

    async def run(self, stop: asyncio.Event) -> None:
        backoff = self.poll_s
        while not stop.is_set():
            try:
                moved = await self.run_once()
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
