"""The lead chain's state and the messages that change it: signals, the call-result update, the query; and
the wait for a placed call's result that those messages end (or a poll of the provider, when none comes).

LeadChainWorkflow (workflows/lead_chain.py) inherits these, so the workflow module holds only the chain's
steps. Temporal registers handlers of base classes under the same names, so the signal, update and query
names (and the recorded histories) are those of the methods below.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows import activity_refs as act
    from workflows.chain_policies import CRM_RETRY, ChainStopped, chain_key_prefix
    from workflows.payloads import (
        CallbackRequest,
        CallBooking,
        CallPlaced,
        CallResult,
        ChainInput,
        ChainStatus,
        FetchCallInput,
        StepRecord,
        StopSignal,
        SubmissionRef,
    )
    from workflows.vocabulary import ChainStage


class ChainState:
    """What a chain knows between its steps; built from ChainInput (a continued run starts from the last)."""

    def __init__(self, input: ChainInput) -> None:
        self._input = input
        self._settings = input.settings
        self._lead_id = input.lead_id
        self._pending: list[int] = list(input.pending_submissions)
        self._seen: set[int] = set(input.seen_submissions)
        self._history: list[StepRecord] = list(input.history)
        self._stage: str = ChainStage.IMPORTING if input.lead_id is None else ChainStage.CONTINUING
        self._next_step: str | None = None
        self._next_at: datetime | None = None
        self._paused = False
        self._stop: StopSignal | None = None
        self._attempts = 0
        self._calls: dict[str, CallResult | None] = {}
        # Appointments the voice bridge booked during a live call, by call id (signal call_booking).
        self._bookings: dict[str, CallBooking] = {}
        # Windows callers asked to be called back in, by call id (signal callback_request).
        self._callbacks: dict[str, CallbackRequest] = {}
        # Set when the wait for a callback at the caller's stated time is over: the call step calls again.
        self._call_again = False
        # How many callbacks at a stated time this run has waited for: the calls and tasks after one get
        # keys of their own (_callback_suffix).
        self._callback_round = 0
        # A rep asked for a call: the next wait ends early and the score threshold is waived until a call
        # is placed. The compliance part of the gate (consent, do-not-contact, calling hours) still holds.
        self._call_now = False
        self._call_now_waiver = False
        # An admin changed calling hours or the threshold: a wait for the calling window re-checks the gate.
        self._settings_changed = False
        self._generation = input.generation
        # Set when this run found the person's chain finished and a rule kept it so: the stage it ended in.
        self._merged_into: str | None = None
        # The CRM steps run as local activities (PATCH_LOCAL_CRM): decided by run() before its first command.
        self._local_crm = False

    @workflow.signal
    def submission(self, ref: SubmissionRef) -> None:
        # The relay may deliver a submission more than once; each is imported once.
        if ref.submission_id not in self._seen and ref.submission_id not in self._pending:
            self._pending.append(ref.submission_id)

    @workflow.signal
    def pause(self) -> None:
        self._paused = True

    @workflow.signal
    def resume(self) -> None:
        self._paused = False

    @workflow.signal
    def call_now(self) -> None:
        self._call_now = True
        self._call_now_waiver = True

    @workflow.signal
    def settings_changed(self) -> None:
        self._settings_changed = True

    @workflow.signal
    def stop(self, signal: StopSignal) -> None:
        if self._stop is None:
            self._stop = signal

    @workflow.update
    def call_result(self, result: CallResult) -> str:
        self._calls[result.call_id] = result
        return "accepted"

    @workflow.signal(name="call_result_signal")
    def call_result_signal(self, result: CallResult) -> None:
        # The fallback when no worker is up to accept the update: signals are durable without one.
        if self._calls.get(result.call_id) is None:
            self._calls[result.call_id] = result

    @workflow.signal
    def call_booking(self, booking: CallBooking) -> None:
        # Only records: the follow-up of that call reads it (a booking outranks the post-call analysis).
        self._bookings.setdefault(booking.call_id, booking)

    @workflow.signal
    def callback_request(self, request: CallbackRequest) -> None:
        # Only records: the follow-up of that call reads it. A later request for the same call replaces the
        # earlier one (the caller corrected the time). A window without a zone, or ending before it starts,
        # cannot be compared with the workflow's clock: ignored (the usual callback follows).
        after = request.not_after
        if request.not_before.tzinfo is None or (
            after is not None and (after.tzinfo is None or after <= request.not_before)
        ):
            workflow.logger.warning("callback window of call %s ignored: not a UTC range", request.call_id)
            return
        self._callbacks[request.call_id] = request

    @call_result.validator
    def _validate_call_result(self, result: CallResult) -> None:
        # A result may overtake the activity completion that registers its call, so unknown call ids
        # are kept; a second result for one call is rejected (rejections leave no trace in history).
        if self._calls.get(result.call_id) is not None:
            raise ValueError("result for this call already received")

    @workflow.query
    def status(self) -> ChainStatus:
        return ChainStatus(
            chain_id=self._input.chain_id,
            lead_id=self._lead_id,
            stage=self._stage,
            next_step=self._next_step,
            next_at=self._next_at,
            paused=self._paused,
            attempts=self._attempts,
            cycle=self._input.cycle,
            history=self._history[-50:],
        )

    # ---- small helpers on the state (the chain's steps are in workflows/lead_chain.py) ------------------

    @property
    def _lead(self) -> int:
        """The lead's id, for the steps of the cycle: run() imports the lead before the cycle starts."""
        if self._lead_id is None:
            # Unreachable unless the workflow is changed wrongly: failing the workflow task (not the chain)
            # keeps such a bug visible, and the chain resumes once a fixed worker replays it.
            raise RuntimeError("a chain step needs the lead before it was imported")
        return self._lead_id

    def _record(self, stage: str, detail: str) -> None:
        self._history.append(StepRecord(workflow.now(), stage, detail))
        del self._history[:-100]

    def _raise_if_stopped(self) -> None:
        if self._stop is not None:
            # The chain ends in the stage its StopReason names (crm.services.chain_reopen counts them final).
            raise ChainStopped(self._stop.reason)

    def _called_this_cycle(self) -> bool:
        """A call step ran in this cycle: a new submission during the nurture after it is merged and
        re-scored, and does not repeat the call (a person who said "not interested" is not rung again
        because an old list was imported). Before any attempt, a new form fill re-qualifies at once."""
        return self._attempts > 0

    def _key_prefix(self) -> str:
        """Business keys of this chain's side effects. A re-opened chain's keys carry its generation, so
        they never meet the first run's (generation 0 keeps the original keys: recorded histories)."""
        return chain_key_prefix(self._input.chain_id, self._generation)

    def _callback_suffix(self) -> str:
        """Keys of the calls and tasks after a callback at the caller's stated time: their own, so the
        provider's ledger and the CRM's task keys do not answer them with the earlier call or task (empty
        before any: recorded histories keep their keys)."""
        return f":cb{self._callback_round}" if self._callback_round else ""

    # ---- waiting for a placed call's result (delivered by the handlers above, or polled) ----------------

    async def _await_result(self, placed: CallPlaced) -> None:
        """Wait for the call's result (the webhook's, through the outbox and the relay). Missing after
        call_result_grace_s, the chain asks the provider, every call_poll_interval_s, until as late as the
        code before the grace gave up (ChainSettings)."""
        settings = self._settings

        def arrived() -> bool:
            return self._calls.get(placed.call_id) is not None

        last = settings.call_result_timeout_s + settings.max_call_polls * settings.call_poll_interval_s
        deadline = workflow.now() + timedelta(seconds=last)
        first = min(settings.call_result_grace_s, settings.call_result_timeout_s)
        try:
            await workflow.wait_condition(arrived, timeout=timedelta(seconds=first))
            return
        except TimeoutError:
            pass
        while True:
            await self._poll_result(placed)
            remaining = (deadline - workflow.now()).total_seconds()
            if arrived() or remaining <= 0:
                return
            try:
                wait = min(settings.call_poll_interval_s, remaining)
                await workflow.wait_condition(arrived, timeout=timedelta(seconds=wait))
                return
            except TimeoutError:
                if workflow.now() >= deadline:
                    return

    async def _await_result_after_timeout(self, placed: CallPlaced) -> None:
        """The wait of chains started before PATCH_EARLY_POLL: the first poll after call_result_timeout_s."""
        try:
            await workflow.wait_condition(
                lambda: self._calls.get(placed.call_id) is not None,
                timeout=timedelta(seconds=self._settings.call_result_timeout_s),
            )
        except TimeoutError:
            # The webhook did not come: ask the provider, a few times, before giving up on this call.
            for _ in range(self._settings.max_call_polls):
                await self._poll_result(placed)
                if self._calls.get(placed.call_id) is not None:
                    break
                try:
                    await workflow.wait_condition(
                        lambda: self._calls.get(placed.call_id) is not None,
                        timeout=timedelta(seconds=self._settings.call_poll_interval_s),
                    )
                    break
                except TimeoutError:
                    continue

    async def _poll_result(self, placed: CallPlaced) -> None:
        polled: CallResult | None = await workflow.execute_activity(
            act.fetch_call_result,
            FetchCallInput(placed.provider, placed.call_id),
            task_queue=self._settings.provider_task_queue,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=CRM_RETRY,
        )
        if self._calls.get(placed.call_id) is None and polled is not None:
            self._calls[placed.call_id] = polled
