"""Scoring model v1: every number comes from the test's own rules file, not from the shipped default."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from flask import Flask

from crm.config import Settings
from crm.extensions import db
from crm.models import (
    AuditEntry,
    Channel,
    ConsentRecord,
    Direction,
    Interaction,
    InteractionKind,
    Lead,
    LegalBasis,
    Priority,
    ScoreHistory,
)
from crm.services import scoring
from crm.services.scoring import Engagement, LeadFacts, ScoringConfigError, compute, load_rules
from tests.conftest import set_settings

RULES = """
version: "test-7"
thresholds: {hot: 60, warm: 30}
gate_threshold: 45
source:
  default: 1
  points: {website: 11, messe: 13, partner: 17}
completeness: {phone: 3, email: 2, company: 7, full_name: 4}
email_domain:
  business: 6
  freemail: -9
  freemail_domains: [gmail.com, gmx.de]
consent: {phone_express: 19, email: 8}
interest:
  points: 12
  keywords: [rückruf, pricing, termin]
engagement:
  email_open: {points: 2, max_points: 5}
  email_click: {points: 4, max_points: 10}
  call_outcomes:
    booked: 50
    interested: 21
    callback_requested: 16
    voicemail: 0
    not_interested: -25
    wrong_number: -15
    do_not_call: -100
