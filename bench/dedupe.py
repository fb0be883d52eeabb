"""Benchmark: the CSV import (with its duplicate detection) into a company of 1,000,000 leads against the same
import into an empty one, in the same run (issue 21, "A dedupe benchmark").

    .venv/bin/python bench/dedupe.py [--existing N] [--rows R] [--duplicates 0.2] [--profile]

Makes two throw-away PostgreSQL databases (CREATE DATABASE bench_<random>, dropped at the end) and runs
leadchain's migrations into both. Each gets a company and a sales rep (intake assigns every new lead); the
*loaded* one also gets N leads, bulk-loaded with generate_series: names from 30 first names and 2,550 last
names (the 50 commonest German ones hold a tenth of the leads, double-barrelled ones the rest), so intake's
fuzzy search meets hundreds of leads per last name, each with an email and a mobile number. Then the same
CSV file of R rows (German Excel export: cp1252, ';', national phone format) is imported into each, by what
`leadchain import FILE --company SLUG` runs: crm.services.csv_import.import_rows with the CLI's arguments, in
committed batches, in a child process per database whose start-up (app, file parse) is not timed. The file goes
in --slices consecutive slices, each into one database and then the other (the order alternating), so that the
other programs on a shared machine weigh on both imports alike; rows/s is the rows over the slices' time.

The rows: a share (--duplicates) are leads the loaded company already has, found by email (half, with
another phone number) or by phone (half, written as 0151 ..., no email); 2 % repeat an earlier row of the
file; the rest are new people. Into the empty company the first two kinds are new as well. The import's
counts are checked against that: created, duplicates + updated, nothing rejected, and the company's leads
afterwards (nothing lost, nothing stored twice).

Goal: the loaded import at >= 0.5x the empty one's rows/s. Exit status 0 when every count matches, 1 on a
mismatch, 2 when the benchmark could not run.
"""

# ruff: noqa: E402 - the path is set before the imports (below)
from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, bench/ would come first on the path (see bench/inbound.py); the repository root instead.
_ROOT = Path(__file__).resolve().parent.parent
sys.path[:] = [str(_ROOT)] + [p for p in sys.path if Path(p or ".").resolve() != _ROOT / "bench"]

import argparse
import csv
import dataclasses
import io
import json
import os
import random
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from bench.intake import (
    DEFAULT_PG_ADMIN,
    FIRST,
    LAST,
    BenchError,
    CpuMeter,
    CpuUse,
    Database,
    _readline,
    log,
    machine_busy,
    migrate,
)
from crm.services.normalize import match_key

GOAL = 0.5
SLUG = "bench-dedupe"
REPEATS = 0.02  # share of the file's rows that repeat an earlier row of the file
# The 50 commonest surnames hold one lead in ten; the rest are double-barrelled (2,500 names).
SURNAMES = LAST + [f"{a}-{b}" for a in LAST for b in LAST]
COMPANIES = ["Kfz-Werkstatt Krause", "Fitnessstudio Vital", "Bäckerei Sonne", "Zahnarzt Dr. Roth", "Solar Nord"]


