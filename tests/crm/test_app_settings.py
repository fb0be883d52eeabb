"""Admin settings in the CRM database (crm.services.app_settings): validated by the parsers the defaults go
through, stored overrides win, reset deletes, every change audited; and the chain's readers use them:
scoring (rules, cached per change), the call gate (calling hours, threshold, waive_score). SQLite and
PostgreSQL through the `ctx` fixture."""

from __future__ import annotations

import dataclasses
from datetime import datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from activities.crm_activities import CrmActivities
from crm.extensions import db
from crm.models import AppSetting, AuditEntry, Channel, ConsentRecord, Lead, LegalBasis, ScoreHistory
from crm.services import app_settings, deal_stages, scoring
from crm.services.app_settings import SettingError
from crm.services.compliance import CallingWindow, GatePolicy, check_call_gate
from workflows.payloads import GateInput

SHIPPED = (Path(__file__).resolve().parents[2] / "crm" / "scoring_rules.yaml").read_text(encoding="utf-8")
ADMIN = "user:1"
# A Tuesday, 10:00 in Berlin: inside the default DE window (mon-fri 09:00-20:00).
TUESDAY_10 = datetime(2026, 6, 9, 10, 0, tzinfo=ZoneInfo("Europe/Berlin"))


def _rules(version: str, **replace: str) -> str:
    text = SHIPPED.replace('version: "v1"', f'version: "{version}"')
    for old, new in replace.items():
        assert old in text
        text = text.replace(old, new)
    return text


def _lead(score: int | None = 60, consent: bool = True, **kw) -> Lead:
    lead = Lead(
        first_name="Anna",
        last_name="Schmidt",
        phone_e164="+493023125101",
        phone_region="DE",
        phone_timezone="Europe/Berlin",
        phone_status="valid",
        source="partner",
        score=score,
        tags=[],
        **kw,
    )
    db.session.add(lead)
    db.session.flush()
    if consent:
        db.session.add(
            ConsentRecord(
                lead_id=lead.id,
                channel=Channel.PHONE,
                legal_basis=LegalBasis.EXPRESS_CONSENT,
                source="website",
                proof_text="form",
                proof_key=f"k{lead.id}",
                given_at=TUESDAY_10 - timedelta(days=3),
            )
        )
        db.session.flush()
    return lead


def _audits() -> list[AuditEntry]:
    return db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.entity_type == "app_setting").order_by(AuditEntry.id)
    ).all()


# ---------------------------------------------------------------- validation, override, reset, audit


@pytest.mark.parametrize(
    "text, key",
    [
        ("", "empty"),
        ("version: [unclosed", "not valid YAML"),
        ("- a list\n", "YAML mapping"),
        (_rules("v2", **{"thresholds: {hot: 70, warm: 40}": "thresholds: {hot: 70, warm: 90}"}), "thresholds.warm"),
        (_rules("v2", **{"partner: 20": "partner: 200"}), "source.points.partner"),
        (_rules("v2") + "\nsurprise: 1\n", "surprise"),
        ("x" * (app_settings.MAX_RULES_CHARS + 1), "characters"),
        ("2026-02-30", "cannot be read"),  # YAML builds a date and raises ValueError: was a 500
        ("[" * 5000, "cannot be read"),  # nesting past the recursion limit: was a 500 too
    ],
)
def test_scoring_rules_are_validated_by_the_rules_loader(ctx, text, key):
    with pytest.raises(SettingError) as caught:
        app_settings.set_scoring_rules(text, ADMIN)
    assert caught.value.key == "scoring.rules" and key in caught.value.detail
    assert db.session.scalars(sa.select(AppSetting)).all() == [] and _audits() == []


def test_rules_from_text_and_load_rules_agree(tmp_path):
    path = tmp_path / "rules.yaml"
    path.write_text(_rules("v7"), encoding="utf-8")
    assert scoring.rules_from_text(_rules("v7")) == dataclasses.replace(scoring.load_rules(path), path=None)


@pytest.mark.parametrize("value", [-1, 101, "abc", "", True, 12.5, None, "²", "①", "١٠", "9" * 40])
def test_gate_threshold_is_0_to_100(ctx, value):
    with pytest.raises(SettingError):
        app_settings.set_gate_threshold(value, ADMIN)
    assert app_settings.gate_threshold(default=50) == 50


