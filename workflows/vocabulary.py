"""The chain's vocabulary: every code the workflow, the activities, the CRM, the KPIs and the UI share.

Each member's value is exactly the string stored and recorded today: the LeadStage search attribute,
``lead.chain_stage``, ``chain.<stage>`` audit rows, interaction statuses and outcomes, Temporal payloads
of recorded histories (tests/workflows/histories) and the UI's label catalogues all hold these strings.
A StrEnum member *is* its string (``ChainStage.BOOKED == "booked"``, ``f"{ChainStage.BOOKED}"`` is
``booked``, JSON encodes it as ``"booked"``), so payloads and search attributes do not change when code
passes a member where it passed the bare string; never rename a value without a data migration and a
``workflow.patched`` guard.

This module sits in workflows/ (the lowest layer), so the workflow sandbox, activities, crm and voice can
all import it. It has no dependencies beyond the standard library.
"""

from __future__ import annotations

from enum import StrEnum

# What a score above which the gate lets the agent call defaults to, when no admin stored one
# (crm.services.app_settings). ChainSettings.gate_threshold and the KPI report both read this one value.
DEFAULT_GATE_THRESHOLD = 50


class ChainStage(StrEnum):
    """A stage of a lead's chain (LeadStage search attribute, ``lead.chain_stage``, ChainStatus.stage)."""

    # running
    IMPORTING = "importing"
    CONTINUING = "continuing"
    QUALIFYING = "qualifying"
    CALLING = "calling"
    WAITING_FOR_RESULT = "waiting_for_result"
    WAITING_FOR_RETRY = "waiting_for_retry"
    WAITING_FOR_WINDOW = "waiting_for_window"
    FOLLOWING_UP = "following_up"
    NURTURING = "nurturing"
    PAUSED = "paused"
    # final: what LeadChainWorkflow._finish writes (a stopped chain ends in its StopReason's stage)
    BOOKED = "booked"
    HANDED_OVER = "handed_over"
    DO_NOT_CONTACT = "do_not_contact"
    CANCELLED = "cancelled"
    UNSUBSCRIBED = "unsubscribed"
    REPLIED = "replied"
    JOINED = "joined"
    NURTURE_EXHAUSTED = "nurture_exhausted"
    # written by earlier versions of the chain; kept so stored leads still read as finished
    COMPLETED = "completed"
    # ChainOutcome.stage of a run that only merged a submission into a finished chain (the lead keeps
    # the stage its chain ended in; this one is never a lead's chain_stage)
    MERGED = "merged"


class StopReason(StrEnum):
    """Why a chain is stopped from outside (StopSignal.reason); the chain ends in the stage of that name."""

    CANCELLED = "cancelled"
    DO_NOT_CONTACT = "do_not_contact"
    UNSUBSCRIBED = "unsubscribed"
    REPLIED = "replied"
    BOOKED = "booked"


# The stages a chain ends in. "joined" ends a run that handed its submission to the person's running
# chain: it is never the person's own chain (crm.services.chain_reopen). Every StopReason is one, since
# a stopped chain finishes in the stage named by its reason.
FINAL_STAGES: frozenset[ChainStage] = frozenset(
    {
        ChainStage.BOOKED,
        ChainStage.HANDED_OVER,
        ChainStage.DO_NOT_CONTACT,
        ChainStage.CANCELLED,
        ChainStage.UNSUBSCRIBED,
        ChainStage.REPLIED,
        ChainStage.JOINED,
        ChainStage.NURTURE_EXHAUSTED,
        ChainStage.COMPLETED,
    }
)


class TimelineStep(StrEnum):
    """Timeline entries of the chain that are not stages (``chain.<step>`` audit rows, StepRecord.stage)."""

    IMPORTED = "imported"
    REOPENED = "reopened"
    MERGED = "merged"
    GATE = "gate"
    CALL = "call"
    EMAIL = "email"
    NURTURE = "nurture"


class ScoreReason(StrEnum):
    """Why the chain (re-)scores a lead (ScoreInput.reason)."""

    INTAKE = "intake"
    RESCORE = "rescore"
    RESUBMISSION = "resubmission"


