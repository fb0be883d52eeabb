"""One Temporal dev server (from the pip-installed CLI) for the whole test session."""

from __future__ import annotations

import shutil
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from crm.tenancy.temporal_headers import CompanyInterceptor
from workflows.lead_chain import LEAD_STAGE
from workflows.payloads import COMPANY_ID


def binary(name: str) -> str:
    candidate = Path(sys.executable).with_name(name)
    found = str(candidate) if candidate.exists() else shutil.which(name)
    if not found:
        pytest.fail(f"{name} not found: install the test extras (make test does)")
    return found


@pytest.fixture(scope="session")
async def temporal_env():
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=binary("temporal"),
        search_attributes=[LEAD_STAGE, COMPANY_ID],
        data_converter=pydantic_data_converter,
        # As in production (crm.tenancy.temporal_headers): starts carry the scope's company and every
        # Worker built on this client binds it in activities.
        interceptors=[CompanyInterceptor()],
        # Task-queue fairness across companies, as the launcher and compose run the server (workers/relay.py).
        dev_server_extra_args=["--dynamic-config-value", "matching.enableFairness=true"],
        dev_server_startup_timeout=timedelta(seconds=60),
    )
    yield env
    await env.shutdown()
