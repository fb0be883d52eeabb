"""The lead chain's fixed settings and small pure helpers: retry policies, patch ids, business keys.

Kept apart from workflows/lead_chain.py so the workflow module holds only the chain's steps. Nothing
here touches workflow state; changing a value changes the recorded histories' commands (retry
policies are part of the ScheduleActivityTask command), so treat them like the workflow code.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import NamedTuple

from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

from workflows.payloads import LEAD_STAGE_ATTRIBUTE, CallbackRequest, ChainSettings
from workflows.vocabulary import StopReason

LEAD_STAGE = SearchAttributeKey.for_keyword(LEAD_STAGE_ATTRIBUTE)
CRM_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))
# Paid or person-reaching actions: a bounded budget, and a rejected request is not retried.
PROVIDER_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=8,
    non_retryable_error_types=["ProviderRejected", "NoProvider"],
)
# A call's own retries (issue 14 F8): unlimited for Temporal, bounded by place_call itself — at most
# CALL_FAILURE_BUDGET attempts that failed for real (5xx, timeouts, no connection), while answers 429 (rate
# limited: the provider is well, only busy) do not count and are waited out, following Retry-After, for up to
# CALL_RATE_LIMIT_HORIZON from the first. When either runs out, the ledger row is marked failed with the
# reason and the activity fails non-retryably. Chains started before PATCH_CALL_BUDGET keep PROVIDER_RETRY.
CALL_FAILURE_BUDGET = 8
CALL_RATE_LIMIT_HORIZON = timedelta(minutes=30)
PROVIDER_CALL_RETRY = RetryPolicy(
    initial_interval=timedelta(seconds=2),
    maximum_interval=timedelta(minutes=2),
    maximum_attempts=0,
    non_retryable_error_types=["ProviderRejected", "NoProvider", "CallBudgetSpent"],
)
# Changes of command sequence, guarded so that chains started before them replay unchanged.
# A new submission during a wait keeps the wait (it used to end it: a lead re-posted while waiting for its
# retry was dialled at once).
PATCH_KEEP_WAIT = "resubmission-keeps-the-wait"
# Submissions that arrive while a chain finishes are merged before it ends (they used to be dropped).
PATCH_IMPORT_AT_FINISH = "import-pending-at-finish"
# A callback the caller asked for at a stated time ("Ende Februar") is due then and the chain calls then (it
# used to be a callback task in 24 h and the chain ended handed over).
PATCH_CALLBACK_AT = "callback-at-stated-time"
# The chain asks the provider for a missing call result from call_result_grace_s on (minutes), not only
# after call_result_timeout_s (an hour); the last poll is as late as before (issue 14 item 1).
PATCH_EARLY_POLL = "poll-missing-result-early"
# place_call runs under PROVIDER_CALL_RETRY (a 429 storm no longer spends a call's attempts).
PATCH_CALL_BUDGET = "call-budget-excludes-rate-limits"
# The CRM steps (import, score, gate, timeline, task, flags; not the call's outcome) run as local activities in
# the chain worker that runs the workflow task, not as activity tasks on the chain's task queue: consecutive steps
# take one workflow task instead of a server round trip each (issue 21). And the call step takes the gate
# decision the cycle has just made instead of asking the CRM the same question again. Decided once per run,
# at its start: a run started before the patch keeps regular activities and the second gate to its end.
PATCH_LOCAL_CRM = "crm-steps-local"


class ChainStopped(Exception):
    """Raised inside the workflow when a stop signal arrived; run() ends the chain in its reason's stage."""

    def __init__(self, reason: StopReason | str) -> None:
        super().__init__(reason)
        self.reason = reason


def chain_key_prefix(chain_id: str, generation: int) -> str:
    """Business keys of a chain's side effects. A re-opened chain's keys carry its generation, so they
    never meet the first run's (generation 0 keeps the original keys: recorded histories)."""
    return chain_id if generation == 0 else f"{chain_id}:g{generation}"


def error_cause(error: BaseException) -> str:
    """The root cause of an activity failure, short enough for a timeline line."""
    while error.__cause__ is not None:
        error = error.__cause__
    if isinstance(error, ApplicationError) and error.type:
        return f"{error.type}: {error.message}"[:200]
    return str(error)[:200]


class CallbackPlan(NamedTuple):
    """When to call back a caller who asked for a window: `at` (UTC), or None for the usual callback (a task
    in a day, the chain hands over); `detail` is the timeline line that says which and why."""

    at: datetime | None
    detail: str


def _utc(moment: datetime) -> str:
    return f"{moment:%Y-%m-%d %H:%M} UTC"


def callback_plan(request: CallbackRequest, now: datetime, settings: ChainSettings) -> CallbackPlan:
    """The window's start, or callback_min_delay_s from now when the window is already open (a person is
    not rung again minutes after asking for a callback). A window over by then, or starting more than
    callback_horizon_s away, falls back to the usual callback; the detail says so (crm/ui/display.py reads
    these texts)."""
    at = max(request.not_before, now + timedelta(seconds=settings.callback_min_delay_s))
    if request.not_after is not None and at >= request.not_after:
        return CallbackPlan(None, f"callback window ended {_utc(request.not_after)}: the usual callback")
    if at - now > timedelta(seconds=settings.callback_horizon_s):
        days = settings.callback_horizon_s // 86400
        return CallbackPlan(None, f"callback window more than {days} days away: the usual callback")
    if request.not_after is None:
        return CallbackPlan(at, f"callback requested from {_utc(request.not_before)}")
    return CallbackPlan(at, f"callback requested for {_utc(request.not_before)} to {_utc(request.not_after)}")
