"""Fixtures of the observability tests: the process's tracer with an in-memory exporter, a provider
sandbox on its own, and the redacting JSON log handler writing into a buffer."""

from __future__ import annotations

import io
import logging

import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from crm.observability.logging import configure_logging
from crm.observability.tracing import tracer_provider
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.sandbox_fixtures import ServerThread


@pytest.fixture(scope="session")
def _exporter() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    tracer_provider().add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


@pytest.fixture
def spans(_exporter):
    _exporter.clear()
    yield _exporter
    _exporter.clear()


@pytest.fixture
def provider_sandbox():
    """The provider sandbox over real HTTP; its webhooks go nowhere (port 9 discards)."""
    app = create_sandbox_app(SandboxConfig(webhook_base="http://127.0.0.1:9", step_s=0.05))
    with ServerThread(app) as server:
        yield server


@pytest.fixture
def json_logs():
    """Every log record of the process, as the production handler writes it, into a buffer."""
    buffer = io.StringIO()
    handler = configure_logging(json=True, level="INFO", stream=buffer)
    yield buffer
    logging.getLogger().removeHandler(handler)
