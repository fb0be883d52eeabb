"""The demo's Bland inbound number is pointed at the CRM the way `make up` does it (crm.inbound.bland_numbers, run by
`leadchain inbound-configure-bland` after the stack is up): the configuration lands at (the sandbox's) Bland, a
second run and a second seed change nothing, and a call to the number then plays through the CRM over HTTP on
PostgreSQL with the secret the CRM verifies."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import workers.cli
import workers.inbound_cli
from crm import create_app, demo
from crm.extensions import db
from crm.inbound import bland_numbers
from crm.inbound.numbers import clear_route_cache
from crm.models import Company, InboundCall, Lead, PhoneNumber, Task
from crm.tenancy.context import company_scope, operator_scope
from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.inbound_personas import PERSONAS, run_inbound_persona
from tests.conftest import _wipe, make_test_secrets, set_settings
from tests.sandbox_fixtures import ServerThread
from workers import launcher

pytestmark = pytest.mark.tenancy
KEYS = SandboxConfig().keys
NUMBER = demo.BERGER.bland_number


@pytest.fixture
def stack(migrated_urls: dict[str, str]) -> Any:
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]}, secrets=make_test_secrets()
    )
    _wipe(app)
    clear_route_cache()
    with app.app_context():
        first = demo.seed()
        again = demo.seed()
        db.session.remove()
    assert first["inbound_numbers_created"] == 1 and again["inbound_numbers_created"] == 0
    with ServerThread(app) as crm, ServerThread(create_sandbox_app(SandboxConfig(webhook_base=crm.url))) as bland:
        # Keyless, as `make up`: the company's Bland account is the sandbox (providers.factory.provider_endpoint).
        set_settings(app, "providers", sandbox_url=bland.url)
        yield app, crm.url, bland.url
    with app.app_context():
        db.session.remove()
    _wipe(app)


def _berger(app: Any) -> int:
    with app.app_context(), operator_scope("test", "find the demo company"):
        found = db.session.scalar(sa.select(Company.id).where(Company.slug == demo.BERGER.slug))
        db.session.remove()
    assert found is not None
    return int(found)


def _held(bland_url: str) -> dict[str, Any]:
    found: dict[str, Any] = (
        httpx.get(f"{bland_url}/v1/inbound/{NUMBER}", headers={"authorization": KEYS["bland"]})
        .raise_for_status()
        .json()
    )
    return found


def _configure(app: Any, crm_url: str) -> dict[int, list[bland_numbers.Configured]]:
    with app.app_context():
        done = bland_numbers.configure_all(crm_url)
        db.session.remove()
    return done


def test_the_demo_bland_number_is_configured_once_and_answers_through_the_crm(stack):
    app, crm_url, bland_url = stack
    company_id = _berger(app)
    with app.app_context(), company_scope(company_id):
        number_id = db.session.scalar(sa.select(PhoneNumber.id).where(PhoneNumber.e164 == NUMBER))
        db.session.remove()
    done = _configure(app, crm_url)
    assert done == {company_id: [bland_numbers.Configured(number_id, NUMBER, True, "configured")]}
    held = _held(bland_url)
    assert held["webhook"] == f"{crm_url}/webhooks/bland/inbound/call"
    assert held["metadata"] == {"direction": "inbound", "inbound_number": str(number_id)}
    assert held["dynamic_data"][0]["headers"]["Authorization"] == f"Bearer {KEYS['bland_webhook_secret']}"
    assert {t["name"] for t in held["tools"]} >= {"BookAppointment", "LeaveMessage"}

    # Idempotent: a second run (the next `make up`) leaves Bland holding the same, and one number.
    assert _configure(app, crm_url) == done
    assert _held(bland_url) == held
    listed = httpx.get(f"{bland_url}/v1/inbound", headers={"authorization": KEYS["bland"]}).json()["inbound_numbers"]
    assert [n["phone_number"] for n in listed] == [NUMBER]

    # The configuration works: the CRM verifies the secret it carries and records the call.
    run = run_inbound_persona(
        "bland", PERSONAS["unknown_caller"], crm_base=crm_url, keys=KEYS, to=NUMBER, bland_config=held
    )
    assert run.tool_uses and all(status == 200 for _tool, status, _answer in run.tool_uses), run.tool_uses
    assert run.webhook_status == 200
    with app.app_context(), company_scope(company_id):
        row = db.session.scalar(sa.select(InboundCall).where(InboundCall.call_ref == run.call_id))
        assert row is not None and row.phone_number_id == number_id and row.outcome == "message"
        db.session.remove()


def test_the_command_names_each_number_and_a_company_without_a_bland_account(stack, monkeypatch):
    app, crm_url, _bland_url = stack
    monkeypatch.setattr(workers.inbound_cli, "_app", lambda: app)  # the command's app is built from the environment
    configured = CliRunner().invoke(workers.cli.main, ["inbound-configure-bland", "--url", crm_url])
    assert configured.exit_code == 0, configured.output
    assert f"Bland number {NUMBER}: configured" in configured.output
    set_settings(app, "providers", sandbox_url=None)  # no key and no sandbox: no Bland account at all
    refused = CliRunner().invoke(workers.cli.main, ["inbound-configure-bland", "--url", crm_url])
    assert refused.exit_code == 1
    assert f"Bland number {NUMBER}: not sent: the company has no Bland API key" in refused.output


def test_make_ups_demo_inbound_call_makes_the_unknown_caller_a_lead_with_a_callback_task(stack, capsys):
    """What `make up` does after the demo leads (workers.launcher._demo_inbound_call): a caller nobody knows rings
    the demo's Bland number through the sandbox and leaves a message; the stack's output says so."""
    app, crm_url, sandbox_url = stack
    company_id = _berger(app)
    _configure(app, crm_url)
    launcher._demo_inbound_call(crm_url, {"LEADCHAIN_SANDBOX_URL": sandbox_url})
    printed = capsys.readouterr()
    assert f"an unknown caller rang {demo.BERGER.name} on {NUMBER} (Bland) and left a message" in printed.out, printed
    assert f"{crm_url}/leads?source=phone" in printed.out
    with app.app_context(), company_scope(company_id):
        [lead] = db.session.scalars(sa.select(Lead).where(Lead.source == "phone")).all()
        assert lead.phone_e164 == PERSONAS["unknown_caller"].caller
        assert db.session.scalars(sa.select(Task).where(Task.lead_id == lead.id)).all()
        db.session.remove()
