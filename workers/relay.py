"""The outbox relay: starts or signals the chain of every stored submission until Temporal has it.

Runs inside the chain worker (and in tests on its own). Signal-with-start makes a redelivery harmless:
a running chain gets the signal (and ignores a submission it has seen), a missing one is started.
"""
from __future__ import annotations

import asyncio
import logging

from flask import Flask
from temporalio.client import Client

from crm.services import submissions
from workflows.payloads import CHAIN_TASK_QUEUE, ChainInput, ChainSettings, SubmissionRef

log = logging.getLogger(__name__)


class Relay:
    def __init__(self, app: Flask, client: Client, settings: ChainSettings | None = None, *,
                 poll_s: float = 0.25, batch: int = 200, task_queue: str = CHAIN_TASK_QUEUE) -> None:
        self.app, self.client = app, client
        self.settings = settings or ChainSettings()
        self.poll_s, self.batch, self.task_queue = poll_s, batch, task_queue

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
            "LeadChainWorkflow", ChainInput(chain_id=chain_id, settings=self.settings), id=chain_id,
            task_queue=self.task_queue, start_signal="submission", start_signal_args=[SubmissionRef(submission_id)])

    async def run_once(self) -> int:
        rows = await asyncio.to_thread(self._pending)
        if not rows:
            return 0
        results = await asyncio.gather(*(self._dispatch(i, c) for i, c in rows), return_exceptions=True)
        ok = [i for (i, _), r in zip(rows, results) if not isinstance(r, BaseException)]
        failed = [(i, f"{type(r).__name__}: {r}") for (i, _), r in zip(rows, results) if isinstance(r, BaseException)]
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
            except Exception:  # noqa: BLE001 - the relay must outlive a database or Temporal outage
                log.exception("relay pass failed; retrying")
                moved, backoff = 0, min(backoff * 2, 10.0)
            if not moved:
                try:
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                except asyncio.TimeoutError:
                    pass
