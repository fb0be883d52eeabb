"""Report periods in Europe/Berlin: boundaries in UTC written out by hand, DST days of 23 and 25 hours."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from crm.reports.periods import Period, period_for, scheduled_period


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def test_daily_in_winter_starts_at_23_utc():
    p = period_for("daily", date(2026, 1, 15))
    assert (p.start, p.end, p.hours) == (utc(2026, 1, 14, 23), utc(2026, 1, 15, 23), 24)
    assert p.contains(utc(2026, 1, 15, 22, 59, 59)) and not p.contains(utc(2026, 1, 15, 23, 0, 0))
    assert p.previous() == Period("daily", date(2026, 1, 14), date(2026, 1, 14))


def test_daily_in_summer_starts_at_22_utc():
    p = period_for("daily", "2026-07-01")
    assert (p.start, p.end) == (utc(2026, 6, 30, 22), utc(2026, 7, 1, 22))


@pytest.mark.parametrize(
    "day, start, end, hours",
    [
        (date(2026, 3, 29), utc(2026, 3, 28, 23), utc(2026, 3, 29, 22), 23),  # clocks go forward 02:00 -> 03:00
        (date(2026, 10, 25), utc(2026, 10, 24, 22), utc(2026, 10, 25, 23), 25),  # clocks go back 03:00 -> 02:00
        (date(2026, 3, 28), utc(2026, 3, 27, 23), utc(2026, 3, 28, 23), 24),
        (date(2026, 3, 30), utc(2026, 3, 29, 22), utc(2026, 3, 30, 22), 24),
    ],
)
def test_dst_change_days(day, start, end, hours):
    p = period_for("daily", day)
    assert (p.start, p.end, p.hours) == (start, end, hours)


def test_weekly_is_the_iso_week_and_spans_dst():
    p = period_for("weekly", date(2026, 3, 26))  # a Thursday
    assert (p.first_day, p.last_day) == (date(2026, 3, 23), date(2026, 3, 29))
    assert (p.start, p.end, p.hours) == (utc(2026, 3, 22, 23), utc(2026, 3, 29, 22), 7 * 24 - 1)
    assert p.previous().first_day == date(2026, 3, 16)


def test_monthly_and_previous_month():
    p = period_for("monthly", date(2026, 3, 17))
    assert (p.first_day, p.last_day) == (date(2026, 3, 1), date(2026, 3, 31))
    assert (p.start, p.end) == (utc(2026, 2, 28, 23), utc(2026, 3, 31, 22))
    prev = p.previous()
    assert (prev.first_day, prev.last_day, prev.hours) == (date(2026, 2, 1), date(2026, 2, 28), 28 * 24)
    assert period_for("monthly", date(2026, 1, 31)).previous().first_day == date(2025, 12, 1)


def test_trend_is_the_30_days_up_to_the_last_day():
    trend = period_for("weekly", date(2026, 1, 15)).trend_days(30)
    assert (trend.first_day, trend.last_day, len(trend.days)) == (
        date(2025, 12, 20),
        date(2026, 1, 18),
        30,
    )  # 12 December days + 18


def test_scheduled_runs_report_on_the_right_period():
    # Daily 18:00 Berlin = 17:00 UTC in winter: that day so far.
    assert scheduled_period("daily", utc(2026, 1, 15, 17)).first_day == date(2026, 1, 15)
    # Monday 08:00 (07:00 UTC): the ISO week before.
    week = scheduled_period("weekly", utc(2026, 1, 19, 7))
    assert (week.first_day, week.last_day) == (date(2026, 1, 12), date(2026, 1, 18))
    # 1 April 08:00 CEST (06:00 UTC): March.
    month = scheduled_period("monthly", utc(2026, 4, 1, 6))
    assert (month.first_day, month.last_day) == (date(2026, 3, 1), date(2026, 3, 31))


def test_unknown_period_is_refused():
    with pytest.raises(ValueError):
        period_for("hourly", date(2026, 1, 1))
