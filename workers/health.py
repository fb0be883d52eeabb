"""`leadchain worker-health NAME`: is Temporal up, and is some worker polling NAME's task queue?"""

from __future__ import annotations

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from crm.config import Settings
from workflows.calendar_payloads import CALENDARS_TASK_QUEUE
from workflows.client import connect
from workflows.payloads import CHAIN_TASK_QUEUE, PROVIDER_TASK_QUEUE
from workflows.report_payloads import REPORTS_TASK_QUEUE

QUEUES = {
    "chain": (CHAIN_TASK_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
    "provider": (PROVIDER_TASK_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    "reports": (REPORTS_TASK_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY),
    "calendars": (CALENDARS_TASK_QUEUE, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW),
}


async def check(name: str, config: Settings | None = None) -> tuple[bool, str]:
    cfg = config or Settings.from_env()  # `leadchain worker-health`: the process's own settings
    queue, kind = QUEUES[name]
    try:
        client = await connect(cfg.temporal_address, cfg.temporal_namespace)
        answer = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(
                namespace=cfg.temporal_namespace, task_queue=TaskQueue(name=queue), task_queue_type=kind
            )
        )
    except Exception as e:  # noqa: BLE001 - any failure is simply "unhealthy"
        return False, f"{name}: Temporal unreachable ({type(e).__name__})"
    pollers = len(answer.pollers)
    return pollers > 0, f"{name}: {pollers} poller(s) on {queue}"
