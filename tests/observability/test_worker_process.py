"""A worker process's observability as workers/main.py installs it: JSON logging, the tracer, and its own
/metrics port over real HTTP; a port already taken is logged and the worker goes on."""

from __future__ import annotations

import logging
import socket

import httpx

from crm.observability import install_worker
from crm.observability.settings import ObservabilitySettings
from tests.sandbox_fixtures import free_port


def test_a_worker_serves_its_metrics_and_survives_a_taken_port(caplog):
    root_handlers = list(logging.getLogger().handlers)
    port = free_port()
    settings = ObservabilitySettings(worker_metrics_port=port, worker_metrics_host="127.0.0.1")
    try:
        observed = install_worker("test", settings)
        observed.metrics.activity_failures.labels("place_call", "ProviderError").inc()
        observed.metrics.provider.observe("vapi", 503, 0.2)
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
        assert 'leadchain_activity_failures_total{activity="place_call",error="ProviderError"} 1.0' in text
        assert 'leadchain_provider_errors_total{kind="http_5xx",provider="vapi"} 1.0' in text

        with socket.socket() as taken:
            taken.bind(("127.0.0.1", 0))
            taken.listen()
            busy = ObservabilitySettings(worker_metrics_port=taken.getsockname()[1], worker_metrics_host="127.0.0.1")
            with caplog.at_level(logging.WARNING):
                assert install_worker("test", busy).server is None
        assert "worker metrics not served" in caplog.text
    finally:
        observed.server.shutdown()
        for handler in list(logging.getLogger().handlers):
            if handler not in root_handlers:
                logging.getLogger().removeHandler(handler)
