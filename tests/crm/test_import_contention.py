"""`leadchain import` on the local stack's SQLite file while the stack is calling (issue 12, item 2).

The local stack runs the web, the chain worker's CRM activities and the voice bridge as separate
processes on one SQLite file. Here a real call stream writes that file while a 300-row German Excel
export goes through the CLI: another process and threads run the chain's CRM activities (timeline,
tasks, call outcomes, scores), apply provider call events as the webhook handlers do, and post leads
to the REST API. Expected figures come from how the sample file is built, not from the importer.
"""

from __future__ import annotations

import csv
import io
import json
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import traceback
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from crm import create_app
from crm.extensions import db
from crm.models import AuditEntry, ConsentRecord, Interaction, InteractionKind, Lead, PossibleDuplicate, Task
from crm.services import csv_import
from tests.conftest import API_KEY, _migrate, make_test_secrets
from workers import cli

ROOT = Path(__file__).resolve().parents[2]
FIRST = [
    "Jürgen",
    "Thomas",
    "Anna",
    "Jonas",
    "Sophie",
    "Günther",
    "Zoë",
    "Björn",
    "Maria",
    "Lukas",
    "Käthe",
    "Ömer",
    "Franziska",
    "Sören",
]
LAST = [
    "Weber",
    "Fischer",
    "Schneider",
    "Müller",
    "Schäfer",
    "Zimmermann",
    "Groß",
    "Köhler",
    "Becker",
    "Wolf",
    "Hoffmann",
    "Krüger",
    "Öztürk",
    "Lange",
    "Braun",
    "Vogel",
    "Jäger",
]
COMPANIES = [
    "Kfz-Werkstatt Krause",
    "Bäckerei Süß",
    "Fitnessstudio Vital",
    "Café Zoë",
    "Straßenbau Öztürk GmbH",
    "Zahnarztpraxis Dr. Groß",
    "Möbelhaus Köln",
]
CONSENT = ["ja", "Ja (Formular)", "x", "", "nein"]
HEADER = ["Vorname", "Nachname", "E-Mail", "Telefon", "Firma", "Quelle", "Einwilligung Telefon", "Datum", "Notiz"]
ASCII = str.maketrans({"ä": "ae", "ö": "oe", "ü": "ue", "ß": "ss", "ë": "e", "Ö": "Oe"})


# ---- the sample export ----------------------------------------------------------------------------


@dataclass
class Export:
    path: Path
    emails: list[str]  # one per person, as the file writes them first
    lines: dict[int, str] = field(default_factory=dict)  # spreadsheet line -> the row's email key
    bad_lines: list[int] = field(default_factory=list)  # rows without any usable contact

    @property
    def total(self) -> int:
        return len(self.lines) + len(self.bad_lines)

    def people_up_to(self, last_line: int) -> set[str]:
        return {key for line, key in self.lines.items() if line <= last_line}


