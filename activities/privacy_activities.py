"""The privacy workflows' steps (workflows/privacy.py): each reads the request record, does its part,
writes what it did into the request's step log, and returns counts only.

Synchronous activities run in the worker's thread pool inside an app context, like the report activities;
`privacy_remove_workflows` is async because it talks to Temporal on the worker's own client, and reaches the
database through a thread."""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Callable
from typing import Any, TypeVar

import sqlalchemy as sa
from flask import Flask
from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError

from crm.extensions import db
from crm.models import Lead, LeadSubmission, PrivacyRequest
from crm.models.types import utcnow
from crm.privacy import archive, erase_local, export_data, provider_erasure, requests, retention, suppression
from crm.privacy.sendgrid_contacts import ContactsClient
from crm.privacy.temporal_cleanup import remove
from providers.base import ProviderRegistry, ProviderUnavailable
from workflows.privacy_payloads import (
    ExportBuilt,
    FinishInput,
    PrivacyRequestRef,
    RetentionOutcome,
    RetentionRequest,
    StepOutcome,
)

log = logging.getLogger(__name__)
Result = TypeVar("Result")


def _outcome(step: str, tally: provider_erasure.Tally) -> StepOutcome:
    return StepOutcome(
        step=step, done=tally.done, not_offered=tally.not_offered, failed=tally.failed, names=tally.steps
    )


