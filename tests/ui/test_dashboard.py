"""The dashboard: its figures come from crm.reports.kpis (team for managers; own + unassigned leads for
sales), on SQLite and PostgreSQL; the page and its SVG charts through the Flask test client."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from crm.extensions import db
from crm.models import Role, User
from crm.reports import kpis
from crm.reports.periods import daily, monthly, weekly
from crm.ui import dashboard_queries as dq
from tests.conftest import set_settings
from tests.reports.seed import call, lead, seed_reference, utc

NOW = datetime(2026, 1, 15, 17, 0, tzinfo=UTC)  # Thursday 18:00 in Berlin


@pytest.fixture
def ref(ctx):
    seeded = seed_reference()
    # An unassigned lead of the day with one answered call: sales reps count it as theirs to see.
    pool = lead("Paul", "Pool", utc(2026, 1, 15, 11, 0), source="website", score=70)
    call(
        pool,
        "retell",
        utc(2026, 1, 15, 11, 30),
        outcome="interested",
        answered=True,
        end_status="completed",
        duration=60,
    )
    db.session.commit()
    users = {u.id: u for u in db.session.query(User)}
    return seeded, users


def test_current_periods_are_berlin_calendar_periods():
    late = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)  # already 1 February in Berlin
    assert dq.current_period("daily", late) == daily(datetime(2026, 2, 1).date())
    assert dq.current_period("weekly", NOW) == weekly(NOW.date())
    assert dq.current_period("monthly", late).first_day.month == 2
    with pytest.raises(ValueError):
        dq.dashboard(User(role=Role.MANAGER), "yearly", NOW)


def test_manager_sees_the_report_headlines(ref):
    seeded, users = ref
    board = dq.dashboard(users[seeded.mia], "daily", NOW)
    expected = kpis.compute(daily(NOW.date()))
    assert board.scope == "team" and board.has_data
    assert board.period == expected.period and board.previous_period == expected.previous_period
    assert [f.key for f in board.figures] == list(dq.TEAM_KEYS)
    for figure in board.figures:
        h = expected.headline(figure.key)
        assert (figure.current, figure.previous, figure.delta, figure.change) == (
            h.current,
            h.previous,
            h.delta,
            h.change,
        )
    money = [f for f in board.figures if f.unit == "money"]
    assert {f.currency for f in money} == {"USD"}
    leads_in = board.figures[0]
    assert (leads_in.current, leads_in.previous, leads_in.change) == (4, 2, 1.0)  # 3 + the pool lead; +100 %


def test_sales_see_own_and_unassigned_leads(ref):
    seeded, users = ref
    anna = users[seeded.anna]
    board = dq.dashboard(anna, "daily", NOW)
    assert board.scope == "mine"
    got = {f.key: (f.current, f.previous) for f in board.figures}
    # Today: Anna's 2 leads + Paul; calls C1 C2 C9 C3 C7 + Paul's; answered C1 C3 + Paul's.
    # Yesterday: Anna's Frida (not interested, answered); nobody unassigned.
    assert got["leads_in"] == (3, 1)
    assert got["calls_placed"] == (6, 1)
    assert got["answer_rate"] == (pytest.approx(3 / 6), 1.0)
    assert got["wanted"] == (3, 0) and got["booked"] == (1, 0)
    assert got["booking_conversion"] == (pytest.approx(1 / 3), None)
    assert got["follow_ups"] == (2, 0) and got["appointments"] == (1, 0)
    rate = next(f for f in board.figures if f.key == "answer_rate")
    assert rate.change is None and rate.delta == pytest.approx(-0.5)  # rates change in points
    ben = dq.dashboard(users[seeded.ben], "daily", NOW)
    assert {f.key: f.current for f in ben.figures}["leads_in"] == 2  # Jana + Paul


def test_week_and_month(ref):
    seeded, users = ref
    for kind, builder in (("weekly", weekly), ("monthly", monthly)):
        board = dq.dashboard(users[seeded.mia], kind, NOW)
        expected = kpis.compute(builder(NOW.date()))
        assert board.period == expected.period
        assert [(f.current, f.previous) for f in board.figures] == [(h.current, h.previous) for h in expected.headlines]


def test_reports_are_cached_per_app(ref, app):
    seeded, users = ref
    mia = users[seeded.mia]
    first = dq.dashboard(mia, "daily", NOW).figures[0].current
    lead("Late", "Comer", utc(2026, 1, 15, 12, 0), source="website")
    db.session.commit()
    assert dq.dashboard(mia, "daily", NOW).figures[0].current == first  # within the cache time
    set_settings(app, "reports", kpi_cache_s=0)
    assert dq.dashboard(mia, "daily", NOW).figures[0].current == first + 1


def test_chart_svg(ref):
    svg = dq.chart_svg("trend", "daily", "de", NOW)
    assert svg.startswith(b"<?xml") and b"<svg" in svg and b"30-Tage-Verlauf" in svg
    assert b"30-day trend" in dq.chart_svg("trend", "daily", "en", NOW)
    assert dq.chart_svg("by_weekday", "daily", "en", NOW) is None  # no weekday chart for a day
    with pytest.raises(ValueError):
        dq.chart_svg("nonsense", "daily", "en", NOW)


# ------------------------------------------------------------------------------------------- pages


def _calls_today(app, lead_ids) -> None:
    from datetime import timedelta
    from zoneinfo import ZoneInfo

    from crm.models import Direction, Interaction, InteractionKind
    from crm.models.types import utcnow

    # "Today" is the company's day (Europe/Berlin): just after its midnight, ten minutes ago was yesterday
    # (and last week, on a Monday), so no call is placed before today's midnight.
    berlin = ZoneInfo("Europe/Berlin")
    midnight = utcnow().astimezone(berlin).replace(hour=0, minute=0, second=0, microsecond=0).astimezone(UTC)
    with app.app_context():
        for i, lead_id in enumerate(lead_ids):
            at = max(midnight, utcnow() - timedelta(minutes=10 + i))
            db.session.add(
                Interaction(
                    lead_id=lead_id,
                    kind=InteractionKind.CALL,
                    direction=Direction.OUTBOUND,
                    provider="retell",
                    provider_ref=f"dash-{i}",
                    status="ended",
                    outcome="interested",
                    sentiment="positive",
                    started_at=at,
                    created_at=at,
                    duration_s=90,
                    data={"answered": True, "end_status": "completed"},
                )
            )
        db.session.commit()


def test_manager_page_with_charts(ui_app, leads, as_manager):
    _calls_today(ui_app, [leads.own, leads.foreign])
    html = as_manager.get("/").get_data(as_text=True)
    assert "Neue Leads" in html and "Erreichungsquote" in html and "ganzes Team" in html
    assert html.count('class="kpi"') == len(dq.TEAM_KEYS)
    assert '<img src="/dashboard/chart/trend.svg?period=daily&amp;lang=de"' in html
    assert 'alt="30-Tage-Verlauf von Anrufen, Leads, Buchungen und E-Mails"' in html
    assert "by_weekday.svg" not in html  # no weekday chart for one day
    week = as_manager.get("/?period=weekly&lang=en").get_data(as_text=True)
    assert 'aria-current="page">This week' in week and "by_weekday.svg?period=weekly" in week
    chart = as_manager.get("/dashboard/chart/trend.svg?period=daily&lang=en")
    assert chart.status_code == 200 and chart.mimetype == "image/svg+xml" and b"30-day trend" in chart.data
    assert as_manager.get("/dashboard/chart/nope.svg").status_code == 404
    assert as_manager.get("/dashboard/chart/by_weekday.svg?period=daily").status_code == 404  # empty chart


def test_sales_page_shows_own_and_unassigned_figures(ui_app, leads, as_sales_a):
    _calls_today(ui_app, [leads.own, leads.foreign, leads.unassigned])
    html = as_sales_a.get("/").get_data(as_text=True)
    assert "Ihre Leads und nicht zugewiesene Leads" in html and "<img" not in html
    assert html.count('class="kpi"') == len(dq.REP_KEYS)
    calls = html[html.index("Anrufe</span>") :]
    assert '<span class="kpi-value">2</span>' in calls[:200]  # own + unassigned; not Bernd's
    assert as_sales_a.get("/dashboard/chart/trend.svg").status_code == 403


def test_empty_dashboard(ui_app, team, as_admin):
    html = as_admin.get("/?period=monthly").get_data(as_text=True)
    assert "In diesem Zeitraum gibt es noch keine Leads" in html and "<img" not in html
    assert "–" in html
