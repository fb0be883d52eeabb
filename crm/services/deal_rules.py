"""What a deal's fields may hold, and the one error the deal services raise for bad input.

Every check here only reads: crm.services.deals and crm.services.deal_stages run them all before they write
anything, so a DealError leaves the database as it was. Records of another company are not found (the ORM's
company criteria, crm.tenancy.orm), so "stage 7" of another company is an unknown stage, never a foreign one.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from babel.numbers import list_currencies

from crm.extensions import db
from crm.models import Appointment, DealStage, Lead, LostReason, User
from crm.tenancy.context import require_company_id

# value_cents is a BIGINT; a thousand billion euros is more than any deal and far below its limit.
MAX_VALUE_CENTS = 100_000_000_000_000
TITLE_MAX = 200
NOTE_MAX = 500
STAGE_NAME_MAX = 64
REASON_LABEL_MAX = 100
# ISO 4217 codes babel knows (it knows every current one): "EUR", "CHF", "USD", ...
CURRENCIES = frozenset(list_currencies())


class DealError(ValueError):
    """Bad input to a deal service: `field` names the form or API field it concerns, the message says why."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _id(field: str, value: Any) -> int:
    if not _is_int(value) or not 0 < value < 2**31:
        raise DealError(field, "must be a positive whole number")
    return int(value)


def _owned(row: Any) -> bool:
    # The ORM already hides other companies' rows; this says the same for an object handed in from elsewhere.
    return row is not None and row.company_id == require_company_id()


def title(value: Any, *, field: str = "title") -> str:
    text = value.strip() if isinstance(value, str) else None
    if not text:
        raise DealError(field, "must not be empty")
    if len(text) > TITLE_MAX:
        raise DealError(field, f"at most {TITLE_MAX} characters")
    return text


def value_cents(value: Any) -> int:
    if not _is_int(value):
        raise DealError("value_cents", "must be a whole number of cents")
    if value < 0:
        raise DealError("value_cents", "must not be negative")
    if value > MAX_VALUE_CENTS:
        raise DealError("value_cents", f"at most {MAX_VALUE_CENTS}")
    return int(value)


def currency(value: Any) -> str:
    if not isinstance(value, str) or value.strip().upper() not in CURRENCIES:
        raise DealError("currency", "must be an ISO 4217 code such as EUR")
    return value.strip().upper()


def close_date(value: Any) -> date | None:
    if value is None:
        return None
    if not isinstance(value, date) or not 2000 <= value.year <= 2999:
        raise DealError("expected_close_on", "must be a date between 2000 and 2999")
    return value


def note(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise DealError("note", "must be text")
    text = value.strip()
    if len(text) > NOTE_MAX:
        raise DealError("note", f"at most {NOTE_MAX} characters")
    return text or None


def probability(value: Any) -> int:
    if not _is_int(value) or not 0 <= value <= 100:
        raise DealError("probability", "must be a whole number from 0 to 100")
    return int(value)


def active_stage(stage_id: Any, *, field: str = "stage_id") -> DealStage:
    """An active stage of the current company (a retired one takes no deals)."""
    stage = db.session.get(DealStage, _id(field, stage_id))
    if not _owned(stage):
        raise DealError(field, "no such stage")
    assert stage is not None
    if not stage.active:
        raise DealError(field, "this stage is retired")
    return stage


def stage(stage_id: Any, *, field: str = "stage_id") -> DealStage:
    found = db.session.get(DealStage, _id(field, stage_id))
    if not _owned(found):
        raise DealError(field, "no such stage")
    assert found is not None
    return found


def reason(reason_id: Any, *, field: str = "reason_id") -> LostReason:
    found = db.session.get(LostReason, _id(field, reason_id))
    if not _owned(found):
        raise DealError(field, "no such reason")
    assert found is not None
    if not found.active:
        raise DealError(field, "this reason is retired")
    return found


def owner(owner_id: Any, *, field: str = "owner_id") -> User:
    """An active user of the current company (never the platform operator, who belongs to none)."""
    user = db.session.get(User, _id(field, owner_id))
    if not _owned(user):
        raise DealError(field, "no such user")
    assert user is not None
    if not user.active:
        raise DealError(field, "this user is deactivated")
    return user


def lead(found: Lead | None, *, field: str = "lead_id") -> Lead:
    if not _owned(found):
        raise DealError(field, "no such lead")
    assert found is not None
    if found.merged_into_id is not None:
        raise DealError(field, "this lead was merged into another; use that one")
    return found


def appointment(found: Appointment | None, lead_row: Lead, *, field: str = "appointment_id") -> Appointment:
    if not _owned(found):
        raise DealError(field, "no such appointment")
    assert found is not None
    if found.lead_id != lead_row.id:
        raise DealError(field, "the appointment is another lead's")
    return found
