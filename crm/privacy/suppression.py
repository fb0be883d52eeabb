"""The suppression list: an erased person's email key and phone number as keyed hashes (docs/privacy.md).

After an erasure nothing may name the person, yet they must never be imported or called again (GDPR Art.
17 and 21, § 7a UWG). A keyed HMAC (the key is the app's chain key, already a secret every intake process
holds) of the company and the normalised value lets intake recognise the person without storing who they
are; without the key the digests cannot be tested against a list of numbers."""

from __future__ import annotations

import hashlib
import hmac

import sqlalchemy as sa
from flask import current_app

from crm import secret_names
from crm.errors import ApiError
from crm.extensions import db
from crm.models import SuppressionEntry
from crm.tenancy.context import require_company_id


class SuppressionKeyMissing(RuntimeError):
    pass


class Suppressed(ApiError):
    """A 409 naming the field(s) that matched: the sender learns why the lead is refused, and nothing of it
    is stored (the web raises this before the submission is written). 409, not 422: the lead is valid, it
    conflicts with a person's erasure; and the lead webhook reads a 422 from its stored work as a reused
    webhook-id."""

    def __init__(self, kinds: list[str]) -> None:
        super().__init__(
            409,
            "this person asked for erasure and may not be imported again",
            {kind: ["on the suppression list"] for kind in kinds},
        )


def _key() -> bytes:
    value = current_app.extensions["leadchain.secrets"].get(secret_names.APP_CHAIN_KEY)
    if not value:
        raise SuppressionKeyMissing("secret app/chain-key is not set: the suppression list cannot be read")
    return value.encode()


def digest(kind: str, value: str, company_id: int | None = None) -> str:
    """HMAC-SHA256 of "suppression:<company>:<kind>:<value>"; `value` is the email key or the E.164 number."""
    company = company_id if company_id is not None else require_company_id()
    message = f"suppression:{company}:{kind}:{value.strip().lower()}".encode()
    return hmac.new(_key(), message, hashlib.sha256).hexdigest()


def add(kind: str, value: str, *, request_id: int | None) -> bool:
    """List the value (idempotent). False when it was listed already. The caller commits."""
    found = digest(kind, value)
    if db.session.scalar(
        sa.select(SuppressionEntry.id).where(SuppressionEntry.kind == kind, SuppressionEntry.digest == found)
    ):
        return False
    db.session.add(SuppressionEntry(kind=kind, digest=found, request_id=request_id))
    db.session.flush()
    return True


def matches(email_key: str | None, phone_e164: str | None) -> list[str]:
    """Which of the given identifiers are suppressed in the current company ("email", "phone")."""
    if db.session.scalar(sa.select(SuppressionEntry.id).limit(1)) is None:
        return []  # the usual case: nothing was ever erased, and no key is needed to say so
    wanted = []
    if email_key:
        wanted.append(("email", digest("email", email_key)))
    if phone_e164:
        wanted.append(("phone", digest("phone", phone_e164)))
    hits = []
    for kind, value in wanted:
        if db.session.scalar(
            sa.select(SuppressionEntry.id).where(SuppressionEntry.kind == kind, SuppressionEntry.digest == value)
        ):
            hits.append(kind)
    return hits


def refuse_if_suppressed(email_key: str | None, phone_e164: str | None) -> None:
    """Raise Suppressed when the email key or the number belongs to an erased person of this company."""
    hits = matches(email_key, phone_e164)
    if hits:
        raise Suppressed(hits)
