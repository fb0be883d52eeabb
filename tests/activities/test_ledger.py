"""The side-effect ledger (activities.ledger) and required rows (activities.rows) on both databases: a key
gets one row however often it is claimed, a lost insert race answers with the winner's row, and rows that
must exist fail with a message naming them instead of an AttributeError on None further down."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from activities import ledger
from activities.ledger import LedgerError, claim, done_ref, mark_done
from activities.rows import RowMissing, require_row
from crm.extensions import db
from crm.models import Lead, SideEffect
from tests.conftest import TEST_COMPANY_ID


def _rows(key: str) -> list[SideEffect]:
    return list(db.session.scalars(sa.select(SideEffect).where(SideEffect.key == key)))


def test_a_key_is_claimed_once(ctx):
    first = claim("chain-1:call:0:1", "call", None)
    db.session.commit()
    again = claim("chain-1:call:0:1", "call", None)
    assert again.id == first.id and again.status == "intent"
    assert len(_rows("chain-1:call:0:1")) == 1


def test_a_lost_insert_race_answers_with_the_winners_row(ctx, monkeypatch):
    key = "report:7:user:3"
    # Another worker commits the key between our look-up and our insert: the look-up misses once...
    with db.engine.begin() as conn:
        # A Core insert on its own connection: the ORM does not fill the company, the test names it.
        conn.execute(
            sa.insert(SideEffect).values(
                key=key, kind="report_email", status="done", attempts=1, company_id=TEST_COMPANY_ID
            )
        )
    real_locked = ledger._locked
    calls = []

    def miss_first(k: str) -> SideEffect | None:
        calls.append(k)
        return None if len(calls) == 1 else real_locked(k)

    monkeypatch.setattr(ledger, "_locked", miss_first)
    # ...so our insert hits the unique key, and the winner's row is the answer (not a second row, no error).
    row = claim(key, "report_email", None)
    assert (row.status, row.attempts) == ("done", 1) and len(calls) == 2
    db.session.commit()
    assert len(_rows(key)) == 1


def test_a_done_row_answers_its_provider_reference(ctx):
    row = claim("chain-1:email:follow_up:0:0", "email", None)
    mark_done(row, "sendgrid", "msg-1", {"template": "follow_up"})
    db.session.commit()
    assert done_ref(claim("chain-1:email:follow_up:0:0", "email", None)) == ("sendgrid", "msg-1")


def test_a_done_row_without_reference_is_an_error_not_an_empty_call_id(ctx):
    row = claim("chain-1:call:0:2", "call", None)
    row.status = "done"  # as a hand edit would leave it
    with pytest.raises(LedgerError, match="chain-1:call:0:2"):
        done_ref(row)


def test_a_missing_row_is_named(ctx):
    with pytest.raises(RowMissing, match="Lead 987654 not found"):
        require_row(Lead, 987654)
    with pytest.raises(RowMissing, match="Lead 987654"):
        require_row(Lead, 987654, for_update=True)
