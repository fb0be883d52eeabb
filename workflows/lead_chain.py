"""LeadChainWorkflow: one durable chain per lead, from import to booking, hand-over or nurture."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TypeVar

from temporalio import workflow
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from workflows import activity_refs as act
    from workflows.chain_policies import (
        CRM_RETRY,
        LEAD_STAGE,
        PATCH_CALL_BUDGET,
        PATCH_CALLBACK_AT,
        PATCH_EARLY_POLL,
        PATCH_IMPORT_AT_FINISH,
        PATCH_KEEP_WAIT,
        PATCH_LOCAL_CRM,
        PROVIDER_CALL_RETRY,
        PROVIDER_RETRY,
        ChainStopped,
        callback_plan,
        error_cause,
    )
    from workflows.chain_state import ChainState
    from workflows.payloads import (
        CallbackRequest,
        CallPlaced,
        CallResult,
        ChainInput,
        ChainOutcome,
        EmailSent,
        GateInput,
        GateResult,
        ImportResult,
        LeadFlagInput,
        PlaceCallInput,
        ScoreInput,
        ScoreResult,
        SendEmailInput,
        SubmissionRef,
        TaskInput,
        TimelineInput,
    )
    from workflows.vocabulary import (
        FOLLOW_UP_OUTCOMES,
        RETRY_STATUSES,
        WAIT_GATE_REASONS,
        CallOutcome,
        CallStatus,
        ChainStage,
        EmailSendStatus,
        EmailTemplate,
        ScoreReason,
        TaskKind,
        TimelineStep,
    )

ArgT = TypeVar("ArgT")
ResultT = TypeVar("ResultT")


@workflow.defn
class LeadChainWorkflow(ChainState):
    @workflow.init
    def __init__(self, input: ChainInput) -> None:
        # The state (and the messages that change it) lives in ChainState; @workflow.init must sit on
        # the workflow class itself, so that signals sent with the start find the state already built.
        super().__init__(input)

    # ---- the chain ------------------------------------------------------------------------------

    @workflow.run
    async def run(self, input: ChainInput) -> ChainOutcome:
        # Before any other command: the whole run takes one side of the patch (see _crm).
        self._local_crm = workflow.patched(PATCH_LOCAL_CRM)
        try:
            if self._lead_id is None:
                await self._set_stage(ChainStage.IMPORTING, "waiting for the lead")
                await workflow.wait_condition(lambda: bool(self._pending) or self._stop is not None)
                self._raise_if_stopped()
                forward = await self._import_pending()
                if forward:
                    return await self._finish(ChainStage.JOINED, f"joined running chain {forward}")
                if self._merged_into is not None:
                    return await self._end_merged()
            return await self._cycle()
        except ChainStopped as stopped:
            return await self._finish(stopped.reason, f"stopped: {stopped.reason}")

    async def _cycle(self) -> ChainOutcome:
        reason = ScoreReason.INTAKE if self._input.cycle == 0 else ScoreReason.RESCORE
        while True:
            await self._checkpoint()
            score = await self._qualify(reason)
            gate = await self._gate()
            outcome = None
            if gate.allowed or gate.reason in WAIT_GATE_REASONS:
                # Nothing happened since that decision: the call step starts from it (runs before the patch
                # asked the CRM again).
                outcome = await self._call_step(gate if self._local_crm else None)
                if outcome is not None:
                    return outcome
            else:
                await self._timeline(TimelineStep.GATE, f"no call: {gate.reason} (score {score.score})")
            if await self._nurture():
                reason = ScoreReason.RESUBMISSION
                continue
            # After the sequence, wait, then re-score with engagement counted.
            if not await self._sleep(
                self._settings.rescore_delay_s,
                ChainStage.NURTURING,
                "re-score",
                keep_wait=self._called_this_cycle(),
            ):
                reason = ScoreReason.RESUBMISSION
                continue
            if self._input.cycle + 1 >= self._settings.max_nurture_cycles:
                await self._qualify(ScoreReason.RESCORE)
                return await self._finish(ChainStage.NURTURE_EXHAUSTED, "nurture cycles used up")
            await self._continue_as_new()

    async def _call_step(self, decided: GateResult | None = None) -> ChainOutcome | None:
        """Call until a conversation happens or attempts run out. None means: continue by email. decided: the
        gate's answer the caller has just been given, used for the first attempt instead of asking again."""
        while self._attempts < self._settings.max_call_attempts:
            gate, decided = decided or await self._gate(), None
            if not gate.allowed:
                if gate.reason in WAIT_GATE_REASONS and gate.next_window_start:
                    wait = max(1.0, (gate.next_window_start - workflow.now()).total_seconds())
                    if not await self._sleep(
                        wait,
                        ChainStage.WAITING_FOR_WINDOW,
                        "call",
                        gate.next_window_start,
                        keep_wait=True,
                        wake_on_settings=True,
                    ):
                        await self._qualify(ScoreReason.RESUBMISSION)
                    continue
                await self._timeline(TimelineStep.GATE, f"call refused: {gate.reason}")
                return None
            self._attempts += 1
            result = await self._place_and_wait()
            if result is None:
                return None
            if not result.answered and result.status in RETRY_STATUSES and result.call_id not in self._bookings:
                await self._timeline(TimelineStep.CALL, f"attempt {self._attempts}: {result.status}")
                if self._attempts < self._settings.max_call_attempts:
                    if not await self._sleep(
                        self._settings.retry_delay_s, ChainStage.WAITING_FOR_RETRY, "call", keep_wait=True
                    ):
                        await self._qualify(ScoreReason.RESUBMISSION)
                continue
            outcome = await self._follow_up(result)
            if outcome is None and self._call_again:
                # The caller's stated callback time has come (_callback_at): its call, with new attempts.
                self._call_again = False
                continue
            return outcome
        await self._timeline(TimelineStep.CALL, f"no conversation after {self._attempts} attempts: email path")
        return None

    async def _place_and_wait(self) -> CallResult | None:
        await self._set_stage(ChainStage.CALLING, f"attempt {self._attempts}")
        key = f"{self._key_prefix()}:call:{self._input.cycle}:{self._attempts}{self._callback_suffix()}"
        try:
            placed: CallPlaced = await workflow.execute_activity(
                act.place_call,
                PlaceCallInput(self._lead, self._input.chain_id, self._attempts, key),
                task_queue=self._settings.provider_task_queue,
                start_to_close_timeout=timedelta(seconds=self._settings.provider_activity_timeout_s),
                retry_policy=PROVIDER_CALL_RETRY if workflow.patched(PATCH_CALL_BUDGET) else PROVIDER_RETRY,
            )
        except ActivityError as e:
            await self._timeline(TimelineStep.CALL, f"call could not be placed: {error_cause(e)}")
            return None
        if placed.refused:
            await self._timeline(TimelineStep.CALL, f"dial refused: {placed.refused}")
            return None
        self._calls.setdefault(placed.call_id, None)
        self._call_now_waiver = False
        await self._set_stage(ChainStage.WAITING_FOR_RESULT, f"call {placed.provider}")
        if workflow.patched(PATCH_EARLY_POLL):
            await self._await_result(placed)
        else:
            await self._await_result_after_timeout(placed)
        result = self._calls.get(placed.call_id)
        if result is None:
            result = CallResult(placed.provider, placed.call_id, f"{placed.call_id}:timeout", False, CallStatus.FAILED)
        # An activity task in every run: the chain's record of having taken this call's result, after the call
        # (nothing waits for it on the way to a call), and visible as such in the history.
        await self._crm(act.record_call_outcome, result, local=False)
        return result

    async def _follow_up(self, result: CallResult) -> ChainOutcome | None:
        kind = result.classification
        if result.call_id in self._bookings:
            # The bridge booked during the call: whatever the provider's analysis says, it is booked.
            kind = CallOutcome.BOOKED
        await self._set_stage(ChainStage.FOLLOWING_UP, kind or result.status)
        step_key = f"{self._key_prefix()}:{self._input.cycle}"
        task_key = f"{step_key}:callback{self._callback_suffix()}"
        if kind == CallOutcome.BOOKED:
            await self._email(EmailTemplate.BOOKING_CONFIRMATION, 0)
            await self._task(TaskKind.APPOINTMENT, "Prepare the booked appointment", 0, f"{step_key}:booked")
            return await self._finish(ChainStage.BOOKED, "appointment booked on the call")
        if kind in FOLLOW_UP_OUTCOMES:
            template = (
                EmailTemplate.CALLBACK_CONFIRMATION
                if kind == CallOutcome.CALLBACK_REQUESTED
                else EmailTemplate.FOLLOW_UP
            )
            await self._email(template, 0)
            request = self._callbacks.get(result.call_id) if kind == CallOutcome.CALLBACK_REQUESTED else None
            if request is not None and workflow.patched(PATCH_CALLBACK_AT):
                if await self._callback_at(request, task_key):
                    return None
            await self._task(TaskKind.CALLBACK, "Call back the interested lead", 24 * 3600, task_key)
            return await self._finish(ChainStage.HANDED_OVER, f"{kind}: handed to the owner")
        if kind == CallOutcome.DO_NOT_CALL:
            await self._crm(act.mark_do_not_contact, LeadFlagInput(self._lead, "asked not to be called"))
            return await self._finish(ChainStage.DO_NOT_CONTACT, "asked not to be called")
        if kind == CallOutcome.WRONG_NUMBER:
            await self._crm(act.mark_phone_invalid, LeadFlagInput(self._lead, "wrong number"))
            await self._timeline(TimelineStep.CALL, "wrong number: continuing by email")
            return None
        await self._timeline(TimelineStep.CALL, f"call ended: {kind or result.status}")
        return None

    async def _callback_at(self, request: CallbackRequest, key: str) -> bool:
        """The caller named a window ("Ende Februar"): the callback task is due at its start and the chain
        waits until then and calls (the gate keeps the call inside calling hours), with a new set of
        attempts and the score threshold waived: the person asked for this call. False: the window is over
        or too far away (the timeline says which); the usual callback follows."""
        at, detail = callback_plan(request, workflow.now(), self._settings)
        await self._timeline(ChainStage.FOLLOWING_UP, detail)
        if at is None:
            return False
        title = "Call back the interested lead"
        await self._crm(act.create_task, TaskInput(self._lead, TaskKind.CALLBACK, title, 0, key, not_before=at))
        await self._sleep(
            (at - workflow.now()).total_seconds(), ChainStage.WAITING_FOR_WINDOW, "call", at, keep_wait=True
        )
        # The callback's call: a new set of attempts, under keys of their own.
        self._attempts, self._call_now_waiver, self._call_again = 0, True, True
        self._callback_round += 1
        return True

    async def _nurture(self) -> bool:
        """The nurture sequence. True when a resubmission interrupted it (re-qualify from the top)."""
        for step, delay in enumerate(self._settings.nurture_delays_s):
            if not await self._sleep(
                delay, ChainStage.NURTURING, f"nurture email {step + 1}", keep_wait=self._called_this_cycle()
            ):
                return True
            sent = await self._email(EmailTemplate.NURTURE, step + 1)
            if sent.status == EmailSendStatus.REFUSED:
                await self._timeline(TimelineStep.NURTURE, f"nurture stopped: {sent.reason}")
                break
        return False

    # ---- helpers --------------------------------------------------------------------------------

    async def _qualify(self, reason: ScoreReason) -> ScoreResult:
        await self._set_stage(ChainStage.QUALIFYING, reason)
        return await self._crm(act.score_lead, ScoreInput(self._lead, reason))

    async def _gate(self) -> GateResult:
        gate: GateResult = await self._crm(
            act.check_call_gate,
            GateInput(self._lead, self._settings.gate_threshold, workflow.now(), waive_score=self._call_now_waiver),
        )
        if not gate.allowed and gate.reason not in WAIT_GATE_REASONS:
            self._call_now_waiver = False  # refused for consent or do-not-contact: a rep's request cannot change that
        return gate

    async def _import_pending(self) -> str | None:
        while self._pending:
            submission_id = self._pending.pop(0)
            result: ImportResult = await self._crm(act.import_submission, SubmissionRef(submission_id))
            self._seen.add(submission_id)
            if result.forward_to_chain:
                handle = workflow.get_external_workflow_handle(result.forward_to_chain)
                try:
                    await handle.signal(LeadChainWorkflow.submission, SubmissionRef(submission_id))
                    return result.forward_to_chain
                except Exception:  # noqa: BLE001 - that chain has ended meanwhile: this one takes over
                    pass
            self._lead_id = result.lead_id
            self._record(TimelineStep.IMPORTED, f"submission {submission_id}: {result.outcome}")
            if result.previous_stage is not None:
                # The person's chain had finished (crm.services.chain_reopen wrote why to the timeline).
                if result.reopened:
                    self._generation = result.generation
                    self._record(TimelineStep.REOPENED, f"re-opened after {result.previous_stage}")
                elif self._merged_into is None:
                    self._merged_into = result.previous_stage
        return None

    async def _resubmitted(self) -> bool:
        if not self._pending:
            return False
        await self._import_pending()
        return True

    async def _sleep(
        self,
        seconds: float,
        stage: ChainStage,
        next_step: str,
        at: datetime | None = None,
        *,
        keep_wait: bool = False,
        wake_on_settings: bool = False,
    ) -> bool:
        """A durable, interruptible wait. False when the caller must re-qualify: a rep's "call now", or (only
        where keep_wait is off) a resubmission. keep_wait: a new submission is merged and re-scored, and the
        wait goes on to its end: a person is never called sooner because their lead arrived again.
        wake_on_settings: an admin's settings change ends the wait (True), so the gate is checked again."""
        if seconds <= 0:
            await self._checkpoint()
            if keep_wait and self._pending and workflow.patched(PATCH_KEEP_WAIT):
                await self._merge_resubmission()
                return True
            return not await self._resubmitted()
        until = at or workflow.now() + timedelta(seconds=seconds)
        await self._set_stage(stage, next_step, until)
        if wake_on_settings:
            # The gate that sent us here already read the current settings.
            self._settings_changed = False
        remaining = seconds
        while True:
            try:
                await workflow.wait_condition(
                    lambda: (
                        self._stop is not None
                        or bool(self._pending)
                        or self._call_now
                        or (wake_on_settings and self._settings_changed)
                    ),
                    timeout=timedelta(seconds=remaining),
                )
            except TimeoutError:
                pass
            await self._checkpoint()
            if self._call_now:
                # Consumed here so a wait for the calling window, entered again after the gate, stays a wait.
                self._call_now = False
                # A rep's request is worth one more attempt even when this cycle's attempts are used up.
                self._attempts = min(self._attempts, self._settings.max_call_attempts - 1)
                await self._resubmitted()
                await self._timeline(TimelineStep.CALL, "call requested by a rep")
                return False
            if wake_on_settings and self._settings_changed:
                self._settings_changed = False
                await self._timeline(stage, "settings changed: calling hours checked again")
                return True
            if keep_wait and self._pending and workflow.patched(PATCH_KEEP_WAIT):
                await self._merge_resubmission()
                remaining = (until - workflow.now()).total_seconds()
                # Back in the wait, without a second "waiting" entry: the one line below says why.
                self._stage, self._next_step, self._next_at = stage, next_step, until
                workflow.upsert_search_attributes([LEAD_STAGE.value_set(stage)])
                await self._timeline(stage, f"new submission merged; wait kept until {until:%Y-%m-%d %H:%M} UTC")
                if remaining > 0:
                    continue
                return True
            return not await self._resubmitted()

    async def _merge_resubmission(self) -> None:
        await self._import_pending()
        await self._qualify(ScoreReason.RESUBMISSION)

    async def _checkpoint(self) -> None:
        self._raise_if_stopped()
        if self._paused:
            stage = self._stage
            await self._set_stage(ChainStage.PAUSED, f"paused in {stage}")
            await workflow.wait_condition(lambda: not self._paused or self._stop is not None)
            self._raise_if_stopped()
            await self._set_stage(stage, "resumed")

    async def _email(self, template: EmailTemplate, step: int) -> EmailSent:
        key = f"{self._key_prefix()}:email:{template}:{self._input.cycle}:{step}"
        try:
            return await workflow.execute_activity(
                act.send_email,
                SendEmailInput(self._lead, self._input.chain_id, template, step, key),
                task_queue=self._settings.provider_task_queue,
                start_to_close_timeout=timedelta(seconds=self._settings.provider_activity_timeout_s),
                retry_policy=PROVIDER_RETRY,
            )
        except ActivityError as e:
            await self._timeline(TimelineStep.EMAIL, f"{template} not sent: {error_cause(e)}")
            return EmailSent(EmailSendStatus.FAILED, reason=error_cause(e))

    async def _task(self, kind: TaskKind, title: str, due_in_s: int, key: str) -> None:
        await self._crm(act.create_task, TaskInput(self._lead, kind, title, due_in_s, key))

    async def _crm(self, step: Callable[[ArgT], Awaitable[ResultT]], arg: ArgT, *, local: bool = True) -> ResultT:
        """One CRM step (a typed reference from workflows.activity_refs): a local activity in this worker
        (PATCH_LOCAL_CRM, unless `local` is off), or, in runs started before it, an activity task on the
        chain's task queue. Either way at least once, under the same retry policy; the steps are idempotent or
        append-only."""
        if self._local_crm and local:
            return await workflow.execute_local_activity(
                step,
                arg,
                start_to_close_timeout=timedelta(seconds=30),
                retry_policy=CRM_RETRY,
            )
        return await workflow.execute_activity(
            step,
            arg,
            task_queue=self._settings.chain_task_queue,
            start_to_close_timeout=timedelta(seconds=30),
            retry_policy=CRM_RETRY,
        )

    async def _timeline(self, stage: str, detail: str) -> None:
        self._record(stage, detail)
        if self._lead_id is not None:
            await self._crm(act.record_timeline, TimelineInput(self._lead_id, self._input.chain_id, stage, detail))

    async def _set_stage(self, stage: str, next_step: str | None, at: datetime | None = None) -> None:
        changed = stage != self._stage
        self._stage, self._next_step, self._next_at = stage, next_step, at
        workflow.upsert_search_attributes([LEAD_STAGE.value_set(stage)])
        if changed:
            await self._timeline(stage, next_step or "")

    async def _finish(self, stage: str, detail: str) -> ChainOutcome:
        self._next_step, self._next_at = None, None
        self._stage = stage
        workflow.upsert_search_attributes([LEAD_STAGE.value_set(stage)])
        await self._timeline(stage, detail)
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._pending and self._lead_id is not None and workflow.patched(PATCH_IMPORT_AT_FINISH):
            # A submission that came while the chain ended: merged into the person's record, and the
            # chain stays ended (the CRM finds it finished and writes that to the timeline).
            await self._import_pending()
        return ChainOutcome(self._input.chain_id, self._lead_id, stage, detail)

    async def _end_merged(self) -> ChainOutcome:
        """This run only merged a submission into a finished chain: it ends without a step of its own,
        and the lead's stage (and the LeadStage attribute) stays the one the chain ended in."""
        stage = self._merged_into or ChainStage.MERGED
        self._stage, self._next_step, self._next_at = stage, None, None
        workflow.upsert_search_attributes([LEAD_STAGE.value_set(stage)])
        self._record(TimelineStep.MERGED, f"new submission merged; chain stays {stage}")
        await workflow.wait_condition(workflow.all_handlers_finished)
        if self._pending:
            await self._import_pending()
        return ChainOutcome(self._input.chain_id, self._lead_id, ChainStage.MERGED, f"merged; chain stays {stage}")

    async def _continue_as_new(self) -> None:
        await workflow.wait_condition(workflow.all_handlers_finished)
        workflow.continue_as_new(
            ChainInput(
                chain_id=self._input.chain_id,
                settings=self._settings,
                lead_id=self._lead_id,
                cycle=self._input.cycle + 1,
                seen_submissions=sorted(self._seen)[-200:],
                pending_submissions=list(self._pending),
                history=self._history[-20:],
                generation=self._generation,
                company_id=self._input.company_id,
            )
        )
