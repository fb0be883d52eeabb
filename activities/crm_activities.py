"""CRM steps of the lead chain. Each runs in a Flask app context and commits its own transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.ctx import AppContext
from temporalio import activity

from activities.relay_notify import frees_budget, notify_relay
from activities.rows import require_row
from crm.extensions import db
from crm.models import AuditEntry, Interaction, Lead, LeadSubmission, Task
from crm.models.types import utcnow
from crm.services import (
    app_settings,
    assignment,
    audit,
    calls,
    chain_reopen,
    compliance,
    dnc,
    scoring,
    submissions,
    task_due,
)
from crm.services.compliance import GatePolicy
from workflows.payloads import (
    CallResult,
    GateInput,
    GateResult,
    ImportResult,
    LeadFlagInput,
    ScoreInput,
    ScoreResult,
    SubmissionRef,
    TaskInput,
    TimelineInput,
)
from workflows.vocabulary import LIVE_CALL_STATUSES, CallOutcome, CallStatus, ChainStage


def _reopen_after_days(app: Flask) -> int:
    # How long after its end a finished chain stays closed to new form fills (crm.services.chain_reopen).
    days: int = app.config["LEADCHAIN"].chain.reopen_after_days
    return days


def gate_policy(app: Flask) -> GatePolicy | None:
    """The calling-hours policy handed to create_app(gate_policy=...), else None: the compliance module
    then takes the app's configured one. compliance.check_call_gate puts an admin's stored calling hours
    over either."""
    policy: GatePolicy | None = app.extensions.get("leadchain.gate_policy")
    return policy


class CrmActivities:
    def __init__(self, app: Flask) -> None:
        self.app = app

    def _ctx(self) -> AppContext:
        return self.app.app_context()

    @activity.defn(name="import_submission")
    def import_submission(self, ref: SubmissionRef) -> ImportResult:
        with self._ctx():
            cfg = self.app.config["LEADCHAIN"]
            result = submissions.process(ref.submission_id, fuzzy_threshold=cfg.fuzzy_threshold)
            chain_id = activity.info().workflow_id
            if chain_id is None:
                # Temporal leaves it unset only for an activity started on its own, outside any workflow.
                raise RuntimeError("import_submission runs inside a lead chain")
            submission = require_row(LeadSubmission, ref.submission_id, for_update=True)
            stored = dict(submission.result or {})
            if "chain" in stored:
                # A retried activity: the decision was made and written once; answer it again.
                return ImportResult(lead_id=result.lead_id, outcome=result.outcome, **stored["chain"])
            lead = require_row(Lead, result.lead_id, for_update=True)
            decision = None
            answer: dict[str, Any] = {}
            running = lead.chain_stage is None or lead.chain_stage not in chain_reopen.FINAL_STAGES
            if lead.chain_id and lead.chain_id != chain_id and running:
                # The person is already in a running chain (found by their other identifier).
                answer["forward_to_chain"] = lead.chain_id
            else:
                decision = chain_reopen.decide(
                    lead, chain_id=chain_id, now=utcnow(), reopen_after_days=_reopen_after_days(self.app)
                )
                if decision is None or decision.reopen:
                    lead.chain_id = chain_id
                if decision is not None:
                    answer.update(
                        previous_stage=decision.previous_stage, reopened=decision.reopen, generation=decision.generation
                    )
                    if decision.reopen:
                        # Running again: a further submission joins this run instead of re-opening again.
                        lead.chain_stage = ChainStage.IMPORTING
            submission.result = {**stored, "chain": answer}
            db.session.commit()
            return ImportResult(lead_id=result.lead_id, outcome=result.outcome, **answer)

    @activity.defn(name="score_lead")
    def score_lead(self, inp: ScoreInput) -> ScoreResult:
        with self._ctx():
            score = scoring.score_lead(inp.lead_id, actor="chain", reason=inp.reason)
            db.session.commit()
            return ScoreResult(
                score=score.value,
                priority=score.priority,
                next_action=score.next_action,
                model_version=score.model_version,
            )

    @activity.defn(name="check_call_gate")
    def check_call_gate(self, inp: GateInput) -> GateResult:
        """Threshold: none for a rep's "call now" (waive_score), else the admin's stored one, else the
        chain's. Calling hours: the admin's stored ones, else the configured policy's."""
        with self._ctx():
            stored = app_settings.gate_threshold()  # an admin's threshold outranks the chain's
            threshold = 0 if inp.waive_score else (inp.threshold if stored is None else stored)
            decision = compliance.check_call_gate(
                inp.lead_id,
                now_utc=max(utcnow(), inp.now or utcnow()),
                threshold=threshold,
                policy=gate_policy(self.app),
            )
            db.session.commit()
            return GateResult(
                allowed=decision.allowed, reason=decision.reason, next_window_start=decision.next_window_start
            )

    @activity.defn(name="record_call_outcome")
    def record_call_outcome(self, result: CallResult) -> None:
        """Write the outcome onto the call's interaction; a richer record from the webhook is kept."""
        with self._ctx():
            call = db.session.scalar(
                sa.select(Interaction).where(
                    Interaction.provider == result.provider, Interaction.provider_ref == result.call_id
                )
            )
            if call is None:
                return
            if call.outcome is None:
                call.outcome = result.classification or result.status
            if call.outcome != CallOutcome.BOOKED and calls.has_booking(call):
                # The bridge booked on this call: never downgraded by the provider's analysis.
                call.outcome = CallOutcome.BOOKED
            if call.status in LIVE_CALL_STATUSES:
                call.status = CallStatus.ENDED if result.answered else result.status
            if call.duration_s is None and result.duration_s:
                call.duration_s = result.duration_s
            db.session.commit()

    @activity.defn(name="mark_do_not_contact")
    def mark_do_not_contact(self, inp: LeadFlagInput) -> None:
        with self._ctx():
            lead = require_row(Lead, inp.lead_id, for_update=True)
            if dnc.mark(lead, reason=inp.reason, actor=inp.actor):
                db.session.commit()

    @activity.defn(name="mark_phone_invalid")
    def mark_phone_invalid(self, inp: LeadFlagInput) -> None:
        with self._ctx():
            lead = require_row(Lead, inp.lead_id, for_update=True)
            if lead.phone_status == "invalid":
                return
            audit.record(
                inp.actor,
                "lead.phone_invalid",
                "lead",
                lead.id,
                before={"phone_status": lead.phone_status},
                after={"phone_status": "invalid", "reason": inp.reason},
            )
            lead.phone_status = "invalid"
            db.session.commit()

    @activity.defn(name="create_task")
    def create_task(self, inp: TaskInput) -> int:
        """The task lands with the lead's owner, else the assignment rules' pick (which then owns the lead),
        else unowned (managers see it under "Unassigned"). The due time is computed here from the kind
        (crm.services.task_due): a callback at the time the caller asked for (`not_before`) is due then,
        inside calling hours; `due_in_s` is kept for other kinds and for recorded histories."""
        with self._ctx():
            existing = db.session.scalar(sa.select(Task.id).where(Task.dedupe_key == inp.dedupe_key))
            if existing:
                return existing
            owner_id = assignment.assign_if_unowned(inp.lead_id)
            lead = require_row(Lead, inp.lead_id)
            now = utcnow()
            policy = app_settings.gate_policy(gate_policy(self.app))
            due = task_due.due_at(lead, inp.kind, inp.due_in_s, now=now, policy=policy, not_before=inp.not_before)
            task = Task(
                lead_id=inp.lead_id,
                owner_id=owner_id,
                kind=inp.kind,
                title=inp.title,
                due_at=due,
                dedupe_key=inp.dedupe_key,
            )
            try:
                with db.session.begin_nested():
                    db.session.add(task)
            except sa.exc.IntegrityError:
                # Another attempt inserted the same key meanwhile: its task is the answer.
                raced = db.session.scalar(sa.select(Task.id).where(Task.dedupe_key == inp.dedupe_key))
                if raced is None:
                    raise
                return raced
            audit.record("chain", "task.created", "task", task.id, after={"lead_id": inp.lead_id, "kind": inp.kind})
            db.session.commit()
            return task.id

    @activity.defn(name="record_timeline")
    def record_timeline(self, inp: TimelineInput) -> None:
        with self._ctx():
            lead = db.session.get(Lead, inp.lead_id)
            if lead is None:
                return
            if lead.chain_id in (None, inp.chain_id):
                if frees_budget(lead.chain_stage, inp.stage):
                    notify_relay()  # the next waiting lead of this company may start: at this commit
                lead.chain_id, lead.chain_stage = inp.chain_id, inp.stage
            db.session.add(
                AuditEntry(
                    actor="chain",
                    action=f"chain.{inp.stage}",
                    entity_type="lead",
                    entity_id=inp.lead_id,
                    after={"chain_id": inp.chain_id, "detail": inp.detail[:300]},
                )
            )
            db.session.commit()

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.import_submission,
            self.score_lead,
            self.check_call_gate,
            self.record_call_outcome,
            self.mark_do_not_contact,
            self.mark_phone_invalid,
            self.create_task,
            self.record_timeline,
        ]
