"""The lead list query and the lead page assembly, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from crm.extensions import db
from crm.models import (
    Appointment,
    AuditEntry,
    Campaign,
    Channel,
    ConsentRecord,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    LeadStatus,
    LegalBasis,
    PossibleDuplicate,
    Priority,
    Role,
    ScoreHistory,
    Task,
    TaskStatus,
    User,
)
from crm.ui import lead_detail as lead_page
from crm.ui import lead_queries as q

T0 = datetime(2025, 3, 1, 9, 0, tzinfo=UTC)


def _user(name: str, role: Role) -> User:
    u = User(email=f"{name}@example.test", name=name.title(), role=role)
    db.session.add(u)
    return u


@pytest.fixture
def world(app):
    """Two reps, a manager, an admin; leads owned by A, by B, unassigned, and one merged away."""
    with app.app_context():
        a, b = _user("anna", Role.SALES), _user("bernd", Role.SALES)
        m, adm = _user("mia", Role.MANAGER), _user("adam", Role.ADMIN)
        camp = Campaign(name="Frühjahr", provider="retell", agent_id="ag", from_number="+4930123456")
        db.session.add(camp)
        db.session.flush()
        leads = {
            "a1": Lead(
                first_name="Jana",
                last_name="Schmidt",
                company="ACME GmbH",
                email="jana@acme.de",
                phone_e164="+4915112345678",
                source="website",
                owner_id=a.id,
                status=LeadStatus.QUALIFIED,
                priority=Priority.HOT,
                score=82,
                chain_stage="calling",
                campaign_id=camp.id,
                created_at=T0,
            ),
            "a2": Lead(
                first_name="Otto",
                last_name="Meyer",
                company="Beta AG",
                email="otto@beta.de",
                phone_e164="+4930998877",
                source="partner",
                owner_id=a.id,
                status=LeadStatus.NURTURING,
                priority=Priority.COLD,
                score=20,
                chain_stage="nurturing",
                created_at=T0 + timedelta(days=1),
            ),
            "b1": Lead(
                first_name="Bea",
                last_name="Schmidt",
                company="Gamma KG",
                email="bea@gamma.de",
                phone_e164="+4917099999999",
                source="website",
                owner_id=b.id,
                status=LeadStatus.NEW,
                priority=Priority.WARM,
                score=55,
                created_at=T0 + timedelta(days=2),
            ),
            "u1": Lead(
                first_name="Uwe",
                last_name="Frei",
                company="Delta 100%_Co",
                email="uwe@delta.de",
                phone_e164="+4940111222",
                source="csv",
                owner_id=None,
                status=LeadStatus.NEW,
                score=None,
                created_at=T0 + timedelta(days=3),
            ),
        }
        db.session.add_all(leads.values())
        db.session.flush()
        gone = Lead(
            first_name="Jana",
            last_name="Schmidt",
            email="old@acme.de",
            source="csv",
            owner_id=a.id,
            merged_into_id=leads["a1"].id,
            status=LeadStatus.MERGED,
            created_at=T0,
        )
        db.session.add(gone)
        db.session.add_all(
            [
                Task(lead_id=leads["a2"].id, owner_id=a.id, title="Rückruf", due_at=T0 + timedelta(days=5)),
                Task(lead_id=leads["a2"].id, owner_id=a.id, title="later", due_at=T0 + timedelta(days=9)),
                Task(lead_id=leads["b1"].id, owner_id=b.id, title="Angebot", due_at=T0 + timedelta(days=4)),
                Task(lead_id=leads["u1"].id, owner_id=None, title="done", due_at=T0, status=TaskStatus.DONE),
            ]
        )
        db.session.commit()
        ids = {k: v.id for k, v in leads.items()}
        yield SimpleNamespace(a=a.id, b=b.id, m=m.id, adm=adm.id, campaign=camp.id, gone=gone.id, **ids)


def _ids(app, who_id: int, **args) -> list[int]:
    who = db.session.get(User, who_id)
    return [r.id for r in q.list_leads(who, q.parse_filters({k: str(v) for k, v in args.items()})).rows]


def test_visibility_per_role(app, world, ctx):
    w = world
    # newest first by default; merged records never show
    assert _ids(app, w.a) == [w.u1, w.a2, w.a1]
    assert _ids(app, w.b) == [w.u1, w.b1]
    assert _ids(app, w.m) == [w.u1, w.b1, w.a2, w.a1]
    assert _ids(app, w.adm) == [w.u1, w.b1, w.a2, w.a1]
    # a rep's owner filter cannot reach past their visibility
    assert _ids(app, w.a, owner=w.b) == []
    assert _ids(app, w.m, owner=w.b) == [w.b1]


def test_search_name_company_email_phone(app, world, ctx):
    w = world
    assert _ids(app, w.m, q="schmidt") == [w.b1, w.a1]
    assert _ids(app, w.m, q="Jana Schmidt") == [w.a1]
    assert _ids(app, w.m, q="jana acme") == [w.a1]  # words over different fields
    assert _ids(app, w.m, q="GAMMA") == [w.b1]
    assert _ids(app, w.m, q="otto@beta") == [w.a2]
    assert _ids(app, w.m, q="100%_") == [w.u1]  # LIKE wildcards are literal
    assert _ids(app, w.m, q="%") == [w.u1]
    assert _ids(app, w.m, q="n_") == []  # unescaped, "_" would match "Jana"
    # phone: national format, international, 00-prefix, partial digits
    assert _ids(app, w.m, q="0151 1234 5678") == [w.a1]
    assert _ids(app, w.m, q="+49 151 12345678") == [w.a1]
    assert _ids(app, w.m, q="0049 30 998877") == [w.a2]
    assert _ids(app, w.m, q="998877") == [w.a2]
    assert _ids(app, w.b, q="0151 1234 5678") == []  # found only where visible


def test_every_filter(app, world, ctx):
    w = world
    assert _ids(app, w.m, status="new") == [w.u1, w.b1]
    assert _ids(app, w.m, priority="hot") == [w.a1]
    assert _ids(app, w.m, stage="nurturing") == [w.a2]
    assert _ids(app, w.m, owner="none") == [w.u1]
    assert _ids(app, w.a, owner="me") == [w.a2, w.a1]
    assert _ids(app, w.m, owner=w.a) == [w.a2, w.a1]
    assert _ids(app, w.m, source="website") == [w.b1, w.a1]
    assert _ids(app, w.m, campaign=w.campaign) == [w.a1]
    assert _ids(app, w.m, open_task="yes") == [w.b1, w.a2]
    assert _ids(app, w.m, open_task="no") == [w.u1, w.a1]  # a done task is not an open one
    assert _ids(app, w.m, status="new", source="website") == [w.b1]
    # unknown values are ignored, not errors
    assert _ids(app, w.m, status="bogus", priority="x", owner="drop table", sort="evil") == [w.u1, w.b1, w.a2, w.a1]


def test_sorts(app, world, ctx):
    w = world
    assert _ids(app, w.m, sort="score") == [w.a1, w.b1, w.a2, w.u1]  # no score last
    assert _ids(app, w.m, sort="created") == [w.u1, w.b1, w.a2, w.a1]
    # next step = the earliest open task; leads without one last
    assert _ids(app, w.m, sort="next_step") == [w.b1, w.a2, w.a1, w.u1]
    rows = {r.id: r for r in q.list_leads(db.session.get(User, w.m), q.parse_filters({})).rows}
    assert rows[w.a2].next_due_at == T0 + timedelta(days=5) and rows[w.a2].open_tasks == 2
    assert rows[w.a1].owner_name == "Anna" and rows[w.a1].campaign == "Frühjahr"
    assert rows[w.u1].owner_name is None and rows[w.u1].next_due_at is None


def test_pagination_with_total(app, world, ctx):
    w = world
    who = db.session.get(User, w.m)
    first = q.list_leads(who, q.parse_filters({"per_page": "3", "sort": "score"}))
    assert first.total == 4 and first.pages == 2 and [r.id for r in first.rows] == [w.a1, w.b1, w.a2]
    second = q.list_leads(who, q.parse_filters({"per_page": "3", "sort": "score", "page": "2"}))
    assert [r.id for r in second.rows] == [w.u1] and second.page == 2
    beyond = q.list_leads(who, q.parse_filters({"per_page": "3", "page": "99"}))
    assert beyond.page == 2 and len(beyond.rows) == 1  # clamped to the last page
    assert q.list_leads(who, q.parse_filters({"q": "nobody"})).pages == 1
    assert q.parse_filters({"per_page": "100000"}).per_page == q.MAX_PER_PAGE
    assert q.parse_filters({"q": "x", "status": "new", "page": "2"}).as_args(page=3) == {
        "q": "x",
        "status": "new",
        "page": "3",
    }


def test_list_is_two_queries(app, world, ctx):
    statements = []
    engine = db.engine
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    who = db.session.get(User, world.m)
    sa.event.listen(engine, "before_cursor_execute", listener)
    try:
        q.list_leads(who, q.parse_filters({"sort": "next_step"}))
    finally:
        sa.event.remove(engine, "before_cursor_execute", listener)
    assert len(statements) == 2  # the count and the page, whatever the page size


def _detail_world(w) -> int:
    lead = db.session.get(Lead, w.a1)
    db.session.add_all(
        [
            ConsentRecord(
                lead_id=lead.id,
                channel=Channel.PHONE,
                legal_basis=LegalBasis.EXPRESS_CONSENT,
                source="website",
                proof_text="website: consent field answered 'ja'",
                proof_key="k1",
                given_at=T0,
            ),
            ScoreHistory(
                lead_id=lead.id,
                score=40,
                priority="warm",
                model_version="v1",
                reason="intake",
                breakdown={"source": 10, "phone": 30, "details": {"phone": "has a phone"}, "raw_total": 40},
                created_at=T0,
            ),
            ScoreHistory(
                lead_id=lead.id,
                score=82,
                priority="hot",
                model_version="v2",
                reason="rescore",
                breakdown={
                    "source": 10,
                    "opens": 12,
                    "phone": 30,
                    "consent": 30,
                    "details": {"opens": "3 opens"},
                    "raw_total": 82,
                },
                created_at=T0 + timedelta(days=2),
            ),
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref="c1",
                status="ended",
                started_at=T0 + timedelta(hours=2),
                duration_s=95,
                summary="Interested in a demo",
                sentiment="positive",
                outcome="interested",
                cost_cents=42,
                currency="EUR",
                recording_url="https://rec.example/c1.wav",
                transcript=[
                    {"speaker": "agent", "text": "Guten Tag, hier ist die KI von ACME.", "at_s": 0.4},
                    {"speaker": "callee", "text": "Ja, hallo?", "at_s": 2.0},
                    {"speaker": "agent", "text": "   "},
                ],
            ),
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="vapi",
                provider_ref="c2",
                status="ended",
                started_at=T0 + timedelta(hours=3),
                recording_url="javascript:alert(1)",
            ),
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.EMAIL,
                direction=Direction.OUTBOUND,
                provider="sendgrid",
                provider_ref="m1",
                status="clicked",
                subject="Ihr Angebot",
                created_at=T0 + timedelta(hours=4),
                data={"opens": 2, "clicks": 1, "flags": []},
            ),
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.EMAIL,
                direction=Direction.OUTBOUND,
                provider="sendgrid",
                provider_ref="m2",
                status="bounced",
                subject="Nachfass",
                created_at=T0 + timedelta(hours=5),
            ),
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.NOTE,
                direction=Direction.INTERNAL,
                summary="Prefers mornings",
                created_by=f"ui:{w.a}",
                created_at=T0 + timedelta(hours=6),
            ),
            Task(
                lead_id=lead.id,
                owner_id=w.a,
                title="Demo vorbereiten",
                due_at=T0 + timedelta(days=3),
                created_at=T0 + timedelta(hours=7),
            ),
            Appointment(
                lead_id=lead.id,
                owner_id=w.a,
                starts_at=T0 + timedelta(days=4),
                ends_at=T0 + timedelta(days=4, minutes=30),
                title="Demo",
                created_at=T0 + timedelta(hours=8),
            ),
            AuditEntry(
                actor=f"ui:{w.a}",
                action="lead.updated",
                entity_type="lead",
                entity_id=lead.id,
                before={"company": "ACME", "email": "jana@acme.de"},
                after={"company": "ACME GmbH", "email": "jana@acme.de"},
                at=T0 + timedelta(hours=9),
            ),
            AuditEntry(
                actor="chain",
                action="chain.calling",
                entity_type="lead",
                entity_id=w.gone,
                after={"detail": "attempt 1"},
                at=T0 + timedelta(hours=1),
            ),
            AuditEntry(
                actor="chain", action="chain.calling", entity_type="lead", entity_id=w.b1, at=T0 + timedelta(hours=1)
            ),
            PossibleDuplicate(lead_id=w.u1, candidate_id=lead.id, similarity=0.91, reason="same last name"),
            PossibleDuplicate(lead_id=w.b1, candidate_id=lead.id, similarity=0.8, reason="name"),
        ]
    )
    db.session.commit()
    return lead.id


def test_lead_page_assembly(app, world, ctx):
    w = world
    lead_id = _detail_world(w)
    rep = db.session.get(User, w.a)
    d = lead_page.lead_detail(rep, db.session.get(Lead, lead_id))
    assert d.owner_name == "Anna" and d.campaign == "Frühjahr"
    (consent,) = d.consents
    assert consent.active and consent.proof_text.startswith("website: consent") and consent.channel == "phone"
    assert d.score.score == 82 and d.score.current.model_version == "v2"
    assert [(f.name, f.points) for f in d.score.current.factors] == [
        ("consent", 30),
        ("phone", 30),
        ("opens", 12),
        ("source", 10),
    ]
    assert d.score.current.factors[2].detail == "3 opens" and d.score.current.raw_total == 82
    assert [h.score for h in d.score.history] == [82, 40]

    kinds = [(i.kind, i.at) for i in d.timeline]
    assert [k for k, _ in kinds] == ["audit", "appointment", "task", "note", "email", "email", "call", "call", "audit"]
    assert [at for _, at in kinds] == sorted((at for _, at in kinds), reverse=True)
    call = next(i for i in d.timeline if isinstance(i, lead_page.CallItem) and i.provider == "retell")
    assert [(t.speaker, t.text) for t in call.turns] == [
        ("agent", "Guten Tag, hier ist die KI von ACME."),
        ("caller", "Ja, hallo?"),
    ]
    assert call.outcome == "interested" and call.sentiment == "positive" and call.duration_s == 95
    assert call.recording_url == "https://rec.example/c1.wav"
    assert lead_page.format_cost(call.cost_cents, call.currency, "de") == "0,42\xa0€"
    assert lead_page.format_cost(call.cost_cents, call.currency, "en") == "€0.42"
    assert lead_page.format_cost(None, None) == ""
    other = next(i for i in d.timeline if isinstance(i, lead_page.CallItem) and i.provider == "vapi")
    assert other.recording_url is None and other.turns == []
    emails = {i.subject: i for i in d.timeline if isinstance(i, lead_page.EmailItem)}
    assert (emails["Ihr Angebot"].state, emails["Ihr Angebot"].opens, emails["Ihr Angebot"].clicks) == ("clicked", 2, 1)
    assert emails["Nachfass"].state == "bounced"
    audit = d.timeline[0]
    assert audit.actor == "Anna" and audit.changes == {"company": ("ACME", "ACME GmbH")}
    assert d.timeline[-1].detail == "attempt 1"  # from the record merged into this one
    assert [t.title for t in d.open_tasks] == ["Demo vorbereiten"] and d.next_due_at == T0 + timedelta(days=3)
    # only duplicates whose other record the rep may see: the unassigned one, not B's
    assert [(x.other_id, x.similarity) for x in d.duplicates] == [(w.u1, 0.91)]
    manager = db.session.get(User, w.m)
    assert [x.other_id for x in lead_page.lead_detail(manager, db.session.get(Lead, lead_id)).duplicates] == [
        w.u1,
        w.b1,
    ]


def test_filter_choices(app, world, ctx):
    rep = db.session.get(User, world.a)
    choices = q.filter_choices(rep)
    assert choices.sources == ["csv", "partner", "website"]  # only from visible leads (b1 is also website)
    assert choices.stages == ["calling", "nurturing"]
    assert choices.owners == [(world.a, "Anna")]
    manager = db.session.get(User, world.m)
    assert [n for _, n in q.filter_choices(manager).owners] == ["Adam", "Anna", "Bernd", "Mia"]


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("12", 12),
        (" 7 ", 7),
        (str(2**31 - 1), 2**31 - 1),
        ("", None),
        (None, None),
        ("0", None),
        ("-3", None),
        # str.isdigit() says yes to these, int() then fails ("²") or reads them as digits ("١٢")
        ("²", None),
        ("١٢", None),
        ("１２", None),
        # bigger than an INTEGER column: binding them overflows the drivers (SQLite at 2**63, PostgreSQL at 2**31)
        (str(2**31), None),
        (str(2**63), None),
        ("9" * 400, None),
        ("1.5", None),
        ("1e3", None),
    ],
)
def test_parse_id_takes_only_ascii_ids_of_a_records_size(raw, expected):
    assert q.parse_id(raw) == expected


def test_odd_numbers_in_the_list_filters_are_ignored_or_clamped(app, world, ctx):
    f = q.parse_filters({"owner": "²", "campaign": "9" * 400, "page": "١٢", "per_page": str(2**63)})
    assert (f.owner, f.campaign_id, f.page, f.per_page) == (None, q.MAX_ID, 1, q.MAX_PER_PAGE)
    assert q.parse_filters({"owner": str(2**63)}).owner is None
    assert q.parse_filters({"page": "-5", "per_page": "0"}).page == 1
    # the clamped values reach the database on both backends without overflowing
    page = q.list_leads(db.session.get(User, world.m), f)
    assert page.total == 0 and page.rows == []
