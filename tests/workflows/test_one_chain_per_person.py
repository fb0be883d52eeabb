"""A person is called once per step and has one chain, however often their lead arrives (issue 12, 1 and 4).

Real parts: the Temporal dev server, real chain and provider workers, PostgreSQL, the provider sandbox over
HTTP (its Retell API and its signed webhooks into the CRM served on loopback, which hand each result to the
chain). The sandbox picks the callee's persona by the number's last digit: 5 never answers, 1 is interested,
0 books.

Each test below failed on the code before the fix:
* re-posted during the retry wait, the lead was dialled at once (the wait ended on any new submission);
* re-posted after the hand-over or the booking, a new run of the same workflow id started from scratch and
  called again (the booked one then waited an hour on the first run's call, found by the same key);
* found by their phone after their email's chain had ended, the person got a second chain that called;
* a calling-hours change left waiting chains on their old timers.
"""

from __future__ import annotations

import asyncio
import dataclasses
import uuid
from datetime import UTC, datetime, time, timedelta

import httpx
import pytest
import sqlalchemy as sa
from temporalio.client import WorkflowExecutionStatus

from crm import create_app
from crm.config import Settings
from crm.extensions import db
from crm.models import AuditEntry, Lead, LeadSubmission, SideEffect
from crm.services import app_settings
from crm.services.compliance import CallingWindow, GatePolicy
from sandbox.app import SandboxConfig, create_sandbox_app
from tests.conftest import _wipe, make_test_secrets, set_settings
from tests.sandbox_fixtures import ServerThread
from tests.voice.bridge.test_bridge_e2e import LiveChain
from tests.workflows.conftest import FAST, always_open_policy
from workflows.payloads import ChainStatus

LEAD = {
    "first_name": "Jürgen",
    "last_name": "Weber",
    "company": "Kfz-Werkstatt Krause GmbH",
    "email": "juergen.weber@kfz-krause.de",
    "phone_consent": "ja",
    "interest": "Angebot für 5 Standorte",
}
NO_ANSWER, INTERESTED, BOOKS = "+49 30 23125105", "+49 30 23125101", "+49 30 23125100"


async def _live(temporal_env, migrated_urls, settings, *, policy=None, **env):
    """The CRM app; `env` holds LEADCHAIN_* variables for its Settings (e.g. LEADCHAIN_REOPEN_AFTER_DAYS)."""
    target = temporal_env.client.service_client.config.target_host
    secrets = make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=uuid.uuid4().hex)
    app = create_app(
        {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["postgresql"]},
        settings=Settings.from_env({"TEMPORAL_ADDRESS": target, **{k: str(v) for k, v in env.items()}}),
        secrets=secrets,
        gate_policy=policy or always_open_policy(),
    )
    _wipe(app)
    return app


class Stack:
    """The chain harness on the sandbox, plus what these tests ask of it."""

    def __init__(self, harness: LiveChain, sandbox_url: str) -> None:
        self.h, self.sandbox_url = harness, sandbox_url

    def calls_to(self, number: str) -> int:
        digits = "+" + "".join(c for c in number if c.isdigit())
        return sum(1 for c in self.h.sandbox.state.list("retell") if c.to_number == digits)

    async def status(self, chain_id: str) -> ChainStatus:
        return await self.h.handle(chain_id).query("status", result_type=ChainStatus)

    async def until(self, predicate, timeout: float = 30, what: str = "condition"):
        deadline = asyncio.get_running_loop().time() + timeout
        while asyncio.get_running_loop().time() < deadline:
            value = predicate()
            if asyncio.iscoroutine(value):
                value = await value
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}")

    def timeline(self, lead_id: int) -> list[tuple[str, str]]:
        return self.h.db(
            lambda: [
                (a.action, (a.after or {}).get("detail", ""))
                for a in db.session.scalars(
                    sa.select(AuditEntry)
                    .where(
                        AuditEntry.entity_type == "lead",
                        AuditEntry.entity_id == lead_id,
                        AuditEntry.action.like("chain.%"),
                    )
                    .order_by(AuditEntry.id)
                )
            ]
        )

    async def runs(self, chain_id: str) -> list:
        return [w async for w in self.h.client.list_workflows(f'WorkflowId = "{chain_id}"')]

    async def next_run_outcome(self, chain_id: str, runs_before: int):
        """The outcome of the run the relay starts for a new submission (the earlier runs have ended)."""

        async def started():
            return len(await self.runs(chain_id)) > runs_before

        await self.until(started, what="a new run")
        return await self.h.outcome(chain_id)

    def processed(self, lead_id: int) -> int:
        """Submissions imported into this lead (a differing value of a later one is kept as a proposal)."""
        return self.h.db(
            lambda: db.session.scalar(
                sa.select(sa.func.count())
                .select_from(LeadSubmission)
                .where(LeadSubmission.lead_id == lead_id, LeadSubmission.processed_at.is_not(None))
            )
        )

    def lead(self, lead_id: int) -> Lead:
        return self.h.db(lambda: db.session.get(Lead, lead_id))


