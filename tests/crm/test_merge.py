from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import (
    Appointment,
    AuditEntry,
    Channel,
    ConsentRecord,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    PossibleDuplicate,
    Role,
    ScoreHistory,
    Task,
    User,
)
from crm.schemas.lead import LeadInSchema
from crm.services import intake, merge

T0 = datetime(2026, 12, 1, 9, tzinfo=UTC)


def _lead(**raw) -> int:
    return intake.ingest(LeadInSchema().load(raw), actor="test").lead_id


def test_merge_moves_everything_and_retires_the_duplicate(ctx):
    rep = User(email="rep@x.de", name="Rep", role=Role.SALES)
    db.session.add(rep)
    survivor_id = _lead(
        first_name="Björn", last_name="Müller", company="Müller Haustechnik", email="bm@mueller.de", phone_consent="ja"
    )
    dup_id = _lead(
        first_name="Bjoern",
        last_name="Mueller",
        company="Mueller Haustechnik GmbH",
        email="b.mueller@gmail.com",
        phone="+49 30 23125101",
        phone_consent="x",
        note="bitte vormittags",
    )
    db.session.flush()
    assert db.session.scalars(sa.select(PossibleDuplicate)).one().status == "open"
    db.session.add_all(
        [
            Interaction(
                lead_id=dup_id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref="call_9",
            ),
            Task(lead_id=dup_id, owner_id=rep.id, title="call back"),
            Appointment(lead_id=dup_id, owner_id=rep.id, starts_at=T0, ends_at=T0 + timedelta(minutes=30)),
            ScoreHistory(lead_id=dup_id, score=60, priority="warm", breakdown={"source": 10}, model_version="v1"),
        ]
    )
    dup = db.session.get(Lead, dup_id)
    dup.do_not_contact, dup.dnc_reason, dup.tags = True, "asked by phone", ["messe"]
    db.session.commit()

    merge.merge(survivor_id, dup_id, actor="user:1")
    db.session.commit()
    db.session.expire_all()

    survivor, dup = db.session.get(Lead, survivor_id), db.session.get(Lead, dup_id)
    assert dup.merged_into_id == survivor_id and dup.status == LeadStatus.MERGED
    assert survivor.phone_e164 == "+493023125101"  # gap filled from the duplicate
    assert survivor.email == "bm@mueller.de"  # not overwritten
    assert survivor.do_not_contact and survivor.dnc_reason == "asked by phone"
    assert survivor.tags == ["messe"]
    for model in (Interaction, Task, Appointment, ScoreHistory):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model).where(model.lead_id == dup_id)) == 0
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(Interaction).where(Interaction.lead_id == survivor_id))
        == 2
    )  # the call and the note
    channels = db.session.scalars(sa.select(ConsentRecord).where(ConsentRecord.lead_id == survivor_id)).all()
    assert len(channels) == 2 and {c.channel for c in channels} == {Channel.PHONE}
    assert db.session.scalars(sa.select(PossibleDuplicate)).one().status == "merged"
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "lead.merged")).one()
    assert entry.actor == "user:1" and entry.after["merged_from"] == dup_id
    assert entry.after["moved"]["tasks"] == 1
    # The retired record's email no longer blocks, the survivor's dedupe keys take new submissions.
    again = intake.ingest(LeadInSchema().load({"phone": "030 23125101"}), actor="test")
    assert again.lead_id == survivor_id


def test_merge_refusals_leave_records_untouched(ctx):
    a = _lead(email="a@x.de")
    b = _lead(email="b@x.de")
    db.session.commit()
    with pytest.raises(merge.MergeError):
        merge.merge(a, a, actor="t")
    with pytest.raises(merge.MergeError):
        merge.merge(a, 999, actor="t")
    merge.merge(a, b, actor="t")
    db.session.commit()
    with pytest.raises(merge.MergeError):
        merge.merge(b, a, actor="t")
    db.session.rollback()
    assert db.session.get(Lead, a).merged_into_id is None
