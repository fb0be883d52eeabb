"""The provider sandbox the onboarding tests provision against, served over HTTP on loopback."""

from __future__ import annotations

import pytest

from sandbox.app import SandboxConfig, create_sandbox_app
from tests.sandbox_fixtures import ServerThread


@pytest.fixture
def provider_sandbox():
    app = create_sandbox_app(SandboxConfig(step_s=0.02))
    with ServerThread(app) as server:
        server.sandbox = app.extensions["sandbox"]
        yield server
