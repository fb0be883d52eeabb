"""OpenTelemetry traces (docs/observability.md §3): the web request, Temporal (the SDK's TracingInterceptor
on the workers' client and workers), activities and the providers' HTTP calls.

Spans carry ids only: the route rule (never the raw path or query), lead, submission and chain ids
(the chain id is a keyed hash), the provider's name and host, status codes. Never a body, header, phone
number, email or name.

Spans leave the process only when OTEL_EXPORTER_OTLP_ENDPOINT is set (OTLP over HTTP to the collector);
tests add an in-memory exporter with `tracer_provider().add_span_processor(...)`.
"""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any
from urllib.parse import urlsplit

import httpx
from flask import Flask, Response, g, request
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from crm.observability.metrics import PROVIDERS, ProviderMetrics, route_label
from crm.observability.settings import ObservabilitySettings

TRACER_NAME = "leadchain"
# Hosts of the real providers; the sandbox serves each under /<provider>/ (providers.factory).
PROVIDER_HOSTS = {
    "retellai.com": "retell",
    "vapi.ai": "vapi",
    "bland.ai": "bland",
    "twilio.com": "twilio_realtime",
    "sendgrid.com": "sendgrid",
}
_lock = threading.Lock()
_state: dict[str, Any] = {}


def install_tracing(settings: ObservabilitySettings) -> TracerProvider:
    """The process's tracer provider (made once; OpenTelemetry allows one per process), exporting over
    OTLP/HTTP when the settings name an endpoint."""
    with _lock:
        provider = _state.get("provider")
        if provider is None:
            provider = TracerProvider(resource=Resource.create({"service.name": settings.service_name}))
            trace.set_tracer_provider(provider)
            _state["provider"] = provider
        if settings.otlp_endpoint and not _state.get("exporting"):
            # The exporter is imported only when used: it pulls in protobuf and its generated classes.
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            endpoint = settings.otlp_endpoint.rstrip("/") + "/v1/traces"
            provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter(endpoint=endpoint)))
            _state["exporting"] = True
        _patch_httpx()
        return provider


def tracer_provider() -> TracerProvider:
    return install_tracing(ObservabilitySettings())


def tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME)


def set_provider_metrics(metrics: ProviderMetrics | None) -> None:
    """Count provider HTTP calls of this process in `metrics` (a worker's registry)."""
    _state["provider_metrics"] = metrics


# --- the web -------------------------------------------------------------------------------------


def _ids_of(view_args: dict[str, Any] | None) -> dict[str, int]:
    return {f"leadchain.{k}": v for k, v in (view_args or {}).items() if k.endswith("id") and isinstance(v, int)}


def _start_request_span() -> None:
    parent = propagate.extract(request.headers)  # Headers.get is case-insensitive, as W3C requires
    route = route_label()
    span = tracer().start_span(
        f"{request.method} {route}",
        context=parent,
        kind=SpanKind.SERVER,
        attributes={"http.request.method": request.method, "http.route": route, **_ids_of(request.view_args)},
    )
    g.leadchain_span = span
    g.leadchain_span_token = otel_context.attach(trace.set_span_in_context(span, parent))


def _status_of_request(response: Response) -> Response:
    span = g.get("leadchain_span")
    if span is not None:
        span.set_attribute("http.response.status_code", response.status_code)
        if response.status_code >= 500:
            span.set_status(Status(StatusCode.ERROR))
    return response


def _end_request_span(error: BaseException | None) -> None:
    span = g.pop("leadchain_span", None)
    token = g.pop("leadchain_span_token", None)
    if span is not None:
        if error is not None:
            span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        span.end()
    if token is not None:
        otel_context.detach(token)


def install_web_tracing(app: Flask, settings: ObservabilitySettings) -> None:
    install_tracing(settings)
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request_span)
    app.after_request(_status_of_request)
    app.teardown_request(_end_request_span)


def annotate(**ids: int | str | None) -> None:
    """Put ids (never personal data) on the current span: annotate(lead_id=7, submission_id=12)."""
    span = trace.get_current_span()
    for key, value in ids.items():
        if value is not None:
            span.set_attribute(f"leadchain.{key}", value)


# --- provider HTTP calls -------------------------------------------------------------------------


def provider_of(url: httpx.URL | str) -> str | None:
    parts = urlsplit(str(url))
    host = (parts.hostname or "").lower()
    for suffix, name in PROVIDER_HOSTS.items():
        if host == suffix or host.endswith("." + suffix):
            return name
    first = parts.path.lstrip("/").split("/", 1)[0]
    return first if first in PROVIDERS else None


def _observe(provider: str, started: float, status: int | None) -> None:
    metrics: ProviderMetrics | None = _state.get("provider_metrics")
    if metrics is not None:
        metrics.observe(provider, status, time.perf_counter() - started)


def _span_for(req: httpx.Request, provider: str) -> trace.Span:
    return tracer().start_span(
        f"provider {provider} {req.method}",
        kind=SpanKind.CLIENT,
        attributes={
            "leadchain.provider": provider,
            "http.request.method": req.method,
            "server.address": req.url.host,
        },
    )


def _finish(span: trace.Span, status: int | None, error: BaseException | None) -> None:
    if status is not None:
        span.set_attribute("http.response.status_code", status)
        if status >= 400:
            span.set_status(Status(StatusCode.ERROR))
    if error is not None:
        span.set_status(Status(StatusCode.ERROR, type(error).__name__))
    span.end()


def _patch_httpx() -> None:
    """Wrap httpx's transports (what opentelemetry-instrumentation-httpx does; it is not installed): a
    client span and the provider metrics around each request to a provider; other hosts pass untouched."""
    if _state.get("httpx_patched"):
        return
    plain_sync = httpx.HTTPTransport.handle_request
    plain_async = httpx.AsyncHTTPTransport.handle_async_request

    def handle_request(self: httpx.HTTPTransport, req: httpx.Request) -> httpx.Response:
        provider = provider_of(req.url)
        if provider is None:
            return plain_sync(self, req)
        span, started = _span_for(req, provider), time.perf_counter()
        try:
            with trace.use_span(span, end_on_exit=False):
                response = plain_sync(self, req)
        except BaseException as e:
            _observe(provider, started, None)
            _finish(span, None, e)
            raise
        _observe(provider, started, response.status_code)
        _finish(span, response.status_code, None)
        return response

    async def handle_async_request(self: httpx.AsyncHTTPTransport, req: httpx.Request) -> httpx.Response:
        provider = provider_of(req.url)
        if provider is None:
            return await plain_async(self, req)
        span, started = _span_for(req, provider), time.perf_counter()
        try:
            with trace.use_span(span, end_on_exit=False):
                response = await plain_async(self, req)
        except BaseException as e:
            _observe(provider, started, None)
            _finish(span, None, e)
            raise
        _observe(provider, started, response.status_code)
        _finish(span, response.status_code, None)
        return response

    httpx.HTTPTransport.handle_request = handle_request  # type: ignore[method-assign, assignment]
    httpx.AsyncHTTPTransport.handle_async_request = handle_async_request  # type: ignore[method-assign, assignment]
    _state["httpx_patched"] = True


class ContextThreadPoolExecutor(ThreadPoolExecutor):
    """A thread pool whose tasks run in the submitter's context (contextvars): a synchronous activity's
    spans (its provider calls) become children of the SDK's RunActivity span, which the standard pool
    would lose."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        ctx = contextvars.copy_context()
        return super().submit(ctx.run, fn, *args, **kwargs)