@pytest.fixture
async def stack(temporal_env, migrated_urls, request):
    params = dict(getattr(request, "param", {}))
    settings = params.pop("settings", FAST)
    app = await _live(temporal_env, migrated_urls, settings, **params)
    with ServerThread(app) as crm_http:
        sandbox_app = create_sandbox_app(SandboxConfig(webhook_base=crm_http.url, step_s=0.02))
        with ServerThread(sandbox_app) as sandbox:
            set_settings(app, "providers", sandbox_url=sandbox.url)
            harness = await LiveChain(app, temporal_env.client, settings).start()
            harness.sandbox = sandbox_app.extensions["sandbox"]
            try:
                yield Stack(harness, sandbox.url)
            finally:
                await harness.stop()
    _wipe(app)


RETRY_WAIT = dataclasses.replace(FAST, retry_delay_s=12, max_call_attempts=2, nurture_delays_s=[0, 60, 60])


@pytest.mark.parametrize("stack", [{"settings": RETRY_WAIT}], indirect=True)
async def test_a_lead_posted_again_during_the_retry_wait_is_not_dialled_sooner(stack):
    first = stack.h.post_lead({**LEAD, "phone": NO_ANSWER})
    waiting = await stack.until(lambda: _stage_is(stack, first["chain_id"], "waiting_for_retry"), what="retry wait")
    assert stack.calls_to(NO_ANSWER) == 1
    retry_at = waiting.next_at
    again = stack.h.post_lead({**LEAD, "phone": NO_ANSWER, "interest": "Bitte dringend zurückrufen"})
    assert again["chain_id"] == first["chain_id"]
    # The new submission is merged and re-scored, and the wait goes on to its end.
    await stack.until(lambda: stack.processed(waiting.lead_id) == 2, what="the second submission imported")
    await asyncio.sleep(1.0)  # room for a wrongly placed call to show up
    assert stack.calls_to(NO_ANSWER) == 1
    await stack.until(lambda: any("wait kept" in d for _, d in stack.timeline(waiting.lead_id)), what="merge")
    status = await stack.status(first["chain_id"])
    assert status.stage == "waiting_for_retry" and status.next_at == retry_at
    # The second attempt comes when the wait ends, not before.
    await stack.until(lambda: stack.calls_to(NO_ANSWER) == 2, timeout=40, what="second attempt")
    second = max(c.created_ms for c in stack.h.sandbox.state.list("retell")) / 1000
    assert second >= retry_at.timestamp() - 0.5
    assert len(await stack.runs(first["chain_id"])) == 1


async def _stage_is(stack: Stack, chain_id: str, stage: str):
    try:
        status = await stack.status(chain_id)
    except Exception:  # noqa: BLE001 - not started yet
        return None
    return status if status.stage == stage else None


