"""The privacy services on both databases: finding a person across merged and duplicate records, the due
date, the step log's idempotence, the suppression list refusing intake and dialling, the local erasure
leaving no personal value and keeping the consent proof's hash, and the retention sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from crm.errors import ApiError
from crm.extensions import db
from crm.models import (
    AuditEntry,
    Channel,
    ConsentRecord,
    Direction,
    DoNotCallEntry,
    Interaction,
    InteractionKind,
    Lead,
    LegalBasis,
    PossibleDuplicate,
    Task,
)
from crm.models.types import utcnow
from crm.privacy import erase_local, requests, retention, suppression
from crm.privacy.subjects import SubjectNotFound, SubjectQuery, find_person
from crm.schemas.lead import WebFormLeadSchema
from crm.services import compliance, submissions


def _lead(**values) -> Lead:
    lead = Lead(source="website", language="de", tags=[], **values)
    db.session.add(lead)
    db.session.flush()
    return lead


def test_find_person_follows_merges_duplicates_and_shared_numbers(ctx):
    anna = _lead(first_name="Anna", email="anna@example.com", email_key="anna@example.com", phone_e164="+4930123456")
    old = _lead(
        first_name="Anna", email="anna.old@example.com", email_key="anna.old@example.com", merged_into_id=anna.id
    )
    flagged = _lead(first_name="A.", email="a@example.org", email_key="a@example.org")
    db.session.add(PossibleDuplicate(lead_id=anna.id, candidate_id=flagged.id, similarity=92.0, reason="name"))
    other = _lead(first_name="Bert", email="bert@example.com", email_key="bert@example.com")
    db.session.flush()
    assert find_person(SubjectQuery(email="Anna+promo@Example.com")) == [anna.id, old.id, flagged.id]
    assert find_person(SubjectQuery(phone="030 123456")) == [anna.id, old.id, flagged.id]
    assert find_person(SubjectQuery(lead_id=other.id)) == [other.id]
    with pytest.raises(SubjectNotFound):
        find_person(SubjectQuery(email="nobody@example.com"))
    assert set(SubjectQuery(email="not an address", phone="abc").problems("DE")) == {"email", "phone"}


def test_request_due_date_and_step_log(ctx):
    request = requests.open_request(
        "erasure",
        [1],
        requester="subject",
        received_via="email",
        identity_check="answered from the address on record",
        actor="user:1",
        received_at=datetime(2027, 1, 31, 9, tzinfo=UTC),
    )
    assert request.due_at == datetime(2027, 2, 28, 9, tzinfo=UTC)
    requests.log_step(request.id, "retell:call c1", "failed", "HTTP 503")
    assert not requests.finished(request.id, "retell:call c1")
    requests.log_step(request.id, "retell:call c1", "done", "HTTP 204")
    assert requests.finished(request.id, "retell:call c1")
    [step] = requests.steps(request.id)
    assert (step.status, step.attempts) == ("done", 2)
    assert requests.overdue(datetime(2027, 3, 1, tzinfo=UTC)) == [request.id]
    assert requests.overdue(datetime(2027, 2, 27, tzinfo=UTC)) == []
    with pytest.raises(requests.RequestInvalid) as bad:
        requests.open_request("forget", [], requester="x", received_via="pigeon", identity_check=" ", actor="u")
    assert set(bad.value.errors) == {"kind", "requester", "received_via", "identity_check"}


def test_suppression_refuses_intake_and_dialling(ctx):
    lead = WebFormLeadSchema(default_region="DE", default_source="website").load(
        {"first_name": "Anna", "email": "anna@example.com", "phone": "+49 30 123456", "source": "website"}
    )
    assert suppression.matches(lead.email_key, lead.phone.e164) == []
    assert suppression.add("email", "anna@example.com", request_id=None)
    assert not suppression.add("email", "anna@example.com", request_id=None)
    suppression.add("phone", "+4930123456", request_id=None)
    with pytest.raises(ApiError) as refused:
        submissions.submit(lead, {"email": "anna@example.com"}, region="DE", channel="api", actor="t")
    assert refused.value.code == 409 and set(refused.value.errors) == {"email", "phone"}
    assert compliance.is_on_dnc_list("+4930123456")
    assert not compliance.is_on_dnc_list("+4930999999")
    stored = db.session.scalars(sa.select(sa.text("digest")).select_from(sa.table("suppression_list"))).all()
    assert all("anna" not in d and "123456" not in d for d in stored)


def test_local_erasure_empties_the_person_and_keeps_the_consent_hash(ctx):
    anna = _lead(
        first_name="Zqmark",
        last_name="Erasetest",
        email="zqmark@example.com",
        email_key="zqmark@example.com",
        phone_e164="+4930555111",
        interest="Zqmark interest",
        qualification={"need": "Zqmark need"},
    )
    db.session.add_all(
        [
            ConsentRecord(
                lead_id=anna.id,
                channel=Channel.PHONE,
                legal_basis=LegalBasis.EXPRESS_CONSENT,
                source="form Zqmark",
                proof_text="I, Zqmark Erasetest, agree",
                proof_key="k1",
                given_at=utcnow(),
            ),
            Interaction(
                lead_id=anna.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                transcript=[{"role": "user", "text": "Zqmark speaking"}],
                summary="Zqmark summary",
                recording_url="http://x/Zqmark.wav",
            ),
            Task(lead_id=anna.id, title="Call Zqmark", details="Zqmark details"),
            AuditEntry(actor="u", action="x", entity_type="user", entity_id=9, after={"note": "zqmark@example.com"}),
            DoNotCallEntry(phone_e164="+4930555111", source="internal"),
        ]
    )
    db.session.flush()
    changed = erase_local.erase([anna.id], reason="privacy request 1")
    assert changed["leads"] == 1 and changed["audit_log"] >= 1 and changed["dnc_list"] == 1
    assert erase_local.erase([anna.id], reason="privacy request 1")["consent_records"] == 0  # idempotent
    db.session.flush()
    for model in (Lead, ConsentRecord, Interaction, Task, AuditEntry, DoNotCallEntry):
        for row in db.session.scalars(sa.select(model)):
            text = str({c.key: getattr(row, c.key) for c in sa.inspect(model).mapper.column_attrs}).lower()
            assert "zqmark" not in text and "555111" not in text, (model.__name__, text)
    consent = db.session.scalar(sa.select(ConsentRecord))
    assert consent.proof_text.startswith("sha256:") and consent.channel == Channel.PHONE


def test_retention_sweep_anonymises_only_what_is_past_its_period(ctx):
    old, new = utcnow() - timedelta(days=400), utcnow() - timedelta(days=5)
    lead = _lead(first_name="Kept", email="kept@example.com", email_key="kept@example.com")
    for when in (old, new):
        db.session.add(
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                started_at=when,
                transcript=[{"role": "user", "text": "hi"}],
                recording_url="http://x/r.wav",
            )
        )
    stale = _lead(first_name="Stale", email="stale@example.com", email_key="stale@example.com")
    stale.updated_at = utcnow() - timedelta(days=800)
    db.session.flush()
    db.session.execute(sa.update(Lead).where(Lead.id == stale.id).values(updated_at=utcnow() - timedelta(days=800)))
    retention.set_periods(recordings_days=3)
    done = retention.sweep()
    assert done == {"transcripts": 1, "recordings": 2, "email_bodies": 0, "inactive_leads": 1}
    assert set(retention.sweep().values()) == {0}  # nothing is counted twice (a JSON null is not a value)
    assert db.session.get(Lead, stale.id).email is None and db.session.get(Lead, lead.id).email == "kept@example.com"
    with pytest.raises(requests.RequestInvalid):
        retention.set_periods(transcripts_days=0)
