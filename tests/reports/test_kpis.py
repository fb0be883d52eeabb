"""Every KPI on the reference dataset (tests/reports/seed.py), on SQLite and PostgreSQL.

The expected numbers are worked out by hand from the seed, call by call (the comments name the
calls C1..C9 as in seed.py); nothing here calls the KPI code to get an expectation.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm import create_app
from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Lead
from crm.reports.kpis import Bucket, KpiReport, compute
from crm.reports.periods import period_for
from tests.conftest import _wipe, make_test_secrets
from tests.reports.seed import seed_reference

DAY = date(2026, 1, 15)
_cache: dict[str, tuple] = {}


@pytest.fixture
def ref(backend, migrated_urls):
    """(seeded ids, KpiReport of 2026-01-15): seeded and computed once per backend."""
    if backend not in _cache:
        app = create_app(
            {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[backend]}, secrets=make_test_secrets()
        )
        _wipe(app)
        with app.app_context():
            seeded = seed_reference()
            report = compute(period_for("daily", DAY), now=datetime(2026, 1, 15, 17, tzinfo=UTC))
            db.session.remove()
        _wipe(app)
        _cache[backend] = (seeded, report)
    return _cache[backend]


def by_key(buckets: list[Bucket]) -> dict:
    return {b.key: (b.count, b.previous) for b in buckets}


def test_leads(ref):
    _, r = ref
    cur, prev = r.current.leads, r.previous.leads
    # Lara, Kai, Jana (23:59:59 Berlin) in; Olaf (00:00 next day) and the merged duplicate out.
    assert (cur.leads_in, cur.qualified) == (3, 2)  # scores 80, 50, 65: 50 is not above 50
    assert cur.qualified_share == pytest.approx(2 / 3)
    assert (prev.leads_in, prev.qualified, prev.qualified_share) == (2, 1, 0.5)  # Emil 90, Frida 20
    assert by_key(cur.by_source) == {"website": (2, 1), "partner": (1, 0), "csv": (0, 1)}
    assert by_key(cur.by_campaign) == {"Winter": (1, 1), "Newsletter": (1, 0), "Spring": (1, 0), None: (0, 1)}
    scores = by_key(cur.score_buckets)
    assert (scores["50–59"], scores["60–69"], scores["80–89"]) == ((1, 0), (1, 0), (1, 0))
    assert (scores["20–29"], scores["90–100"], scores["unscored"]) == ((0, 1), (0, 1), (0, 0))
    assert sum(c for c, _ in scores.values()) == 3
    assert by_key(cur.priorities) == {"hot": (1, 1), "warm": (2, 0), "cold": (0, 1), "unscored": (0, 0)}
    assert {b.key: b.count for b in cur.chain_stages} == {"booked": 1, "nurturing": 1, "following_up": 1}


def test_calls(ref):
    _, r = ref
    c = r.current.calls
    # C1..C7 and the still-queued C9 (no started_at, created 11:00 UTC); C8 at 23:00:00 UTC is the next day.
    assert c.placed == 8
    assert c.answered == 4  # C1, C3, C5 flagged; C6 by its outcome
    assert c.answer_rate == 0.5
    assert (c.voicemail, c.voicemail_rate) == (1, 0.125)  # C2
    assert (c.no_answer, c.no_answer_rate) == (1, 0.125)  # C4
    assert (c.busy, c.failed) == (1, 0)  # C7
    assert c.talk_time_avg_s == pytest.approx((300 + 180 + 45 + 60) / 4)  # 146.25
    assert c.talk_time_median_s == 120  # (60 + 180) / 2
    assert by_key(c.sentiment) == {
        "positive": (1, None),
        "neutral": (1, None),
        "negative": (2, None),
        "unknown": (0, None),
    }
    assert {b.key: b.count for b in c.outcomes} == {
        "booked": 1,
        "voicemail": 1,
        "interested": 1,
        "no_answer": 1,
        "do_not_call": 1,
        "callback_requested": 1,
        "busy": 1,
        "pending": 1,
    }
    p = r.previous.calls
    assert (p.placed, p.answered, p.answer_rate) == (2, 2, 1.0)
    assert (p.talk_time_avg_s, p.talk_time_median_s) == (150, 150)


def test_booking_and_follow_up(ref):
    seeded, r = ref
    c = r.current.calls
    assert (c.wanted, c.booked) == (3, 1)  # C1 booked, C3 interested, C6 callback
    assert c.booking_conversion == pytest.approx(1 / 3)
    assert c.appointments == 1  # the cancelled one does not count
    # Kai (interested; his appointment was cancelled) and Emil (callback requested): not booked since.
    assert c.follow_ups == 2
    lists = {f.rep: [(x.lead_id, x.outcome) for x in f.leads] for f in r.follow_ups}
    assert lists == {
        "Anna Adler": [(seeded.leads["l2"], "interested")],
        "Ben Berg": [(seeded.leads["l5"], "callback_requested")],
    }
    assert r.previous.calls.follow_ups == 0  # the day before: booked and not interested only
    assert (r.previous.calls.booking_conversion, r.previous.calls.wanted) == (1.0, 1)


def test_critical_calls(ref):
    seeded, r = ref
    assert r.current.calls.critical == 2
    assert [(x.lead_id, x.outcome, x.sentiment, x.rep) for x in r.critical_calls] == [
        (seeded.leads["l5"], "callback_requested", "negative", "Ben Berg"),  # C6 17:00 Berlin, latest first
        (seeded.leads["l3"], "do_not_call", "negative", "Ben Berg"),
    ]  # C5 16:00
    assert r.critical_calls[1].summary == "Bitte nicht mehr anrufen."
    assert r.critical_calls[0].at == datetime(2026, 1, 15, 16, tzinfo=UTC)


def test_costs(ref):
    _, r = ref
    k = r.current.costs
    # USD: C1 120 + C2 30 + C3 90 + C4 10 + C5 40 = 290 over 5 priced calls; C6 has no cost; C7 5 EUR.
    assert (k.currency, k.total_cents) == ("USD", 290)
    assert k.per_call_cents == 58
    assert k.per_booked_cents == 290  # one booked call
    assert [(x.currency, x.total_cents, x.priced_calls) for x in k.by_currency] == [("USD", 290, 5), ("EUR", 5, 1)]
    p = r.previous.costs
    assert (p.total_cents, p.per_call_cents, p.per_booked_cents) == (150, 75, 150)


def test_emails(ref):
    _, r = ref
    e = r.current.emails
    assert (e.sent, e.delivered, e.opened, e.clicked, e.bounced, e.dropped) == (6, 3, 2, 1, 1, 1)
    assert e.unsubscribed == 1  # Kai twice: one lead
    assert (e.delivery_rate, e.bounce_rate) == (0.5, pytest.approx(1 / 6))
    assert (e.open_rate, e.click_rate, e.unsubscribe_rate) == (
        pytest.approx(2 / 3),
        pytest.approx(1 / 3),
        pytest.approx(1 / 3),
    )
    p = r.previous.emails
    assert (p.sent, p.delivered, p.opened, p.open_rate, p.unsubscribed) == (1, 1, 0, 0.0, 1)


def test_hour_weekday_and_trend(ref):
    _, r = ref
    calls = {h.hour: (h.calls, h.answered) for h in r.by_hour if h.calls}
    # Berlin hours: C1 00:00, C2 09:30, C3 10:45, C9 12:00, C4 13:00, C5 16:00, C6 17:00, C7 23:59:59.
    assert calls == {0: (1, 1), 9: (1, 0), 10: (1, 1), 12: (1, 0), 13: (1, 0), 16: (1, 1), 17: (1, 1), 23: (1, 0)}
    assert {h.hour: h.leads_in for h in r.by_hour if h.leads_in} == {9: 1, 10: 1, 23: 1}
    assert [(w.weekday, w.calls, w.answered, w.leads_in) for w in r.by_weekday if w.calls] == [(3, 8, 4, 3)]  # Thu
    assert len(r.trend) == 30 and r.trend[0].day == date(2025, 12, 17) and r.trend[-1].day == DAY
    busy_days = {
        t.day: (t.leads_in, t.calls, t.answered, t.booked, t.emails_sent)
        for t in r.trend
        if t.calls or t.leads_in or t.emails_sent
    }
    assert busy_days == {
        date(2025, 12, 27): (0, 1, 0, 0, 0),
        date(2026, 1, 14): (2, 2, 2, 1, 1),
        date(2026, 1, 15): (3, 8, 4, 1, 6),
    }


def test_per_rep_provider_campaign(ref):
    seeded, r = ref
    reps = {
        x.name: (x.leads_in, x.calls, x.answered, x.wanted, x.booked, x.follow_ups, x.appointments, x.cost_cents)
        for x in r.per_rep
    }
    # Anna: Lara + Kai; calls C1 C2 C9 (Lara) C3 C7 (Kai); USD 120 + 30 + 90 (C7 is EUR).
    # Ben: Jana; calls C4 C5 (Jana) C6 (Emil, unpriced); USD 10 + 40.
    assert reps == {"Anna Adler": (2, 5, 2, 2, 1, 1, 1, 240), "Ben Berg": (1, 3, 2, 1, 0, 1, 0, 50)}
    assert [x.booking_conversion for x in r.per_rep] == [0.5, 0.0]
    providers = {
        x.provider: (
            x.calls,
            x.answered,
            x.voicemail,
            x.wanted,
            x.booked,
            x.talk_time_avg_s,
            x.cost_cents,
            x.per_call_cents,
        )
        for x in r.per_provider
    }
    assert providers == {
        "retell": (4, 1, 1, 1, 1, 300, 150, 75),
        "vapi": (2, 1, 0, 1, 0, 180, 100, 50),
        "bland": (2, 2, 0, 1, 0, 52.5, 40, 40),
    }
    campaigns = {
        x.campaign: (x.leads_in, x.qualified, x.calls, x.answered, x.wanted, x.booked, x.cost_cents, x.per_booked_cents)
        for x in r.per_campaign
    }
    # Winter: Lara (C1 C2 C9) and Emil (C6); Newsletter: Kai (C3 C7); Spring: Jana (C4 C5).
    assert campaigns == {
        "Winter": (1, 1, 4, 2, 2, 1, 150, 150),
        "Newsletter": (1, 0, 2, 1, 1, 0, 90, None),
        "Spring": (1, 1, 2, 1, 0, 0, 50, None),
    }
    assert next(x for x in r.per_campaign if x.campaign == "Spring").booking_conversion is None  # 0 / 0


def test_headlines_and_changes(ref):
    _, r = ref
    h = {x.key: x for x in r.headlines}
    assert (h["leads_in"].current, h["leads_in"].previous, h["leads_in"].change) == (3, 2, 0.5)
    assert h["calls_placed"].change == 3.0  # 8 vs 2
    assert h["answer_rate"].delta == -0.5 and h["answer_rate"].change is None  # rates: points
    assert h["follow_ups"].change is None  # against 0
    assert h["cost_per_call"].change == pytest.approx((58 - 75) / 75)
    assert h["open_rate"].delta == pytest.approx(2 / 3)


def test_figures_round_trip_as_json(ref):
    _, r = ref
    import json

    assert KpiReport.from_dict(json.loads(r.to_json())) == r


def test_no_calls_no_division_by_zero(ctx):
    db.session.add(Lead(first_name="Solo", source="website", created_at=datetime(2026, 2, 10, 9, tzinfo=UTC)))
    db.session.commit()
    r = compute(period_for("daily", date(2026, 2, 10)))
    c, e, k = r.current.calls, r.current.emails, r.current.costs
    assert (r.current.leads.leads_in, c.placed, c.answered) == (1, 0, 0)
    assert (c.answer_rate, c.voicemail_rate, c.no_answer_rate, c.booking_conversion) == (None, None, None, None)
    assert (c.talk_time_avg_s, c.talk_time_median_s) == (None, None)
    assert (k.currency, k.total_cents, k.per_call_cents, k.per_booked_cents) == (None, None, None, None)
    assert (e.sent, e.delivery_rate, e.open_rate, e.click_rate, e.bounce_rate, e.unsubscribe_rate) == (
        0,
        None,
        None,
        None,
        None,
        None,
    )
    assert r.previous.leads.qualified_share is None  # no leads the day before
    assert all(h.answer_rate is None for h in r.by_hour)
    assert r.per_provider == [] and r.critical_calls == [] and r.follow_ups == []
    assert {x.key: x.change for x in r.headlines}["leads_in"] is None  # 1 against 0
    assert r.has_data
    assert not compute(period_for("weekly", date(2026, 6, 3))).has_data


def _calls(*moments: datetime) -> None:
    lead = Lead(first_name="Zeit", source="test", created_at=datetime(2025, 1, 1, tzinfo=UTC))
    db.session.add(lead)
    db.session.flush()
    for i, at in enumerate(moments):
        db.session.add(
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref=f"tz-{i}",
                status="ended",
                started_at=at,
                created_at=at,
                outcome="no_answer",
                data={"answered": False},
            )
        )
    db.session.commit()


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_midnight_berlin_in_winter(ctx):
    _calls(utc(2026, 1, 15, 22, 59, 59), utc(2026, 1, 15, 23, 0, 0))
    today, tomorrow = compute(period_for("daily", date(2026, 1, 15))), compute(period_for("daily", date(2026, 1, 16)))
    assert today.current.calls.placed == 1 and tomorrow.current.calls.placed == 1
    assert [h.hour for h in today.by_hour if h.calls] == [23] and [h.hour for h in tomorrow.by_hour if h.calls] == [0]
    assert tomorrow.previous.calls.placed == 1
    assert (today.trend[-1].calls, tomorrow.trend[-2].calls, tomorrow.trend[-1].calls) == (1, 1, 1)


def test_spring_forward_day_has_23_hours(ctx):
    _calls(
        utc(2026, 3, 28, 22, 59, 59),  # Sat 23:59:59 CET: the day before
        utc(2026, 3, 28, 23, 0, 0),  # Sun 00:00 CET
        utc(2026, 3, 29, 0, 59, 59),  # 01:59:59 CET
        utc(2026, 3, 29, 1, 0, 0),  # 03:00 CEST (02:00 does not exist)
        utc(2026, 3, 29, 21, 59, 59),  # 23:59:59 CEST
        utc(2026, 3, 29, 22, 0, 0),
    )  # Mon 00:00 CEST: the day after
    r = compute(period_for("daily", date(2026, 3, 29)))
    assert r.period.hours == 23
    assert (r.current.calls.placed, r.previous.calls.placed) == (4, 1)
    assert {h.hour: h.calls for h in r.by_hour if h.calls} == {0: 1, 1: 1, 3: 1, 23: 1}
    assert compute(period_for("daily", date(2026, 3, 30))).current.calls.placed == 1


def test_fall_back_day_has_25_hours(ctx):
    _calls(
        utc(2026, 10, 24, 21, 59, 59),  # Sat 23:59:59 CEST: the day before
        utc(2026, 10, 24, 22, 0, 0),  # Sun 00:00 CEST
        utc(2026, 10, 25, 0, 30),  # 02:30 CEST
        utc(2026, 10, 25, 1, 30),  # 02:30 CET (the hour repeats)
        utc(2026, 10, 25, 22, 59, 59),  # 23:59:59 CET
        utc(2026, 10, 25, 23, 0, 0),
    )  # Mon 00:00 CET: the day after
    r = compute(period_for("daily", date(2026, 10, 25)))
    assert r.period.hours == 25
    assert (r.current.calls.placed, r.previous.calls.placed) == (4, 1)
    assert {h.hour: h.calls for h in r.by_hour if h.calls} == {0: 1, 2: 2, 23: 1}
    assert [(t.day, t.calls) for t in r.trend if t.calls] == [(date(2026, 10, 24), 1), (date(2026, 10, 25), 4)]


def test_qualified_follows_the_threshold_an_admin_stored(backend, migrated_urls):
    from crm.services import app_settings

    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls[backend]}, secrets=make_test_secrets())
    _wipe(app)
    try:
        with app.app_context():
            seed_reference()
            at = datetime(2026, 1, 15, 17, tzinfo=UTC)
            # Scores that day: 80, 50, 65. Above 50: two; above a stored 70: one; above 40: all three.
            assert compute(period_for("daily", DAY), now=at).current.leads.qualified == 2
            app_settings.set_gate_threshold(70, actor="user:1")
            db.session.commit()
            assert compute(period_for("daily", DAY), now=at).current.leads.qualified == 1
            assert compute(period_for("daily", DAY), now=at, gate_threshold=40).current.leads.qualified == 3
            db.session.remove()
    finally:
        _wipe(app)
