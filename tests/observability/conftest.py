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


class _WhileRecording(SimpleSpanProcessor):
    """Exports only while a test that asked for `spans` runs (a processor cannot be removed again, and
    every later test's requests make spans)."""

    recording = False

    def on_end(self, span) -> None:
        if self.recording:
            super().on_end(span)


@pytest.fixture(scope="session")
def _recorder() -> tuple[_WhileRecording, InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    processor = _WhileRecording(exporter)
    tracer_provider().add_span_processor(processor)
    return processor, exporter


@pytest.fixture
def spans(_recorder):
    processor, exporter = _recorder
    exporter.clear()
    processor.recording = True
    yield exporter
    processor.recording = False
    exporter.clear()


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
