"""Spans leave the process over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT is set: a web process
(a subprocess: the tracer provider is one per process) answers a request and exits; a local receiver
gets the protobuf batch with the request's span, or nothing at all without the variable."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.observability import markers

REPO = Path(__file__).resolve().parents[2]
CHILD = f"""
from crm import create_app
app = create_app({{"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True}})
app.test_client().get("/api/v1/leads/77?email={markers.EMAIL}", headers={{"X-API-Key": "{markers.API_KEY}"}})
"""


class Receiver(BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()
        self.wfile.write(b"")

    def log_message(self, *args) -> None:
        pass


def run_child(endpoint: str | None) -> None:
    env = {k: v for k, v in os.environ.items() if k != "OTEL_EXPORTER_OTLP_ENDPOINT"}
    if endpoint:
        env["OTEL_EXPORTER_OTLP_ENDPOINT"] = endpoint
    subprocess.run([sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, timeout=120, check=True)


def test_spans_are_exported_only_to_a_configured_endpoint():
    Receiver.received = []
    server = HTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        run_child(None)
        assert Receiver.received == []
        run_child(f"http://127.0.0.1:{server.server_port}")
    finally:
        server.shutdown()
    assert Receiver.received, "no export"
    path, content_type, body = Receiver.received[0]
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    batch = ExportTraceServiceRequest.FromString(body)
    found = [
        (span, {a.key: a.value for a in span.attributes})
        for rs in batch.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]
    [(span, attributes)] = [(s, a) for s, a in found if s.name == "GET /api/v1/leads/<int:lead_id>"]
    assert attributes["leadchain.lead_id"].int_value == 77
    service = {a.key: a.value.string_value for a in batch.resource_spans[0].resource.attributes}["service.name"]
    assert service == "leadchain-web"
    assert markers.EMAIL.encode() not in body and markers.API_KEY.encode() not in body