class CallStatus(StrEnum):
    """A call's status: an interaction's status while it runs, CallResult.status once it ended."""

    CREATED = "created"
    QUEUED = "queued"
    RINGING = "ringing"
    IN_PROGRESS = "in_progress"
    ENDED = "ended"
    # how a call ended (CallResult.status, CallEvent.end_status)
    COMPLETED = "completed"
    NO_ANSWER = "no_answer"
    BUSY = "busy"
    VOICEMAIL = "voicemail"
    FAILED = "failed"


# A call still under way: a late result may still move it on.
LIVE_CALL_STATUSES: frozenset[CallStatus] = frozenset(
    {CallStatus.QUEUED, CallStatus.CREATED, CallStatus.RINGING, CallStatus.IN_PROGRESS}
)
# How a call ended (CallResult.status, an ended call's end_status).
CALL_END_STATUSES: frozenset[CallStatus] = frozenset(
    {CallStatus.COMPLETED, CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.VOICEMAIL, CallStatus.FAILED}
)
# Nobody talked to the agent: the chain tries again later (a failed dial is not retried as an attempt).
RETRY_STATUSES: frozenset[CallStatus] = frozenset({CallStatus.NO_ANSWER, CallStatus.BUSY, CallStatus.VOICEMAIL})


class CallOutcome(StrEnum):
    """What a conversation came to (CallResult.classification, an interaction's outcome)."""

    BOOKED = "booked"
    INTERESTED = "interested"
    CALLBACK_REQUESTED = "callback_requested"
    NOT_INTERESTED = "not_interested"
    DO_NOT_CALL = "do_not_call"
    WRONG_NUMBER = "wrong_number"


# Somebody talked to the agent (every outcome is a conversation's).
ANSWERED_OUTCOMES: tuple[CallOutcome, ...] = tuple(CallOutcome)
# The callee wanted an appointment, or a conversation that leads to one.
WANTED_OUTCOMES: tuple[CallOutcome, ...] = (
    CallOutcome.BOOKED,
    CallOutcome.INTERESTED,
    CallOutcome.CALLBACK_REQUESTED,
)
# The owner calls back: handed over with a callback task.
FOLLOW_UP_OUTCOMES: tuple[CallOutcome, ...] = (CallOutcome.INTERESTED, CallOutcome.CALLBACK_REQUESTED)


class GateReason(StrEnum):
    """The call gate's answer (crm.services.compliance GateDecision.reason, GateResult.reason)."""

    OK = "ok"
    NO_PHONE = "no_phone"
    PHONE_INVALID = "phone_invalid"
    NO_CONSENT = "no_consent"
    DO_NOT_CONTACT = "do_not_contact"
    OUTSIDE_HOURS = "outside_hours"
    ATTEMPT_CAP = "attempt_cap"
    SCORE_BELOW_THRESHOLD = "score_below_threshold"


# Refusals that pass with time: the chain waits for the next calling window instead of giving up.
WAIT_GATE_REASONS: frozenset[GateReason] = frozenset({GateReason.OUTSIDE_HOURS, GateReason.ATTEMPT_CAP})


class TaskKind(StrEnum):
    """A task's kind (Task.kind): the chain's, the inbound-email handler's and a rep's own."""

    CALLBACK = "callback"
    APPOINTMENT = "appointment"
    PREPARE = "prepare"
    TODO = "todo"
    EMAIL_REPLY = "email_reply"  # the lead answered a chain email (crm/webhooks/sendgrid.py inbound)
    FOLLOW_UP = "follow_up"
    REVIEW = "review"


class EmailTemplate(StrEnum):
    """The chain's email templates (SendEmailInput.template): crm/email/templates/<name>.{html,txt}, their
    words in crm/locales/<language>/LC_MESSAGES/email.po."""

    FOLLOW_UP = "follow_up"
    BOOKING_CONFIRMATION = "booking_confirmation"
    CALLBACK_CONFIRMATION = "callback_confirmation"
    NURTURE = "nurture"


class EmailSendStatus(StrEnum):
    """EmailSent.status: what became of one of the chain's emails."""

    SENT = "sent"
    REFUSED = "refused"
    DUPLICATE = "duplicate"
    FAILED = "failed"
