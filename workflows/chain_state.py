"""The lead chain's state and the messages that change it: signals, the call-result update, the query.

LeadChainWorkflow (workflows/lead_chain.py) inherits these, so the workflow module holds only the chain's
steps. Temporal registers handlers of base classes under the same names, so the signal, update and query
names (and the recorded histories) are those of the methods below.
"""

from __future__ import annotations

from datetime import datetime

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from workflows.payloads import (
        CallBooking,
        CallResult,
        ChainInput,
        ChainStatus,
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
        # A rep asked for a call: the next wait ends early and the score threshold is waived until a call
        # is placed. The compliance part of the gate (consent, do-not-contact, calling hours) still holds.
        self._call_now = False
        self._call_now_waiver = False
        # An admin changed calling hours or the threshold: a wait for the calling window re-checks the gate.
        self._settings_changed = False
        self._generation = input.generation
        # Set when this run found the person's chain finished and a rule kept it so: the stage it ended in.
        self._merged_into: str | None = None

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
