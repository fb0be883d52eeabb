"""Asking each provider to delete what it holds of the person (GDPR Art. 17 with Art. 28), one step per
call or contact in the request record, so a retried activity skips what is done and the request shows what
happened where.

* Retell: ``DELETE /v2/delete-call/{call_id}``; Vapi: ``DELETE /call/{id}`` (providers/*.delete_call; a call
  the provider no longer knows counts as deleted).
* Bland documents no deletion of a call's transcript, recording or details (docs/providers.md §3.4): the
  step is recorded as "not offered", naming the call, so the company can ask Bland's support in writing.
* SendGrid: the person's Marketing contact is deleted (crm.privacy.sendgrid_contacts); its suppression lists
  stay; its email activity has no deletion API and is recorded as not offered.

Provider failures that may pass (429, 5xx, network) raise ProviderUnavailable: the activity fails and
Temporal retries it; the done steps are skipped next time."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Interaction, InteractionKind, Lead
from crm.privacy import requests
from crm.privacy.sendgrid_contacts import ContactsClient
from providers.base import ProviderRegistry, ProviderRejected

NO_DELETION = {
    "bland": "Bland offers no API to delete a call's data (docs/providers.md §3.4); ask Bland support in writing",
}


@dataclass
class Tally:
    done: int = 0
    not_offered: int = 0
    failed: int = 0
    steps: list[str] = field(default_factory=list)

    def add(self, name: str, status: str) -> None:
        self.steps.append(name)
        if status == "done" or status == "skipped":
            self.done += 1
        elif status == "not_offered":
            self.not_offered += 1
        else:
            self.failed += 1


def _calls(lead_ids: list[int]) -> list[tuple[str, str]]:
    rows = db.session.execute(
        sa.select(Interaction.provider, Interaction.provider_ref)
        .where(
            Interaction.lead_id.in_(lead_ids),
            Interaction.kind == InteractionKind.CALL,
            Interaction.provider.is_not(None),
            Interaction.provider_ref.is_not(None),
        )
        .order_by(Interaction.id)
    ).all()
    return [(r.provider, r.provider_ref) for r in rows]


def _record(request_id: int, name: str, status: str, detail: str, tally: Tally) -> None:
    requests.log_step(request_id, name, status, detail)
    db.session.commit()
    tally.add(name, status)


def erase_calls(request_id: int, lead_ids: list[int], registry: ProviderRegistry) -> Tally:
    tally = Tally()
    for provider_name, call_id in _calls(lead_ids):
        name = f"{provider_name}:call {call_id}"
        if requests.finished(request_id, name):
            tally.add(name, "done")
            continue
        if provider_name in NO_DELETION:
            _record(request_id, name, "not_offered", NO_DELETION[provider_name], tally)
            continue
        provider = registry.get(provider_name)
        if provider is None:
            _record(request_id, name, "failed", f"provider {provider_name} is not configured", tally)
            continue
        try:
            provider.delete_call(call_id)
        except ProviderRejected as e:
            _record(request_id, name, "failed", str(e)[:300], tally)
            continue
        _record(request_id, name, "done", "deleted at the provider (transcript, recording, call details)", tally)
    return tally


def erase_email_contact(request_id: int, lead_ids: list[int], contacts: ContactsClient | None) -> Tally:
    tally = Tally()
    name = "sendgrid:contact"
    if requests.finished(request_id, name):
        tally.add(name, "done")
        return tally
    emails = sorted({e for e in db.session.scalars(sa.select(Lead.email).where(Lead.id.in_(lead_ids))) if e})
    if not emails:
        _record(request_id, name, "skipped", "no email address on record", tally)
    elif contacts is None:
        _record(request_id, name, "failed", "no SendGrid configured: ask for the deletion by hand", tally)
    else:
        try:
            ids = contacts.find_ids(emails)
            job = contacts.delete(ids) if ids else ""
        except ProviderRejected as e:
            _record(request_id, name, "failed", str(e)[:300], tally)
        else:
            detail = (
                f"{len(ids)} contact(s) deleted, job {job}; suppressions kept" if ids else "SendGrid held no contact"
            )
            _record(request_id, name, "done" if ids else "skipped", detail, tally)
    activity = "sendgrid:email activity"
    if not requests.finished(request_id, activity) and emails:
        _record(
            request_id,
            activity,
            "not_offered",
            "SendGrid offers no deletion of sent-message activity (recipient, subject, events); it expires "
            "under SendGrid's activity retention. It holds no message bodies.",
            tally,
        )
    return tally
