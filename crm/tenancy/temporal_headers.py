"""The company travels with Temporal work in the `leadchain-company` header (docs/tenancy.md rule 2).

- The client side puts the current scope's company into the header of every workflow start, signal,
  update, signal-with-start and update-with-start it sends.
- The workflow side copies the header its run was started with (`workflow.info().headers`: the start
  event's, so replay sees the same value) onto every activity, local activity, child workflow, external
  signal and continue-as-new it schedules. A signal or update never changes a chain's company.
- The activity side runs the activity inside `unit_of_work(company)`. For a synchronous activity the
  interceptor still runs on the worker's event loop, and the SDK runs the function in a copy of that
  context (`contextvars.copy_context()` in temporalio.worker._activity for thread pools), so the scope
  set here is the one the activity body sees.

One interceptor class does all three, like the SDK's TracingInterceptor: registered on a client, every
Worker built on that client uses it too (`tenant_client`).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, NoReturn

import temporalio.activity
import temporalio.client
import temporalio.converter
import temporalio.worker
import temporalio.workflow
from temporalio.api.common.v1 import Payload

from crm.tenancy.context import CompanyScopeConflict, current_company_id, unit_of_work
from workflows.payloads import LEGACY_COMPANY_ID

log = logging.getLogger(__name__)

HEADER = "leadchain-company"
# Work started before companies existed carries no header: all of it belonged to the one company the
# tenancy migration created (LEGACY_COMPANY_ID, 1). Only those histories reach an activity without the
# header: every start made inside a company scope through a tenant client carries it.

_converter = temporalio.converter.PayloadConverter.default


def encode(company_id: int) -> Payload:
    return _converter.to_payloads([company_id])[0]


def decode(headers: Mapping[str, Payload]) -> int | None:
    """The company in `headers`, or None when there is none. A header that is not a positive int is a
    bug upstream (or a forged start): it raises rather than guess a company."""
    payload = headers.get(HEADER)
    if payload is None:
        return None
    [value] = _converter.from_payloads([payload], [int])
    if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
        raise ValueError(f"{HEADER} header is not a company id")
    return value


def _with_company(headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
    """`headers` with the current scope's company. With no company in scope they are left as they are (an
    operator starting platform work, or a start that set the header itself, e.g. a schedule's action)."""
    company_id = current_company_id()
    if company_id is None:
        return headers
    present = decode(headers)
    if present is not None and present != company_id:
        raise CompanyScopeConflict(f"a {HEADER} header of company {present} sent from company {company_id}'s scope")
    return {**headers, HEADER: encode(company_id)}


class CompanyInterceptor(temporalio.client.Interceptor, temporalio.worker.Interceptor):
    """Carries and binds the company: client outbound, workflow in/outbound, activity inbound."""

    def intercept_client(self, next: temporalio.client.OutboundInterceptor) -> temporalio.client.OutboundInterceptor:
        return _ClientOutbound(next)

    def intercept_activity(
        self, next: temporalio.worker.ActivityInboundInterceptor
    ) -> temporalio.worker.ActivityInboundInterceptor:
        return _ActivityInbound(next)

    def workflow_interceptor_class(
        self, input: temporalio.worker.WorkflowInterceptorClassInput
    ) -> type[temporalio.worker.WorkflowInboundInterceptor]:
        return _WorkflowInbound


class _ClientOutbound(temporalio.client.OutboundInterceptor):
    async def start_workflow(
        self, input: temporalio.client.StartWorkflowInput
    ) -> temporalio.client.WorkflowHandle[Any, Any]:
        input.headers = _with_company(input.headers)
        return await super().start_workflow(input)

    async def signal_workflow(self, input: temporalio.client.SignalWorkflowInput) -> None:
        input.headers = _with_company(input.headers)
        return await super().signal_workflow(input)

    async def start_workflow_update(
        self, input: temporalio.client.StartWorkflowUpdateInput
    ) -> temporalio.client.WorkflowUpdateHandle[Any]:
        input.headers = _with_company(input.headers)
        return await super().start_workflow_update(input)

    async def start_update_with_start_workflow(
        self, input: temporalio.client.StartWorkflowUpdateWithStartInput
    ) -> temporalio.client.WorkflowUpdateHandle[Any]:
        input.start_workflow_input.headers = _with_company(input.start_workflow_input.headers)
        input.update_workflow_input.headers = _with_company(input.update_workflow_input.headers)
        return await super().start_update_with_start_workflow(input)


class _WorkflowInbound(temporalio.worker.WorkflowInboundInterceptor):
    def init(self, outbound: temporalio.worker.WorkflowOutboundInterceptor) -> None:
        super().init(_WorkflowOutbound(outbound))


def _started_with(headers: Mapping[str, Payload]) -> Mapping[str, Payload]:
    """`headers` plus the company header of this run's start event (deterministic: replay reads the same
    event). A run started without one schedules its work without one too."""
    started = temporalio.workflow.info().headers.get(HEADER)
    return headers if started is None else {**headers, HEADER: started}


class _WorkflowOutbound(temporalio.worker.WorkflowOutboundInterceptor):
    def continue_as_new(self, input: temporalio.worker.ContinueAsNewInput) -> NoReturn:
        input.headers = _started_with(input.headers)
        super().continue_as_new(input)

    async def signal_child_workflow(self, input: temporalio.worker.SignalChildWorkflowInput) -> None:
        input.headers = _started_with(input.headers)
        return await super().signal_child_workflow(input)

    async def signal_external_workflow(self, input: temporalio.worker.SignalExternalWorkflowInput) -> None:
        input.headers = _started_with(input.headers)
        return await super().signal_external_workflow(input)

    def start_activity(self, input: temporalio.worker.StartActivityInput) -> temporalio.workflow.ActivityHandle[Any]:
        input.headers = _started_with(input.headers)
        return super().start_activity(input)

    async def start_child_workflow(
        self, input: temporalio.worker.StartChildWorkflowInput
    ) -> temporalio.workflow.ChildWorkflowHandle[Any, Any]:
        input.headers = _started_with(input.headers)
        return await super().start_child_workflow(input)

    def start_local_activity(
        self, input: temporalio.worker.StartLocalActivityInput
    ) -> temporalio.workflow.ActivityHandle[Any]:
        input.headers = _started_with(input.headers)
        return super().start_local_activity(input)


class _ActivityInbound(temporalio.worker.ActivityInboundInterceptor):
    async def execute_activity(self, input: temporalio.worker.ExecuteActivityInput) -> Any:
        company_id = decode(input.headers)
        if company_id is None:
            info = temporalio.activity.info()
            log.info(
                "activity %s of workflow %s has no %s header: company %d (started before tenancy)",
                info.activity_type,
                info.workflow_id,
                HEADER,
                LEGACY_COMPANY_ID,
            )
            company_id = LEGACY_COMPANY_ID
        # A new unit of work whatever the worker's task carried: one activity serves one company.
        with unit_of_work(company_id):
            return await self.next.execute_activity(input)


def tenant_client(client: temporalio.client.Client) -> temporalio.client.Client:
    """The same connection with the CompanyInterceptor (once): starts, signals and updates carry the
    scope's company, and Workers built on it bind it in activities."""
    config = client.config()
    if any(isinstance(i, CompanyInterceptor) for i in config["interceptors"]):
        return client
    config["interceptors"] = [*config["interceptors"], CompanyInterceptor()]
    return temporalio.client.Client(**config)