@pytest.mark.parametrize("number, ended", [(INTERESTED, "handed_over"), (BOOKS, "booked")])
async def test_a_lead_posted_again_after_its_chain_ended_is_merged_and_not_called(stack, number, ended):
    first = stack.h.post_lead({**LEAD, "phone": number})
    outcome = await stack.h.outcome(first["chain_id"])
    assert outcome.stage == ended and stack.calls_to(number) == 1
    mails = len(stack.h.sandbox.sendgrid.messages(lead_id=str(outcome.lead_id)))
    for n in range(2):
        again = stack.h.post_lead({**LEAD, "phone": number, "company": f"Krause GmbH {n}"})
        assert again["chain_id"] == first["chain_id"]
        # The lambdas bind `n` as a default: each is awaited within its own iteration, and says so.
        await stack.until(lambda n=n: stack.processed(outcome.lead_id) == n + 2, what="the submission imported")
        await asyncio.sleep(1.0)  # room for a wrongly placed call to show up
        assert stack.calls_to(number) == 1
        merged = await stack.next_run_outcome(first["chain_id"], runs_before=n + 1)
        await stack.until(
            lambda n=n: len([a for a, _ in stack.timeline(outcome.lead_id) if a == "chain.merged"]) == n + 1,
            what="merge on the timeline",
        )
        assert merged.stage == "merged"
    assert len(stack.h.sandbox.sendgrid.messages(lead_id=str(outcome.lead_id))) == mails
    lead = stack.lead(outcome.lead_id)
    assert lead.chain_stage == ended and lead.chain_id == first["chain_id"]
    runs = await stack.runs(first["chain_id"])
    assert all(r.status != WorkflowExecutionStatus.RUNNING for r in runs)
    timeline = stack.timeline(outcome.lead_id)
    assert not any(
        a in ("chain.calling", "chain.waiting_for_result")
        for a, _ in timeline[timeline.index(next(e for e in timeline if e[0] == f"chain.{ended}")) :]
    )
    merged_detail = next(d for a, d in timeline if a == "chain.merged")
    assert ended in merged_detail and "re-opened only" in merged_detail


async def test_found_by_phone_after_the_email_chain_ended_gets_no_second_chain(stack):
    first = stack.h.post_lead({**LEAD, "phone": INTERESTED})
    outcome = await stack.h.outcome(first["chain_id"])
    assert outcome.stage == "handed_over"
    second = stack.h.post_lead({"first_name": "Jürgen", "phone": "030 23125101", "phone_consent": "ja"})
    assert second["chain_id"] != first["chain_id"]  # another dedupe key, another id...
    await stack.until(lambda: stack.processed(outcome.lead_id) == 2, what="the submission imported")
    await asyncio.sleep(1.0)
    assert stack.calls_to(INTERESTED) == 1
    merged = await stack.next_run_outcome(second["chain_id"], runs_before=0)
    assert merged.stage == "merged" and merged.lead_id == outcome.lead_id  # ...that only merges
    assert stack.lead(outcome.lead_id).chain_id == first["chain_id"]


@pytest.mark.parametrize("stack", [{"LEADCHAIN_REOPEN_AFTER_DAYS": 0}], indirect=True)
async def test_the_reopen_rule_starts_a_new_generation_with_keys_of_its_own(stack):
    first = stack.h.post_lead({**LEAD, "phone": INTERESTED})
    assert (await stack.h.outcome(first["chain_id"])).stage == "handed_over"
    stack.h.post_lead({**LEAD, "phone": INTERESTED, "interest": "Neue Anfrage"})
    await stack.until(lambda: stack.calls_to(INTERESTED) == 2, what="the re-opened chain's call")
    # Its call has a key of its own, so its result arrives and the chain ends (it used to wait an hour).
    outcome = await stack.h.outcome(first["chain_id"], timeout=30)
    assert outcome.stage == "handed_over"
    keys = stack.h.db(lambda: list(db.session.scalars(sa.select(SideEffect.key).where(SideEffect.kind == "call"))))
    assert len(keys) == 2 and any(":g1:" in k for k in keys), keys
    assert any(a == "chain.reopened" for a, _ in stack.timeline(outcome.lead_id))
    assert len(stack.h.sandbox.sendgrid.messages(lead_id=str(outcome.lead_id))) == 2


def _closed_until_tomorrow() -> GatePolicy:
    tomorrow = (datetime.now(UTC) + timedelta(days=2)).weekday()
    window = CallingWindow((tomorrow,), time(9), time(10))
    return GatePolicy(
        windows={"DE": window}, default_window=window, max_attempts_per_day=100, german_public_holidays=False
    )


