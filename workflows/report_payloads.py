"""Payloads of the report workflow and its activities: ids, kinds and times only (no figures, no PII)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

REPORTS_TASK_QUEUE = "leadchain-reports"


@dataclass
class ReportRequest:
    """What a schedule (or an operator) asks for. `at`: the moment the period is derived from (default:
    the schedule's scheduled time, else the workflow's start); `day` (YYYY-MM-DD) overrides it."""

    kind: str  # daily | weekly | monthly
    day: str | None = None
    at: datetime | None = None
    activity_task_queue: str | None = None  # default: the workflow's own task queue
    # The running period so far (from the UI): a provisional report, not emailed, replaced by the final one.
    to_date: bool = False
    # Whose report: the same company as the run's leadchain-company header, which is what scopes the
    # activities. None in runs started before tenancy: company 1 (workflows.payloads.LEGACY_COMPANY_ID).
    company_id: int | None = None


@dataclass
class BuildReportInput:
    kind: str
    at: datetime
    day: str | None = None
    to_date: bool = False


@dataclass
class BuiltReport:
    report_id: int
    kind: str
    period_start: datetime
    period_end: datetime
    created: bool
    languages: list[str] = field(default_factory=list)
    has_data: bool = False
    to_date: bool = False


@dataclass
class SendReportInput:
    report_id: int


@dataclass
class ReportSent:
    report_id: int
    recipients: int  # managers the report is meant for
    sent: int  # emails sent by this run
    already_sent: int  # sent by an earlier run or attempt
    refused: list[str] = field(default_factory=list)  # "user <id>: <reason>"


@dataclass
class ReportOutcome:
    report: BuiltReport
    delivery: ReportSent
