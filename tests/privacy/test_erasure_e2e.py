"""Issue 19's must-shows, end to end on PostgreSQL with the real parts: the Temporal dev server running the
lead chain and the privacy workflows, the provider sandbox over HTTP (its Retell, Vapi and Bland calls and
their signed webhooks into the CRM served on loopback, its SendGrid mail and contacts), pg_dump.

A person gets marker strings in every field that can hold their data: their name, email, phone, interest and
qualification answers, the consent proof, transcript turns of a call through each provider, an email reply,
a note, a task and an audit entry. A second person has markers of their own.

* The export (a workflow) contains every marker of the person, their recordings and transcripts, and none
  of the second person's.
* After the erasure (a workflow) none of the person's markers is found in a pg_dump of the database, in the
  histories of the workflows this test ran (the chain's are deleted), in the application's logs, or in what
  the sandbox's Retell, Vapi and SendGrid contacts hold. Bland offers no deletion API: its sandbox still holds
  the call, and the request record says so ("not offered"). The second person's markers are untouched.
* The suppression list refuses the same email and phone at the webhook (409) and in a CSV import.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import subprocess
import uuid
import zipfile
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import pypdf
import pytest
import sqlalchemy as sa
from temporalio.client import WorkflowExecutionStatus
from temporalio.service import RPCError

from activities.provider_activities import ProviderActivities
from crm.extensions import db
from crm.models import (
    Campaign,
    ConsentRecord,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    PrivacyRequest,
    Task,
)
from crm.observability.logging import configure_logging
from crm.privacy import launch, requests
from crm.privacy.subjects import SubjectQuery, find_person
from crm.services import audit, csv_import
from crm.tenancy.context import company_scope
from providers.factory import registry
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.activity_env import activity_env
from tests.conftest import WEBHOOK_SECRETS, _wipe, set_settings
from tests.helpers import signed_headers
from tests.sandbox_fixtures import ServerThread
from tests.voice.bridge.test_bridge_e2e import LiveChain
from tests.workflows.conftest import FAST
from tests.workflows.test_one_chain_per_person import Stack, _live
from workers.privacy import SCHEDULE_PREFIX as RETENTION_PREFIX
from workers.privacy import privacy_activities, privacy_worker, upsert_retention_schedules
from workers.reports import company_schedules
from workflows.payloads import PlaceCallInput
from workflows.privacy_payloads import ErasureOutcome, ExportBuilt, PrivacyRequestRef, RetentionOutcome

pytestmark = pytest.mark.timeout(240)

PHONE = "+49 30 23125101"  # the sandbox's "interested" persona answers and talks
E164 = "+493023125101"
PERSON = {
    "first_name": "Zqfirst",
    "last_name": "Zqlast",
    "company": "Zqfirma GmbH",
    "email": "zqmail.person@example.com",
    "phone": PHONE,
    "phone_consent": "ja",
    "interest": "ZQINTEREST Angebot",
}
MARKERS = ["Zqfirst", "Zqlast", "Zqfirma", "zqmail", "ZQINTEREST", "ZQQUAL", "ZQCONSENT", "ZQTURN", "ZQREPLY",
           "ZQNOTE", "ZQTASK", "ZQAUDIT", E164]  # fmt: skip
OTHER = ["Yxother", "yxmail", "YXNOTE"]


def _pdf_text(content: bytes) -> str:
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(content)).pages)


def _scan(text: str, markers: list[str]) -> dict[str, int]:
    lowered = text.lower()
    return {m: lowered.count(m.lower()) for m in markers if m.lower() in lowered}


async def _until(predicate, what: str, timeout: float = 40):
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        value = await asyncio.to_thread(predicate)
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _calls_with_transcripts(stack: Stack, lead_id: int) -> set[str]:
    return set(
        stack.h.db(
            lambda: db.session.scalars(
                sa.select(Interaction.provider).where(
                    Interaction.lead_id == lead_id,
                    Interaction.kind == InteractionKind.CALL,
                    Interaction.transcript.is_not(None),
                )
            ).all()
        )
    )


def _place(stack: Stack, lead_id: int, chain_id: str, provider: str, agent: str, from_number: str) -> None:
    def work():
        campaign = Campaign(name=f"privacy-{provider}", provider=provider, agent_id=agent, from_number=from_number)
        db.session.add(campaign)
        db.session.flush()
        db.session.get(Lead, lead_id).campaign_id = campaign.id
        db.session.commit()

    stack.h.db(work)
    acts = ProviderActivities(stack.h.app, registry(stack.h.app), None)
    key = f"{chain_id}:privacy-{provider}"
    with company_scope(1):
        activity_env().run(acts.place_call, PlaceCallInput(lead_id, chain_id, 1, key))


def _add_markers(stack: Stack, lead_id: int) -> None:
    def work():
        lead = db.session.get(Lead, lead_id)
        lead.qualification = {"need": "ZQQUAL need", "timing": "soon"}
        for consent in db.session.scalars(sa.select(ConsentRecord).where(ConsentRecord.lead_id == lead_id)):
            consent.proof_text = f"{consent.proof_text} ZQCONSENT"
        for call in db.session.scalars(
            sa.select(Interaction).where(Interaction.lead_id == lead_id, Interaction.kind == InteractionKind.CALL)
        ):
            call.transcript = [*(call.transcript or []), {"role": "user", "text": "ZQTURN mein Name ist Zqfirst"}]
        db.session.add_all(
            [
                Interaction(
                    lead_id=lead_id,
                    kind=InteractionKind.EMAIL,
                    direction=Direction.INBOUND,
                    provider="sendgrid",
                    subject="Re: Ihr Angebot",
                    summary="ZQREPLY bitte rufen Sie mich an",
                    data={"from": PERSON["email"]},
                ),
                Interaction(lead_id=lead_id, kind=InteractionKind.NOTE, direction=Direction.INTERNAL, summary="ZQNOTE"),
                Task(lead_id=lead_id, title="ZQTASK Rückruf", details="ZQTASK details"),
            ]
        )
        audit.record("user:rep", "lead.note", "lead", lead_id, after={"detail": "ZQAUDIT said Zqlast"})
        other = Lead(source="website", first_name="Yxother", email="yxmail@example.com", email_key="yxmail@example.com",
                     phone_e164="+493023125111", tags=[])  # fmt: skip
        db.session.add(other)
        db.session.flush()
        db.session.add(
            Interaction(lead_id=other.id, kind=InteractionKind.NOTE, direction=Direction.INTERNAL, summary="YXNOTE")
        )
        db.session.commit()

    stack.h.db(work)


def _open(stack: Stack, kind: str) -> PrivacyRequest:
    def work():
        ids = find_person(SubjectQuery(email=PERSON["email"]))
        request = requests.open_request(
            kind, ids, requester="subject", received_via="email", identity_check="reply from the address on record",
            actor="user:admin",
        )  # fmt: skip
        db.session.commit()
        db.session.refresh(request)
        db.session.expunge(request)
        return request

    return stack.h.db(work)


async def _run(stack: Stack, request: PrivacyRequest, queue: str, result_type: type):
    with company_scope(1):
        wid = await launch.start(stack.h.client, request, task_queue=queue)
    return await stack.h.client.get_workflow_handle(wid, result_type=result_type).result()


def _pg_dump(app) -> str:
    url = sa.engine.make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(drivername="postgresql")
    done = subprocess.run(
        ["pg_dump", "--data-only", url.render_as_string(hide_password=False)],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return done.stdout


async def _histories(client, since: datetime) -> str:
    texts = []
    async for execution in client.list_workflows(f'StartTime > "{since.isoformat()}"'):
        try:
            history = await client.get_workflow_handle(execution.id, run_id=execution.run_id).fetch_history()
        except RPCError:
            continue  # deleted
        texts += [str(event) for event in history.events]
    return "\n".join(texts)


@pytest.fixture
async def stack(temporal_env, migrated_urls):
    """The chain on the sandbox (tests/workflows/test_one_chain_per_person.py's stack), PostgreSQL only."""
    app = await _live(temporal_env, migrated_urls, FAST)
    with ServerThread(app) as crm_http:
        sandbox_app = create_sandbox_app(SandboxConfig(webhook_base=crm_http.url, step_s=0.02))
        with ServerThread(sandbox_app) as sandbox:
            set_settings(app, "providers", sandbox_url=sandbox.url)
            harness = await LiveChain(app, temporal_env.client, FAST).start()
            harness.sandbox = sandbox_app.extensions["sandbox"]
            try:
                yield Stack(harness, sandbox.url)
            finally:
                await harness.stop()
    _wipe(app)


async def _gone(client, workflow_id: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id).describe()
    except RPCError:
        return True
    return False


def _provider_requests(sandbox) -> tuple:
    return (sandbox.sendgrid_contacts.delete_requests, [c.extra.get("deleted") for c in sandbox.state.list()])


async def _retention_through_its_schedule(stack: Stack, queue: str, since: datetime) -> RetentionOutcome:
    """The daily schedule (as the worker upserts it), triggered now, runs the sweep in company 1's scope."""
    client = stack.h.client

    def old_transcript():
        other = db.session.scalar(sa.select(Lead.id).where(Lead.first_name == "Yxother"))
        db.session.add(
            Interaction(
                lead_id=other, kind=InteractionKind.CALL, direction=Direction.OUTBOUND, transcript=[{"text": "old"}],
                started_at=datetime(2025, 1, 1, tzinfo=UTC),
            )
        )  # fmt: skip
        db.session.commit()

    stack.h.db(old_transcript)
    await upsert_retention_schedules(client, stack.h.app, company_schedules, task_queue=queue)
    handle = client.get_schedule_handle(f"{RETENTION_PREFIX}-c1")
    try:
        await handle.trigger()
        # The schedule's description names the run it started (no wait for the visibility store).
        deadline = asyncio.get_running_loop().time() + 20
        while not (actions := (await handle.describe()).info.recent_actions):
            assert asyncio.get_running_loop().time() < deadline, "the schedule started no run"
            await asyncio.sleep(0.1)
        run = actions[-1].action
        return await client.get_workflow_handle(run.workflow_id, result_type=RetentionOutcome).result()
    finally:
        for company_id in range(1, 4):
            try:
                await client.get_schedule_handle(f"{RETENTION_PREFIX}-c{company_id}").delete()
            except RPCError:
                pass


@pytest.fixture
def app_logs():
    """Every log record of the process as production writes it (JSON, redacting, at INFO) into a buffer."""
    buffer = io.StringIO()
    root = logging.getLogger()
    level = root.level
    handler = configure_logging(json=True, level="INFO", stream=buffer)
    yield buffer
    root.removeHandler(handler)
    root.setLevel(level)


async def test_export_and_erasure_of_one_person_everywhere(stack, app_logs):
    since = datetime.now(UTC)
    app, sandbox = stack.h.app, stack.h.sandbox
    accepted = stack.h.post_lead(PERSON)
    chain_id = accepted["chain_id"]
    lead_id = await _until(
        lambda: stack.h.db(lambda: db.session.scalar(sa.select(Lead.id).where(Lead.email == PERSON["email"]))),
        "the chain's import",
    )
    # The chain calls through the sandbox's Retell; the Vapi and Bland calls are placed as the chain would.
    await _until(lambda: "retell" in _calls_with_transcripts(stack, lead_id), "the Retell call's transcript")
    await asyncio.to_thread(_place, stack, lead_id, chain_id, "vapi", "assistant_privacy", "pn_privacy")
    await asyncio.to_thread(_place, stack, lead_id, chain_id, "bland", "pathway-privacy", "+4930555000")
    await _until(lambda: {"vapi", "bland"} <= _calls_with_transcripts(stack, lead_id), "Vapi and Bland transcripts")
    httpx.put(
        f"{stack.sandbox_url}/sendgrid/v3/marketing/contacts",
        json={"contacts": [{"email": PERSON["email"], "first_name": "Zqfirst"}]},
        headers={"Authorization": "Bearer SG.sandbox-key"},
    ).raise_for_status()
    _add_markers(stack, lead_id)
    queue = f"privacy-{uuid.uuid4().hex[:8]}"
    executor = ThreadPoolExecutor(max_workers=2)
    worker = privacy_worker(stack.h.client, app, executor, task_queue=queue)
    async with worker:
        export = _open(stack, "export")
        built = await _run(stack, export, queue, ExportBuilt)
        archive = stack.h.db(lambda: db.session.get(PrivacyRequest, export.id).archive)
        assert built.size_bytes == len(archive)
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            names = z.namelist()
            texts = "\n".join(z.read(n).decode("utf-8", "replace") for n in names if n.endswith((".json", ".txt")))
        assert {"data.json", "personal-data-de.pdf", "personal-data-en.pdf"} <= set(names)
        assert any(n.startswith("recordings/") for n in names) and any(n.startswith("transcripts/") for n in names)
        assert set(_scan(texts, MARKERS)) == set(MARKERS), "every marker is in the export"
        with zipfile.ZipFile(io.BytesIO(archive)) as z:
            pdfs = {lang: _pdf_text(z.read(f"personal-data-{lang}.pdf")) for lang in ("de", "en")}
        assert "Ihre personenbezogenen Daten" in pdfs["de"] and "Your personal data" in pdfs["en"]
        assert all("Zqfirst" in text and "ZQTURN" in text and "Yxother" not in text for text in pdfs.values())
        assert _scan(texts, OTHER) == {}, "the second person is not"
        assert set(json.loads(zipfile.ZipFile(io.BytesIO(archive)).read("data.json"))["tables"]) >= {
            "leads", "consent_records", "interactions", "tasks", "audit_log", "lead_submissions",
        }  # fmt: skip

        erasure = _open(stack, "erasure")
        outcome = await _run(stack, erasure, queue, ErasureOutcome)
        retained = await _retention_through_its_schedule(stack, queue, since)
    executor.shutdown(wait=False)
    assert retained.transcripts >= 1, "the second person's year-old transcript is past the 90 days"
    # A retried provider step asks no provider again: every call's step is done already.
    deletes = _provider_requests(sandbox)
    with company_scope(1):
        again = activity_env().run(
            privacy_activities(app, stack.h.client).erase_at_providers, PrivacyRequestRef(erasure.id, 1)
        )
    assert again.failed == 0 and _provider_requests(sandbox) == deletes
    steps = stack.h.db(lambda: {s.step: (s.status, s.detail) for s in requests.steps(erasure.id)})
    assert outcome.status == "done", steps
    statuses = {name.split(":")[0] + (":call" if ":call" in name else ""): s for name, (s, _) in steps.items()}
    assert statuses["retell:call"] == statuses["vapi:call"] == "done"
    assert (
        statuses["bland:call"] == "not_offered"
        and "no API" in steps[next(k for k in steps if k.startswith("bland"))][1]
    )
    assert steps["sendgrid:contact"][0] == "done" and steps["sendgrid:email activity"][0] == "not_offered"
    assert steps[f"temporal:{chain_id}"][0] == "done" and steps["suppression list"][0] == "done"
    assert await _gone(stack.h.client, chain_id), "the chain's executions are deleted"

    # The scans: 0 markers of the person; the second person's data is still there.
    dump = await asyncio.to_thread(_pg_dump, app)
    assert _scan(dump, MARKERS) == {}
    assert set(_scan(dump, OTHER)) == set(OTHER)
    assert _scan(await _histories(stack.h.client, since), MARKERS) == {}
    logged = app_logs.getvalue()
    assert logged.count("\n") > 20 and _scan(logged, MARKERS) == {}
    kept = {p: repr([c.__dict__ for c in sandbox.state.list(p)]) for p in ("retell", "vapi", "bland")}
    assert _scan(kept["retell"], MARKERS) == {} and _scan(kept["vapi"], MARKERS) == {}
    assert _scan(repr(sandbox.sendgrid_contacts.contacts), MARKERS) == {}
    assert _scan(kept["bland"], MARKERS), "Bland keeps its call: no deletion API (recorded as not offered)"

    # Never again: the same email and phone are refused at the webhook and in a CSV import.
    body = json.dumps({**PERSON, "first_name": "Again"}).encode()
    again = app.test_client().post(
        "/webhooks/leads/website", data=body, headers=signed_headers(WEBHOOK_SECRETS[0], body)
    )
    assert again.status_code == 409 and set(again.get_json()["errors"]) == {"email", "phone"}
    csv = b"first_name,email,phone\nNeu,zqmail.person@example.com,\nNeu,,+49 30 23125101\n"
    report = stack.h.db(lambda: csv_import.import_rows(csv_import.parse(csv), default_source="csv", actor="t"))
    assert report.created == 0 and len(report.rejected) == 2
    assert stack.h.db(lambda: db.session.get(Lead, lead_id)).status.value == "do_not_contact"
    assert (await stack.h.client.get_workflow_handle(launch.workflow_id(erasure)).describe()).status == (
        WorkflowExecutionStatus.COMPLETED
    )
