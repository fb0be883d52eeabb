"""The wizard's test call rings the admin at most once per form.

A test call reaches a person and costs money, so it gets a business key like every other call
(docs/onboarding.md §3.1): the test-call form carries a one-off `attempt` token, and the first submit of
that form writes the key to the side-effect ledger (`side_effects`, unique key) and commits it *before*
the provider is asked. A second submit of the same form (a double click, a reload that re-posts, two
tabs) finds the key taken and is shown the first submit's call instead of ringing again, however close
behind it comes; it waits a few seconds when the first is still being placed. A new test call needs the
form again, which brings a new token.

The provider's own idempotency key (Retell's `idempotency_key`, Vapi's call name, Bland's metadata) is
kept as a second wall where the provider honours one; the ledger is what holds on every provider."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass

import sqlalchemy as sa

from crm.extensions import db
from crm.models import SideEffect
from crm.models.types import utcnow

ATTEMPT = re.compile(r"[A-Za-z0-9_-]{16,64}")
# How long a second submit waits for the first one's provider answer before it says "still being placed".
WAIT_S = 15.0
POLL_S = 0.2


def new_attempt() -> str:
    """The token a freshly rendered test-call form carries."""
    return secrets.token_urlsafe(16)


def ledger_key(company_id: int, attempt: str) -> str:
    return f"onboarding-test-call:{company_id}:{attempt}"


@dataclass(frozen=True)
class Earlier:
    """What an earlier submit of the same form came to: the call it placed, or why it placed none."""

    call_id: str | None
    failed: bool


def claim(company_id: int, attempt: str, provider: str) -> SideEffect | None:
    """The ledger row for this form's call, written and committed now; None when the form was submitted
    before (its row exists), so the caller must not ring."""
    db.session.commit()  # the row must be the first statement of its own transaction (SQLite: BEGIN IMMEDIATE)
    row = SideEffect(key=ledger_key(company_id, attempt), kind="call", provider=provider, status="intent")
    try:
        with db.session.begin_nested():
            db.session.add(row)
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        return None
    return row


def placed(row: SideEffect, call_id: str) -> None:
    """The provider rang: the call id goes to the row (the caller commits)."""
    row.status = "done"
    row.provider_ref = call_id
    row.completed_at = utcnow()


def failed(row: SideEffect, reason: str) -> None:
    """The provider refused: the form's token is spent; the page offers the form again with a new one."""
    row.status = "failed"
    row.result = {"reason": reason[:300]}
    row.completed_at = utcnow()


def earlier(company_id: int, attempt: str, wait_s: float = WAIT_S) -> Earlier | None:
    """The earlier submit's outcome, waiting up to `wait_s` while it is still with the provider; None when it
    is still there after that."""
    key = ledger_key(company_id, attempt)
    deadline = time.monotonic() + wait_s
    while True:
        db.session.rollback()  # a fresh read each time: the other request commits in its own transaction
        row = db.session.execute(
            sa.select(SideEffect.status, SideEffect.provider_ref).where(SideEffect.key == key)
        ).first()
        if row is not None and row.status != "intent":
            return Earlier(call_id=row.provider_ref if row.status == "done" else None, failed=row.status != "done")
        if time.monotonic() >= deadline:
            return None
        time.sleep(POLL_S)
