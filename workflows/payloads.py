"""Typed payloads at every workflow, activity, signal, update and query boundary.

They carry ids and decisions only, never names, emails, phone numbers or transcripts: Temporal's
history cannot be edited, so erasing a person must not need to touch it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from temporalio.common import SearchAttributeKey

from workflows.vocabulary import DEFAULT_GATE_THRESHOLD

CHAIN_TASK_QUEUE = "leadchain-chain"
PROVIDER_TASK_QUEUE = "leadchain-provider"
LEAD_STAGE_ATTRIBUTE = "LeadStage"
# The company of a chain or report run (docs/tenancy.md rule 4), set when it is started; an Int, so a
# company's runs are listed with `CompanyId = 3`. Registered wherever a server starts (tests, launcher,
# compose) beside LeadStage.
COMPANY_ID_ATTRIBUTE = "CompanyId"
COMPANY_ID = SearchAttributeKey.for_int(COMPANY_ID_ATTRIBUTE)
# Histories started before companies existed carry no company (None): all of them belong to company 1,
# the first company the tenancy migration created.
LEGACY_COMPANY_ID = 1


def fairness_key(company_id: int) -> str:
    """The chain's task-queue fairness key (temporalio Priority.fairness_key): Temporal dispatches the
    tasks of different keys round-robin, so one company's backlog does not hold up another's tasks. The
    server must have fairness on (dynamic config matching.enableFairness); without it the key is ignored."""
    return f"company-{company_id}"


DAY = 24 * 3600


@dataclass
class ChainSettings:
    """Every duration of the chain, with its production default; tests shorten them."""

    gate_threshold: int = DEFAULT_GATE_THRESHOLD
    # A placed call's result normally comes by webhook (through the provider-event outbox and the relay).
    # Without one the chain asks the provider itself: first call_result_grace_s after placing the call, then
    # every call_poll_interval_s, and gives up call_result_timeout_s + max_call_polls x call_poll_interval_s
    # after placing it (the same last moment as before the grace existed: a long call is not cut short).
    # A poll while the call still runs answers nothing and costs one provider read.
    call_result_grace_s: int = 300
    call_result_timeout_s: int = 3600
    call_poll_interval_s: int = 600
    max_call_polls: int = 6
    max_call_attempts: int = 3
    retry_delay_s: int = 4 * 3600
    nurture_delays_s: list[int] = field(default_factory=lambda: [0, 3 * DAY, 7 * DAY])
    rescore_delay_s: int = 7 * DAY
    max_nurture_cycles: int = 3
    # A callback at the caller's stated time (CallbackRequest): never sooner than this after the call, and
    # only for a window that starts within the horizon (else the usual callback task in a day).
    callback_min_delay_s: int = 3600
    callback_horizon_s: int = 180 * DAY
    # How long one attempt at the provider may take before Temporal retries it (the ledger makes the
    # retry safe); keep it well above the provider clients' own HTTP timeouts.
    provider_activity_timeout_s: int = 60
    # Activities' task queues (separate deployments, or one per test, override them).
    chain_task_queue: str = CHAIN_TASK_QUEUE
    provider_task_queue: str = PROVIDER_TASK_QUEUE


@dataclass
class SubmissionRef:
    submission_id: int


@dataclass
class ChainInput:
    chain_id: str
    settings: ChainSettings = field(default_factory=ChainSettings)
    # Carried across continue-as-new.
    lead_id: int | None = None
    cycle: int = 0
    seen_submissions: list[int] = field(default_factory=list)
    pending_submissions: list[int] = field(default_factory=list)
    history: list[StepRecord] = field(default_factory=list)
    generation: int = 0
    # The company the relay started the chain for (the same as its leadchain-company header, which is what
    # binds the activities); None in chains started before tenancy: company LEGACY_COMPANY_ID.
    company_id: int | None = None


@dataclass
class StepRecord:
    at: datetime
    stage: str
    detail: str


@dataclass
class ImportResult:
    lead_id: int
    outcome: str  # created | updated | duplicate
    # Set when the person already has a running chain under another id: hand over and stop.
    forward_to_chain: str | None = None
    # Set when the person's chain had finished (crm.services.chain_reopen): the stage it ended in, and
    # whether a deliberate rule re-opened it (else the submission is merged and this run ends).
    previous_stage: str | None = None
    reopened: bool = False
    # How often the person's chain was re-opened: a re-opened run's calls, emails and tasks get keys of
    # their own (the first run's keys would find the first run's call and wait on it forever).
    generation: int = 0


@dataclass
class ScoreResult:
    score: int
    priority: str
    next_action: str
    model_version: str


@dataclass
class ScoreInput:
    lead_id: int
    reason: str


@dataclass
class GateInput:
    lead_id: int
    # The chain's ChainSettings.gate_threshold; a threshold an admin stored in Settings wins over it.
    threshold: int
    # Workflow time of the decision: keeps the gate testable under time skipping.
    now: datetime | None = None
    # A rep's "call now": the score threshold does not apply (consent, do-not-contact and calling hours do).
    # Defaulted, so histories recorded before it existed still decode.
    waive_score: bool = False


@dataclass
class GateResult:
    allowed: bool
    reason: str
    next_window_start: datetime | None = None


@dataclass
class PlaceCallInput:
    lead_id: int
    chain_id: str
    attempt: int
    idempotency_key: str


@dataclass
class CallPlaced:
    provider: str
    call_id: str
    refused: str | None = None  # set when the dial gate refused at the last moment


@dataclass
class CallResult:
    """The normalised end of a call, as the webhook handler or a provider poll delivers it."""

    provider: str
    call_id: str
    event_id: str
    answered: bool
    status: str  # completed | no_answer | busy | voicemail | failed
    classification: str | None = (
        None  # booked | interested | callback_requested | not_interested | do_not_call | wrong_number
    )
    duration_s: int = 0


@dataclass
class CallBooking:
    """The voice bridge booked an appointment during a live call (signal `call_booking`): ids only."""

    call_id: str
    appointment_id: int


@dataclass
class CallbackRequest:
    """The caller asked to be called back in a window (signal `callback_request`): times only, never the
    words said. UTC instants the bridge resolved in the lead's zone; not_after None: open-ended ("after
    the holidays"), else the window's exclusive end."""

    call_id: str
    not_before: datetime
    not_after: datetime | None = None


