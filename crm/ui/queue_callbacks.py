"""The call queue's "callbacks owed" (issue 17): the open callback tasks inbound calls left for a person
(crm.inbound.missed, voice.bridge.inbound_records), as queue rows for the leads a user may see."""

from __future__ import annotations

import sqlalchemy as sa

from crm.extensions import db
from crm.inbound.kpis import CALLBACK_KINDS as INBOUND_CALLBACK_KINDS
from crm.models import Lead, Task, TaskStatus, User
from crm.ui.access import lead_visibility
from crm.ui.queue_queries import GROUP_LIMIT, QueueRow, lead_display_name


def callbacks_owed(who: User) -> list[QueueRow]:
    """Open callback tasks inbound calls left (crm.inbound.missed, voice.bridge.inbound_records), oldest first,
    for the leads `who` may see; `at` is when the callback became due."""
    stmt = (
        sa.select(
            Task.id,
            Task.lead_id,
            Task.due_at,
            Lead.first_name,
            Lead.last_name,
            Lead.company,
            Lead.chain_stage,
            User.name.label("owner"),
        )
        .join(Lead, Lead.id == Task.lead_id)
        .outerjoin(User, User.id == sa.func.coalesce(Task.owner_id, Lead.owner_id))
        .where(
            Task.kind.in_(INBOUND_CALLBACK_KINDS),
            Task.status == TaskStatus.OPEN,
            Task.dedupe_key.like("inbound:%"),
            lead_visibility(who),
        )
        .order_by(Task.due_at, Task.id)
        .limit(GROUP_LIMIT)
    )
    return [
        QueueRow(
            r.lead_id,
            lead_display_name(r.first_name, r.last_name, r.company, r.lead_id),
            r.company,
            r.owner,
            r.chain_stage,
            r.due_at,
            None,
            "callback_owed",
            0,
        )
        for r in db.session.execute(stmt)
    ]
