"""Payloads of the privacy workflows and their activities: request ids, step names and counts only (the
person's data never enters a Temporal history; the erasure deletes the histories that might hold it)."""

from __future__ import annotations

from dataclasses import dataclass, field

PRIVACY_TASK_QUEUE = "leadchain-privacy"


@dataclass
class PrivacyRequestRef:
    request_id: int
    # Whose request: the same company as the run's leadchain-company header, which scopes the activities.
    company_id: int | None = None


@dataclass
class StepOutcome:
    """What one activity did: steps done (or with nothing to do), not offered by a provider, failed."""

    step: str
    done: int = 0
    not_offered: int = 0
    failed: int = 0
    names: list[str] = field(default_factory=list)  # step names in the request record ("retell:call <id>")


@dataclass
class ExportBuilt:
    request_id: int
    size_bytes: int
    sha256: str


@dataclass
class FinishInput:
    request_id: int
    status: str  # done | failed


@dataclass
class ErasureOutcome:
    request_id: int
    steps: list[StepOutcome] = field(default_factory=list)
    status: str = "done"


@dataclass
class RetentionRequest:
    company_id: int | None = None


@dataclass
class RetentionOutcome:
    transcripts: int = 0
    recordings: int = 0
    email_bodies: int = 0
    inactive_leads: int = 0
    overdue_requests: int = 0  # requests past their due date, as of the last batch (logged as a warning)
