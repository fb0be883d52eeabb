"""The monthly billing schedule on the Temporal dev server: a triggered run issues last month's invoice,
emails it once and finalizes it in Stripe (the sandbox); a second run of the same month changes nothing
(same invoice, same usage, no mail, the same Stripe invoice)."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from crm import create_app
from crm.billing import stripe_sync
from crm.extensions import db
from crm.models import Invoice, SideEffect, UsageEvent
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.billing import sample_month
from tests.conftest import _wipe, make_test_secrets
from tests.reports.conftest import RecordingMailer
from tests.sandbox_fixtures import ServerThread
from workers import billing as billing_worker
from workers.schedules import CompanySchedule
from workflows.billing_payloads import BillingOutcome, previous_month

COMPANY = 1


@pytest.fixture
def app(migrated_urls):
    with ServerThread(create_sandbox_app(SandboxConfig())) as stripe_sandbox:
        app = create_app(
            {
                "TESTING": True,
                "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"],
            },
            secrets=make_test_secrets(LEADCHAIN_SECRET_PROVIDERS_STRIPE_API_KEY="sk_test_sandbox"),
        )
        app.extensions[stripe_sync.API_BASE_EXTENSION] = f"{stripe_sandbox.url}/stripe"
        _wipe(app)
        yield app
        _wipe(app)


async def _run_once(client, handle) -> BillingOutcome:
    before = len((await handle.describe()).info.recent_actions)
    await handle.trigger()
    deadline = asyncio.get_running_loop().time() + 30
    while len((desc := await handle.describe()).info.recent_actions) == before:
        assert asyncio.get_running_loop().time() < deadline, "the trigger started nothing"
        await asyncio.sleep(0.2)
    started = desc.info.recent_actions[-1].action
    run = client.get_workflow_handle(
        started.workflow_id, run_id=started.first_execution_run_id, result_type=BillingOutcome
    )
    return await asyncio.wait_for(run.result(), 60)


async def test_the_schedule_bills_last_month_once(temporal_env, app, monkeypatch):
    client = temporal_env.client
    queue = f"billing-{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr(billing_worker, "SCHEDULE_PREFIX", f"test-billing-{uuid.uuid4().hex[:8]}")
    period = previous_month(datetime.now(UTC))
    year, month = (int(p) for p in period.split("-"))
    with app.app_context():
        from crm.tenancy.context import company_scope

        with company_scope(COMPANY):
            sample_month.account(sample_month.plan())
            sample_month.facts(calls=3, emails=1, at=datetime(year, month, 3, 9, tzinfo=UTC))
        db.session.remove()
    mailer = RecordingMailer()
    monkeypatch.setattr(billing_worker, "build_mailer", lambda app: mailer)
    executor = ThreadPoolExecutor(max_workers=1)
    worker = billing_worker.billing_worker(client, app, executor, task_queue=queue)
    sids = await billing_worker.upsert_billing_schedules(
        client, app, lambda app: ([CompanySchedule(COMPANY)], []), task_queue=queue
    )
    handle = client.get_schedule_handle(sids[0])
    try:
        async with worker:
            first = await _run_once(client, handle)
            assert first.period == period and first.issued.created and first.sent.sent
            assert first.stripe.stripe_invoice_id and first.stripe.skipped is None
            with app.app_context():
                events = db.session.scalar(sa.select(sa.func.count()).select_from(UsageEvent))
            second = await _run_once(client, handle)
            assert second.issued.invoice_id == first.issued.invoice_id and not second.issued.created
            assert second.sent.already_sent and not second.sent.sent
            assert second.stripe.stripe_invoice_id == first.stripe.stripe_invoice_id
        assert len(mailer.sent) == 1 and mailer.sent[0].content.startswith(b"%PDF")
        with app.app_context():
            assert db.session.scalar(sa.select(sa.func.count()).select_from(Invoice)) == 1
            assert db.session.scalar(sa.select(sa.func.count()).select_from(UsageEvent)) == events
            mails = db.session.scalars(sa.select(SideEffect).where(SideEffect.kind == "invoice_email")).all()
            assert [m.status for m in mails] == ["done"]
    finally:
        await handle.delete()
        executor.shutdown(wait=False)
