"""A live sandbox on a free loopback port, sending its webhooks to a live CRM (gunicorn-free: werkzeug)."""

from __future__ import annotations

import socket
import threading

import pytest
from werkzeug.serving import make_server

from providers.factory import import_all_sdks
from sandbox.app import SandboxConfig, create_sandbox_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ServerThread:
    def __init__(self, app, port: int | None = None) -> None:
        self.port = port or free_port()
        self.server = make_server("127.0.0.1", self.port, app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.url = f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        # A sandbox's retries run for hours like a provider's: stop them with it, so none reaches a later
        # test's server on a reused port.
        sandbox = getattr(self.server.app, "extensions", {}).get("sandbox")
        if sandbox is not None:
            sandbox.dispatcher.close()


@pytest.fixture
def crm_server(app):
    """The CRM app (the `app` fixture, SQLite or PostgreSQL) served over real HTTP, as crm.wsgi serves it:
    the provider SDKs imported before the first request. Without that, the first Retell webhook of a test
    process paid the Retell SDK's import (3 s under a loaded CI), which no gunicorn worker pays."""
    import_all_sdks()
    with ServerThread(app) as server:
        yield server


@pytest.fixture
def sandbox(crm_server):
    """The provider sandbox, posting its webhooks to crm_server."""
    app = create_sandbox_app(SandboxConfig(webhook_base=crm_server.url, step_s=0.05))
    with ServerThread(app) as server:
        server.sandbox = app.extensions["sandbox"]
        yield server
