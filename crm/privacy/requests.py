"""The request record: what was asked, by whom (as a role), how identity was checked, by when, and what each
step did where. Steps are keyed (request, step name), so a retried step sees its own earlier result."""

from __future__ import annotations

import calendar
from datetime import datetime

import sqlalchemy as sa

from crm.extensions import db
from crm.models import PrivacyRequest, PrivacyRequestStep
from crm.models.privacy import REQUEST_KINDS, STEP_STATUSES
from crm.models.types import utcnow
from crm.services import audit

REQUESTERS = ("subject", "representative", "authority")
CHANNELS = ("email", "letter", "phone", "web_form", "in_person")


class RequestInvalid(ValueError):
    """Bad input; `errors` names each bad field (the web answers 422 with it)."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("invalid privacy request")
        self.errors = errors


def due_date(received_at: datetime) -> datetime:
    """GDPR Art. 12(3): without undue delay, at the latest one month after receipt (same day next month;
    the 31st of January is due on the last day of February)."""
    year, month = (received_at.year + 1, 1) if received_at.month == 12 else (received_at.year, received_at.month + 1)
    return received_at.replace(year=year, month=month, day=min(received_at.day, calendar.monthrange(year, month)[1]))


def validate(kind: str, requester: str, received_via: str, identity_check: str) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if kind not in REQUEST_KINDS:
        errors["kind"] = [f"one of {', '.join(REQUEST_KINDS)}"]
    if requester not in REQUESTERS:
        errors["requester"] = [f"one of {', '.join(REQUESTERS)}"]
    if received_via not in CHANNELS:
        errors["received_via"] = [f"one of {', '.join(CHANNELS)}"]
    if not identity_check.strip():
        errors["identity_check"] = ["say how the requester's identity was checked"]
    elif len(identity_check) > 300:
        errors["identity_check"] = ["at most 300 characters"]
    return errors


def open_request(
    kind: str,
    lead_ids: list[int],
    *,
    requester: str,
    received_via: str,
    identity_check: str,
    actor: str,
    received_at: datetime | None = None,
) -> PrivacyRequest:
    """Record a request for the lead records found (crm.privacy.subjects). The caller commits."""
    errors = validate(kind, requester, received_via, identity_check)
    if errors:
        raise RequestInvalid(errors)
    received = received_at or utcnow()
    request = PrivacyRequest(
        kind=kind,
        status="open",
        requester=requester,
        received_via=received_via,
        identity_check=identity_check.strip(),
        lead_ids=sorted(lead_ids),
        received_at=received,
        due_at=due_date(received),
        opened_by=actor[:100],
    )
    db.session.add(request)
    db.session.flush()
    audit.record(actor, f"privacy.{kind}_opened", "privacy_request", request.id, after={"leads": len(lead_ids)})
    return request


def step(request_id: int, name: str) -> PrivacyRequestStep | None:
    return db.session.scalar(
        sa.select(PrivacyRequestStep).where(
            PrivacyRequestStep.request_id == request_id, PrivacyRequestStep.step == name
        )
    )


def finished(request_id: int, name: str) -> bool:
    """Whether the step already reached a final answer (done, or the provider offers no such thing)."""
    row = step(request_id, name)
    return row is not None and row.status in ("done", "not_offered", "skipped")


def log_step(request_id: int, name: str, status: str, detail: str = "") -> PrivacyRequestStep:
    """Record (or update, counting the attempt) what a step did. `detail` holds ids and provider answers,
    never the person's data. The caller commits."""
    if status not in STEP_STATUSES:
        raise ValueError(f"step status must be one of {STEP_STATUSES}")
    row = step(request_id, name)
    if row is None:
        row = PrivacyRequestStep(request_id=request_id, step=name[:200], status=status, detail=detail[:500])
        db.session.add(row)
    else:
        row.status, row.detail, row.attempts, row.at = status, detail[:500], row.attempts + 1, utcnow()
    db.session.flush()
    return row


def steps(request_id: int) -> list[PrivacyRequestStep]:
    return list(
        db.session.scalars(
            sa.select(PrivacyRequestStep)
            .where(PrivacyRequestStep.request_id == request_id)
            .order_by(PrivacyRequestStep.id)
        )
    )


def set_status(request: PrivacyRequest, status: str) -> None:
    request.status = status
    if status in ("done", "failed"):
        request.completed_at = utcnow()


def overdue(now: datetime | None = None) -> list[int]:
    """Ids of the current company's requests past their due date and not done (Art. 12(3))."""
    return list(
        db.session.scalars(
            sa.select(PrivacyRequest.id)
            .where(PrivacyRequest.due_at < (now or utcnow()), PrivacyRequest.status != "done")
            .order_by(PrivacyRequest.id)
        )
    )