@pytest.mark.parametrize(
    "value, named",
    [
        ({"DE": {"start": "20:00", "end": "09:00"}}, "DE"),
        ({"AT": {"start": "9", "end": "17:00"}}, "AT"),
        ({"AT": {"days": "weekdays", "start": "09:00", "end": "17:00"}}, "AT.days"),
        ({"Germany": {"start": "09:00", "end": "17:00"}}, "Germany"),
        ({"AT": {"start": "09:00", "end": "17:00", "tz": "Europe/Vienna"}}, "AT"),
        ("{not json", "JSON"),
        ('["DE"]', "object"),
    ],
)
def test_calling_hours_are_validated_by_the_gate_policy_parser(ctx, value, named):
    with pytest.raises(SettingError) as caught:
        app_settings.set_calling_hours(value, ADMIN)
    assert caught.value.key == "calling_hours" and named in caught.value.detail
    assert app_settings.calling_hours() is None


def test_overrides_win_reset_restores_the_default_and_everything_is_audited(ctx):
    assert app_settings.scoring_rules().version == "v1" and app_settings.gate_threshold(default=50) == 50
    app_settings.set_scoring_rules(_rules("v2"), ADMIN)
    app_settings.set_gate_threshold("70", ADMIN)
    app_settings.set_calling_hours('{"at": {"days": "mon,tue", "start": "10:00", "end": "12:30"}}', ADMIN)
    deal_stages.set_stale_days(21, actor=ADMIN)
    assert deal_stages.stale_days() == 21
    assert app_settings.scoring_rules().version == "v2"
    assert app_settings.gate_threshold(default=50) == 70
    assert app_settings.calling_hours() == {"AT": {"days": [0, 1], "start": "10:00", "end": "12:30"}}
    policy = app_settings.gate_policy(GatePolicy(max_attempts_per_day=7))
    assert policy.windows["AT"].describe() == "Mon,Tue 10:00-12:30" and "DE" in policy.windows
    assert policy.max_attempts_per_day == 7  # only the calling hours are replaced

    app_settings.set_gate_threshold(40, "user:2")
    update = _audits()[-1]
    assert (update.actor, update.action, update.before, update.after) == (
        "user:2",
        "setting.update",
        {"key": "gate.threshold", "value": 70},
        {"key": "gate.threshold", "value": 40},
    )

    for key in app_settings.KEYS:
        assert app_settings.reset(key, ADMIN) is True
        assert app_settings.reset(key, ADMIN) is False  # nothing left to reset: no audit entry
    assert db.session.scalars(sa.select(AppSetting)).all() == []
    assert app_settings.scoring_rules().version == "v1" and app_settings.gate_threshold(default=50) == 50
    assert app_settings.gate_policy(None).windows.keys() == {"DE", "US"}
    actions = [(e.action, (e.after or {}).get("key") or e.before["key"]) for e in _audits()]
    assert actions == [
        ("setting.update", "scoring.rules"),
        ("setting.update", "gate.threshold"),
        ("setting.update", "calling_hours"),
        ("setting.update", "deals.stale_days"),
        ("setting.update", "gate.threshold"),
        ("setting.reset", "scoring.rules"),
        ("setting.reset", "gate.threshold"),
        ("setting.reset", "calling_hours"),
        ("setting.reset", "deals.stale_days"),
    ]
    assert deal_stages.stale_days() == 14  # the default again
    reset_hours = next(e for e in _audits() if e.action == "setting.reset" and e.before["key"] == "calling_hours")
    assert reset_hours.before["value"]["AT"]["end"] == "12:30"


# ---------------------------------------------------------------- the readers: scoring


def test_score_uses_the_stored_rules_and_records_their_version(ctx, monkeypatch):
    lead = _lead(score=None)
    assert scoring.score_lead(lead.id, actor="test", reason="intake").model_version == "v1"
    app_settings.set_scoring_rules(_rules("v2-admin", **{"partner: 20": "partner: 60"}), ADMIN)
    score = scoring.score_lead(lead.id, actor="test", reason="rescore")
    assert score.model_version == "v2-admin"
    assert dict((f.name, f.points) for f in score.factors)["source"] == 60
    history = db.session.scalars(
        sa.select(ScoreHistory.model_version).where(ScoreHistory.lead_id == lead.id).order_by(ScoreHistory.id)
    ).all()
    assert history == ["v1", "v2-admin"]

    # Parsed once per change: the next scores reuse it; a new version is parsed again.
    calls = []
    real = scoring.rules_from_text
    counting = lambda text: calls.append(1) or real(text)  # noqa: E731
    # Validation parses in app_settings, the scores' stored ruleset in scoring: count both.
    monkeypatch.setattr(app_settings, "rules_from_text", counting)
    monkeypatch.setattr(scoring, "rules_from_text", counting)
    for _ in range(3):
        scoring.score_lead(lead.id, actor="test", reason="rescore")
    assert calls == []
    app_settings.set_scoring_rules(_rules("v3"), ADMIN)
    assert scoring.score_lead(lead.id, actor="test", reason="rescore").model_version == "v3"
    scoring.score_lead(lead.id, actor="test", reason="rescore")
    assert calls == [1]


