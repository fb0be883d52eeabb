"""Appointment lifecycle tests: the CRM's service and pages against the provider sandbox's SendGrid (the real
`sendgrid` SDK over HTTP), on SQLite and PostgreSQL. The UI fixtures (team, leads, signed-in clients) are
tests/ui/conftest.py's."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from crm.email.sendgrid_sender import SendGridSender
from crm.extensions import db
from crm.models import Appointment
from crm.services import appointments as service
from tests.email.conftest import FastServerThread
from tests.ui.conftest import anon, as_manager, as_sales_a, as_sales_b, leads, team, ui_app  # noqa: F401


@dataclass
class Mailbox:
    sender: SendGridSender
    sandbox: object

    def mails(self, appointment_id: int | None = None) -> list:
        found = self.sandbox.sendgrid.messages()
        if appointment_id is None:
            return found
        prefix = f"appointment:{appointment_id}:"
        return [m for m in found if m.custom_args.get("message_key", "").startswith(prefix)]


@pytest.fixture(scope="module")
def sendgrid_sandbox():
    from sandbox.app import SandboxConfig, create_sandbox_app

    sandbox_app = create_sandbox_app(SandboxConfig(webhook_base=None, step_s=0.01))
    with FastServerThread(sandbox_app) as server:
        server.sandbox = sandbox_app.extensions["sandbox"]
        yield server


@pytest.fixture
def mailbox(ui_app, sendgrid_sandbox) -> Mailbox:  # noqa: F811
    sender = SendGridSender(api_key="SG.sandbox-key", host=f"{sendgrid_sandbox.url}/sendgrid", app=ui_app)
    sendgrid_sandbox.sandbox.sendgrid.mailbox.clear()
    return Mailbox(sender, sendgrid_sandbox.sandbox)


def booked(app, lead_id: int, owner_id: int, *, days: int = 3, start: datetime | None = None) -> tuple[int, datetime]:
    """A confirmed 30-minute appointment (service.book) at `start`, else at the owner's first free time `days`
    ahead."""
    with app.app_context():
        if start is None:
            now = datetime.now(UTC) + timedelta(days=days)
            start = service.free_times(owner_id, timedelta(minutes=30), now, 1)[0]
        result = service.book(
            lead_id, owner_id, start, start + timedelta(minutes=30), actor="test", key=f"test:{lead_id}:{start}"
        )
        assert result.changed and result.appointment is not None
        return result.appointment.id, start


def appointment(app, appointment_id: int) -> Appointment:
    with app.app_context():
        found = db.session.get(Appointment, appointment_id)
        assert found is not None
        db.session.expunge(found)
        return found