def write_export(path: Path, people: int = 280, repeats: int = 12, bad: int = 8) -> Export:
    """A German Excel export (cp1252, ';', CRLF): `people` distinct persons with phone numbers in the
    usual spellings, `repeats` later rows of earlier persons (e-mail in capitals, a new note), and `bad`
    rows whose only contact is an unusable e-mail."""
    out = Export(path=path, emails=[])
    rows: list[list[str]] = []
    phone_styles = ["030 2310{:04d}", "+49 (0)30 2310 {:04d}", "030/2310-{:04d}", "0049 30 2310{:04d}"]
    for i in range(people):
        first, last = FIRST[i % len(FIRST)], LAST[(i // len(FIRST)) % len(LAST)]
        company = COMPANIES[i % len(COMPANIES)]
        email = f"{first.lower().translate(ASCII)}.{last.lower().translate(ASCII)}{i}@firma{i % 9}.de"
        out.emails.append(email)
        note = "Rückruf erwünscht" if i % 4 == 0 else ("Messe-Kontakt; Größe: 12 Mitarbeiter" if i % 7 == 0 else "")
        rows.append(
            [
                first,
                last,
                email,
                phone_styles[i % 4].format(i),
                company,
                ["website", "messe"][i % 2],
                CONSENT[i % len(CONSENT)],
                f"{1 + i % 28:02d}.11.2026",
                note,
            ]
        )
    persons = [list(row) for row in rows]
    for j in range(repeats):
        i = (j * 23) % people
        row = list(persons[i])
        row[2], row[8] = out.emails[i].upper(), f"Zweiter Kontakt auf der Messe ({j})"
        rows.insert(40 + j * 20, row)
    for k in range(bad):
        rows.insert(
            25 + k * 33,
            [f"Ohne{k}", "Kontakt", f"ohne{k}(at)firma.de", "", "Unbekannt", "website", "", "05.11.2026", ""],
        )
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=";", lineterminator="\r\n")
    writer.writerow(HEADER)
    writer.writerows(rows)
    path.write_bytes(buffer.getvalue().encode("cp1252"))
    for line, row in enumerate(rows, 2):
        if "@" in row[2]:
            out.lines[line] = row[2].lower()
        else:
            out.bad_lines.append(line)
    return out


# ---- the call stream -------------------------------------------------------------------------------


@dataclass
class StreamStats:
    writes: int = 0
    errors: list[str] = field(default_factory=list)


def chain_activity_loop(app, lead_ids: list[int], name: str, stop, stats: StreamStats, pause_s: float = 0.004) -> None:
    """What the chain worker does while calls run: timeline entries, callback tasks, call outcomes and
    re-scores, each activity in its own app context and transaction."""
    from activities.crm_activities import CrmActivities
    from crm.tenancy.context import unit_of_work
    from workflows.payloads import CallResult, ScoreInput, TaskInput, TimelineInput

    acts = CrmActivities(app)
    i = 0
    while not stop():
        lead_id = lead_ids[i % len(lead_ids)]
        # Each activity in the company's unit of work, as the worker's Temporal interceptor runs it
        # (crm.tenancy.temporal_headers): the per-company settings the activities read need the company bound.
        with unit_of_work(1):
            try:
                acts.record_timeline(
                    TimelineInput(lead_id, f"lead-contention-{lead_id}", "calling", f"{name} attempt {i}")
                )
                acts.create_task(TaskInput(lead_id, "callback", "Rückruf vereinbaren", 3600, f"contention:{name}:{i}"))
                acts.record_call_outcome(
                    CallResult("retell", f"call-{lead_id}", f"{name}-{i}", True, "completed", "interested", 42)
                )
                acts.score_lead(ScoreInput(lead_id, "call_outcome"))
                stats.writes += 4
            except Exception:  # noqa: BLE001 - collected and asserted on by the test
                stats.errors.append(traceback.format_exc(limit=3))
                time.sleep(0.05)
        i += 1
        time.sleep(pause_s)


def web_loop(app, lead_ids: list[int], stop, stats: StreamStats, pause_s: float = 0.004) -> None:
    """What the web processes do meanwhile: provider webhooks merged into the call interactions
    (crm.services.calls.apply_event, committed per delivery) and leads posted to the REST API."""
    from crm.services import calls
    from providers.events import CallEvent

    client = app.test_client()
    i = 0
    while not stop():
        lead_id = lead_ids[i % len(lead_ids)]
        try:
            for stage in ("ringing", "in_progress", "ended"):
                event = CallEvent(
                    provider="retell",
                    call_id=f"call-{lead_id}",
                    event_id=f"web-{i}-{stage}",
                    event_type=f"call_{stage}",
                    stage=stage,
                    lead_id=lead_id,
                    occurred_at=datetime.now(UTC),
                    answered=True if stage == "ended" else None,
                    end_status="completed" if stage == "ended" else None,
                    duration_s=60 + i % 50,
                    summary="Interessiert, möchte ein Angebot." if stage == "ended" else None,
                )
                with app.app_context():
                    calls.apply_event(event)
                    db.session.commit()
                    db.session.remove()
                stats.writes += 1
            r = client.post(
                "/api/v1/leads",
                json={
                    "first_name": "Anrufer",
                    "last_name": f"Nummer{i}",
                    "email": f"anrufer{i}@beispiel.de",
                    "source": "website",
                },
                headers={"X-API-Key": API_KEY},
            )
            if r.status_code != 202:
                stats.errors.append(f"POST /api/v1/leads answered {r.status_code}: {r.get_data(as_text=True)[:200]}")
            stats.writes += 1
        except Exception:  # noqa: BLE001 - collected and asserted on by the test
            stats.errors.append(traceback.format_exc(limit=3))
            time.sleep(0.05)
        i += 1
        time.sleep(pause_s)


def stream_process_main(url: str, stop_file: str, lead_ids: list[int]) -> None:
    """A second worker process on the same file (the local stack's processes are separate)."""
    app = make_app(url)
    stats = StreamStats()
    chain_activity_loop(app, lead_ids, "process", lambda: Path(stop_file).exists(), stats)
    print(json.dumps({"writes": stats.writes, "errors": stats.errors}))


class CallStream:
    """Threads in this process plus one more process, all writing the database until stopped."""

    def __init__(self, app, url: str, lead_ids: list[int], tmp_path: Path) -> None:
        self.app, self.url, self.lead_ids = app, url, lead_ids
        self.stop_file = tmp_path / "stop-stream"
        self.stats = {name: StreamStats() for name in ("chain-a", "chain-b", "web")}
        self.threads: list[threading.Thread] = []
        self.process: subprocess.Popen | None = None
        self.process_result: dict | None = None

    def _stopped(self) -> bool:
        return self.stop_file.exists()

    def start(self) -> CallStream:
        code = (
            "import json, sys; from tests.crm.test_import_contention import stream_process_main; "
            "stream_process_main(sys.argv[1], sys.argv[2], json.loads(sys.argv[3]))"
        )
        self.process = subprocess.Popen(
            [sys.executable, "-c", code, self.url, str(self.stop_file), json.dumps(self.lead_ids)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("chain-a", "chain-b"):
            self.threads.append(
                threading.Thread(
                    target=chain_activity_loop,
                    daemon=True,
                    args=(self.app, self.lead_ids, name, self._stopped, self.stats[name]),
                )
            )
        self.threads.append(
            threading.Thread(
                target=web_loop, daemon=True, args=(self.app, self.lead_ids, self._stopped, self.stats["web"])
            )
        )
        for thread in self.threads:
            thread.start()
        self._wait_until_writing()
        return self

    def _wait_until_writing(self, timeout_s: float = 60.0) -> None:
        # The other process needs a few seconds to import the app; the imports start once it writes.
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"stream process ended early: {self.process.stderr.read()[-2000:]}")
            with self.app.app_context():
                seen = db.session.scalar(
                    sa.select(sa.func.count()).select_from(Task).where(Task.dedupe_key.like("contention:process:%"))
                )
                db.session.remove()
            if seen:
                return
            time.sleep(0.2)
        raise AssertionError("the stream process never wrote")

    def stop(self) -> None:
        self.stop_file.touch()
        for thread in self.threads:
            thread.join(timeout=60)
        out, err = self.process.communicate(timeout=60)
        assert self.process.returncode == 0, err[-2000:]
        self.process_result = json.loads(out.strip().splitlines()[-1])

    def writes(self) -> int:
        return sum(s.writes for s in self.stats.values()) + (self.process_result or {}).get("writes", 0)

    def errors(self) -> list[str]:
        return [e for s in self.stats.values() for e in s.errors] + (self.process_result or {}).get("errors", [])


# ---- fixtures --------------------------------------------------------------------------------------


def make_app(url: str, **config):
    # The threads and the second process run outside the test's company scope: the TESTING fallback company
    # (crm/tenancy/testing_fallback.py) stands in for the unit of work each would bind.
    config = {"TESTING": True, "SQLALCHEMY_DATABASE_URI": url, "TENANCY_TEST_DEFAULT_COMPANY": 1, **config}
    return create_app(config, secrets=make_test_secrets())


@pytest.fixture(scope="module")
def migrated_sqlite_file(sqlite_dir) -> Path:
    """One migration for the module (8.9 s on disk), copied for each test."""
    path = sqlite_dir / "import-contention.db"
    _migrate(f"sqlite:///{path}")
    return path


@pytest.fixture
def sqlite_url(tmp_path, migrated_sqlite_file) -> str:
    """A migrated SQLite file of its own on disk, like the local stack's var/leadchain.db."""
    path = tmp_path / "leadchain.db"
    shutil.copyfile(migrated_sqlite_file, path)
    return f"sqlite:///{path}"


def seed_called_leads(app, count: int = 12) -> list[int]:
    """Leads already in their chains, each with a call interaction the call stream keeps updating."""
    from crm.schemas.lead import WebFormLeadSchema
    from crm.services import calls, intake
    from providers.events import CallEvent

    with app.app_context():
        schema = WebFormLeadSchema(default_region="DE", default_source="website")
        ids = []
        for n in range(count):
            lead = schema.load(
                {
                    "first_name": "Bestand",
                    "last_name": f"Kunde{n}",
                    "email": f"bestand{n}@kunde.de",
                    "phone": f"+49 89 4410{n:04d}",
                    "phone_consent": "ja",
                }
            )
            lead_id = intake.ingest(lead, actor="test").lead_id
            calls.apply_event(
                CallEvent(
                    provider="retell",
                    call_id=f"call-{lead_id}",
                    event_id=f"seed-{lead_id}",
                    event_type="call_started",
                    stage="queued",
                    lead_id=lead_id,
                )
            )
            ids.append(lead_id)
        db.session.commit()
        db.session.remove()
    return ids


def run_cli(app, monkeypatch, path: Path):
    monkeypatch.setattr(cli, "_app", lambda: app)
    return CliRunner().invoke(cli.main, ["import", str(path)])


def summary_row(output: str) -> dict[str, int]:
    """The figures of the summary table (rows, created, updated, duplicates, flagged, rejected, warnings)."""
    names = ["rows", "created", "updated", "duplicates", "flagged", "rejected", "warnings"]
    for line in output.splitlines():
        cells = [c.strip() for c in line.strip().strip("│┃|").split("│")]
        if len(cells) == len(names) and all(c.isdigit() for c in cells):
            return dict(zip(names, map(int, cells), strict=True))
    raise AssertionError(f"no summary table in:\n{output}")


def imported_keys(app, export: Export) -> list[str]:
    """Email keys of the live leads that came from the file (one entry per lead, duplicates kept)."""
    wanted = {e.lower() for e in export.emails}
    with app.app_context():
        keys = [
            k for k in db.session.scalars(sa.select(Lead.email_key).where(Lead.merged_into_id.is_(None))) if k in wanted
        ]
        db.session.remove()
    return keys


def import_state(app) -> dict[str, int]:
    """What an import writes (the call stream writes other rows meanwhile, so only the import's are counted)."""
    with app.app_context():
        count = lambda q: db.session.scalar(sa.select(sa.func.count()).select_from(q))  # noqa: E731
        state = {
            "leads": count(sa.select(Lead.id).where(Lead.email_key.like("%@firma%")).subquery()),
            "consents": count(ConsentRecord),
            "notes": count(sa.select(Interaction.id).where(Interaction.kind == InteractionKind.NOTE).subquery()),
            "possible_duplicates": count(PossibleDuplicate),
            "import_audit": count(sa.select(AuditEntry.id).where(AuditEntry.actor == "cli:import").subquery()),
        }
        db.session.remove()
    return state


def flat(output: str) -> str:
    """The CLI's output with rich's line wrapping undone."""
    return " ".join(output.split())


def rejected_lines(export: Export) -> list[int]:
    path = export.path.with_name(f"{export.path.stem}.rejected.csv")
    if not path.exists():
        return []
    text = path.read_bytes().decode("utf-8-sig")
    return [int(r["line"]) for r in csv.DictReader(io.StringIO(text), delimiter=";")]


# ---- the tests -------------------------------------------------------------------------------------


def test_import_completes_on_sqlite_while_the_stack_is_calling(sqlite_url, tmp_path, monkeypatch):
    app = make_app(sqlite_url)
    export = write_export(tmp_path / "messe_leads.csv")
    people, repeats = len(export.emails), len(export.lines) - len(export.emails)
    assert export.total == 300 and export.path.read_bytes().decode("cp1252").count(";") > 300 * 8

    stream = CallStream(app, sqlite_url, seed_called_leads(app), tmp_path).start()
    try:
        first = run_cli(app, monkeypatch, export.path)
        writes_during_first = stream.writes()
        second = run_cli(app, monkeypatch, export.path)
    finally:
        stream.stop()

    assert first.exit_code == 0, first.output
    assert f"{export.total}/{export.total}" in first.output
    figures = summary_row(first.output)
    assert figures["rows"] == export.total
    assert figures["created"] == people
    assert figures["updated"] + figures["duplicates"] == repeats
    assert figures["rejected"] == len(export.bad_lines)
    assert "stopped" not in first.output
    keys = imported_keys(app, export)
    assert sorted(keys) == sorted(e.lower() for e in export.emails)  # every person once
    assert rejected_lines(export) == export.bad_lines
    after_first = import_state(app)
    assert after_first["leads"] == people

    # The same file again: nothing new, every good row reported as already there.
    assert second.exit_code == 0, second.output
    again = summary_row(second.output)
    assert (again["created"], again["updated"]) == (0, 0)
    assert again["duplicates"] == people + repeats
    assert import_state(app) == after_first
    assert sorted(imported_keys(app, export)) == sorted(keys)

    # The stream really wrote throughout, and none of its writers failed either.
    assert writes_during_first > 100 and stream.writes() > writes_during_first
    assert stream.errors() == []


def test_interrupted_import_reports_what_it_did_and_a_rerun_finishes(sqlite_url, tmp_path, monkeypatch):
    app = make_app(sqlite_url)
    export = write_export(tmp_path / "messe_leads.csv")
    real_ingest = csv_import.intake.ingest
    calls = {"n": 0}

    def ingest_then_ctrl_c(*args, **kwargs):
        # Ctrl+C arrives while the 120th good row is being stored.
        calls["n"] += 1
        if calls["n"] == 120:
            raise KeyboardInterrupt
        return real_ingest(*args, **kwargs)

    monkeypatch.setattr(csv_import.intake, "ingest", ingest_then_ctrl_c)
    interrupted = run_cli(app, monkeypatch, export.path)
    monkeypatch.setattr(csv_import.intake, "ingest", real_ingest)

    assert interrupted.exit_code == 130, interrupted.output
    match = re.search(r"(\d+) of (\d+) rows done, up to line (\d+)", flat(interrupted.output))
    assert match, interrupted.output
    done, total, last_line = map(int, match.groups())
    assert total == export.total and 0 < done < 120 + len(export.bad_lines) and last_line == done + 1
    figures = summary_row(interrupted.output)
    assert figures["created"] + figures["updated"] + figures["duplicates"] + figures["rejected"] == done
    # What it says it did is what is stored, and the rejects file covers the rows it got through.
    assert sorted(imported_keys(app, export)) == sorted(export.people_up_to(last_line))
    assert figures["created"] == len(export.people_up_to(last_line))
    assert rejected_lines(export) == [line for line in export.bad_lines if line <= last_line]

    rerun = run_cli(app, monkeypatch, export.path)
    assert rerun.exit_code == 0, rerun.output
    rest = summary_row(rerun.output)
    assert rest["created"] == len(export.emails) - figures["created"]
    assert rest["duplicates"] + rest["updated"] >= figures["created"]  # the rows done before: not again
    assert sorted(imported_keys(app, export)) == sorted(e.lower() for e in export.emails)
    assert rejected_lines(export) == export.bad_lines


class LockHolder:
    """Another process's long write transaction: a connection of its own takes the write lock (BEGIN
    IMMEDIATE) as soon as the import has committed its first batch, and keeps it `hold_s` seconds or
    until released. (The moment is chosen through SQLAlchemy's after_commit event; taking the lock from
    a polling thread would starve, as the import takes it again at once for its next batch.)"""

    def __init__(self, db_file: Path, *, hold_s: float | None) -> None:
        # No busy timeout: it tries the lock only when the import has just committed (see _take).
        self.conn = sqlite3.connect(db_file, timeout=0, isolation_level=None, check_same_thread=False)
        self.hold_s = hold_s
        self.taken = threading.Event()
        self._mutex = threading.Lock()
        self._timer: threading.Timer | None = None

    def _take(self, _session) -> None:
        if self.taken.is_set():
            return
        try:
            self.conn.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError:
            return  # after_commit also follows a savepoint's release; the import still holds the lock then
        self.conn.execute("UPDATE leads SET updated_at = updated_at WHERE id = (SELECT min(id) FROM leads)")
        self.taken.set()
        if self.hold_s is not None:
            self._timer = threading.Timer(self.hold_s, self.release)
            self._timer.start()

    def release(self) -> None:
        with self._mutex:
            if self.conn.in_transaction:
                self.conn.execute("COMMIT")

    def __enter__(self) -> LockHolder:
        sa.event.listen(sa.orm.Session, "after_commit", self._take)
        return self

    def __exit__(self, *exc) -> None:
        sa.event.remove(sa.orm.Session, "after_commit", self._take)
        if self._timer is not None:
            self._timer.cancel()
        self.release()
        self.conn.close()


def _short_busy_timeout_app(url: str):
    # A 0.2 s busy timeout instead of the stack's 30 s: the same failure, reached in test time.
    return make_app(url, SQLALCHEMY_ENGINE_OPTIONS={"connect_args": {"timeout": 0.2}})


def test_a_batch_that_meets_a_held_lock_is_retried(sqlite_url, tmp_path, monkeypatch):
    app = _short_busy_timeout_app(sqlite_url)
    export = write_export(tmp_path / "messe_leads.csv")
    with LockHolder(Path(sqlite_url.removeprefix("sqlite:///")), hold_s=1.0) as holder:
        result = run_cli(app, monkeypatch, export.path)
    assert result.exit_code == 0, result.output
    assert holder.taken.is_set()
    assert re.search(r"database was busy: \d+ batch(es)? retried", flat(result.output)), result.output
    figures = summary_row(result.output)
    assert figures["created"] == len(export.emails)
    assert sorted(imported_keys(app, export)) == sorted(e.lower() for e in export.emails)


def test_a_lock_that_outlasts_the_retries_stops_with_a_summary_and_a_rerun_finishes(sqlite_url, tmp_path, monkeypatch):
    app = _short_busy_timeout_app(sqlite_url)
    export = write_export(tmp_path / "messe_leads.csv")
    monkeypatch.setattr(csv_import, "LOCK_ATTEMPTS", 2)
    monkeypatch.setattr(csv_import, "LOCK_WAIT_S", (0.05, 0.1))
    with LockHolder(Path(sqlite_url.removeprefix("sqlite:///")), hold_s=None) as holder:
        stopped = run_cli(app, monkeypatch, export.path)
    assert stopped.exit_code == 1, stopped.output
    assert holder.taken.is_set()
    text = flat(stopped.output)
    assert "stopped: database is locked" in text and "2 tries" in text
    match = re.search(r"(\d+) of (\d+) rows done, up to line (\d+)", text)
    assert match, stopped.output
    done, _, last_line = map(int, match.groups())
    assert done == csv_import.BATCH_ROWS and last_line == done + 1  # the first batch, committed before the lock
    assert sorted(imported_keys(app, export)) == sorted(export.people_up_to(last_line))
    assert rejected_lines(export) == [line for line in export.bad_lines if line <= last_line]

    rerun = run_cli(app, monkeypatch, export.path)
    assert rerun.exit_code == 0, rerun.output
    assert sorted(imported_keys(app, export)) == sorted(e.lower() for e in export.emails)
    assert rejected_lines(export) == export.bad_lines


def test_every_sqlite_connection_waits_its_turn_and_a_savepoint_begins_as_a_writer(sqlite_url):
    """What every process of the stack gets (the workers build the app the same way): WAL, a busy
    timeout, and a savepoint outside a transaction that takes the write lock and does not commit on
    release. An engine made without the app gets the same."""
    db_file = sqlite_url.removeprefix("sqlite:///")
    app = make_app(sqlite_url)
    plain = sa.create_engine(sqlite_url)
    try:
        for engine_of in (lambda: db.engine, lambda: plain):
            with app.app_context():
                raw = engine_of().raw_connection()
                try:
                    assert raw.driver_connection.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
                    assert raw.driver_connection.execute("PRAGMA busy_timeout").fetchone()[0] == 30000
                finally:
                    raw.close()

        other = sqlite3.connect(db_file, timeout=0, isolation_level=None)
        with app.app_context():
            with db.session.begin_nested():
                # Read first, as the intake does: nothing written yet, and already the writer (another
                # connection cannot take the lock), so no one can commit between this read and the write.
                db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
                db.session.add(AuditEntry(actor="test", action="test.savepoint", entity_type="lead", entity_id=1))
            # Released, not committed: invisible to others until the session commits.
            count = "SELECT count(*) FROM audit_log WHERE action = 'test.savepoint'"
            assert other.execute(count).fetchone()[0] == 0
            db.session.commit()
            assert other.execute(count).fetchone()[0] == 1
            db.session.remove()
        other.close()
    finally:
        plain.dispose()
