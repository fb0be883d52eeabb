"""Typed references to the chain's and the reports' activities, for `workflow.execute_activity`.

The implementations (activities/crm_activities.py, activities/provider_activities.py,
activities/report_activities.py) are methods of classes that need Flask, SQLAlchemy and the providers:
the workflow sandbox must not import them, and workflows/ sits below activities/ in the layers. These
stubs carry only what the workflow needs from them: the activity's registered name, its input type and
its result type (Temporal reads both from the annotations to encode the input and decode the result).
A workflow passes the stub instead of a string name, so a typo or a changed signature is a type error,
and tests/workflows/test_activity_refs.py checks that every stub matches a registered implementation
(name, parameter types, return type). The stubs are never registered with a worker and never run.

Names and types are those of the recorded histories: changing one changes the workflow's commands.
"""

from __future__ import annotations

from temporalio import activity

from workflows.billing_payloads import (
    InvoiceIssued,
    InvoiceSent,
    IssueInvoiceInput,
    SendInvoiceInput,
    StripeSynced,
    StripeSyncInput,
)
from workflows.payloads import (
    CallPlaced,
    CallResult,
    EmailSent,
    FetchCallInput,
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
from workflows.report_payloads import BuildReportInput, BuiltReport, ReportSent, SendReportInput


def _stub() -> NotImplementedError:
    return NotImplementedError("a typed reference for workflow.execute_activity; the worker runs the real one")


# ---- CRM steps (activities.crm_activities.CrmActivities, chain task queue) --------------------------


@activity.defn(name="import_submission")
async def import_submission(ref: SubmissionRef) -> ImportResult:
    raise _stub()


@activity.defn(name="score_lead")
async def score_lead(inp: ScoreInput) -> ScoreResult:
    raise _stub()


@activity.defn(name="check_call_gate")
async def check_call_gate(inp: GateInput) -> GateResult:
    raise _stub()


@activity.defn(name="record_call_outcome")
async def record_call_outcome(result: CallResult) -> None:
    raise _stub()


@activity.defn(name="mark_do_not_contact")
async def mark_do_not_contact(inp: LeadFlagInput) -> None:
    raise _stub()


@activity.defn(name="mark_phone_invalid")
async def mark_phone_invalid(inp: LeadFlagInput) -> None:
    raise _stub()


@activity.defn(name="create_task")
async def create_task(inp: TaskInput) -> int:
    raise _stub()


@activity.defn(name="record_timeline")
async def record_timeline(inp: TimelineInput) -> None:
    raise _stub()


# ---- provider steps (activities.provider_activities.ProviderActivities, provider task queue) --------


@activity.defn(name="place_call")
async def place_call(inp: PlaceCallInput) -> CallPlaced:
    raise _stub()


@activity.defn(name="fetch_call_result")
async def fetch_call_result(inp: FetchCallInput) -> CallResult | None:
    raise _stub()


@activity.defn(name="send_email")
async def send_email(inp: SendEmailInput) -> EmailSent:
    raise _stub()


# ---- report steps (activities.report_activities.ReportActivities, reports task queue) --------------


@activity.defn(name="build_report")
async def build_report(inp: BuildReportInput) -> BuiltReport:
    raise _stub()


@activity.defn(name="send_report")
async def send_report(inp: SendReportInput) -> ReportSent:
    raise _stub()


@activity.defn(name="issue_invoice")
async def issue_invoice(inp: IssueInvoiceInput) -> InvoiceIssued:
    raise _stub()


@activity.defn(name="send_invoice")
async def send_invoice(inp: SendInvoiceInput) -> InvoiceSent:
    raise _stub()


@activity.defn(name="sync_invoice_to_stripe")
async def sync_invoice_to_stripe(inp: StripeSyncInput) -> StripeSynced:
    raise _stub()


CRM_STEPS = (
    import_submission,
    score_lead,
    check_call_gate,
    record_call_outcome,
    mark_do_not_contact,
    mark_phone_invalid,
    create_task,
    record_timeline,
)
PROVIDER_STEPS = (place_call, fetch_call_result, send_email)
REPORT_STEPS = (build_report, send_report)
BILLING_STEPS = (issue_invoice, send_invoice, sync_invoice_to_stripe)
