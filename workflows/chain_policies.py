"""The lead chain's fixed settings and small pure helpers: retry policies, patch ids, business keys.

Kept apart from workflows/lead_chain.py so the workflow module holds only the chain's steps. Nothing
here touches workflow state; changing a value changes the recorded histories' commands (retry
policies are part of the ScheduleActivityTask command), so treat them like the workflow code.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.common import RetryPolicy, SearchAttributeKey
from temporalio.exceptions import ApplicationError

from workflows.payloads import LEAD_STAGE_ATTRIBUTE
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
# Changes of command sequence, guarded so that chains started before them replay unchanged.
# A new submission during a wait keeps the wait (it used to end it: a lead re-posted while waiting for its
# retry was dialled at once).
PATCH_KEEP_WAIT = "resubmission-keeps-the-wait"
# Submissions that arrive while a chain finishes are merged before it ends (they used to be dropped).
PATCH_IMPORT_AT_FINISH = "import-pending-at-finish"


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
