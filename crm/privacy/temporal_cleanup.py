"""Removing a person's workflow executions from Temporal (docs/privacy.md): their lead chain, every run of
it, terminated first when it still runs.

The chain's payloads hold ids, not the person's data, by design (docs/temporal.md); the erasure deletes the
histories anyway, because a history also records when the person was called and what came of it, and the
request says "removed" only once Temporal no longer returns it."""

from __future__ import annotations

import asyncio

from temporalio.api.common.v1 import WorkflowExecution
from temporalio.api.workflowservice.v1 import DeleteWorkflowExecutionRequest
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

MAX_RUNS = 100
VERIFY_TRIES = 50  # x 0.2 s


async def _delete_run(client: Client, workflow_id: str, run_id: str) -> None:
    try:
        await client.workflow_service.delete_workflow_execution(
            DeleteWorkflowExecutionRequest(
                namespace=client.namespace,
                workflow_execution=WorkflowExecution(workflow_id=workflow_id, run_id=run_id),
            )
        )
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise


async def remove(client: Client, workflow_id: str) -> str:
    """Terminate (when running) and delete every run of `workflow_id`, until Temporal no longer returns it.
    Returns what was done, for the request record: "removed N run(s)" or "not in Temporal"."""
    handle = client.get_workflow_handle(workflow_id)
    try:
        description = await handle.describe()
    except RPCError as e:
        if e.status != RPCStatusCode.NOT_FOUND:
            raise
        return "not in Temporal"
    if description.status == WorkflowExecutionStatus.RUNNING:
        await handle.terminate(reason="privacy erasure")
    runs = {description.run_id}
    async for execution in client.list_workflows(f"WorkflowId = '{workflow_id}'", limit=MAX_RUNS):
        runs.add(execution.run_id)
    for _ in range(VERIFY_TRIES):
        for run_id in sorted(r for r in runs if r):
            await _delete_run(client, workflow_id, run_id)
        # Deletion is asynchronous on the server, and a delete right after a workflow closed was seen to be
        # dropped (the dev server kept the run): done only once Temporal no longer returns the id.
        await asyncio.sleep(0.2)
        try:
            runs.add((await handle.describe()).run_id)
        except RPCError as e:
            if e.status != RPCStatusCode.NOT_FOUND:
                raise
            return f"removed {len(runs)} run(s)"
    raise RuntimeError(f"Temporal still returns {workflow_id} after deleting it; retrying")
