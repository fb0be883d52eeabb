"""Benchmark: the manager report's KPIs and full PDF on 1,000,000 interactions, beside plain SQL counts.

    .venv/bin/python bench/reports.py [--interactions N] [--leads N] [--days D] [--repeat R]
                                      [--pg-admin URL] [--keep]

1. Creates a fresh PostgreSQL database (bench_reports_<random>), runs leadchain's migrations, and loads
   with COPY: 14 users (12 reps, 2 managers), 4 campaigns, --leads leads (default 150,000) and
   --interactions interactions (default 1,000,000: 75 % calls, 25 % emails) spread over --days (90)
   Berlin days ending 2026-11-22, busier in working hours; call outcomes, sentiment, talk time and cost,
   email statuses, appointments for booked calls and unsubscribe audit entries in realistic shares.
   Then ANALYZE. The database is dropped at the end unless --keep.
2. For the last day (2026-11-22), the last ISO week (16-22 Nov) and the last full month (October): times
   `crm.reports.kpis.compute` (every KPI of the period and its previous period, trend, breakdowns and
   lists) and the full PDF (compute + charts + HTML + WeasyPrint, German), and beside them a baseline:
   one plain SQL statement per table counting
   the same headline numbers (leads in, qualified, calls placed, answered, wanted, booked, talk time,
   cost, emails sent/delivered/opened) for the period only, with COUNT(*) FILTER. Each is run --repeat
   times (default 3); the median is reported, with the ratio to the baseline.
3. Checks that the KPI module's headline numbers (fast and plain) equal the baseline's (exit 1 if not).

Exit status: 0 when the figures agree; 1 on a mismatch; 2 when the benchmark could not run.
See bench/README.md ("reports").
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
import psycopg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEFAULT_PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
BERLIN = ZoneInfo("Europe/Berlin")
LAST_DAY = date(2026, 11, 22)  # a Sunday: the last full ISO week ends here
CHUNK = 200_000
COMPANY = 1  # the migration's first company: every generated row is its

CALL_OUTCOMES = [  # (outcome, end status, answered, share)
    ("no_answer", "no_answer", False, 0.30),
    ("voicemail", "voicemail", False, 0.20),
    ("busy", "busy", False, 0.05),
    ("failed", "failed", False, 0.03),
    ("booked", "completed", True, 0.08),
    ("interested", "completed", True, 0.10),
    ("callback_requested", "completed", True, 0.06),
    ("not_interested", "completed", True, 0.14),
    ("do_not_call", "completed", True, 0.02),
    ("wrong_number", "completed", True, 0.02),
]
EMAIL_STATUSES = [
    ("sent", 0.05),
    ("processed", 0.05),
    ("delivered", 0.45),
    ("opened", 0.25),
    ("clicked", 0.10),
    ("bounced", 0.06),
    ("blocked", 0.01),
    ("dropped", 0.03),
]
SOURCES = [("website", 0.5), ("partner", 0.2), ("csv", 0.15), ("api", 0.15)]
PROVIDERS = [("retell", 0.5), ("vapi", 0.3), ("bland", 0.2)]


class BenchError(RuntimeError):
    pass


def _times(rng: np.random.Generator, n: int, first: datetime, days: int) -> np.ndarray:
    """n UTC timestamps over `days` days from `first`, 80 % between 08:00 and 20:00 Berlin."""
    day = rng.integers(0, days, n)
    working = rng.random(n) < 0.8
    hour = np.where(working, rng.integers(8, 20, n), rng.integers(0, 24, n))
    seconds = day * 86400 + hour * 3600 + rng.integers(0, 3600, n)
    local = pd.Timestamp(first.replace(tzinfo=None)) + pd.to_timedelta(seconds, unit="s")
    # Local wall-clock times to UTC (the nonexistent spring-forward hour is shifted forward).
    return (
        pd.DatetimeIndex(local)
        .tz_localize(BERLIN, ambiguous=np.zeros(n, dtype=bool), nonexistent="shift_forward")
        .tz_convert("UTC")
        .to_numpy()
    )


def _pick(rng: np.random.Generator, options: list[tuple], n: int) -> np.ndarray:
    shares = np.array([o[-1] for o in options], dtype=float)
    return rng.choice(len(options), size=n, p=shares / shares.sum())


def _copy(conn: psycopg.Connection, table: str, frame: pd.DataFrame) -> None:
    columns = ", ".join(frame.columns)
    with conn.cursor() as cur:
        for start in range(0, len(frame), CHUNK):
            buf = io.StringIO()
            frame.iloc[start : start + CHUNK].to_csv(
                buf, index=False, header=False, na_rep="\\N", date_format="%Y-%m-%d %H:%M:%S.%f+00"
            )
            with cur.copy(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv, NULL '\\N')") as copy:
                copy.write(buf.getvalue())
    conn.commit()


def _rollup_backfill_sql() -> str:
    """Migration 0029's backfill statement (every interaction's contribution to interaction_rollups)."""
    import importlib.util

    path = ROOT / "crm" / "migrations" / "versions" / "0029_interaction_rollups.py"
    spec = importlib.util.spec_from_file_location("rollups_0029", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._on_interaction("postgresql", "i", 1)


def load() -> str:
    """The machine's load averages (1, 5, 15 min) and the cores' busy share, for the report."""
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def generate(url: str, leads_n: int, interactions_n: int, days: int, seed: int = 7) -> dict:
    rng = np.random.default_rng(seed)
    first = datetime.combine(LAST_DAY - timedelta(days=days - 1), datetime.min.time(), tzinfo=BERLIN)
    now = datetime(2026, 11, 25, tzinfo=UTC)
    started = time.perf_counter()
    with psycopg.connect(url) as conn:
        reps = [(f"rep{i}@bench.test", f"Rep {i:02d}", "sales") for i in range(12)]
        managers = [("boss1@bench.test", "Boss One", "manager"), ("boss2@bench.test", "Boss Two", "manager")]
        with conn.cursor() as cur:
            for email, name, role in reps + managers:
                cur.execute(
                    "INSERT INTO users (company_id, email, name, role, language, timezone, active, created_at) "
                    "VALUES (%s, %s, %s, %s, 'de', 'Europe/Berlin', true, %s)",
                    (COMPANY, email, name, role, now),
                )
            for i, (name, provider) in enumerate(
                [("Winter", "retell"), ("Spring", "vapi"), ("Partner", "bland"), ("Messe", "retell")]
            ):
                cur.execute(
                    "INSERT INTO campaigns (company_id, name, provider, agent_id, from_number, language,"
                    " script_variables, is_default, active, created_at) VALUES (%s, %s, %s, 'agent', '+4930000000',"
                    " 'de', '{}', %s, true, %s)",
                    (COMPANY, name, provider, i == 0, now),
                )
            user_ids = [r[0] for r in cur.execute("SELECT id FROM users WHERE role = 'sales' ORDER BY id")]
            campaign_ids = [r[0] for r in cur.execute("SELECT id FROM campaigns ORDER BY id")]
        conn.commit()

        # Leads.
        created = _times(rng, leads_n, first, days)
        score = rng.integers(0, 101, leads_n).astype(float)
        score[rng.random(leads_n) < 0.05] = np.nan
        priority = np.where(np.isnan(score), None, np.where(score >= 75, "hot", np.where(score > 50, "warm", "cold")))
        campaign = np.array(campaign_ids + [None], dtype=object)[rng.integers(0, len(campaign_ids) + 1, leads_n)]
        stages = np.array(
            ["calling", "following_up", "nurturing", "booked", "handed_over", "do_not_contact", None], dtype=object
        )
        leads = pd.DataFrame(
            {
                "company_id": COMPANY,
                "first_name": [f"Vorname{i}" for i in range(leads_n)],
                "last_name": "Muster",
                "source": np.array([s for s, _ in SOURCES])[_pick(rng, SOURCES, leads_n)],
                "utm_campaign": np.where(rng.random(leads_n) < 0.3, "Newsletter", None),
                "owner_id": np.array(user_ids + [None], dtype=object)[rng.integers(0, len(user_ids) + 1, leads_n)],
                "campaign_id": campaign,
                "status": "new",
                "score": pd.array(score, dtype="Int64"),
                "priority": priority,
                "chain_stage": stages[rng.integers(0, len(stages), leads_n)],
                "email_status": "unknown",
                "phone_status": "unknown",
                "language": "de",
                "tags": "[]",
                "do_not_contact": False,
                "created_at": created,
                "updated_at": created,
            }
        )
        # The rollup triggers (migrations 0029, 0031) are off for the bulk load and the bulk updates after it; then
        # the migration's backfill sums every row in one statement, as an upgrade of a full database does.
        for event in ("insert", "update", "delete"):
            conn.execute(f"ALTER TABLE interactions DISABLE TRIGGER interaction_rollups_{event}")
        conn.execute("ALTER TABLE leads DISABLE TRIGGER interaction_rollups_lead_delete")
        conn.commit()
        _copy(conn, "leads", leads)
        with conn.cursor() as cur:
            lead_ids = np.array([r[0] for r in cur.execute("SELECT id FROM leads ORDER BY id")])

        # Interactions: 75 % calls, 25 % emails, after their lead came in.
        n_calls = int(interactions_n * 0.75)
        n_emails = interactions_n - n_calls
        for kind, n in (("call", n_calls), ("email", n_emails)):
            which = rng.integers(0, leads_n, n)
            at = _times(rng, n, first, days)
            at = np.maximum(at, created[which])
            frame = pd.DataFrame(
                {
                    "company_id": COMPANY,
                    "lead_id": lead_ids[which],
                    "kind": kind,
                    "direction": "outbound",
                    "provider_ref": [f"{kind}-{i}" for i in range(n)],
                    "started_at": at,
                    "created_at": at,
                    "updated_at": at,
                    "created_by": "bench",
                }
            )
            if kind == "call":
                pick = _pick(rng, CALL_OUTCOMES, n)
                outcome = np.array([o[0] for o in CALL_OUTCOMES])[pick]
                end = np.array([o[1] for o in CALL_OUTCOMES])[pick]
                answered = np.array([o[2] for o in CALL_OUTCOMES])[pick]
                duration = np.where(
                    answered, rng.integers(20, 600, n), np.where(outcome == "voicemail", rng.integers(15, 40, n), 0)
                )
                sentiment = np.where(
                    answered, np.array(["positive", "neutral", "negative"])[rng.choice(3, n, p=[0.45, 0.4, 0.15])], None
                )
                pending = rng.random(n) < 0.01  # still queued: no outcome yet
                frame = frame.assign(
                    provider=np.array([p for p, _ in PROVIDERS])[_pick(rng, PROVIDERS, n)],
                    status=np.where(pending, "queued", "ended"),
                    outcome=np.where(pending, None, outcome),
                    duration_s=np.where(pending, None, duration),
                    sentiment=np.where(pending, None, sentiment),
                    cost_cents=np.where(pending, None, rng.integers(5, 90, n)),
                    currency=np.where(pending, None, "USD"),
                    data=[
                        None if p else f'{{"answered": {str(a).lower()}, "end_status": "{e}"}}'
                        for p, a, e in zip(pending, answered, end, strict=True)
                    ],
                )
            else:
                frame = frame.assign(
                    provider="sendgrid",
                    status=np.array([s for s, _ in EMAIL_STATUSES])[_pick(rng, EMAIL_STATUSES, n)],
                    subject="follow_up",
                    data='{"template": "follow_up"}',
                )
            _copy(conn, "interactions", frame)
            del frame

        # Appointments for a share of booked calls (one-hour slots per owner, never overlapping),
        # unsubscribe audit entries.
        with conn.cursor() as cur:
            cur.execute("""
                INSERT INTO appointments (company_id, lead_id, owner_id, starts_at, ends_at, status, title, created_at)
                SELECT company_id, lead_id, owner_id, base + (n * interval '1 hour'),
                       base + (n * interval '1 hour') + interval '45 minutes',
                       'confirmed', 'Termin', at
                FROM (SELECT l.company_id, i.lead_id, l.owner_id, i.started_at AS at, timestamptz '2027-01-01' AS base,
                             row_number() OVER (PARTITION BY l.owner_id ORDER BY i.id) AS n
                      FROM interactions i JOIN leads l ON l.id = i.lead_id
                      WHERE i.outcome = 'booked' AND l.owner_id IS NOT NULL AND i.id % 2 = 0) s""")
            cur.execute("""
                INSERT INTO audit_log (company_id, actor, action, entity_type, entity_id, at)
                SELECT company_id, 'sendgrid', 'lead.email_unsubscribed', 'lead', lead_id,
                       started_at + interval '1 hour'
                FROM interactions WHERE kind = 'email' AND status = 'clicked' AND id % 20 = 0""")
            conn.commit()
            cur.execute("SET statement_timeout = 0")
            cur.execute(_rollup_backfill_sql())
            for event in ("insert", "update", "delete"):
                cur.execute(f"ALTER TABLE interactions ENABLE TRIGGER interaction_rollups_{event}")
            cur.execute("ALTER TABLE leads ENABLE TRIGGER interaction_rollups_lead_delete")
            conn.commit()
            cur.execute("ANALYZE")
            counts = {
                t: cur.execute(f"SELECT count(*) FROM {t}").fetchone()[0]
                for t in ("leads", "interactions", "appointments", "audit_log", "interaction_rollups")
            }
    counts["seconds"] = time.perf_counter() - started
    return counts


BASELINE_LEADS = """
SELECT count(*) AS leads_in, count(*) FILTER (WHERE score > 50) AS qualified
FROM leads WHERE merged_into_id IS NULL AND created_at >= %(start)s AND created_at < %(end)s"""
BASELINE_CALLS = """
SELECT count(*) AS placed,
       count(*) FILTER (WHERE (data->>'answered')::boolean OR outcome IN
           ('booked','interested','callback_requested','not_interested','do_not_call','wrong_number')) AS answered,
       count(*) FILTER (WHERE outcome IN ('booked','interested','callback_requested')) AS wanted,
       count(*) FILTER (WHERE outcome = 'booked') AS booked,
       sum(cost_cents) FILTER (WHERE currency = 'USD') AS cost