"""

# source unknown (1) + company (7) + business domain (6): 14, clear of both clamps.
BASE = LeadFacts(
    source="zeitung",
    has_phone=False,
    has_email=False,
    has_company=True,
    has_full_name=False,
    email_domain="mueller-bau.de",
    phone_consent=False,
    email_consent=False,
    interest_text=None,
    engagement=Engagement(),
)
BASE_RAW = 1 + 7 + 6
NOTHING = dataclasses.replace(BASE, has_company=False, email_domain=None)


@pytest.fixture
def rules_file(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(RULES, encoding="utf-8")
    return path


@pytest.fixture
def rules(rules_file):
    return load_rules(rules_file)


def _with(facts: LeadFacts, **changes) -> LeadFacts:
    return dataclasses.replace(facts, **changes)


def _eng(**kw) -> Engagement:
    return Engagement(**kw)


@pytest.mark.parametrize(
    "change, factor, points",
    [
        ({"source": "website"}, "source", 11 - 1),
        ({"source": "Messe"}, "source", 13 - 1),
        ({"source": "partner-acme"}, "source", 17 - 1),  # prefix before "-" names the table entry
        ({"has_phone": True}, "has_phone", 3),
        ({"has_email": True}, "has_email", 2),
        ({"has_full_name": True}, "has_full_name", 4),
        ({"email_domain": "gmail.com"}, "freemail_domain", -9 - 6),
        ({"email_domain": "GMX.DE"}, "freemail_domain", -9 - 6),
        ({"email_domain": None}, "business_domain", -6),
        ({"phone_consent": True}, "phone_consent", 19),
        ({"email_consent": True}, "email_consent", 8),
        ({"interest_text": "Wärmepumpe für Neubau"}, "stated_interest", 12),
        ({"note_text": "Bitte um RUECKRUF am Vormittag"}, "stated_interest", 12),
        ({"note_text": "pricing?"}, "stated_interest", 12),
        ({"note_text": "Terminwunsch"}, "stated_interest", 12),
        ({"note_text": "hard to determine"}, "stated_interest", 0),  # keywords match at a word start only
        ({"note_text": "Grüße aus Köln"}, "stated_interest", 0),
        ({"interest_text": "   "}, "stated_interest", 0),
        ({"interest_text": "Solar", "note_text": "Rückruf"}, "stated_interest", 12),  # counted once
        ({"engagement": _eng(opens=1)}, "email_opens", 2),
        ({"engagement": _eng(opens=2)}, "email_opens", 4),
        ({"engagement": _eng(opens=9)}, "email_opens", 5),
        ({"engagement": _eng(clicks=1)}, "email_clicks", 4),
        ({"engagement": _eng(clicks=7)}, "email_clicks", 10),
        ({"engagement": _eng(call_outcomes=("interested",))}, "call:interested", 21),
        ({"engagement": _eng(call_outcomes=("interested", "interested"))}, "call:interested", 42),
        ({"engagement": _eng(call_outcomes=("callback_requested",))}, "call:callback_requested", 16),
        ({"engagement": _eng(call_outcomes=("booked",))}, "call:booked", 50),
        ({"engagement": _eng(call_outcomes=("not_interested",))}, "call:not_interested", -25),
        ({"engagement": _eng(call_outcomes=("wrong_number",))}, "call:wrong_number", -15),
        ({"engagement": _eng(call_outcomes=("voicemail", "voicemail"))}, "call:voicemail", 0),
        ({"engagement": _eng(call_outcomes=("busy",))}, "call:busy", 0),  # not in the table: 0
    ],
)
def test_each_factor_gives_the_points_the_rules_say(rules, change, factor, points):
    before, after = compute(BASE, rules), compute(_with(BASE, **change), rules)
    assert after.raw_total - before.raw_total == points
    assert after.value == max(0, min(100, BASE_RAW + points))
    assert before.raw_total == before.value == BASE_RAW


@pytest.mark.parametrize(
    "change, factor, points",
    [
        ({"has_phone": True}, "has_phone", 3),
        ({"email_domain": "gmail.com"}, "freemail_domain", -9),
        ({"email_domain": "firma.de"}, "business_domain", 6),
        ({"interest_text": "Solar"}, "stated_interest", 12),
        ({"engagement": _eng(clicks=3)}, "email_clicks", 10),
        ({"engagement": _eng(call_outcomes=("voicemail",))}, "call:voicemail", 0),
    ],
)
def test_factor_is_listed_with_its_points_only_when_it_applies(rules, change, factor, points):
    assert factor not in {f.name for f in compute(NOTHING, rules).factors}
    listed = {f.name: f for f in compute(_with(NOTHING, **change), rules).factors}
    assert listed[factor].points == points and listed[factor].detail


def test_clamped_at_0_and_100(rules):
    everything = LeadFacts(
        source="partner",
        has_phone=True,
        has_email=True,
        has_company=True,
        has_full_name=True,
        email_domain="firma.de",
        phone_consent=True,
        email_consent=True,
        interest_text="Solar",
        engagement=Engagement(opens=5, clicks=5, call_outcomes=("booked",)),
    )
    top = compute(everything, rules)
    assert top.raw_total == 17 + 3 + 2 + 7 + 4 + 6 + 19 + 8 + 12 + 5 + 10 + 50
    assert top.value == 100 and top.priority == "hot"
    bottom = compute(_with(BASE, engagement=_eng(call_outcomes=("do_not_call",))), rules)
    assert bottom.raw_total == BASE_RAW - 100 and bottom.value == 0 and bottom.priority == "cold"
    assert bottom.next_action == "stop"


@pytest.mark.parametrize(
    "facts, value, priority",
    [
        # partner 17 + phone consent 19 + interest 12 + company 7 + phone 3 + email 2
        (LeadFacts("partner", True, True, True, False, None, True, False, "x"), 60, "hot"),
        # partner 17 + phone consent 19 + interest 12 + company 7 + full name 4
        (LeadFacts("partner", False, False, True, True, None, True, False, "x"), 59, "warm"),
        # partner 17 + company 7 + business domain 6
        (LeadFacts("partner", False, False, True, False, "firma.de", False, False, None), 30, "warm"),
        # partner 17 + interest 12
        (LeadFacts("partner", False, False, False, False, None, False, False, "x"), 29, "cold"),
    ],
)
def test_priority_thresholds_at_their_boundaries(rules, facts, value, priority):
    score = compute(facts, rules)
    assert (score.value, score.priority) == (value, priority)
    assert priority in score.tags


def test_priority_for_boundaries(rules):
    assert [scoring.priority_for(v, rules) for v in (0, 29, 30, 59, 60, 100)] == [
        "cold",
        "cold",
        "warm",
        "warm",
        "hot",
        "hot",
    ]


def test_next_action_and_tags(rules):
    # partner 17 + phone consent 19 + phone 3 + business domain 6 = 45: not above the gate (45)
    at_gate = LeadFacts("partner", True, False, False, False, "firma.de", True, False, None)
    assert compute(at_gate, rules).value == 45 and compute(at_gate, rules).next_action == "nurture"
    above = _with(at_gate, has_email=True)  # 47
    assert compute(above, rules).next_action == "call"
    assert compute(_with(above, phone_consent=False), rules).next_action == "nurture"
    assert compute(_with(above, has_phone=False), rules).next_action == "review"
    assert compute(_with(above, has_phone=False, email_consent=True), rules).next_action == "nurture"
    tags = compute(_with(above, email_consent=True, engagement=_eng(opens=1)), rules).tags
    assert set(tags) == {"warm", "b2b", "consent:phone", "consent:email", "engaged"}  # 47 + 8 + 2 = 57
    free = compute(_with(NOTHING, email_domain="gmail.com", interest_text="Solar"), rules).tags
    assert set(free) == {"cold", "freemail", "interest"}


def test_custom_rules_file_via_env_var_changes_scores_without_code(tmp_path, rules):
    other = tmp_path / "other.yaml"
    other.write_text(RULES.replace('"test-7"', '"test-8"').replace("website: 11", "website: 40"), encoding="utf-8")
    facts = _with(NOTHING, source="website")
    default = load_rules()
    assert default.version == "v1"  # the shipped file loads and validates
    app = Flask(__name__)  # only its Settings matter here
    app.config["LEADCHAIN"] = Settings.from_env({scoring.RULES_ENV: str(other)})
    with app.app_context():
        custom = load_rules()
        assert custom.version == "test-8"
        assert compute(facts, custom).value == 40 and compute(facts, rules).value == 11
        # An edited file is picked up on the next load.
        other.write_text(RULES.replace('"test-7"', '"test-9"').replace("website: 11", "website: 3"), encoding="utf-8")
        assert load_rules().version == "test-9" and compute(facts, load_rules()).value == 3


def _mutate(text: str, old: str, new: str) -> str:
    assert old in text
    return text.replace(old, new, 1)


@pytest.mark.parametrize(
    "old, new, key",
    [
        ('version: "test-7"\n', "", "version"),
        ('version: "test-7"', "version: 1.0", "version"),
        ("hot: 60", 'hot: "high"', "thresholds.hot"),
        ("warm: 30", "warm: 60", "thresholds.warm"),
        ("thresholds: {hot: 60, warm: 30}", "thresholds: {hot: 60, warm: 30, cold: 0}", "thresholds.cold"),
        ("gate_threshold: 45", "gate_threshold: 150", "gate_threshold"),
        ("website: 11", "website: 1.5", "source.points.website"),
        ("phone: 3,", "phnoe: 3,", "completeness.phnoe"),
        ("gate_threshold: 45", "gate_threshold: 45\nsauce: {}", "sauce"),
        ("freemail_domains: [gmail.com, gmx.de]", "freemail_domains: gmail.com", "email_domain.freemail_domains"),
        ("keywords: [rückruf, pricing, termin]", "keywords: [rückruf, 5]", "interest.keywords[1]"),
        (
            "email_open: {points: 2, max_points: 5}",
            "email_open: {points: 2, max_points: -1}",
            "engagement.email_open.max_points",
        ),
        ("booked: 50", "booked: true", "engagement.call_outcomes.booked"),
        ("do_not_call: -100", "do_not_call: -1000", "engagement.call_outcomes.do_not_call"),
        ("consent: {phone_express: 19, email: 8}", "consent: [19, 8]", "consent"),
    ],
)
def test_malformed_rules_name_the_bad_key(tmp_path, old, new, key):
    path = tmp_path / "bad.yaml"
    path.write_text(_mutate(RULES, old, new), encoding="utf-8")
    with pytest.raises(ScoringConfigError) as err:
        load_rules(path)
    assert err.value.key == key
    assert str(err.value).startswith(f"{key}:")


def test_unreadable_or_unparsable_rules_files(tmp_path):
    with pytest.raises(ScoringConfigError, match="cannot be read"):
        load_rules(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("version: [unclosed\n", encoding="utf-8")
    with pytest.raises(ScoringConfigError, match="not valid YAML"):
        load_rules(broken)
    broken.write_text("- a list\n", encoding="utf-8")
    with pytest.raises(ScoringConfigError, match="mapping"):
        load_rules(broken)


# ---------------------------------------------------------------- on the database (SQLite and PostgreSQL)

T0 = datetime(2026, 6, 1, 9, tzinfo=UTC)


def _consent(lead_id: int, channel: Channel, basis: LegalBasis, key: str, withdrawn: bool = False):
    return ConsentRecord(
        lead_id=lead_id,
        channel=channel,
        legal_basis=basis,
        source="website",
        proof_text="form",
        proof_key=key,
        given_at=T0,
        withdrawn_at=T0 if withdrawn else None,
    )


def _scored_lead() -> Lead:
    lead = Lead(
        first_name="Anna",
        last_name="Schmidt",
        company="Schmidt Bau GmbH",
        email="anna@schmidt-bau.de",
        email_key="anna@schmidt-bau.de",
        phone_e164="+493023125101",
        phone_region="DE",
        phone_status="valid",
        source="website",
        tags=["vip", "cold"],
    )
    db.session.add(lead)
    db.session.flush()
    db.session.add_all(
        [
            _consent(lead.id, Channel.PHONE, LegalBasis.EXPRESS_CONSENT, "p1"),
            _consent(lead.id, Channel.EMAIL, LegalBasis.EXPRESS_CONSENT, "e1", withdrawn=True),
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.NOTE,
                direction=Direction.INBOUND,
                provider="intake",
                provider_ref="n1",
                summary="Bitte um Rückruf wegen Pricing",
            ),
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.EMAIL,
                direction=Direction.OUTBOUND,
                provider="sendgrid",
                provider_ref="m1",
                status="opened",
            ),
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.EMAIL,
                direction=Direction.OUTBOUND,
                provider="sendgrid",
                provider_ref="m2",
                status="clicked",
                data={"opens": 3, "clicks": 1},
            ),
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.EMAIL,
                direction=Direction.OUTBOUND,
                provider="sendgrid",
                provider_ref="m3",
                status="delivered",
            ),
        ]
    )
    db.session.commit()
    return lead


def _audits(lead_id: int) -> list[AuditEntry]:
    return db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "lead.scored", AuditEntry.entity_id == lead_id)
        .order_by(AuditEntry.id)
    ).all()


def test_facts_for_reads_the_crm(ctx):
    lead = _scored_lead()
    facts = scoring.facts_for(lead.id)
    assert facts == LeadFacts(
        source="website",
        has_phone=True,
        has_email=True,
        has_company=True,
        has_full_name=True,
        email_domain="schmidt-bau.de",
        phone_consent=True,
        email_consent=False,  # withdrawn: does not count
        interest_text=None,
        engagement=Engagement(opens=4, clicks=1, call_outcomes=()),
        note_text="Bitte um Rückruf wegen Pricing",
    )


def test_presumed_b2b_or_withdrawn_phone_consent_is_not_express(ctx):
    lead = Lead(source="messe", phone_e164="+493023125101", phone_status="valid", tags=[])
    db.session.add(lead)
    db.session.flush()
    db.session.add_all(
        [
            _consent(lead.id, Channel.PHONE, LegalBasis.PRESUMED_B2B, "b"),
            _consent(lead.id, Channel.PHONE, LegalBasis.EXPRESS_CONSENT, "x", withdrawn=True),
        ]
    )
    db.session.flush()
    assert scoring.facts_for(lead.id).phone_consent is False
    db.session.add(_consent(lead.id, Channel.PHONE, LegalBasis.CALLBACK_REQUEST, "cb"))
    db.session.flush()
    assert scoring.facts_for(lead.id).phone_consent is True


def test_score_lead_stores_history_updates_the_lead_and_audits(ctx, rules):
    lead = _scored_lead()
    score = scoring.score_lead(lead.id, actor="workflow:lead-1", reason="intake", rules=rules)
    db.session.commit()
    # website 11 + phone 3 + email 2 + company 7 + full name 4 + business domain 6 + phone consent 19
    # + note with keywords 12 + opens 4×2 capped at 5 + clicks 1×4
    expected = 11 + 3 + 2 + 7 + 4 + 6 + 19 + 12 + 5 + 4
    assert score.value == expected == 73 and score.priority == "hot" and score.next_action == "call"

    db.session.expire_all()
    history = db.session.scalars(sa.select(ScoreHistory).where(ScoreHistory.lead_id == lead.id)).one()
    assert (history.score, history.priority, history.model_version, history.reason) == (73, "hot", "test-7", "intake")
    assert history.breakdown["source"] == 11 and history.breakdown["phone_consent"] == 19
    assert history.breakdown["email_opens"] == 5 and history.breakdown["stated_interest"] == 12
    assert "email_consent" not in history.breakdown
    assert history.breakdown["details"]["business_domain"] == "schmidt-bau.de"
    assert history.breakdown["raw_total"] == 73
    assert sum(v for k, v in history.breakdown.items() if k not in ("details", "raw_total")) == 73

    lead = db.session.get(Lead, lead.id)
    assert lead.score == 73 and lead.priority == Priority.HOT
    assert lead.tags == ["vip", "hot", "b2b", "consent:phone", "interest", "engaged"]  # stale "cold" gone
    (entry,) = _audits(lead.id)
    assert entry.actor == "workflow:lead-1"
    assert entry.before == {"score": None, "priority": None, "tags": ["vip", "cold"]}
    assert entry.after["score"] == 73 and entry.after["priority"] == "hot" and entry.after["model_version"] == "test-7"

    # Same facts again: a second history row, no audit entry (nothing changed on the lead).
    scoring.score_lead(lead.id, actor="workflow:lead-1", reason="rescore", rules=rules)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ScoreHistory)) == 2
    assert len(_audits(lead.id)) == 1

    # A not-interested call: 73 - 25 = 48, warm.
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.CALL,
            direction=Direction.OUTBOUND,
            provider="retell",
            provider_ref="c1",
            status="ended",
            outcome="not_interested",
        )
    )
    db.session.commit()
    score = scoring.score_lead(lead.id, actor="workflow:lead-1", reason="after-call", rules=rules)
    db.session.commit()
    assert (score.value, score.priority) == (48, "warm")
    db.session.expire_all()
    lead = db.session.get(Lead, lead.id)
    assert lead.priority == Priority.WARM and "warm" in lead.tags and "hot" not in lead.tags and "vip" in lead.tags
    last = _audits(lead.id)[-1]
    assert (last.before["score"], last.before["priority"]) == (73, "hot")
    assert (last.after["score"], last.after["priority"], last.after["reason"]) == (48, "warm", "after-call")


def test_score_lead_uses_the_env_rules_and_does_not_commit(ctx, app, rules_file):
    lead = _scored_lead()
    set_settings(app, "chain", scoring_rules=str(rules_file))
    assert scoring.score_lead(lead.id, actor="t", reason="intake").model_version == "test-7"
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ScoreHistory)) == 0
    assert db.session.get(Lead, lead.id).score is None


def test_score_lead_refuses_missing_and_merged_leads(ctx, rules):
    a = Lead(source="api", email="a@x.de", email_key="a@x.de", tags=[])
    db.session.add(a)
    db.session.flush()
    b = Lead(source="api", email="b@x.de", email_key="b@x.de", tags=[], merged_into_id=a.id)
    db.session.add(b)
    db.session.flush()
    with pytest.raises(LookupError):
        scoring.score_lead(999_999, actor="t", reason="intake", rules=rules)
    with pytest.raises(ValueError, match="merged"):
        scoring.score_lead(b.id, actor="t", reason="intake", rules=rules)
    with pytest.raises(ValueError):
        scoring.score_lead(a.id, actor="t", reason="x" * 65, rules=rules)