def surname(i: int) -> str:
    return LAST[(i // 10) % len(LAST)] if i % 10 == 0 else SURNAMES[len(LAST) + i % (len(SURNAMES) - len(LAST))]


def existing(i: int) -> dict[str, str]:
    """Existing lead i (1-based) as generate_series makes it in seed(): the same expressions in Python."""
    first, last = FIRST[i % len(FIRST)], surname(i)
    return {"first": first, "last": last, "email": f"lead{i}@kunde-{i % 997}.de", "mobile": f"151{i:08d}"}


# ------------------------------------------------------------------------------------------------ data


def seed(url: str, leads: int) -> int:
    """A company, its sales rep and `leads` leads (generate_series); the company's id."""
    first = [[n] for n in FIRST]
    last = [[n] for n in SURNAMES]
    keys = [[match_key(n)] for n in SURNAMES]
    with psycopg.connect(url, autocommit=False, connect_timeout=10) as conn:
        company_id = conn.execute(
            "INSERT INTO companies (slug, name, timezone, language, active, created_at)"
            " VALUES (%s, 'Bench Dedupe GmbH', 'Europe/Berlin', 'de', true, now()) RETURNING id",
            (SLUG,),
        ).fetchone()[0]
        owner = conn.execute(
            "INSERT INTO users (email, name, role, language, timezone, active, created_at, company_id)"
            " VALUES ('rep@bench.test', 'Bench Rep', 'sales', 'de', 'Europe/Berlin', true, now(), %s) RETURNING id",
            (company_id,),
        ).fetchone()[0]
        if leads:
            # surname(i): LAST[(i / 10) % 50] for i % 10 = 0, else SURNAMES[50 + i % 2500] (arrays are 1-based).
            conn.execute(
                "INSERT INTO leads (company_id, first_name, last_name, match_key, company, email, email_key,"
                " email_status, phone_e164, phone_region, phone_timezone, phone_status, language, source, status,"
                " tags, do_not_contact, owner_id, created_at, updated_at)"
                " SELECT %(company)s, (%(first)s::text[])[1 + i %% 30], (%(last)s::text[])[s], (%(keys)s::text[])[s],"
                " 'Firma ' || (i %% 5000), 'lead' || i || '@kunde-' || (i %% 997) || '.de',"
                " 'lead' || i || '@kunde-' || (i %% 997) || '.de', 'unknown', '+49151' || lpad(i::text, 8, '0'),"
                " 'DE', 'Europe/Berlin', 'valid', 'de', 'bench', 'new', '[]'::jsonb, false, %(owner)s, now(), now()"
                " FROM (SELECT i, CASE WHEN i %% 10 = 0 THEN 1 + (i / 10) %% 50 ELSE 51 + i %% 2500 END AS s"
                "       FROM generate_series(1, %(n)s) AS i) AS g",
                {
                    "company": company_id,
                    "owner": owner,
                    "n": leads,
                    "first": [r[0] for r in first],
                    "last": [r[0] for r in last],
                    "keys": [r[0] for r in keys],
                },
            )
        conn.commit()
        conn.execute("ANALYZE")
    return int(company_id)


@dataclass(frozen=True)
class Expected:
    """What the import must report, by database."""

    rows: int
    new: int  # people neither company has
    known: int  # people the loaded company has
    repeats: int  # rows repeating an earlier row of the file

    def loaded(self) -> dict[str, int]:
        return {"created": self.new, "matched": self.known + self.repeats, "rejected": 0}

    def empty(self) -> dict[str, int]:
        return {"created": self.new + self.known, "matched": self.repeats, "rejected": 0}


def make_csv(rows: int, existing_leads: int, share: float, seed_: int = 21) -> tuple[bytes, Expected]:
    """The import file (German Excel: cp1252, ';', CRLF) and what it must do."""
    rng = random.Random(seed_)
    known_ids = rng.sample(range(1, existing_leads + 1), min(existing_leads, round(rows * share)))
    repeats = round(rows * REPEATS)
    out = io.StringIO()
    w = csv.writer(out, delimiter=";", lineterminator="\r\n")
    w.writerow(["Vorname", "Nachname", "E-Mail", "Telefon", "Firma", "Quelle", "Einwilligung Telefon", "Datum"])
    lines: list[list[str]] = []
    kinds = ["known"] * len(known_ids) + ["new"] * (rows - repeats - len(known_ids))
    rng.shuffle(kinds)
    known = iter(known_ids)
    for n, kind in enumerate(kinds):
        date = f"{1 + n % 28:02d}.11.2026"
        if kind == "known":
            i = next(known)
            lead = existing(i)
            if i % 2:  # by email, from another number: the CRM keeps its own, logs the conflict
                lines.append([lead["first"], lead["last"], lead["email"], f"0152 {n:08d}", "", "messe", "", date])
            else:  # by phone, no email
                lines.append(
                    [lead["first"], lead["last"], "", f"0{lead['mobile'][:3]} {lead['mobile'][3:]}", "", "", "ja", date]
                )
        else:
            first, last = FIRST[rng.randrange(len(FIRST))], surname(rng.randrange(1, 10**6))
            lines.append(
                [
                    first,
                    last,
                    f"{first}.{last}.{n}@neu-{n % 101}.de".lower(),
                    f"0160 {n:08d}",
                    COMPANIES[n % len(COMPANIES)],
                    "website",
                    "x",
                    date,
                ]
            )
    for _ in range(repeats):  # the same row again, later in the file
        lines.insert(rng.randrange(1, len(lines)), list(lines[rng.randrange(len(lines) // 2)]))
    w.writerows(lines)
    new = rows - repeats - len(known_ids)
    return out.getvalue().encode("cp1252"), Expected(rows, new, len(known_ids), repeats)


# -------------------------------------------------------------------------------------------- import


def import_part(path: str, slug: str, profile: str | None) -> int:
    """The child: what `leadchain import FILE --company SLUG` runs, with start-up (app, file parse) untimed.
    Protocol with the parent: "ready"; then for each line "A B" it imports rows A..B-1 of the file and answers
    a JSON line with the time taken; on "end" it answers the whole report, then waits for the end of stdin."""
    import cProfile

    import sqlalchemy as sa

    from crm import create_app
    from crm.extensions import db
    from crm.models import Company
    from crm.services import csv_import, submissions
    from crm.tenancy.context import company_scope, operator_scope

    app = create_app()
    config = app.config["LEADCHAIN"]
    parsed = csv_import.parse(Path(path).read_bytes())
    # The CLI's region: inferred from the whole file (each slice below is imported with it).
    region = csv_import.infer_region(parsed, config.default_phone_region)
    with app.app_context():
        submissions.require_chain_key()
        with operator_scope("bench", "find the bench company"):
            company_id = db.session.scalar(sa.select(Company.id).where(Company.slug == slug))
            db.session.rollback()
    report = csv_import.ImportReport()
    profiler = cProfile.Profile() if profile else None
    wall = cpu = 0.0
    print("ready", flush=True)
    for line in sys.stdin:
        if line.strip() == "end":
            break
        start, stop = (int(x) for x in line.split())
        part = dataclasses.replace(parsed, rows=parsed.rows[start:stop])
        with app.app_context(), company_scope(company_id):
            t0, c0 = time.perf_counter(), time.process_time()
            if profiler:
                profiler.enable()
            done = csv_import.import_rows(
                part,
                actor="cli:import",
                default_source="import",
                region=region,
                fuzzy_threshold=config.fuzzy_threshold,
            )
            if profiler:
                profiler.disable()
            took, took_cpu = time.perf_counter() - t0, time.process_time() - c0
            db.session.remove()
        wall, cpu = wall + took, cpu + took_cpu
        report.total += done.total
        report.absorb(done)
        print(json.dumps({"wall": took}), flush=True)
    with app.app_context(), company_scope(company_id):
        leads = db.session.scalar(sa.text("SELECT count(*) FROM leads WHERE company_id = :c"), {"c": company_id})
        live_dupes = db.session.scalar(
            sa.text(
                "SELECT count(*) FROM (SELECT email_key FROM leads WHERE company_id = :c AND merged_into_id IS NULL"
                " AND email_key IS NOT NULL GROUP BY email_key HAVING count(*) > 1) AS d"
            ),
            {"c": company_id},
        )
        db.session.remove()
    if profiler:
        profiler.dump_stats(profile)
    print(
        json.dumps(
            {
                **{k: v for k, v in report.as_dict().items() if k != "warnings"},
                "warnings": len(report.warnings),
                "retried_batches": report.retried_batches,
                "done": report.done,
                "wall": wall,
                "cpu": cpu,
                "leads_after": leads,
                "live_email_dupes": live_dupes,
            }
        ),
        flush=True,
    )
    sys.stdin.read()  # keep the process (and its backend) alive until the parent has read the CPU counters
    return 0


@dataclass
class ImportRun:
    name: str
    before: int  # leads in the company before the import
    answer: dict[str, Any]
    cpu: CpuUse | None

    @property
    def rate(self) -> float:
        return self.answer["total"] / self.answer["wall"]


class Importer:
    """One child importing into one database (see import_part), its CPU counted over the slices it ran."""

    def __init__(self, name: str, db_: Database, env: dict[str, str], csv_path: Path, before: int, args: Any):
        self.name, self.db, self.before, self.args = name, db_, before, args
        self.profile = str(csv_path.with_suffix(f".{name}.prof")) if args.profile else None
        cmd = [sys.executable, str(Path(__file__).resolve()), "--import-part", str(csv_path)]
        if self.profile:
            cmd += ["--profile-to", self.profile]
        self.proc = subprocess.Popen(
            cmd,
            cwd=_ROOT,
            env={**env, "DATABASE_URL": db_.url or ""},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            bufsize=1,
        )
        self.end = time.monotonic() + args.timeout
        self.cpu: CpuUse | None = None

    def ready(self) -> None:
        if _readline(self.proc, self.end).strip() != "ready":
            raise BenchError(f"[{self.name}] import process did not start")

    def slice(self, start: int, stop: int) -> float:
        """Import rows start..stop-1; the seconds it took (start-up and the pipe not counted)."""
        with CpuMeter(lambda: [self.proc.pid], self.db.name) as meter:
            self.proc.stdin.write(f"{start} {stop}\n")
            self.proc.stdin.flush()
            took = json.loads(_readline(self.proc, self.end))["wall"]
        if meter.result is not None:
            c = meter.result
            self.cpu = (
                c
                if self.cpu is None
                else CpuUse(
                    self.cpu.client + c.client,
                    self.cpu.app + c.app,
                    self.cpu.database + c.database,
                    self.cpu.other + c.other,
                    self.cpu.capacity + c.capacity,
                )
            )
        return took

    def finish(self) -> ImportRun:
        self.proc.stdin.write("end\n")
        self.proc.stdin.flush()
        answer = json.loads(_readline(self.proc, self.end))
        self.proc.stdin.close()
        self.proc.wait(timeout=30)
        if self.profile:
            import pstats

            print(f"\n[{self.name}] profile of the import (cumulative, top {self.args.profile}):")
            pstats.Stats(self.profile).sort_stats("cumulative").print_stats(self.args.profile)
        return ImportRun(self.name, self.before, answer, self.cpu)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def run_imports(importers: list[Importer], rows: int, slices: int) -> list[ImportRun]:
    """The file in `slices` consecutive slices, each imported into every database in turn (the order
    alternating), so a machine busier at one time than another weighs on both imports alike."""
    try:
        for imp in importers:
            imp.ready()
        bounds = [round(rows * k / slices) for k in range(slices + 1)]
        for k in range(slices):
            order = importers if k % 2 == 0 else importers[::-1]
            for imp in order:
                imp.slice(bounds[k], bounds[k + 1])
            log(f"slice {k + 1}/{slices} (rows {bounds[k + 1]:,}) imported into {', '.join(i.name for i in order)}")
        return [imp.finish() for imp in importers]
    finally:
        for imp in importers:
            imp.kill()


def check(run: ImportRun, want: dict[str, int]) -> list[str]:
    """What the import got wrong, against the file's own make-up (empty: right)."""
    a = run.answer
    got = {"created": a["created"], "matched": a["duplicates"] + a["updated"], "rejected": a["rejected"]}
    wrong = [f"{k} {got[k]}, expected {v}" for k, v in want.items() if got[k] != v]
    if a["done"] != a["total"]:
        wrong.append(f"done {a['done']} of {a['total']}")
    if a["leads_after"] != run.before + want["created"]:
        wrong.append(f"leads after {a['leads_after']}, expected {run.before + want['created']}")
    if a["live_email_dupes"]:
        wrong.append(f"{a['live_email_dupes']} email keys held by two live leads")
    return wrong


def report(runs: list[ImportRun], expected: Expected, load: float, args: Any) -> int:
    print(
        f"\n{expected.rows:,} rows ({expected.known:,} known to the loaded company, {expected.repeats:,} repeats "
        f"within the file, {expected.new:,} new); cpus={os.cpu_count()}, 1-minute load average {load:.1f}"
    )
    head = ["company", "leads before", "rows/s", "wall s", "created", "dup+upd", "flagged", "rejected"]
    head += ["cpu ms/row app", "db", "other", "ok"]
    print("  ".join(f"{h:>14}" for h in head))
    status = 0
    for run in runs:
        a, cpu = run.answer, run.cpu
        want = expected.loaded() if run.before else expected.empty()
        wrong = check(run, want)
        n = a["total"]
        cells = [
            run.name,
            f"{run.before:,}",
            f"{run.rate:.1f}",
            f"{a['wall']:.1f}",
            str(a["created"]),
            str(a["duplicates"] + a["updated"]),
            str(a["flagged"]),
            str(a["rejected"]),
            f"{1000 * cpu.app / n:.2f}" if cpu else "-",
            f"{1000 * cpu.database / n:.2f}" if cpu else "-",
            f"{cpu.other / cpu.capacity:.0%}" if cpu else "-",
            "yes" if not wrong else "NO",
        ]
        print("  ".join(f"{c:>14}" for c in cells))
        for w in wrong:
            print(f"MISMATCH {run.name}: {w}")
            status = 1
    loaded, empty = runs
    ratio = loaded.rate / empty.rate
    verdict = "met" if ratio >= GOAL else "NOT met"
    print(
        f"\nloaded/empty rows/s: {loaded.rate:.1f} / {empty.rate:.1f} = {ratio:.2f}x "
        f"(goal >= {GOAL}x: {verdict}); 1-minute load average {load:.1f}"
    )
    return status


# ---------------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--existing", type=int, default=1_000_000, help="leads in the loaded company (default 1,000,000)")
    p.add_argument("--rows", type=int, default=10_000, help="rows in the imported file (default 10,000)")
    p.add_argument("--duplicates", type=float, default=0.2, help="share of rows the loaded company has (default 0.2)")
    p.add_argument(
        "--slices", type=int, default=10, help="import the file in N slices, alternating the companies (default 10)"
    )
    p.add_argument("--profile", type=int, nargs="?", const=30, default=0, help="cProfile both imports, top N")
    p.add_argument("--timeout", type=float, default=3600, help="limit per import in seconds (default 3600)")
    p.add_argument("--pg-admin-url", default=os.environ.get("BENCH_PG_ADMIN_URL", DEFAULT_PG_ADMIN))
    p.add_argument("--import-part", help=argparse.SUPPRESS)  # internal: the importing child
    p.add_argument("--profile-to", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.import_part:
        return args
    if not 1 <= args.existing <= 99_999_999 or not 10 <= args.rows <= 1_000_000 or not 0 <= args.duplicates < 0.9:
        p.error("--existing 1..99,999,999 (8-digit numbers), --rows 10..1,000,000, --duplicates 0..0.9")
    if not 1 <= args.slices <= args.rows:
        p.error("--slices 1..--rows")
    return args


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.import_part:
        return import_part(args.import_part, SLUG, args.profile_to)
    signal.signal(signal.SIGTERM, _interrupt)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("VAULT_", "LEADCHAIN_SECRET_")) and k != "DATABASE_URL"
    }
    env.update(
        {
            "LEADCHAIN_SECRET_APP_SECRET_KEY": secrets.token_urlsafe(32),
            # The import hands every lead to its chain and refuses without the key (submissions.require_chain_key).
            "LEADCHAIN_SECRET_APP_CHAIN_KEY": secrets.token_hex(16),
            "PYTHONUNBUFFERED": "1",
        }
    )
    tmpdir = Path(tempfile.mkdtemp(prefix="leadchain-bench-dedupe-"))
    dbs = {name: Database("postgresql", args.pg_admin_url, tmpdir) for name in ("loaded", "empty")}
    status = 2
    try:
        data, expected = make_csv(args.rows, args.existing, args.duplicates)
        csv_path = tmpdir / "import.csv"
        csv_path.write_bytes(data)
        for name, database in dbs.items():
            url = database.create()
            migrate(url, env, 300)
            started = time.perf_counter()
            seed(url, args.existing if name == "loaded" else 0)
            log(f"[{name}] {database.name}: migrated, seeded in {time.perf_counter() - started:.1f} s")
        busy0, load0 = machine_busy(), os.getloadavg()[0]
        importers = [
            Importer(name, dbs[name], env, csv_path, args.existing if name == "loaded" else 0, args)
            for name in ("loaded", "empty")
        ]
        log(f"importing {args.rows:,} rows into each company in {args.slices} alternating slices")
        runs = run_imports(importers, expected.rows, args.slices)
        busy1, load1 = machine_busy(), os.getloadavg()[0]
        if busy0 and busy1 and busy1[1] > busy0[1]:
            log(f"machine CPU busy over both imports: {(busy1[0] - busy0[0]) / (busy1[1] - busy0[1]):.0%}")
        status = report(runs, expected, (load0 + load1) / 2, args)
    except BenchError as e:
        log(f"benchmark failed: {e}")
    except KeyboardInterrupt:
        log("interrupted")
        status = 130
    finally:
        for database in dbs.values():
            database.drop()
        shutil.rmtree(tmpdir, ignore_errors=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