@dataclass
class FetchCallInput:
    provider: str
    call_id: str


@dataclass
class SendEmailInput:
    lead_id: int
    chain_id: str
    template: str
    step: int
    idempotency_key: str


@dataclass
class EmailSent:
    status: str  # sent | refused | duplicate
    message_id: str | None = None
    reason: str | None = None


@dataclass
class TaskInput:
    lead_id: int
    kind: str
    title: str
    due_in_s: int
    dedupe_key: str
    # A callback the caller asked for at a time (CallbackRequest): due then, kept inside calling hours
    # (crm.services.task_due). Defaulted, so histories recorded before it existed still decode.
    not_before: datetime | None = None


@dataclass
class LeadFlagInput:
    lead_id: int
    reason: str
    actor: str = "chain"


@dataclass
class TimelineInput:
    lead_id: int
    chain_id: str
    stage: str
    detail: str


@dataclass
class StopSignal:
    reason: str  # unsubscribed | replied | booked | do_not_contact | cancelled
    actor: str = "system"


@dataclass
class ChainStatus:
    chain_id: str
    lead_id: int | None
    stage: str
    next_step: str | None
    next_at: datetime | None
    paused: bool
    attempts: int
    cycle: int
    history: list[StepRecord]


@dataclass
class ChainOutcome:
    chain_id: str
    lead_id: int | None
    stage: str
    detail: str
