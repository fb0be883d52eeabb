"""Prometheus metrics of the web and the workers (docs/observability.md §2), in the style of
voice/bridge/metrics.py: one class per process kind, each with a registry of its own.

Labels are bounded by construction: the web labels by the matched route *rule* (``/api/v1/leads/<int:lead_id>``,
never the raw path) or ``<unmatched>``; workers by activity type and exception class; providers by a
fixed set of names. With several gunicorn processes, set PROMETHEUS_MULTIPROC_DIR (an empty directory
per start) and /metrics adds up every process's samples.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from flask import Flask, Response, current_app, g, request
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
ACTIVITY_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)
access_log = logging.getLogger("leadchain.access")
UNMATCHED = "<unmatched>"
PROVIDERS = ("retell", "vapi", "bland", "twilio_realtime", "sendgrid")
# SendGrid's event kinds (docs/providers.md §4.4); anything else is counted as "other".
EMAIL_EVENTS = frozenset(
    {
        "processed",
        "dropped",
        "delivered",
        "deferred",
        "bounce",
        "open",
        "click",
        "spamreport",
        "unsubscribe",
        "group_unsubscribe",
        "group_resubscribe",
    }
)
METRICS_PATH = "/metrics"
SENDGRID_EVENTS_ROUTE = "/webhooks/sendgrid"  # the Event Webhook (not /inbound, the replies)

__all__ = ["CONTENT_TYPE_LATEST", "ProviderMetrics", "WebMetrics", "WorkerMetrics", "install_web_metrics"]


class WebMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "leadchain_http_requests",
            "Web requests answered, by route rule and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "leadchain_http_request_duration_seconds",
            "Web request time from the first byte read to the response built, by route rule",
            ["method", "route"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.signature_failures = Counter(
            "leadchain_webhook_signature_failures",
            "Webhook and API requests refused 401 (bad, missing or stale signature or key), by route rule",
            ["route"],
            registry=r,
        )
        self.email_events = Counter(
            "leadchain_email_events",
            "SendGrid events accepted (each delivery counted, duplicates too)",
            ["event"],
            registry=r,
        )


class WorkerMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.activity_seconds = Histogram(
            "leadchain_activity_duration_seconds",
            "Activity attempt time, by activity type and outcome (ok | failed | cancelled)",
            ["activity", "task_queue", "outcome"],
            buckets=ACTIVITY_BUCKETS,
            registry=r,
        )
        self.activity_failures = Counter(
            "leadchain_activity_failures",
            "Activity attempts that raised, by activity type and exception class",
            ["activity", "error"],
            registry=r,
        )
        self.provider = ProviderMetrics(r)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class ProviderMetrics:
    """HTTP calls to the voice providers (and SendGrid's sandbox), counted by the tracing hook on httpx."""

    def __init__(self, registry: CollectorRegistry) -> None:
        r = registry
        self.requests = Counter(
            "leadchain_provider_requests",
            "HTTP requests to a provider, by status class",
            ["provider", "status"],
            registry=r,
        )
        self.errors = Counter(
            "leadchain_provider_errors",
            "Provider requests that failed: 5xx, 4xx other than 429, or no answer (transport)",
            ["provider", "kind"],
            registry=r,
        )
        self.rate_limited = Counter("leadchain_provider_rate_limited", "Provider answers 429", ["provider"], registry=r)
        self.seconds = Histogram(
            "leadchain_provider_request_duration_seconds",
            "Provider HTTP request time",
            ["provider"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )

    def observe(self, provider: str, status: int | None, seconds: float) -> None:
        self.seconds.labels(provider).observe(seconds)
        if status is None:
            self.requests.labels(provider, "none").inc()
            self.errors.labels(provider, "transport").inc()
            return
        self.requests.labels(provider, f"{status // 100}xx").inc()
        if status == 429:
            self.rate_limited.labels(provider).inc()
        elif status >= 500:
            self.errors.labels(provider, "http_5xx").inc()
        elif status >= 400:
            self.errors.labels(provider, "http_4xx").inc()


def route_label() -> str:
    rule = request.url_rule
    return rule.rule if rule is not None else UNMATCHED


def _count_email_events(metrics: WebMetrics) -> None:
    try:
        body = json.loads(request.get_data(cache=True) or b"null")
    except ValueError:
        return
    events = body if isinstance(body, list) else [body]
    for event in events:
        kind = event.get("event") if isinstance(event, dict) else None
        # A list or object there (unhashable) was a TypeError after the response: a 500 (schemathesis).
        metrics.email_events.labels(kind if isinstance(kind, str) and kind in EMAIL_EVENTS else "other").inc()


def _before() -> None:
    g.leadchain_started = time.perf_counter()


def _after(response: Response) -> Response:
    metrics: WebMetrics = current_app.extensions["leadchain.metrics"]
    started = g.pop("leadchain_started", None)
    route = route_label()
    if route == METRICS_PATH:
        return response  # a scrape does not count itself
    metrics.requests.labels(request.method, route, str(response.status_code)).inc()
    took = time.perf_counter() - started if started is not None else None
    if took is not None:
        metrics.latency.labels(request.method, route).observe(took)
    # The access log: the route rule, never the raw path or query string (gunicorn's is off in compose).
    access_log.info(
        "%s %s %s",
        request.method,
        route,
        response.status_code,
        extra={"route": route, "status": response.status_code, "ms": round(took * 1000, 1) if took else None},
    )
    if response.status_code == 401 and route.startswith(("/webhooks/", "/api/")):
        metrics.signature_failures.labels(route).inc()
    if route == SENDGRID_EVENTS_ROUTE and 200 <= response.status_code < 300:
        _count_email_events(metrics)
    return response


def exposition(registry: CollectorRegistry, extra: list[Any] | None = None, multiproc_dir: str | None = None) -> bytes:
    """The registry's samples, or every gunicorn process's from `multiproc_dir` (PROMETHEUS_MULTIPROC_DIR,
    which prometheus_client itself reads when the metrics are made); `extra` collectors (the database
    collector) are asked at this scrape."""
    if multiproc_dir:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=multiproc_dir)
    scrape = CollectorRegistry()
    for collector in [_Delegate(registry), *(extra or [])]:
        scrape.register(collector)
    return generate_latest(scrape)


class _Delegate:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry

    def collect(self) -> Any:
        return self.registry.collect()


def install_web_metrics(app: Flask, extra: list[Any] | None = None, multiproc_dir: str | None = None) -> WebMetrics:
    """Count every request of `app` and serve GET /metrics (no login: it holds counts, never data)."""
    metrics = WebMetrics()
    app.extensions["leadchain.metrics"] = metrics
    app.before_request_funcs.setdefault(None, []).insert(0, _before)  # first: the time includes the others
    app.after_request(_after)

    def metrics_view() -> Response:
        return Response(exposition(metrics.registry, extra, multiproc_dir), mimetype=CONTENT_TYPE_LATEST)

    app.add_url_rule(METRICS_PATH, "metrics", metrics_view, methods=["GET"])
    return metrics
