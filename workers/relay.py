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

Companies (docs/tenancy.md): the inbox tables are company-owned. The relay reads the pending rows of all
companies in an operator context ("relay", "deliver inbox rows") and handles each row in its own company's
unit of work, so the start, signal or update carries that company's leadchain-company header and the
bookkeeping writes touch that company's rows only. A settings change reaches the waiting chains of its
company only (CompanyId search attribute).

Admission control (docs/tenancy.md "Fair sharing"): the relay starts at most `inflight_capacity` busy
chains (importing, qualifying, placing a call or following it up; BUSY_STAGES) for a company that has the
worker to itself, and at most `inflight_per_company` per company while another company is active (has
rows waiting or had one started in the last `share_grace_s`): work-conserving, the cap bites only when
someone else needs the worker. A company's 20,000-lead import then waits here, in the durable inbox,
instead of as 20,000 started workflows whose first tasks fill the chain worker's workflow-task queue ahead
of every other company's; another company's lead is started on the next pass, its budget untouched. The
chains of a company with a backlog held back here are started at a lower Temporal priority
(BACKLOG_PRIORITY): on every task queue another company's tasks are dispatched before them.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

import sqlalchemy as sa
from flask import Flask
from temporalio.client import Client, WorkflowUpdateFailedError, WorkflowUpdateRPCTimeoutOrCancelledError
from temporalio.common import Priority, SearchAttributePair, TypedSearchAttributes
from temporalio.service import RPCError, RPCStatusCode

from activities import relay_notify
from crm.config import ChainEnvSettings
from crm.email.factory import build_sender
from crm.extensions import db
from crm.inbound import missed as missed_calls
from crm.models import AuditEntry, CallResultDelivery, Lead, LeadSubmission
from crm.models.types import utcnow
from crm.services import call_outbox, submissions, twilio_calls
from crm.services.appointment_sweep import SWEEP_EVERY_S, sweep
from crm.services.inbox_purge import purge_inboxes
from crm.tenancy.context import operator_scope, unit_of_work
from workers.relay_wake import RelayWake
from workflows.lead_chain import LeadChainWorkflow
from workflows.payloads import (
    CHAIN_TASK_QUEUE,
    COMPANY_ID,
    COMPANY_ID_ATTRIBUTE,
    LEAD_STAGE_ATTRIBUTE,
    LEGACY_COMPANY_ID,
    CallResult,
    ChainInput,
    ChainSettings,
    SubmissionRef,
    fairness_key,
)
from workflows.vocabulary import ChainStage

log = logging.getLogger(__name__)

