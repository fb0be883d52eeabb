"""Benchmark: the bridge's slot search with the reps' external calendars in the local busy table, beside the
same search with no external calendars, in one run (issue 18).

    .venv/bin/python -m bench.calendar_slots [--reps 20] [--events 500] [--span-days 60] [--recurring 0.10] [--runs 300]
                                       [--db URL]

1. A migrated database (SQLite in a temp dir by default; `--db postgresql://...` an empty PostgreSQL
   database) with two companies of 20 active sales reps each, one unowned lead each (so the search is the
   team's: every rep's calendar counts) and the same 3 CRM appointments per rep.
2. Company A's reps each get a CalDAV connection whose 500 events (10 % weekly or daily recurring, the rest
   single, 15-90 min, spread over the next --span-days days between 07:00 and 20:00 Berlin, some in New York
   time and some all-day) are synced into `calendar_busy` through the real sync code (crm.calendars.sync: expansion
   with recurring-ical-events, bulk insert), fed by an in-memory port instead of a CalDAV server, since the
   benchmark measures the slot search, not the sync. Company B has no external calendars.
3. `voice.bridge.availability.find_slots` (what the bridge calls in a turn) with a rotation of wishes
   (earliest, an afternoon, a named day, an exact time), alternately for A and B, `--runs` times each after
   a warm-up. Prints p50/p95/p99 in ms per company, the busy rows read, and the ratio A/B at p95, and the
   first search after a sync (the bridge process's block cache is cold: crm/calendars/busy.py).

--span-days 60 (default) is a busy rep: about 8 events a day, half of each day blocked. --span-days 14 puts
all 500 events (36 a day) in the offer horizon: every rep is booked solid, and the search scans every day of
every rep without finding a slot, which measures the scan of a full team more than the calendars.

Goal: A's p95 <= 20 ms and <= 2x B's. Exit status 0 when both hold, 1 otherwise.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
# Run as a script, this file's folder is first on sys.path and this module would shadow the standard
# library's `calendar` (http.cookiejar imports it): take the folder out, put the repository in.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BERLIN = ZoneInfo("Europe/Berlin")
GOAL_MS = 20.0
GOAL_RATIO = 2.0


class MemoryPort:
    """A calendar's objects as a full sync lists them (crm.calendars.port.CalendarPort's changes())."""

    def __init__(self, objects) -> None:
        self.objects = objects

    def changes(self, ctag, sync_token):
        from crm.calendars.port import Changes

        return Changes(objects=self.objects, full=True, ctag="bench", sync_token="bench")


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def events_for(rep: int, count: int, recurring_share: float, start_day: date, span: int, rng: random.Random):
    from crm.calendars.port import RemoteObject

    objects = []
    n_recurring = round(count * recurring_share)
    for i in range(count):
        day = start_day + timedelta(days=rng.randrange(span))
        minute = rng.randrange(7 * 60, 20 * 60, 15)
        start = datetime.combine(day, dtime(minute // 60, minute % 60), BERLIN)
        length = timedelta(minutes=rng.choice((15, 30, 45, 60, 90)))
        uid = f"bench-{rep}-{i}"
        if i < n_recurring:
            rule = "RRULE:FREQ=WEEKLY;COUNT=8" if i % 2 else "RRULE:FREQ=DAILY;COUNT=10;BYDAY=MO,TU,WE,TH,FR"
            body = f"DTSTART:{_stamp(start)}\r\nDTEND:{_stamp(start + length)}\r\n{rule}"
        elif i % 50 == 0:
            body = f"DTSTART;VALUE=DATE:{day:%Y%m%d}\r\nDTEND;VALUE=DATE:{day + timedelta(days=1):%Y%m%d}"
        elif i % 7 == 0:
            ny = start.astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)
            body = (
                f"DTSTART;TZID=America/New_York:{ny:%Y%m%dT%H%M%S}\r\n"
                f"DTEND;TZID=America/New_York:{ny + length:%Y%m%dT%H%M%S}"
            )
        else:
            body = f"DTSTART:{_stamp(start)}\r\nDTEND:{_stamp(start + length)}"
        ics = (
            "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//bench//EN\r\nBEGIN:VEVENT\r\n"
            f"UID:{uid}\r\nDTSTAMP:20260101T000000Z\r\n{body}\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
        )
        objects.append(RemoteObject(href=f"/rep{rep}/calendar/{uid}.ics", etag=f'"{i}"', ics=ics.encode()))
    return objects


def _migrate(url: str):
    from flask_migrate import upgrade

    from crm import create_app
    from crm.secrets import EnvSecrets

    app = create_app(
        {"SQLALCHEMY_DATABASE_URI": url},
        secrets=EnvSecrets(
            {"LEADCHAIN_SECRET_APP_CHAIN_KEY": "bench-only", "LEADCHAIN_SECRET_APP_SECRET_KEY": "bench"}
        ),
    )
    with app.app_context():
        upgrade()
    return app


def seed(app, args, now: datetime) -> dict[str, int]:
    """Two companies' teams; A's calendars synced. Returns {"A": lead id, "B": lead id}."""
    from crm.calendars.sync import sync_connection
    from crm.extensions import db
    from crm.models import Appointment, Lead, Role, User
    from crm.models.calendars import CalendarConnection, CalendarKind
    from crm.models.companies import Company
    from crm.tenancy.context import company_scope, operator_scope

    rng = random.Random(18)
    with app.app_context(), operator_scope("bench", "a second company"):
        if db.session.get(Company, 2) is None:
            db.session.add(Company(id=2, slug="bench-b", name="Bench B", timezone="Europe/Berlin"))
            db.session.commit()
        db.session.remove()
    leads: dict[str, int] = {}
    start_day = (now + timedelta(days=1)).astimezone(BERLIN).date()
    for name, company_id in (("A", 1), ("B", 2)):
        with app.app_context(), company_scope(company_id):
            reps = [
                User(email=f"rep{i}@{name.lower()}.bench.invalid", name=f"Rep {i}", role=Role.SALES)
                for i in range(args.reps)
            ]
            db.session.add_all(reps)
            db.session.flush()
            appt_rng = random.Random(7)  # the same CRM appointments in both companies
            for rep in reps:
                for k in range(3):
                    day = start_day + timedelta(days=appt_rng.randrange(14))
                    s = datetime.combine(day, dtime(9 + 2 * k, 0), BERLIN)
                    db.session.add(Appointment(owner_id=rep.id, starts_at=s, ends_at=s + timedelta(minutes=30)))
            lead = Lead(first_name="Bench", last_name=name, source="bench")
            db.session.add(lead)
            db.session.commit()
            leads[name] = lead.id
            if name == "A":
                t0 = time.perf_counter()
                for i, rep in enumerate(reps):
                    connection = CalendarConnection(
                        user_id=rep.id, kind=CalendarKind.CALDAV, name="Work", url=f"https://dav.invalid/rep{i}/"
                    )
                    db.session.add(connection)
                    db.session.commit()
                    port = MemoryPort(events_for(i, args.events, args.recurring, start_day, args.span_days, rng))
                    summary = sync_connection(connection.id, now=now, port=port)
                    assert summary.error is None, summary.error
                print(f"synced {args.reps} calendars x {args.events} events in {time.perf_counter() - t0:.1f} s")
            db.session.remove()
    return leads


def measure(app, args, leads: dict[str, int], now: datetime) -> dict[str, list[float]]:
    from crm.extensions import db
    from crm.tenancy.context import company_scope
    from voice.bridge.availability import find_slots
    from voice.bridge.timeprefs.constraint import TimeConstraint, TimeWindow

    thursday = now.astimezone(BERLIN).date() + timedelta(days=(3 - now.astimezone(BERLIN).weekday()) % 7 + 7)
    wishes = [
        TimeConstraint(),
        TimeConstraint(windows=(TimeWindow(dtime(14, 0), None),)),
        TimeConstraint(dates=(thursday,)),
        TimeConstraint(dates=(thursday,), exact=dtime(16, 0)),
    ]
    samples: dict[str, list[float]] = {"A": [], "B": [], "A cold": []}
    companies = {"A": 1, "B": 2}
    from crm.calendars import busy as busy_cache

    for run in range(max(3, args.runs // 20)):  # the first search after a sync: the block cache is empty
        busy_cache._cache.clear()
        with app.app_context(), company_scope(1):
            t0 = time.perf_counter()
            find_slots(leads["A"], wishes[run % len(wishes)], now)
            samples["A cold"].append((time.perf_counter() - t0) * 1000)
            db.session.remove()
    for run in range(args.warmup + args.runs):
        wish = wishes[run % len(wishes)]
        for name in ("A", "B") if run % 2 else ("B", "A"):
            with app.app_context(), company_scope(companies[name]):
                t0 = time.perf_counter()
                find_slots(leads[name], wish, now)
                elapsed = (time.perf_counter() - t0) * 1000
                db.session.remove()
            if run >= args.warmup:
                samples[name].append(elapsed)
    return samples


def _q(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--reps", type=int, default=20)
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--span-days", type=int, default=60)
    parser.add_argument("--recurring", type=float, default=0.10)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--warmup", type=int, default=20)
    parser.add_argument("--db", help="an empty database URL (default: SQLite in a temp dir)")
    args = parser.parse_args(argv)
    now = datetime.now(UTC).replace(microsecond=0)
    with tempfile.TemporaryDirectory(prefix="leadchain-bench-calendar-") as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.db"
        app = _migrate(url)
        leads = seed(app, args, now)
        from crm.extensions import db
        from crm.models.calendars import CalendarBusy
        from crm.tenancy.context import company_scope

        with app.app_context(), company_scope(1):
            rows = db.session.query(CalendarBusy).count()
            db.session.remove()
        samples = measure(app, args, leads, now)
        with app.app_context():
            db.engine.dispose()
    dialect = url.split(":", 1)[0]
    print(
        f"database {dialect}; {args.reps} reps x {args.events} events over {args.span_days} days;"
        f" {rows} busy rows in calendar_busy for company A; load average {os.getloadavg()[0]:.1f}"
    )
    print(f"{'search':<28}{'p50 ms':>10}{'p95 ms':>10}{'p99 ms':>10}")
    for name, label in (
        ("A", "with external calendars"),
        ("B", "no external calendars"),
        ("A cold", "with, first after a sync"),
    ):
        values = samples[name]
        print(f"{label:<28}{_q(values, 50):>10.2f}{_q(values, 95):>10.2f}{_q(values, 99):>10.2f}")
    p95_a, p95_b = _q(samples["A"], 95), _q(samples["B"], 95)
    ratio = p95_a / p95_b
    ok = p95_a <= GOAL_MS and ratio <= GOAL_RATIO
    print(
        f"p95 ratio with/without: {ratio:.2f}x (goal <= {GOAL_RATIO}x); p95 with: {p95_a:.2f} ms (goal <= {GOAL_MS} ms)"
    )
    print("GOAL MET" if ok else "GOAL MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