class PrivacyActivities:
    def __init__(
        self,
        app: Flask,
        registry: Callable[[], ProviderRegistry],
        contacts: Callable[[], ContactsClient | None],
        client: Client | None = None,
    ) -> None:
        self.app = app
        self.registry = registry  # per call: the providers of the activity's company (providers.factory)
        self.contacts = contacts
        self.client = client  # set by the worker (workers/privacy.py) once connected

    def _request(self, request_id: int, kind: str | None = None) -> PrivacyRequest:
        found = db.session.get(PrivacyRequest, request_id)
        if found is None or (kind and found.kind != kind):
            raise ApplicationError(
                f"privacy request {request_id} does not exist", type="InvalidPrivacyRequest", non_retryable=True
            )
        return found

    def _in_app(self, fn: Callable[[], Result]) -> Result:
        with self.app.app_context():
            try:
                return fn()
            finally:
                db.session.remove()

    @activity.defn(name="privacy_start_request")
    def start_request(self, inp: PrivacyRequestRef) -> None:
        def work() -> None:
            request = self._request(inp.request_id)
            if request.status == "open":
                requests.set_status(request, "running")
                db.session.commit()

        self._in_app(work)

    @activity.defn(name="privacy_build_export")
    def build_export(self, inp: PrivacyRequestRef) -> ExportBuilt:
        def work() -> ExportBuilt:
            request = self._request(inp.request_id, "export")
            if request.archive_sha256:  # built by an earlier attempt (or downloaded already)
                return ExportBuilt(request.id, len(request.archive or b""), request.archive_sha256)
            data = export_data.collect(request.lead_ids, generated_at=utcnow(), request_id=request.id)
            activity.heartbeat("collected")
            content = archive.build(data, export_data.recordings(request.lead_ids))
            request.archive, request.archive_sha256 = content, hashlib.sha256(content).hexdigest()
            requests.log_step(
                request.id, "export:archive", "done", f"{len(content)} bytes, sha256 {request.archive_sha256}"
            )
            db.session.commit()
            return ExportBuilt(request.id, len(content), request.archive_sha256)

        return self._in_app(work)

    def _workflow_ids(self, request_id: int) -> list[str]:
        def work() -> list[str]:
            ids = self._request(request_id, "erasure").lead_ids
            chains = set(
                db.session.scalars(sa.select(Lead.chain_id).where(Lead.id.in_(ids), Lead.chain_id.is_not(None)))
            )
            chains |= set(db.session.scalars(sa.select(LeadSubmission.chain_id).where(LeadSubmission.lead_id.in_(ids))))
            return sorted(c for c in chains if c)

        return self._in_app(work)

    def _log(self, request_id: int, name: str, status: str, detail: str) -> None:
        def work() -> None:
            requests.log_step(request_id, name, status, detail)
            db.session.commit()

        self._in_app(work)

    @activity.defn(name="privacy_remove_workflows")
    async def remove_workflows(self, inp: PrivacyRequestRef) -> StepOutcome:
        if self.client is None:
            raise ApplicationError("the privacy worker has no Temporal client")
        outcome = StepOutcome(step="temporal")
        for workflow_id in await asyncio.to_thread(self._workflow_ids, inp.request_id):
            name = f"temporal:{workflow_id}"
            detail = await remove(self.client, workflow_id)
            await asyncio.to_thread(self._log, inp.request_id, name, "done", detail)
            outcome.done += 1
            outcome.names.append(name)
        return outcome

    @activity.defn(name="privacy_erase_at_providers")
    def erase_at_providers(self, inp: PrivacyRequestRef) -> StepOutcome:
        def work() -> StepOutcome:
            request = self._request(inp.request_id, "erasure")
            try:
                calls = provider_erasure.erase_calls(request.id, request.lead_ids, self.registry())
                mail = provider_erasure.erase_email_contact(request.id, request.lead_ids, self.contacts())
            except ProviderUnavailable as e:
                raise ApplicationError(str(e)[:300], type="ProviderUnavailable") from None  # retried
            calls.done, calls.not_offered, calls.failed = (
                calls.done + mail.done,
                calls.not_offered + mail.not_offered,
                calls.failed + mail.failed,
            )
            calls.steps += mail.steps
            return _outcome("providers", calls)

        return self._in_app(work)

    @activity.defn(name="privacy_suppress")
    def suppress(self, inp: PrivacyRequestRef) -> StepOutcome:
        def work() -> StepOutcome:
            request = self._request(inp.request_id, "erasure")
            rows = db.session.execute(sa.select(Lead.email_key, Lead.phone_e164).where(Lead.id.in_(request.lead_ids)))
            added = 0
            for email_key, phone in rows.all():
                added += bool(email_key and suppression.add("email", email_key, request_id=request.id))
                added += bool(phone and suppression.add("phone", phone, request_id=request.id))
            if not requests.finished(request.id, "suppression list"):
                requests.log_step(request.id, "suppression list", "done", f"{added} keyed hash(es) listed")
            db.session.commit()
            return StepOutcome(step="suppression", done=1, names=["suppression list"])

        return self._in_app(work)

    @activity.defn(name="privacy_erase_records")
    def erase_records(self, inp: PrivacyRequestRef) -> StepOutcome:
        def work() -> StepOutcome:
            request = self._request(inp.request_id, "erasure")
            changed = erase_local.erase(request.lead_ids, reason=f"privacy request {request.id}")
            summary = ", ".join(f"{table} {n}" for table, n in sorted(changed.items()) if n)
            if not requests.finished(request.id, "crm:records"):
                requests.log_step(request.id, "crm:records", "done", f"rows emptied or deleted: {summary or 'none'}")
            db.session.commit()
            return StepOutcome(step="records", done=1, names=["crm:records"])

        return self._in_app(work)

    @activity.defn(name="privacy_finish_request")
    def finish_request(self, inp: FinishInput) -> None:
        def work() -> None:
            request = self._request(inp.request_id)
            if request.status not in ("done", "failed") or request.status != inp.status:
                requests.set_status(request, inp.status)
                db.session.commit()

        self._in_app(work)

    @activity.defn(name="privacy_sweep_retention")
    def sweep_retention(self, inp: RetentionRequest) -> RetentionOutcome:
        def work() -> RetentionOutcome:
            done = retention.sweep()
            db.session.commit()
            late = requests.overdue()
            if late:
                # The daily run is the due-date alert (Art. 12(3)): ids only, never who asked.
                log.warning("privacy requests past their due date: %s", ", ".join(map(str, late)))
            return RetentionOutcome(**done, overdue_requests=len(late))

        return self._in_app(work)

    def all(self) -> list[Callable[..., Any]]:
        return [
            self.start_request,
            self.build_export,
            self.remove_workflows,
            self.erase_at_providers,
            self.suppress,
            self.erase_records,
            self.finish_request,
            self.sweep_retention,
        ]
