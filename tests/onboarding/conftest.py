"""The provider sandbox the onboarding tests provision against, served over HTTP on loopback."""

from __future__ import annotations

import pytest

from sandbox.app import SandboxConfig, create_sandbox_app
from tests.onboarding.wizard_setup import use_sandbox
from tests.sandbox_fixtures import ServerThread
from tests.ui.conftest import UIClient, create_team


@pytest.fixture
def provider_sandbox():
    app = create_sandbox_app(SandboxConfig(step_s=0.02))
    with ServerThread(app) as server:
        server.sandbox = app.extensions["sandbox"]
        yield server


@pytest.fixture
def wizard_sandbox(app, provider_sandbox):
    """For the wizard through the UI: the app's test client signs in, a team to sign in as, and the app pointed
    at the provider sandbox. Yields (team, sandbox server)."""
    app.test_client_class = UIClient
    team = create_team(app)
    use_sandbox(app, provider_sandbox.url)
    yield team, provider_sandbox
