"""Metrics, traces and redacted JSON logs of every leadchain process (docs/observability.md).

One call per process: `install_web(app)` in create_app (the app's Settings.observability), and
`install_worker(name, settings.observability)` in the worker entry point: the settings are handed in, read
by crm.config.Settings.from_env like every other setting. The parts are in metrics.py (Prometheus),
collectors.py (database gauges at scrape time), tracing.py (OpenTelemetry), temporal.py (the Temporal
interceptors and the worker's port) and logging.py (structlog, redaction). workflows/ never imports this
package: workflow code stays
deterministic, and the SDK's TracingInterceptor handles spans inside workflows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask

from crm.config import Settings
from crm.observability.collectors import DatabaseCollector
from crm.observability.logging import configure_logging
from crm.observability.metrics import WebMetrics, WorkerMetrics, install_web_metrics
from crm.observability.settings import ObservabilitySettings
from crm.observability.tracing import install_tracing, install_web_tracing, set_provider_metrics

__all__ = ["ObservabilitySettings", "WorkerObservability", "install_web", "install_worker"]

# Libraries that log every font subset and CSS warning at INFO/DEBUG: a report run printed 32 lines.
QUIET_LOGGERS = ("weasyprint", "fontTools")


def install_web(app: Flask, settings: ObservabilitySettings | None = None) -> WebMetrics:
    """GET /metrics with the request metrics and the database collector, a span per request, and (outside
    tests, whose logs pytest captures) the process's JSON logging."""
    if settings is None:
        configured = app.config.get("LEADCHAIN")
        settings = configured.observability if isinstance(configured, Settings) else ObservabilitySettings()
    settings = settings.for_process("leadchain-web")
    metrics = install_web_metrics(app, extra=[DatabaseCollector(app, settings)], multiproc_dir=settings.multiproc_dir)
    install_web_tracing(app, settings)
    if not app.testing:
        configure_logging(json=settings.log_json, level=settings.log_level, quiet=QUIET_LOGGERS)
    return metrics


@dataclass
class WorkerObservability:
    settings: ObservabilitySettings
    metrics: WorkerMetrics
    server: Any = None


def install_worker(
    name: str, settings: ObservabilitySettings | None = None, *, serve: bool = True
) -> WorkerObservability:
    """JSON logging, the tracer and the provider-call metrics of worker process `name`, and its /metrics
    port. Wire the result into the Temporal client and workers with crm.observability.temporal."""
    settings = (settings or ObservabilitySettings()).for_process(f"leadchain-worker-{name}")
    configure_logging(json=settings.log_json, level=settings.log_level, quiet=QUIET_LOGGERS)
    metrics = WorkerMetrics()
    install_tracing(settings)
    set_provider_metrics(metrics.provider)
    found = WorkerObservability(settings, metrics)
    if serve:
        # Imported here: the Temporal SDK's interceptors are only needed in a worker process.
        from crm.observability.temporal import serve_worker_metrics

        found.server = serve_worker_metrics(metrics, settings)
    return found
