"""Temporal glue of the worker processes (docs/observability.md §2.2, §3): the SDK's TracingInterceptor,
an activity interceptor that times every attempt and counts failures by activity type and exception
class, and the worker's own /metrics port."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

from prometheus_client import start_http_server
from temporalio import activity
from temporalio.client import Client
from temporalio.contrib.opentelemetry import TracingInterceptor
from temporalio.exceptions import CancelledError
from temporalio.worker import ActivityInboundInterceptor, ExecuteActivityInput, Interceptor

from crm.observability.metrics import WorkerMetrics
from crm.observability.settings import ObservabilitySettings
from crm.observability.tracing import annotate

log = logging.getLogger(__name__)
ID_FIELDS = ("lead_id", "submission_id", "report_id", "interaction_id")


class ActivityMetricsInterceptor(Interceptor):
    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics = metrics

    def intercept_activity(self, next: ActivityInboundInterceptor) -> ActivityInboundInterceptor:
        return _ActivityMetrics(next, self.metrics)


class _ActivityMetrics(ActivityInboundInterceptor):
    def __init__(self, next: ActivityInboundInterceptor, metrics: WorkerMetrics) -> None:
        super().__init__(next)
        self.metrics = metrics

    async def execute_activity(self, input: ExecuteActivityInput) -> Any:
        info = activity.info()
        for arg in input.args:
            annotate(**{f: v for f in ID_FIELDS if isinstance(v := getattr(arg, f, None), int)})
        started, outcome = time.perf_counter(), "ok"
        try:
            return await self.next.execute_activity(input)
        except (CancelledError, asyncio.CancelledError):
            outcome = "cancelled"
            raise
        except BaseException as e:
            outcome = "failed"
            self.metrics.activity_failures.labels(info.activity_type, type(e).__name__).inc()
            raise
        finally:
            self.metrics.activity_seconds.labels(info.activity_type, info.task_queue, outcome).observe(
                time.perf_counter() - started
            )


def worker_interceptors(metrics: WorkerMetrics | None) -> list[Interceptor]:
    """For Worker(interceptors=...). Tracing comes from the client (`traced_client`): a Worker puts its
    client's interceptors first, so the metrics interceptor runs inside the RunActivity span."""
    return [ActivityMetricsInterceptor(metrics)] if metrics is not None else []


def traced_client(client: Client) -> Client:
    """The same connection with the TracingInterceptor: workflow starts and signals made through it (the
    relay's) carry the current trace to the workflow and its activities."""
    config = client.config()
    if any(isinstance(i, TracingInterceptor) for i in config["interceptors"]):
        return client
    config["interceptors"] = [*config["interceptors"], TracingInterceptor()]
    return Client(**config)


def serve_worker_metrics(metrics: WorkerMetrics, settings: ObservabilitySettings) -> Any:
    """GET /metrics of this worker on settings.worker_metrics_port (0: off). A port already taken is
    logged, never fatal: a worker without metrics still does its work. Returns the server or None."""
    if not settings.worker_metrics_port:
        return None
    try:
        server, _thread = start_http_server(
            settings.worker_metrics_port, addr=settings.worker_metrics_host, registry=metrics.registry
        )
    except OSError as e:
        log.warning("worker metrics not served on port %s: %s", settings.worker_metrics_port, e.strerror)
        return None
    return server