@pytest.mark.parametrize("stack", [{"policy": _closed_until_tomorrow()}], indirect=True)
async def test_new_calling_hours_wake_a_chain_waiting_for_its_window(stack):
    first = stack.h.post_lead({**LEAD, "phone": INTERESTED})
    waiting = await stack.until(lambda: _stage_is(stack, first["chain_id"], "waiting_for_window"), what="window wait")
    assert waiting.next_at > datetime.now(UTC) + timedelta(hours=12) and stack.calls_to(INTERESTED) == 0

    def open_all_day():
        app_settings.set_calling_hours(
            {
                "DE": {"days": "mon-sun", "start": "00:00", "end": "23:59"},
                "default": {"days": "mon-sun", "start": "00:00", "end": "23:59"},
            },
            actor="user:1",
        )
        db.session.commit()

    stack.h.db(open_all_day)
    # The relay notices the change within its settings poll (10 s) and the chain checks its gate again.
    outcome = await stack.h.outcome(first["chain_id"], timeout=45)
    assert outcome.stage == "handed_over" and stack.calls_to(INTERESTED) == 1
    assert any("settings changed" in d for _, d in stack.timeline(outcome.lead_id))
    assert httpx.get(f"{stack.sandbox_url}/sandbox/stats").json()["created"]["retell"] == 1


NOT_INTERESTED = "+49 30 23125102"
NURTURE_WAIT = dataclasses.replace(FAST, nurture_delays_s=[0, 30, 30])


@pytest.mark.parametrize("stack", [{"settings": NURTURE_WAIT}], indirect=True)
async def test_a_lead_posted_again_after_saying_not_interested_is_not_rung_again(stack):
    first = stack.h.post_lead({**LEAD, "phone": NOT_INTERESTED})
    nurturing = await stack.until(lambda: _stage_is(stack, first["chain_id"], "nurturing"), what="nurture")
    assert stack.calls_to(NOT_INTERESTED) == 1
    stack.h.post_lead({**LEAD, "phone": NOT_INTERESTED, "company": "Krause Kfz GmbH"})
    await stack.until(lambda: stack.processed(nurturing.lead_id) == 2, what="the second submission imported")
    await asyncio.sleep(1.5)  # room for a wrongly placed call to show up
    assert stack.calls_to(NOT_INTERESTED) == 1
    await stack.until(lambda: any("wait kept" in d for _, d in stack.timeline(nurturing.lead_id)), what="merge")
    status = await stack.status(first["chain_id"])
    assert status.stage == "nurturing" and status.next_at == nurturing.next_at


@pytest.mark.parametrize("stack", [{"settings": RETRY_WAIT}], indirect=True)
async def test_a_lead_posted_again_after_replying_is_merged_and_not_called(stack):
    """A chain stopped because the lead replied ends in the stage "replied", a final stage of the
    vocabulary: a new submission is merged. (Before, "replied" and "unsubscribed" were missing from the
    final stages: the new run took the person for a fresh lead and dialled again.)"""
    from workflows.lead_chain import LeadChainWorkflow
    from workflows.payloads import StopSignal
    from workflows.vocabulary import StopReason

    first = stack.h.post_lead({**LEAD, "phone": NO_ANSWER})
    await stack.until(lambda: _stage_is(stack, first["chain_id"], "waiting_for_retry"), what="retry wait")
    await stack.h.handle(first["chain_id"]).signal(LeadChainWorkflow.stop, StopSignal(StopReason.REPLIED))
    outcome = await stack.h.outcome(first["chain_id"])
    assert outcome.stage == "replied" and stack.calls_to(NO_ANSWER) == 1
    again = stack.h.post_lead({**LEAD, "phone": NO_ANSWER, "company": "Krause GmbH"})
    assert again["chain_id"] == first["chain_id"]
    await stack.until(lambda: stack.processed(outcome.lead_id) == 2, what="the submission imported")
    merged = await stack.next_run_outcome(first["chain_id"], runs_before=1)
    await asyncio.sleep(1.0)  # room for a wrongly placed call to show up
    assert merged.stage == "merged" and stack.calls_to(NO_ANSWER) == 1
    assert stack.lead(outcome.lead_id).chain_stage == "replied"
    merged_detail = next(d for a, d in stack.timeline(outcome.lead_id) if a == "chain.merged")
    assert "replied" in merged_detail and "re-opened only" in merged_detail
