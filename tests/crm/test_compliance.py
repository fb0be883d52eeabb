"""The call gate: calling hours in the callee's zone (DST, weekends, German holidays), consent, DNC, caps."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

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
)
from crm.services import compliance
from crm.services.compliance import (
    CallingWindow,
    GateConfigError,
    GatePolicy,
    check_call_gate,
    decide,
    is_within_window,
    next_window_start,
)

UTC = UTC
PHONE = "+493023125101"
EXPRESS = [("phone", "express_consent")]


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def local(tz: str, *args) -> datetime:
    return datetime(*args, tzinfo=ZoneInfo(tz)).astimezone(UTC)


def gate(now: datetime, **kw) -> compliance.GateDecision:
    args = dict(
        now_utc=now,
        phone_e164=PHONE,
        phone_status="valid",
        phone_region="DE",
        phone_timezone="Europe/Berlin",
        do_not_contact=False,
        consents=EXPRESS,
        attempts_today=0,
        score=80,
        threshold=50,
        policy=GatePolicy(),
    )
    args.update(kw)
    return decide(**args)


# ---------------------------------------------------------------- examples


def test_berlin_friday_1959_allowed_2000_refused_until_monday_0900():
    assert gate(local("Europe/Berlin", 2026, 6, 12, 19, 59)).allowed  # Friday, CEST
    refused = gate(local("Europe/Berlin", 2026, 6, 12, 20, 0))
    assert (refused.allowed, refused.reason) == (False, "outside_hours")
    assert refused.next_window_start == utc(2026, 6, 15, 7, 0)  # Monday 09:00 CEST
    assert gate(local("Europe/Berlin", 2026, 6, 15, 8, 59)).reason == "outside_hours"
    assert gate(utc(2026, 6, 15, 7, 0)).allowed


@pytest.mark.parametrize(
    "friday_evening, monday_0900_utc",
    [
        (local("Europe/Berlin", 2026, 3, 27, 20, 0), utc(2026, 3, 30, 7, 0)),  # spring forward on Sunday 29th
        (local("Europe/Berlin", 2026, 10, 23, 20, 0), utc(2026, 10, 26, 8, 0)),  # fall back on Sunday 25th
    ],
)
def test_dst_weekends(friday_evening, monday_0900_utc):
    decision = gate(friday_evening)
    assert decision.reason == "outside_hours" and decision.next_window_start == monday_0900_utc
    # On the Sunday of the change itself nobody is called, at any hour.
    sunday = friday_evening + timedelta(days=2)
    for hour in range(0, 24):
        assert not gate(sunday.replace(hour=hour, minute=30)).allowed


def test_us_dst_weekend():
    decision = gate(local("America/New_York", 2026, 3, 6, 21, 0), phone_region="US", phone_timezone="America/New_York")
    assert decision.next_window_start == utc(2026, 3, 9, 12, 0)  # Monday 08:00 EDT (was EST on Friday)


def test_german_holiday_moves_the_window():
    # Thursday 24 Dec 20:00 → Friday 25th (holiday), 26th/27th weekend → Monday 28th 09:00 CET.
    decision = gate(local("Europe/Berlin", 2026, 12, 24, 20, 0))
    assert decision.next_window_start == utc(2026, 12, 28, 8, 0)
    on_the_day = gate(local("Europe/Berlin", 2026, 12, 25, 10, 0))
    assert on_the_day.reason == "outside_hours" and "holiday" in on_the_day.detail
    assert on_the_day.next_window_start == utc(2026, 12, 28, 8, 0)
    # Only for DE leads, and only while the policy says so.
    assert gate(local("Europe/Berlin", 2026, 12, 25, 10, 0), policy=GatePolicy(german_public_holidays=False)).allowed
    ascension = local("America/New_York", 2026, 5, 14, 10, 0)
    assert gate(ascension, phone_region="US", phone_timezone="America/New_York").allowed
    assert gate(ascension, phone_region="DE", phone_timezone="Europe/Berlin").reason == "outside_hours"


def test_state_holidays_when_configured():
    epiphany = local("Europe/Berlin", 2026, 1, 6, 10, 0)  # Tuesday; a holiday in BY, BW, ST only
    assert gate(epiphany).allowed
    assert gate(epiphany, policy=GatePolicy(german_holiday_states=("BY",))).reason == "outside_hours"


@pytest.mark.parametrize("tz", ["America/New_York", "America/Los_Angeles"])
def test_us_leads_at_0800_local(tz):
    at_eight = local(tz, 2026, 7, 14, 8, 0)  # Tuesday
    assert gate(at_eight, phone_region="US", phone_timezone=tz).allowed
    early = gate(at_eight - timedelta(minutes=1), phone_region="US", phone_timezone=tz)
    assert early.reason == "outside_hours" and early.next_window_start == at_eight
    assert gate(local(tz, 2026, 7, 14, 20, 59), phone_region="US", phone_timezone=tz).allowed
    assert gate(local(tz, 2026, 7, 14, 21, 0), phone_region="US", phone_timezone=tz).reason == "outside_hours"


def test_los_angeles_lead_is_not_called_at_new_york_0800():
    ny_eight = local("America/New_York", 2026, 7, 14, 8, 0)
    decision = gate(ny_eight, phone_region="US", phone_timezone="America/Los_Angeles")
    assert decision.reason == "outside_hours"
    assert decision.next_window_start == local("America/Los_Angeles", 2026, 7, 14, 8, 0) == utc(2026, 7, 14, 15, 0)


def test_zone_falls_back_to_region_then_berlin():
    ny_eight = local("America/New_York", 2026, 7, 14, 8, 0)
    assert gate(ny_eight, phone_region="US", phone_timezone=None).allowed
    assert gate(ny_eight, phone_region=None, phone_timezone=None).allowed  # 14:00 Berlin
    assert gate(ny_eight, phone_region=None, phone_timezone="Not/AZone").allowed
    # An Austrian lead gets the default (DE) window in Vienna time, without German holidays.
    assert gate(local("Europe/Vienna", 2026, 5, 14, 10, 0), phone_region="AT", phone_timezone=None).allowed


def test_attempt_cap():
    tuesday = local("Europe/Berlin", 2026, 6, 9, 10, 0)
    assert gate(tuesday, attempts_today=1).allowed
    capped = gate(tuesday, attempts_today=2)
    assert capped.reason == "attempt_cap" and capped.next_window_start == local("Europe/Berlin", 2026, 6, 10, 9, 0)
    friday = gate(local("Europe/Berlin", 2026, 6, 12, 10, 0), attempts_today=5)
    assert friday.next_window_start == local("Europe/Berlin", 2026, 6, 15, 9, 0)
    assert gate(tuesday, attempts_today=2, policy=GatePolicy(max_attempts_per_day=3)).allowed


NOW = local("Europe/Berlin", 2026, 6, 9, 10, 0)  # a Tuesday inside every window


@pytest.mark.parametrize(
    "kw, reason",
    [
        ({"phone_e164": None}, "no_phone"),
        ({"phone_e164": ""}, "no_phone"),
        ({"phone_status": "invalid"}, "phone_invalid"),
        ({"do_not_contact": True}, "do_not_contact"),
        ({"consents": []}, "no_consent"),
        ({"consents": [("email", "express_consent")]}, "no_consent"),
        ({"consents": [("phone", "presumed_b2b")]}, "no_consent"),
        ({"score": None}, "score_below_threshold"),
        ({"score": 50}, "score_below_threshold"),  # must be above the threshold
        ({"score": 10, "threshold": 10}, "score_below_threshold"),
        ({"attempts_today": 2}, "attempt_cap"),
        ({"now_utc": NOW + timedelta(hours=12)}, "outside_hours"),
        # the order of checks decides which reason is given
        ({"phone_status": "invalid", "do_not_contact": True}, "phone_invalid"),
        ({"do_not_contact": True, "consents": []}, "do_not_contact"),
        ({"consents": [], "score": 0}, "no_consent"),
        ({"score": 0, "attempts_today": 9}, "score_below_threshold"),
        ({"attempts_today": 9, "now_utc": NOW + timedelta(hours=12)}, "attempt_cap"),
    ],
)
def test_each_refusal_reason(kw, reason):
    decision = gate(NOW, **kw)
    assert (decision.allowed, decision.reason) == (False, reason)
    assert decision.detail and PHONE not in decision.detail
    assert (decision.next_window_start is not None) == (reason in ("outside_hours", "attempt_cap"))


@pytest.mark.parametrize(
    "kw",
    [
        {"phone_status": "unverified"},
        {"phone_status": "unknown"},
        {"consents": [("phone", "callback_request")]},
        {"consents": [(Channel.PHONE, LegalBasis.EXPRESS_CONSENT)]},
        {"consents": [("phone", "presumed_b2b")], "policy": GatePolicy(require_express_consent_for_ai_calls=False)},
        {"score": 51},
    ],
)
def test_allowed(kw):
    decision = gate(NOW, **kw)
    assert (decision.allowed, decision.reason, decision.next_window_start) == (True, "ok", None)


def test_presumed_b2b_never_enough_for_us_numbers():
    lax = GatePolicy(require_express_consent_for_ai_calls=False)
    ny = local("America/New_York", 2026, 7, 14, 10, 0)
    decision = gate(
        ny, phone_region="US", phone_timezone="America/New_York", consents=[("phone", "presumed_b2b")], policy=lax
    )
    assert decision.reason == "no_consent" and "US numbers need express consent" in decision.detail


def test_policy_from_env():
    policy = GatePolicy.from_env(
        {
            "LEADCHAIN_CALLING_HOURS": '{"US": {"days": "mon-sat", "start": "08:00", "end": "20:00"},'
            ' "default": {"days": [0, 2, 4], "start": "10:00", "end": "12:00"}}',
            "LEADCHAIN_MAX_CALL_ATTEMPTS_PER_DAY": "1",
            "LEADCHAIN_REQUIRE_EXPRESS_CONSENT_FOR_AI_CALLS": "false",
            "LEADCHAIN_GERMAN_HOLIDAY_STATES": "by, bw",
        }
    )
    assert policy.window_for("us") == CallingWindow((0, 1, 2, 3, 4, 5), time(8), time(20))
    assert policy.window_for("DE") == compliance.DE_WINDOW
    assert policy.window_for("GB") == CallingWindow((0, 2, 4), time(10), time(12))
    assert policy.max_attempts_per_day == 1 and not policy.require_express_consent_for_ai_calls
    assert policy.german_public_holidays and policy.german_holiday_states == ("BY", "BW")
    assert GatePolicy.from_env({}) == GatePolicy()
    assert GatePolicy().window_for("FR") == compliance.DE_WINDOW


@pytest.mark.parametrize(
    "env",
    [
        {"LEADCHAIN_CALLING_HOURS": "{not json"},
        {"LEADCHAIN_CALLING_HOURS": '{"DE": {"start": "20:00", "end": "09:00"}}'},
        {"LEADCHAIN_CALLING_HOURS": '{"DE": {"start": "9am", "end": "20:00"}}'},
        {"LEADCHAIN_CALLING_HOURS": '{"DE": {"days": "fri-mon", "start": "09:00", "end": "20:00"}}'},
        {"LEADCHAIN_CALLING_HOURS": '{"DE": {"days": [7], "start": "09:00", "end": "20:00"}}'},
        {"LEADCHAIN_CALLING_HOURS": '{"Germany": {"start": "09:00", "end": "20:00"}}'},
        {"LEADCHAIN_CALLING_HOURS": '{"DE": {"start": "09:00", "end": "20:00", "tz": "UTC"}}'},
        {"LEADCHAIN_MAX_CALL_ATTEMPTS_PER_DAY": "two"},
        {"LEADCHAIN_REQUIRE_EXPRESS_CONSENT_FOR_AI_CALLS": "maybe"},
        {"LEADCHAIN_GERMAN_HOLIDAY_STATES": "XX"},
    ],
)
def test_bad_gate_config_is_refused(env):
    with pytest.raises(GateConfigError):
        GatePolicy.from_env(env)


def test_naive_now_is_refused():
    with pytest.raises(ValueError):
        gate(datetime(2026, 6, 9, 10, 0))


def test_next_window_start_in_a_skipped_or_repeated_hour():
    # A window opening at 02:30 on the spring-forward Sunday opens when the clock jumps to 03:00 CEST.
    early = CallingWindow((6,), time(2, 30), time(4, 0))
    assert next_window_start(utc(2026, 3, 28, 12), "Europe/Berlin", early) == utc(2026, 3, 29, 1, 0)
    # A window closing at 02:30 on the fall-back Sunday reopens when 03:00 CEST becomes 02:00 CET.
    late = CallingWindow((6,), time(0, 0), time(2, 30))
    assert not is_within_window(utc(2026, 10, 25, 0, 45), "Europe/Berlin", late)
    assert next_window_start(utc(2026, 10, 25, 0, 45), "Europe/Berlin", late) == utc(2026, 10, 25, 1, 0)


# ---------------------------------------------------------------- property: decide() against a re-derivation

# German national public holidays, written out (not taken from the `holidays` package the gate uses).
DE_HOLIDAYS = {
    date(2026, 1, 1),
    date(2026, 4, 3),
    date(2026, 4, 6),
    date(2026, 5, 1),
    date(2026, 5, 14),
    date(2026, 5, 25),
    date(2026, 10, 3),
    date(2026, 12, 25),
    date(2026, 12, 26),
    date(2027, 1, 1),
    date(2027, 3, 26),
    date(2027, 3, 29),
    date(2027, 5, 1),
    date(2027, 5, 6),
    date(2027, 5, 17),
    date(2027, 10, 3),
    date(2027, 12, 25),
    date(2027, 12, 26),
    date(2028, 1, 1),
}
REGION_ZONE = {"DE": "Europe/Berlin", "AT": "Europe/Vienna", "GB": "Europe/London", "US": "America/New_York"}
HOURS = {"US": (time(8), time(21))}  # every other region: 09:00-20:00
ZONES = [
    "Europe/Berlin",
    "Europe/Vienna",
    "Europe/London",
    "America/New_York",
    "America/Chicago",
    "America/Denver",
    "America/Phoenix",
    "America/Los_Angeles",
    "America/Anchorage",
    "Pacific/Honolulu",
]


def expected_inside(at: datetime, region: str | None, tz: str, holidays_on: bool) -> bool:
    start, end = HOURS.get(region, (time(9), time(20)))
    t = at.astimezone(ZoneInfo(tz))
    if t.weekday() >= 5 or (region == "DE" and holidays_on and t.date() in DE_HOLIDAYS):
        return False
    return start <= t.time().replace(fold=0) < end


def expected_reason(case: dict) -> str:
    p: GatePolicy = case["policy"]
    bases = {"express_consent", "callback_request"}
    if not p.require_express_consent_for_ai_calls and case["phone_region"] != "US":
        bases.add("presumed_b2b")
    tz = case["phone_timezone"] or REGION_ZONE.get(case["phone_region"], "Europe/Berlin")
    if not case["phone_e164"]:
        return "no_phone"
    if case["phone_status"] == "invalid":
        return "phone_invalid"
    if case["do_not_contact"]:
        return "do_not_contact"
    if not any(ch == "phone" and b in bases for ch, b in case["consents"]):
        return "no_consent"
    if case["score"] is None or case["score"] <= case["threshold"]:
        return "score_below_threshold"
    if case["attempts_today"] >= p.max_attempts_per_day:
        return "attempt_cap"
    if not expected_inside(case["now_utc"], case["phone_region"], tz, p.german_public_holidays):
        return "outside_hours"
    return "ok"


policies = st.builds(
    GatePolicy,
    max_attempts_per_day=st.integers(1, 3),
    require_express_consent_for_ai_calls=st.booleans(),
    german_public_holidays=st.booleans(),
)
any_instant = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23, 59), timezones=st.just(UTC)
)
# Instants within two days of a German holiday, so holidays are not left to chance.
near_holiday = st.builds(
    lambda d, m: datetime.combine(d, time(0), UTC) + timedelta(minutes=m),
    st.sampled_from(sorted(DE_HOLIDAYS)),
    st.integers(-2 * 24 * 60, 3 * 24 * 60),
)
instants = st.one_of(any_instant, near_holiday)

# Weighted so that every check, not only the first ones, decides a fair share of the examples.
cases = st.fixed_dictionaries(
    {
        "now_utc": instants,
        "phone_e164": st.sampled_from([PHONE] * 3 + ["+12125550123"] * 2 + [None]),
        "phone_status": st.sampled_from(["valid"] * 4 + ["unverified", "unknown", "invalid"]),
        "phone_region": st.sampled_from(["DE", "US", "AT", "GB", None]),
        "phone_timezone": st.one_of(st.none(), st.sampled_from(ZONES)),
        "do_not_contact": st.sampled_from([False] * 6 + [True]),
        "consents": st.lists(
            st.tuples(
                st.sampled_from(["phone"] * 3 + ["email"]),
                st.sampled_from(["express_consent", "presumed_b2b", "callback_request"]),
            ),
            max_size=3,
        ),
        "attempts_today": st.sampled_from([0, 0, 0, 1, 1, 2, 3, 4]),
        "score": st.one_of(st.none(), st.integers(0, 100), st.integers(71, 100), st.integers(71, 100)),
        "threshold": st.sampled_from([0, 50, 70]),
        "policy": policies,
    }
)


def assert_first_inside(start: datetime, found: datetime, inside) -> None:
    """found is inside, not before start, and nothing between start and found is (15-minute steps plus the
    second just before found)."""
    assert found >= start and inside(found)
    assert found == start or not inside(found - timedelta(seconds=1))
    at = start
    while at < found:
        assert not inside(at), f"{at} is inside but the window was said to open at {found}"
        at += timedelta(minutes=15)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases)
def test_decide_allows_iff_every_condition_holds(case):
    check_decision(case)


def check_decision(case: dict) -> None:
    decision = decide(**case)
    reason = expected_reason(case)
    assert decision.reason == reason and decision.allowed == (reason == "ok")
    assert decision.reason in compliance.REASONS and decision.detail
    assert case["phone_e164"] is None or case["phone_e164"] not in decision.detail
    if reason not in ("outside_hours", "attempt_cap"):
        assert decision.next_window_start is None
        return
    region, p = case["phone_region"], case["policy"]
    tz = case["phone_timezone"] or REGION_ZONE.get(region, "Europe/Berlin")
    zone = ZoneInfo(tz)
    start = case["now_utc"]
    if reason == "attempt_cap":  # the count starts again at local midnight
        tomorrow = start.astimezone(zone).date() + timedelta(days=1)
        start = datetime.combine(tomorrow, time(0), zone).astimezone(UTC)
    assert_first_inside(
        start, decision.next_window_start, lambda at: expected_inside(at, region, tz, p.german_public_holidays)
    )


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cases.map(
        lambda c: {
            **c,
            "phone_e164": PHONE,
            "phone_status": "valid",
            "do_not_contact": False,
            "consents": EXPRESS,
            "score": 100,
            "threshold": 50,
        }
    )
)
def test_decide_for_callable_leads_follows_the_calling_hours(case):
    """Every other condition holds: the hours and the daily cap alone decide."""
    check_decision(case)


# Zones with DST at unusual hours or by unusual amounts, windows at any minute (also in skipped hours).
ODD_ZONES = ZONES + [
    "America/Havana",
    "Australia/Lord_Howe",
    "America/Santiago",
    "Asia/Tehran",
    "Europe/Dublin",
    "Africa/Casablanca",
    "Pacific/Chatham",
    "Asia/Kolkata",
]
minutes = st.integers(0, 24 * 60 - 1)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    now=st.datetimes(min_value=datetime(2026, 1, 1), max_value=datetime(2027, 12, 31, 23, 59), timezones=st.just(UTC)),
    tz=st.sampled_from(ODD_ZONES),
    a=minutes,
    b=minutes,
    days=st.sets(st.integers(0, 6), min_size=1).map(lambda s: tuple(sorted(s))),
)
def test_next_window_start_is_the_first_instant_inside(now, tz, a, b, days):
    if a == b:
        b = (a + 1) % (24 * 60)
    lo, hi = sorted((a, b))
    window = CallingWindow(days, time(lo // 60, lo % 60), time(hi // 60, hi % 60))

    def inside(at: datetime) -> bool:
        t = at.astimezone(ZoneInfo(tz))
        return t.weekday() in days and window.start <= t.time().replace(fold=0) < window.end

    found = next_window_start(now, tz, window)
    assert is_within_window(now, tz, window) == inside(now)
    assert_first_inside(now, found, inside)


# ---------------------------------------------------------------- check_call_gate on SQLite and PostgreSQL

TUESDAY = local("Europe/Berlin", 2026, 6, 9, 10, 0)


def _lead(**kw) -> Lead:
    values = dict(
        first_name="Anna",
        last_name="Schmidt",
        phone_e164=PHONE,
        phone_region="DE",
        phone_timezone="Europe/Berlin",
        phone_status="valid",
        source="website",
        score=80,
        tags=[],
    )
    values.update(kw)
    lead = Lead(**values)
    db.session.add(lead)
    db.session.flush()
    return lead


def _consent(lead: Lead, basis=LegalBasis.EXPRESS_CONSENT, channel=Channel.PHONE, withdrawn_at=None, key="k1"):
    db.session.add(
        ConsentRecord(
            lead_id=lead.id,
            channel=channel,
            legal_basis=basis,
            source="website",
            proof_text="form",
            proof_key=key,
            given_at=TUESDAY - timedelta(days=3),
            withdrawn_at=withdrawn_at,
        )
    )
    db.session.flush()


def _refusals(lead_id: int) -> list[AuditEntry]:
    return db.session.scalars(
        sa.select(AuditEntry)
        .where(AuditEntry.action == "call.refused", AuditEntry.entity_id == lead_id)
        .order_by(AuditEntry.id)
    ).all()


def test_gate_allows_and_records_nothing(ctx):
    lead = _lead()
    _consent(lead)
    assert check_call_gate(lead.id, now_utc=TUESDAY, threshold=50).allowed
    assert _refusals(lead.id) == []


def test_refusals_are_audited_without_the_number(ctx):
    lead = _lead()
    decision = check_call_gate(lead.id, now_utc=TUESDAY, threshold=50)
    assert decision.reason == "no_consent"
    db.session.commit()
    (entry,) = _refusals(lead.id)
    assert entry.entity_type == "lead" and entry.actor == "system:call-gate"
    assert entry.after == {"reason": "no_consent", "detail": decision.detail}
    assert PHONE not in str(entry.after) and PHONE[1:] not in str(entry.after)

    _consent(lead)
    saturday = TUESDAY + timedelta(days=4)
    decision = check_call_gate(lead.id, now_utc=saturday, threshold=50, actor="workflow:x")
    assert decision.reason == "outside_hours"
    entry = _refusals(lead.id)[-1]
    assert entry.actor == "workflow:x" and entry.after["next_window_start"] == "2026-06-15T07:00:00+00:00"
    check_call_gate(lead.id, now_utc=saturday, threshold=50, record_refusal=False)
    assert len(_refusals(lead.id)) == 2


def test_withdrawn_consent_does_not_count(ctx):
    lead = _lead()
    _consent(lead, withdrawn_at=TUESDAY - timedelta(days=1))
    _consent(lead, basis=LegalBasis.PRESUMED_B2B, key="k2")
    assert check_call_gate(lead.id, now_utc=TUESDAY, threshold=50).reason == "no_consent"
    _consent(lead, basis=LegalBasis.CALLBACK_REQUEST, key="k3")
    assert check_call_gate(lead.id, now_utc=TUESDAY, threshold=50).allowed


def test_external_dnc_list_and_the_lead_flag_block(ctx):
    lead = _lead()
    _consent(lead)
    db.session.add(DoNotCallEntry(phone_e164=PHONE, source="bnetza", reason="registry"))
    db.session.flush()
    decision = check_call_gate(lead.id, now_utc=TUESDAY, threshold=50)
    assert (decision.reason, decision.detail) == ("do_not_contact", "number is on the do-not-call list")
    assert compliance.is_on_dnc_list(PHONE) and not compliance.is_on_dnc_list("+4989123456")
    other = _lead(phone_e164="+4989123456", do_not_contact=True, dnc_reason="asked by phone")
    _consent(other)
    assert check_call_gate(other.id, now_utc=TUESDAY, threshold=50).detail == "lead is marked do-not-contact"
    assert [e.after["reason"] for e in _refusals(lead.id) + _refusals(other.id)] == ["do_not_contact"] * 2


def test_attempts_are_counted_on_the_leads_local_day(ctx):
    lead = _lead()
    _consent(lead)
    # 23:30 UTC on Monday is already Tuesday in Berlin; 21:30 UTC on Monday is not.
    for ref, at in (("c1", utc(2026, 6, 8, 22, 30)), ("c2", utc(2026, 6, 8, 21, 30))):
        db.session.add(
            Interaction(
                lead_id=lead.id,
                kind=InteractionKind.CALL,
                direction=Direction.OUTBOUND,
                provider="retell",
                provider_ref=ref,
                started_at=at,
            )
        )
    # Inbound calls and emails are not attempts.
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.CALL,
            direction=Direction.INBOUND,
            provider="retell",
            provider_ref="in1",
            started_at=TUESDAY,
        )
    )
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.EMAIL,
            direction=Direction.OUTBOUND,
            provider="sendgrid",
            provider_ref="m1",
            started_at=TUESDAY,
        )
    )
    db.session.flush()
    assert compliance.attempts_on_local_day(lead.id, TUESDAY, "Europe/Berlin") == 1
    assert check_call_gate(lead.id, now_utc=TUESDAY, threshold=50).allowed
    # Not yet started: counted by created_at.
    db.session.add(
        Interaction(
            lead_id=lead.id,
            kind=InteractionKind.CALL,
            direction=Direction.OUTBOUND,
            provider="retell",
            provider_ref="c3",
            created_at=TUESDAY - timedelta(hours=1),
        )
    )
    db.session.flush()
    decision = check_call_gate(lead.id, now_utc=TUESDAY, threshold=50)
    assert decision.reason == "attempt_cap" and decision.next_window_start == local("Europe/Berlin", 2026, 6, 10, 9)


def test_gate_on_merged_and_missing_leads(ctx):
    survivor = _lead()
    merged = _lead(phone_e164="+4989123456", merged_into_id=survivor.id)
    _consent(merged)
    decision = check_call_gate(merged.id, now_utc=TUESDAY, threshold=50)
    assert decision.reason == "do_not_contact" and str(survivor.id) in decision.detail
    with pytest.raises(LookupError):
        check_call_gate(999_999, now_utc=TUESDAY, threshold=50)