def test_stored_threshold_also_sets_the_scores_recommended_action(ctx):
    lead = _lead(score=None, company="Krause GmbH", email="a@krause.de", email_key="a@krause.de")
    score = scoring.score_lead(lead.id, actor="test", reason="intake")
    assert score.next_action == "call"
    app_settings.set_gate_threshold(score.value, ADMIN)  # not above the threshold any more
    assert scoring.score_lead(lead.id, actor="test", reason="rescore").next_action == "nurture"


# ---------------------------------------------------------------- the readers: the call gate


def test_gate_uses_the_stored_calling_hours(ctx):
    lead = _lead()
    assert check_call_gate(lead.id, now_utc=TUESDAY_10, threshold=50).allowed
    app_settings.set_calling_hours({"DE": {"days": "mon-fri", "start": "14:00", "end": "18:00"}}, ADMIN)
    decision = check_call_gate(lead.id, now_utc=TUESDAY_10, threshold=50)
    assert decision.reason == "outside_hours" and "14:00-18:00" in decision.detail
    assert decision.next_window_start == TUESDAY_10.replace(hour=14)
    # It also replaces a configured policy's windows (the app's LEADCHAIN_GATE_POLICY).
    always = GatePolicy(windows={}, default_window=GatePolicy().window_for("DE"))
    assert check_call_gate(lead.id, now_utc=TUESDAY_10, threshold=50, policy=always).reason == "outside_hours"
    app_settings.reset("calling_hours", ADMIN)
    assert check_call_gate(lead.id, now_utc=TUESDAY_10, threshold=50).allowed


@pytest.fixture
def activities(app):
    # The activity decides at the later of the input's time and the wall clock: hours around the clock.
    always = CallingWindow(tuple(range(7)), time(0), time(23, 59, 59, 999999))
    app.extensions["leadchain.gate_policy"] = GatePolicy(
        windows={"DE": always}, default_window=always, max_attempts_per_day=100, german_public_holidays=False
    )
    return CrmActivities(app)


def _gate(app, activities, lead_id: int, threshold: int = 50, waive_score: bool = False):
    return activities.check_call_gate(GateInput(lead_id, threshold, TUESDAY_10, waive_score=waive_score))


def test_gate_activity_threshold_waived_else_stored_else_the_chains(app, activities):
    with app.app_context():
        lead_id = _lead(score=60).id
        db.session.commit()
    assert _gate(app, activities, lead_id, threshold=50).allowed  # the chain's threshold
    assert _gate(app, activities, lead_id, threshold=60).reason == "score_below_threshold"
    with app.app_context():
        app_settings.set_gate_threshold(75, ADMIN)
        db.session.commit()
    assert _gate(app, activities, lead_id, threshold=50).reason == "score_below_threshold"  # stored wins
    assert _gate(app, activities, lead_id, threshold=50, waive_score=True).allowed  # "call now"
    with app.app_context():
        app_settings.set_gate_threshold(10, ADMIN)
        db.session.commit()
    assert _gate(app, activities, lead_id, threshold=90).allowed
    with app.app_context():
        app_settings.reset("gate.threshold", ADMIN)
        db.session.commit()
    assert _gate(app, activities, lead_id, threshold=90).reason == "score_below_threshold"


def test_waive_score_keeps_the_rest_of_the_gate(app, activities):
    with app.app_context():
        lead_id = _lead(score=5, consent=False).id
        db.session.commit()
    assert _gate(app, activities, lead_id, waive_score=True).reason == "no_consent"


def test_old_gate_inputs_still_decode():
    from temporalio.contrib.pydantic import pydantic_data_converter

    payload = pydantic_data_converter.payload_converter.to_payloads([{"lead_id": 3, "threshold": 0, "now": None}])
    [decoded] = pydantic_data_converter.payload_converter.from_payloads(payload, [GateInput])
    assert decoded == GateInput(3, 0, None) and decoded.waive_score is False
