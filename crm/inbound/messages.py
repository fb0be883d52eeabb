"""What an inbound call leaves for a person (issue 17): a task with the caller's words and, when the caller is a
lead, a note on their timeline. Every entrance makes it here: the voice bridge's inbound tools (Retell, Vapi:
voice.bridge.inbound_records) and Bland's custom tools (crm.inbound.bland_actions). Runs in the call's company's
scope."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa

from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Task

# Task kinds a call leaves for a person: a question the knowledge base could not answer, a message, a
# callback owed (also the missed-call sweep's, crm.inbound.missed).
TASK_KINDS = ("question", "message", "callback")
TITLES = {
    "question": "Inbound call: answer the caller's question",
    "message": "Inbound call: message for you",
    "callback": "Inbound call: call back",
}


def task_key(provider: str, call_ref: str, kind: str) -> str:
    return f"inbound:{provider}:{call_ref}:{kind}"[:200]


def leave_task(
    provider: str,
    call_ref: str,
    *,
    lead_id: int | None,
    owner_id: int | None,
    kind: str,
    text: str,
    actor: str,
    now: datetime,
) -> int:
    """A task for a person (kind: question | message | callback) with what the caller said, and a note on the
    lead's timeline; once per call and kind (a replayed turn or a retried tool finds the first). Commits."""
    if kind not in TASK_KINDS:
        raise ValueError(f"unknown task kind {kind!r}")
    key = task_key(provider, call_ref, kind)
    found = db.session.scalar(sa.select(Task.id).where(Task.dedupe_key == key))
    if found is not None:
        return found
    task = Task(
        lead_id=lead_id,
        owner_id=owner_id,
        kind=kind,
        title=TITLES[kind],
        details=text[:2000] or None,
        due_at=now.astimezone(UTC),
        dedupe_key=key,
    )
    db.session.add(task)
    if lead_id is not None:
        db.session.add(
            Interaction(
                lead_id=lead_id,
                kind=InteractionKind.NOTE,
                direction=Direction.INBOUND,
                summary=f"{TITLES[kind]}: {text[:500]}",
                created_by=actor,
            )
        )
    db.session.commit()
    return task.id
