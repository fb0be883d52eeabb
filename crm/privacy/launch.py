"""Starting a request's workflow: from the web (through the Temporal gateway) or from async code (the CLI,
the tests). The workflow id is "c<company>-privacy-<kind>-<request id>", so a second start of the same
request is refused by Temporal instead of running it twice."""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from crm.extensions import db
from crm.models import PrivacyRequest
from crm.temporal_gateway import gateway
from workflows.privacy_payloads import PRIVACY_TASK_QUEUE, PrivacyRequestRef

# By registered name: the two run methods have different result types, which one typed reference cannot hold.
WORKFLOWS = {"export": "PrivacyExportWorkflow", "erasure": "PrivacyErasureWorkflow"}


def workflow_id(request: PrivacyRequest) -> str:
    return f"c{request.company_id}-privacy-{request.kind}-{request.id}"


async def start(client: Client, request: PrivacyRequest, *, task_queue: str = PRIVACY_TASK_QUEUE) -> str:
    """Start the request's workflow (the caller's company scope puts the company header on it)."""
    wid = workflow_id(request)
    await client.start_workflow(
        WORKFLOWS[request.kind],
        PrivacyRequestRef(request_id=request.id, company_id=request.company_id),
        id=wid,
        task_queue=task_queue,
        id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        execution_timeout=timedelta(days=7),
    )
    return wid


def start_from_web(request: PrivacyRequest) -> str:
    """Start it from a Flask view and note the id on the request (the caller commits)."""
    wid = gateway().run(lambda client: start(client, request), timeout=10)
    request.workflow_id = wid
    db.session.flush()
    return str(wid)
