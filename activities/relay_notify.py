"""Wakes the outbox relay (workers/relay.py) from a chain step's transaction, on PostgreSQL.

The relay admits only so many busy chains per company (docs/tenancy.md "Fair sharing"); a chain stops
counting when its lead leaves a busy stage. The step that records that (record_timeline) notifies the
relay's channel, and PostgreSQL delivers the notification at the step's commit, so the next waiting lead is
started then instead of at the relay's next poll (issue 21). Migration 0028's triggers send the same
notification for every new inbox row. The notification carries no data; on SQLite nothing is sent and the
relay polls as before.
"""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from workflows.vocabulary import ChainStage

CHANNEL = "leadchain_relay"
# The stages in which a started chain holds its company's admission budget (workers.relay.BUSY_STAGES is
# this tuple); None, no stage reported yet, counts as busy too.
BUSY_STAGES: tuple[str, ...] = (
    ChainStage.IMPORTING.value,
    ChainStage.CONTINUING.value,
    ChainStage.QUALIFYING.value,
    ChainStage.CALLING.value,
    ChainStage.FOLLOWING_UP.value,
)


def frees_budget(previous: str | None, stage: str) -> bool:
    """A lead going from `previous` to `stage` stops holding its company's admission budget."""
    return (previous is None or previous in BUSY_STAGES) and stage not in BUSY_STAGES


def notify_relay() -> None:
    """Queue a wake-up for the relay, sent when the session's transaction commits (PostgreSQL only)."""
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(sa.select(sa.func.pg_notify(CHANNEL, "chain")))