FROM interactions WHERE kind = 'call' AND direction = 'outbound'
  AND coalesce(started_at, created_at) >= %(start)s AND coalesce(started_at, created_at) < %(end)s"""
BASELINE_EMAILS = """
SELECT count(*) AS sent, count(*) FILTER (WHERE status IN ('delivered','opened','clicked')) AS delivered,
       count(*) FILTER (WHERE status IN ('opened','clicked')) AS opened
FROM interactions WHERE kind = 'email' AND direction = 'outbound'
  AND coalesce(started_at, created_at) >= %(start)s AND coalesce(started_at, created_at) < %(end)s"""


def baseline(url: str, period) -> dict:
    out: dict = {}
    with psycopg.connect(url) as conn:
        for sql in (BASELINE_LEADS, BASELINE_CALLS, BASELINE_EMAILS):
            cur = conn.execute(sql, {"start": period.start, "end": period.end})
            out.update(zip([d.name for d in cur.description], cur.fetchone(), strict=True))
    return out


def kpi_headline(report) -> dict:
    calls, leads, emails = report.current.calls, report.current.leads, report.current.emails
    return {
        "leads_in": leads.leads_in,
        "qualified": leads.qualified,
        "placed": calls.placed,
        "answered": calls.answered,
        "wanted": calls.wanted,
        "booked": calls.booked,
        "cost": report.current.costs.total_cents,
        "sent": emails.sent,
        "delivered": emails.delivered,
        "opened": emails.opened,
    }


def timed(fn, repeat: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--interactions", type=int, default=1_000_000)
    parser.add_argument("--leads", type=int, default=150_000)
    parser.add_argument("--days", type=int, default=90)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg-admin", default=os.environ.get("LEADCHAIN_TEST_PG", DEFAULT_PG_ADMIN))
    parser.add_argument("--keep", action="store_true", help="keep the database (its name is printed)")
    args = parser.parse_args()

    os.environ.setdefault("MPLBACKEND", "Agg")
    import logging

    logging.getLogger("weasyprint").setLevel(logging.ERROR)
    logging.getLogger("fontTools").setLevel(logging.ERROR)
    from flask_migrate import upgrade

    import crm.models.reports  # noqa: F401
    from crm import create_app
    from crm.extensions import db
    from crm.reports import kpis
    from crm.reports.charts import build_charts
    from crm.reports.i18n import Formatter
    from crm.reports.pdf import html_to_pdf, render_html
    from crm.reports.periods import period_for

    name = f"bench_reports_{uuid.uuid4().hex[:8]}"
    try:
        admin = psycopg.connect(args.pg_admin, autocommit=True, connect_timeout=5)
    except psycopg.OperationalError as e:
        print(f"PostgreSQL at {args.pg_admin} is required: {e}", file=sys.stderr)
        return 2
    base = args.pg_admin.rsplit("/", 1)[0]
    url = f"{base}/{name}"
    admin.execute(f'CREATE DATABASE "{name}"')
    code = 0
    try:
        sa_url = url.replace("postgresql://", "postgresql+psycopg://", 1)
        app = create_app({"SQLALCHEMY_DATABASE_URI": sa_url}, secrets=_secrets())
        logging.getLogger("alembic").setLevel(logging.WARNING)
        with app.app_context():
            upgrade()
        print(f"load before loading: {load()} (1/5/15 min averages, {os.cpu_count()} cores)")
        print(
            f"database {name}: loading {args.leads:,} leads and {args.interactions:,} interactions "
            f"over {args.days} days ...",
            flush=True,
        )
        counts = generate(url, args.leads, args.interactions, args.days)
        print(
            f"loaded in {counts['seconds']:.1f} s: "
            + ", ".join(f"{k} {v:,}" for k, v in counts.items() if k != "seconds"),
            flush=True,
        )
        print(
            f"\n{'period':<28}{'rows in period':>15}{'SQL baseline':>14}{'KPIs plain':>12}{'x':>7}{'KPIs':>9}{'x':>7}"
            f"{'full PDF':>10}{'x':>7}{'pages':>7}  load 1/5/15 min"
        )
        fmt = Formatter("de")
        rows = []
        from crm.tenancy.context import company_scope

        with app.app_context(), company_scope(COMPANY):  # the company the data was generated in
            for kind, day in (("daily", LAST_DAY), ("weekly", LAST_DAY), ("monthly", date(2026, 10, 15))):
                period = period_for(kind, day)
                # `period` bound as a default: each timed call runs inside this iteration, and the binding
                # says so instead of relying on it.
                t_base, base_figures = timed(lambda period=period: baseline(url, period), args.repeat)
                t_plain, plain = timed(lambda period=period: kpis.compute(period, plain=True), args.repeat)
                t_kpi, report = timed(lambda period=period: kpis.compute(period), args.repeat)
                db.session.remove()

                def full_pdf(period=period):
                    r = kpis.compute(period)
                    return html_to_pdf(render_html(r, "de", charts=build_charts(r, fmt)))

                t_pdf, pdf_bytes = timed(full_pdf, max(1, args.repeat - 1))
                db.session.remove()
                from pypdf import PdfReader

                pages = len(PdfReader(io.BytesIO(pdf_bytes)).pages)
                ours = kpi_headline(report)
                if kpi_headline(plain) != ours:
                    code = 1
                    print(f"MISMATCH {kind}: fast {ours} plain {kpi_headline(plain)}")
                if ours != base_figures:
                    code = 1
                    print(f"MISMATCH {kind}: kpis {ours} baseline {base_figures}")
                label = f"{kind} {period.first_day}..{period.last_day}"
                in_period = base_figures["placed"] + base_figures["sent"]
                print(
                    f"{label:<28}{in_period:>15,}{t_base:>13.3f}s{t_plain:>11.2f}s{t_plain / t_base:>7.1f}"
                    f"{t_kpi:>8.2f}s{t_kpi / t_base:>7.1f}{t_pdf:>9.2f}s{t_pdf / t_base:>7.1f}{pages:>7}  {load()}",
                    flush=True,
                )
                rows.append((kind, t_base, t_kpi, t_pdf))
        print("\nheadline numbers of KPIs (fast and plain) and baseline " + ("agree" if code == 0 else "DIFFER"))
        print(
            f"machine: {os.cpu_count()} cores, load {load()} at the end; "
            f"PostgreSQL {admin.info.server_version // 10000}.{admin.info.server_version % 100}; "
            f"each figure the median of {args.repeat} runs (PDF: {max(1, args.repeat - 1)})"
        )
    except Exception as e:  # noqa: BLE001 - report, clean up, exit 2
        import traceback

        traceback.print_exc()
        print(f"benchmark failed: {e}", file=sys.stderr)
        code = 2
    finally:
        if args.keep:
            print(f"kept database {name}")
        else:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.close()
    return code


def _secrets():
    from crm.secrets import EnvSecrets

    return EnvSecrets({"LEADCHAIN_SECRET_APP_SECRET_KEY": "bench-only"})


if __name__ == "__main__":
    sys.exit(main())