# How long the update may wait for a chain worker to accept it before the result goes as a signal.
RESULT_RPC_TIMEOUT_S = 2.0
PURGE_EVERY_S = 3600.0
# The lead stages (lead.chain_stage, written by the record_timeline activity on every stage change) in which
# a started chain keeps the chain worker busy: import, qualification, placing the call and its follow-up. A
# chain in one of them (or with no stage reported yet) holds its company's admission budget; one that waits
# (for a call's result, a calling window, a retry, the nurture sequence) or has ended does not, so a
# company's calls in progress are not capped by the budget. bench/fairness.py measured this against
# counting only until qualification (NOT_YET_PAST_QUALIFYING): p95 ratio 6.0 against 19.9 (docs/tenancy.md).
# The tuple lives beside the step that wakes the relay when a lead leaves one of them (activities.relay_notify).
BUSY_STAGES = relay_notify.BUSY_STAGES
NOT_YET_PAST_QUALIFYING = (ChainStage.IMPORTING.value, ChainStage.QUALIFYING.value)
# Temporal priority keys (1 first .. 5 last; unset is 3): a chain started while its company has more rows
# waiting than it may start is bulk work, dispatched after other chains on every queue it uses (its
# activities inherit the key). Fairness keys still share each priority level across companies.
BACKLOG_PRIORITY = 4
# A company that had a chain started this recently counts as active: a steady trickle of leads (one every
# few seconds) keeps its share of the worker reserved between its leads, instead of the other company
# filling the whole capacity in every gap and the next lead meeting all of it.
SHARE_GRACE_S = 30.0
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
        inflight_per_company: int | None = None,
        inflight_lease_s: float | None = None,
        inflight_stages: tuple[str, ...] = BUSY_STAGES,
        inflight_capacity: int | None = None,
        share_grace_s: float = SHARE_GRACE_S,
    ) -> None:
        self.app, self.client = app, client
        self.settings = settings or ChainSettings()
        self.poll_s, self.batch, self.task_queue = poll_s, batch, task_queue
        self.settings_poll_s = settings_poll_s
        self.results_batch, self.result_rpc_timeout_s = results_batch, result_rpc_timeout_s
        # Per company, the newest settings audit id already broadcast (None: nothing broadcast yet).
        self._settings_seen: dict[int, int] | None = None
        self._settings_checked_at = float("-inf")
        self.settings_broadcast_failures = 0  # failed broadcasts since start (_broadcast_guarded)
        self._purged_at = float("-inf")  # inbox retention (crm/services/inbox_purge.py): at most once an hour
        self._swept_at = float("-inf")  # appointment reminders, no-shows, their mails: about once a minute
        # Admission control: the deployment's settings (crm.config.ChainEnvSettings, its defaults for an app
        # configured without them) unless given here.
        chain_env = getattr(app.config.get("LEADCHAIN"), "chain", None) or ChainEnvSettings()
        self.inflight_per_company = (
            inflight_per_company if inflight_per_company is not None else chain_env.relay_inflight_per_company
        )
        self.inflight_lease_s = inflight_lease_s if inflight_lease_s is not None else chain_env.relay_inflight_lease_s
        self.inflight_stages = inflight_stages  # a lead in one of these still holds its company's budget
        # The whole capacity, for a company alone: the deployment's setting when the cap is the deployment's
        # too; a cap given here without a capacity gets twice itself. Never less than the cap.
        capacity = chain_env.relay_inflight_capacity if inflight_per_company is None else 2 * inflight_per_company
        self.inflight_capacity = max(inflight_capacity or capacity, self.inflight_per_company)
        self.share_grace_s = share_grace_s
        # Set by a commit that gives the relay work (PostgreSQL NOTIFY, workers/relay_wake.py): the relay
        # passes at once instead of at the end of its poll.
        self.wake = RelayWake.for_app(app)

    def _latest_settings_changes(self) -> dict[int, int]:
        """{company id: its newest settings audit id}, across companies: the relay's own routing."""
        with self.app.app_context(), operator_scope("relay", "find companies whose settings changed"):
            try:
                rows = db.session.execute(
                    sa.select(AuditEntry.company_id, sa.func.max(AuditEntry.id))
                    .where(AuditEntry.entity_type == "app_setting", AuditEntry.action.like("setting.%"))
                    .group_by(AuditEntry.company_id)
                ).all()
                return {company: latest for company, latest in rows if company is not None}
            finally:
                db.session.remove()

    async def broadcast_settings(self, force: bool = False) -> int:
        """Signal `settings_changed` to this queue's chains that wait for a calling window, for each company
        whose settings changed since the last broadcast (the first pass: every company). Returns how many
        chains were signalled."""
        latest = await asyncio.to_thread(self._latest_settings_changes)
        seen = self._settings_seen
        changed = [c for c, at in sorted(latest.items()) if force or seen is None or at > seen.get(c, 0)]
        if seen is None or force:
            # The first pass broadcasts to every company's waiting chains, those with no change recorded too.
            changed = sorted({*changed, *(await self._waiting_companies())})
        signalled = 0
        for company_id in changed:
            signalled += await self._broadcast_to(company_id)
        self._settings_seen = {**(seen or {}), **latest}
        if signalled:
            log.info("settings changed: %d waiting chains check their calling window again", signalled)
        return signalled

    def _waiting_query(self) -> str:
        return (
            f'{LEAD_STAGE_ATTRIBUTE} = "{ChainStage.WAITING_FOR_WINDOW}" AND ExecutionStatus = "Running"'
            f' AND TaskQueue = "{self.task_queue}"'
        )

    async def _waiting_companies(self) -> set[int]:
        companies = set()
        async for execution in self.client.list_workflows(self._waiting_query()):
            companies.add(execution.typed_search_attributes.get(COMPANY_ID) or LEGACY_COMPANY_ID)
        return companies

    async def _broadcast_to(self, company_id: int) -> int:
        # Chains started before tenancy have no CompanyId: they are company 1's (LEGACY_COMPANY_ID).
        company = f"{COMPANY_ID_ATTRIBUTE} = {company_id}"
        if company_id == LEGACY_COMPANY_ID:
            company = f"({company} OR {COMPANY_ID_ATTRIBUTE} IS NULL)"
        signalled = 0
        with unit_of_work(company_id):
            async for execution in self.client.list_workflows(f"{self._waiting_query()} AND {company}"):
                try:
                    await self.client.get_workflow_handle(execution.id).signal(LeadChainWorkflow.settings_changed)
                    signalled += 1
                except Exception as e:  # noqa: BLE001 - it ended meanwhile; the others still get theirs
                    log.info("settings_changed not delivered to a chain: %s", type(e).__name__)
        return signalled

    def _in_flight(self):
        """Per company, the chains the relay started that are still busy (`inflight_stages`): a subquery
        (company_id, n).

        Counted from the database, not kept as a lease counter in this process: the relay's own
        bookkeeping (dispatched_at) and what the chain's activities record (the submission's processed_at
        from the import, the lead's chain_stage from record_timeline) already say it, survive a restart of
        this worker, and stay right with several relays; the relay must not ask Temporal per row. A row
        counts while it is dispatched and its lead is not known yet (processed_at unset: not imported) or
        its lead's stage is a busy one or not reported yet (a CSV row is processed before it is started,
        so its lead's stage decides). A row dispatched more than `inflight_lease_s` ago counts no more:
        a chain that failed, was terminated or waits for something else cannot hold the budget for good
        (at worst `inflight_per_company` more chains start per lease period)."""
        since = utcnow() - timedelta(seconds=self.inflight_lease_s)
        return (
            sa.select(LeadSubmission.company_id, sa.func.count().label("n"))
            .select_from(LeadSubmission)
            .outerjoin(Lead, Lead.id == LeadSubmission.lead_id)
            .where(
                LeadSubmission.dispatched_at >= since,
                sa.or_(
                    LeadSubmission.processed_at.is_(None),
                    Lead.chain_stage.is_(None),
                    Lead.chain_stage.in_(self.inflight_stages),
                ),
            )
            .group_by(LeadSubmission.company_id)
            .subquery()
        )

    def _budgets(self) -> tuple[dict[int, int], set[int]]:
        """Per active company, how many more chains it may start now; and the companies that have more rows
        waiting than that (a backlog). Work-conserving: a company alone may fill `inflight_capacity`; with
        another company active each is held to `inflight_per_company`."""
        since = utcnow() - timedelta(seconds=self.share_grace_s)
        # One pass over the inbox's recent and waiting rows: the active companies and their waiting rows.
        counts = db.session.execute(
            sa.select(LeadSubmission.company_id, sa.func.count().filter(LeadSubmission.dispatched_at.is_(None)))
            .where(sa.or_(LeadSubmission.dispatched_at.is_(None), LeadSubmission.dispatched_at >= since))
            .group_by(LeadSubmission.company_id)
        ).all()
        active = {c for c, _ in counts}
        waiting = {c: n for c, n in counts if n}
        if not waiting:
            return {}, set()
        flying = self._in_flight()
        busy: dict[int, int] = dict(db.session.execute(sa.select(flying.c.company_id, flying.c.n)).all())
        cap = self.inflight_per_company if len(active) > 1 else self.inflight_capacity
        free = {c: cap - busy.get(c, 0) for c in waiting}
        backlog = {c for c, n in waiting.items() if n > max(free[c], 0)}
        return {c: n for c, n in free.items() if n > 0}, backlog

    def _pending(self) -> list[tuple[int, str, int, bool]]:
        """Undelivered submissions, taken round-robin across companies (each company's oldest first):
        (id, chain id, company id, from a backlog). One company's 20,000-lead import fills a batch only when
        no other company has a lead waiting, so another company's lead waits at most one pass
        (docs/tenancy.md). Each company gets at most its free admission budget (_budgets); the rest of its
        rows wait here for a later pass."""
        with self.app.app_context(), operator_scope("relay", "deliver inbox rows"):
            try:
                free, backlog = self._budgets()
                if not free:
                    return []
                turn = (
                    sa.func.row_number()
                    .over(partition_by=LeadSubmission.company_id, order_by=LeadSubmission.id)
                    .label("turn")
                )
                waiting = (
                    sa.select(LeadSubmission.id, LeadSubmission.chain_id, LeadSubmission.company_id, turn)
                    .where(LeadSubmission.dispatched_at.is_(None), LeadSubmission.company_id.in_(sorted(free)))
                    .subquery()
                )
                rows = db.session.execute(
                    sa.select(waiting.c.id, waiting.c.chain_id, waiting.c.company_id)
                    .where(waiting.c.turn <= sa.case(free, value=waiting.c.company_id, else_=0))
                    .order_by(waiting.c.turn, waiting.c.id)
                    .limit(self.batch)
                ).all()
            finally:
                db.session.remove()
        return [(r.id, r.chain_id, r.company_id, r.company_id in backlog) for r in rows]

    def _mark(self, ok: list[tuple[int, int]], failed: list[tuple[int, int, str]]) -> None:
        """Record the outcome of each row in its own company's unit of work."""
        with self.app.app_context():
            try:
                for company_id in sorted({c for _, c in ok}):
                    with unit_of_work(company_id):
                        submissions.mark_dispatched([i for i, c in ok if c == company_id])
                for submission_id, company_id, error in failed:
                    with unit_of_work(company_id):
                        submissions.mark_failed(submission_id, error)
            finally:
                db.session.remove()

    async def _dispatch(self, submission_id: int, chain_id: str, company_id: int, backlog: bool = False) -> None:
        # The company scope puts the leadchain-company header on the start (crm.tenancy.temporal_headers):
        # every activity of the chain runs in this company's scope.
        with unit_of_work(company_id):
            await self.client.start_workflow(
                LeadChainWorkflow.run,
                ChainInput(chain_id=chain_id, settings=self.settings, company_id=company_id),
                id=chain_id,
                task_queue=self.task_queue,
                search_attributes=TypedSearchAttributes([SearchAttributePair(COMPANY_ID, company_id)]),
                # Task-queue fairness: the chain's workflow and activity tasks (which inherit the key) are
                # dispatched round-robin across companies on every queue, the provider's rate limit too.
                # A company's backlog goes after everyone's other work (BACKLOG_PRIORITY).
                priority=Priority(
                    priority_key=BACKLOG_PRIORITY if backlog else None, fairness_key=fairness_key(company_id)
                ),
                # start_signal takes a name only; @workflow.signal names the signal after its method.
                start_signal=LeadChainWorkflow.submission.__name__,
                start_signal_args=[SubmissionRef(submission_id)],
            )

    async def run_once(self) -> int:
        rows = await asyncio.to_thread(self._pending)
        if not rows:
            return 0
        results = await asyncio.gather(*(self._dispatch(*row) for row in rows), return_exceptions=True)
        # gather answers one result per row, in order.
        paired = list(zip(rows, results, strict=True))
        ok = [(i, co) for (i, _, co, _), r in paired if not isinstance(r, BaseException)]
        failed = [(i, co, f"{type(r).__name__}: {r}") for (i, _, co, _), r in paired if isinstance(r, BaseException)]
        for submission_id, _, error in failed:
            log.warning("submission %s not yet handed to its chain: %s", submission_id, error[:200])
        await asyncio.to_thread(self._mark, ok, failed)
        return len(ok)

    # ---- calls' results (the provider-event outbox) ----------------------------------------------------

    def _due_results(self) -> list[tuple[int, str, CallResult, int]]:
        """The due results of every company: (id, chain id, result, company id)."""
        with self.app.app_context(), operator_scope("relay", "deliver inbox rows"):
            try:
                due = call_outbox.due(self.results_batch)
                companies = dict(
                    db.session.execute(
                        sa.select(CallResultDelivery.id, CallResultDelivery.company_id).where(
                            CallResultDelivery.id.in_([row_id for row_id, _, _ in due])
                        )
                    ).all()
                )
            finally:
                db.session.remove()
        return [(row_id, chain_id, result, companies[row_id]) for row_id, chain_id, result in due]

    def _mark_results(self, done: list[tuple[int, str, int]], failed: list[tuple[int, str, int]]) -> None:
        with self.app.app_context():
            try:
                for company_id in sorted({c for *_, c in done} | {c for *_, c in failed}):
                    with unit_of_work(company_id):
                        call_outbox.mark_delivered([(i, how) for i, how, c in done if c == company_id])
                        call_outbox.mark_failed([(i, e) for i, e, c in failed if c == company_id])
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

    async def _deliver_in(self, company_id: int, chain_id: str, result: CallResult) -> str:
        with unit_of_work(company_id):  # the update or signal carries the row's company
            return await self.deliver_result(chain_id, result)

    async def deliver_results(self) -> int:
        """One pass over the due results: each tried once. Returns how many were delivered."""
        rows = await asyncio.to_thread(self._due_results)
        if not rows:
            return 0
        outcomes = await asyncio.gather(*(self._deliver_in(co, c, r) for _, c, r, co in rows), return_exceptions=True)
        paired = list(zip(rows, outcomes, strict=True))
        done = [(row[0], how, row[3]) for row, how in paired if isinstance(how, str)]
        failed = [(row[0], f"{type(e).__name__}: {e}", row[3]) for row, e in paired if isinstance(e, BaseException)]
        for row_id, error, _ in failed:
            log.warning("call result %s not yet delivered to its chain: %s", row_id, error[:200])
        await asyncio.to_thread(self._mark_results, done, failed)
        return len(done)

    def _purge_inboxes(self) -> None:
        with self.app.app_context():
            try:
                done = purge_inboxes(self.app.config["LEADCHAIN"].delivery_retention_days)
                if done.total:
                    log.info("inbox purge: %d rows past retention removed", done.total)
            except Exception:  # noqa: BLE001 - retention can wait for the next hour; delivery cannot
                log.exception("inbox purge failed; next try in an hour")
            finally:
                db.session.remove()

    def _sweep_appointments(self) -> None:
        """Reminders, automatic no-shows and the queued appointment mails (crm/services/appointment_sweep.py)."""
        with self.app.app_context():
            try:
                done = sweep(build_sender(self.app))
                if done.reminders_queued or done.no_shows or done.mails_sent:
                    log.info("appointment sweep: %s", done)
                # Inbound calls that ended with no outcome: a callback task, and a chain call where allowed.
                missed = missed_calls.sweep()
                if missed.abandoned:
                    log.info("missed inbound calls: %s", missed)
            except Exception:  # noqa: BLE001 - a reminder can wait a minute; chains cannot wait for it
                log.exception("appointment sweep failed; next try in a minute")
            finally:
                db.session.remove()
            try:
                # Twilio's price of the own agent's calls still at the estimate (the fetching thread died with
                # its process, or Twilio took longer than it waited).
                if priced := twilio_calls.sweep_prices(self.app):
                    log.info("twilio prices recorded: %d", priced)
            except Exception:  # noqa: BLE001 - a price can wait a minute
                log.exception("twilio price sweep failed; next try in a minute")
            finally:
                db.session.remove()

    async def _broadcast_guarded(self) -> None:
        """The settings broadcast, kept apart from dispatch: a failure here (a visibility query refused, a
        dev server without the CompanyId attribute) is logged and counted, and the pass goes on with the
        same backoff; the next try is one `settings_poll_s` later. It must not hold up starting chains or
        delivering results, which are what leads wait for."""
        try:
            await self.broadcast_settings()
        except Exception as e:  # noqa: BLE001 - waiting chains still re-check their window on their own timer
            self.settings_broadcast_failures += 1
            log.warning("settings broadcast failed (%s); dispatch goes on", type(e).__name__, exc_info=True)

    async def run(self, stop: asyncio.Event) -> None:
        """Pass after pass until `stop`: at once after a pass that moved something, else at the next wake-up
        (a commit that gives the relay work, on PostgreSQL) or after poll_s, the safety net, whichever comes
        first. After a failed pass only the growing backoff (a wake-up does not cut it short)."""
        listening = asyncio.create_task(self.wake.listen(stop))
        try:
            await self._passes(stop)
        finally:
            listening.cancel()
            await asyncio.gather(listening, return_exceptions=True)

    async def _passes(self, stop: asyncio.Event) -> None:
        backoff = self.poll_s
        while not stop.is_set():
            self.wake.clear()  # a notification from now on means a pass after this one
            try:
                moved = await self.run_once()
                moved += await self.deliver_results()
                backoff = self.poll_s
                now = asyncio.get_running_loop().time()
                if now - self._settings_checked_at >= self.settings_poll_s:
                    self._settings_checked_at = now
                    await self._broadcast_guarded()
                if now - self._swept_at >= SWEEP_EVERY_S:
                    self._swept_at = now
                    await asyncio.to_thread(self._sweep_appointments)
                if now - self._purged_at >= PURGE_EVERY_S:
                    self._purged_at = now
                    await asyncio.to_thread(self._purge_inboxes)
            except Exception:  # noqa: BLE001 - the relay must outlive a database or Temporal outage
                log.exception("relay pass failed; retrying")
                moved, backoff = 0, min(backoff * 2, 10.0)
            if not moved:
                await self.wake.wait(stop, backoff, wakeable=backoff == self.poll_s)
