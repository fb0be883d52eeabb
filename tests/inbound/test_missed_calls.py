"""Missed and abandoned inbound calls (crm.inbound.missed): a call with no outcome gets one callback task once
it is over, however often the sweep runs; an objector only when they asked for a callback in that call; a call
that reached an outcome is left alone. On SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from crm.extensions import db
from crm.inbound import calls, missed
from crm.models import InboundCall, Lead, Task
from crm.models.types import utcnow
from crm.tenancy.context import company_scope


def _lead(phone: str, **kw) -> int:
    lead = Lead(source="phone", phone_e164=phone, tags=[], **kw)
    db.session.add(lead)
    db.session.flush()
    return lead.id


def test_abandoned_calls_get_one_callback_task_and_objectors_only_when_they_asked(app):
    now = utcnow()
    with app.app_context(), company_scope(1):
        known = _lead("+4930111111")
        objector = _lead("+4930222222", do_not_contact=True, dnc_reason="no calls")
        asked = _lead("+4930333333", do_not_contact=True, dnc_reason="no calls")
        early = now - missed.ABANDONED_AFTER - timedelta(minutes=1)
        for ref, lead in (("c-known", known), ("c-objector", objector), ("c-asked", asked), ("c-booked", known)):
            calls.record("retell", ref, number_id=None, lead_id=lead, within_hours=True, now=early)
        calls.record("retell", "c-recent", number_id=None, lead_id=known, within_hours=False, now=now)
        calls.set_outcome(calls.find("retell", "c-booked"), "booked")
        calls.find("retell", "c-asked").callback_requested = True
        db.session.commit()
        db.session.remove()
    with app.app_context():
        first = missed.sweep(now)
        second = missed.sweep(now)
        db.session.remove()
    assert first.abandoned == 3 and second.abandoned == 0
    with app.app_context(), company_scope(1):
        outcomes = dict(db.session.execute(sa.select(InboundCall.call_ref, InboundCall.outcome)).all())
        tasks = db.session.scalars(sa.select(Task.lead_id).where(Task.kind == "callback")).all()
        db.session.remove()
    assert outcomes == {
        "c-known": "abandoned",
        "c-objector": "abandoned",
        "c-asked": "abandoned",
        "c-booked": "booked",
        "c-recent": "answered",
    }
    assert sorted(tasks) == sorted([known, asked])
