"""The benchmarks still run, each at a size too small to measure anything: bench/intake.py (both targets on a
fresh SQLite file, 30 leads, the import step drained; and paced, open loop, 20 leads at 20/s), bench/dedupe.py
(100 rows into a company of 2,000 leads and into an empty one, PostgreSQL), bench/chain.py (10 chains against a
dev server and a fresh PostgreSQL database), bench/bridge.py (2 sessions against the bridge over the SQLite CRM)
and bench/reports.py (2,000 interactions). Intake, chain, bridge and reports broke unseen once the schema gained
companies (inserts without company_id, no company scope or record where the app now wants one); a bench that
cannot run measures nothing. Figures are not asserted here."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _run(*argv: str, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        env={**os.environ, **(env or {})},
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out[-4000:]
    return out


def test_the_intake_benchmark_runs_both_targets_to_the_same_rows():
    out = _run("bench/intake.py", "--leads", "30", "--db", "sqlite", "--workers", "1")
    assert "same leads row in both databases (ignoring id, timestamps, chain_*): yes" in out, out[-4000:]
    assert "leadchain: answers {'accepted': 30}" in out and "bare: answers {'created': 30}" in out, out[-4000:]


def test_the_paced_intake_benchmark_sends_on_schedule_to_both_targets():
    out = _run(
        "bench/intake.py",
        "--leads",
        "20",
        "--db",
        "sqlite",
        "--workers",
        "1",
        "--warmup",
        "5",
        "--paced",
        "20",
        "--no-drain",
    )
    assert "paced: a request due every 50.00 ms and sent then" in out, out[-4000:]
    assert "leadchain: answers {'accepted': 20}" in out and "bare: answers {'created': 20}" in out, out[-4000:]
    assert "leadchain: sent 20 at " in out and "bare: sent 20 at " in out, out[-4000:]
    assert "leadchain median p99 of 1 round(s) at 20 req/s on sqlite: " in out, out[-4000:]


def test_the_dedupe_benchmark_imports_into_both_companies_with_the_right_counts():
    out = _run("bench/dedupe.py", "--existing", "2000", "--rows", "100")
    assert "100 rows (20 known to the loaded company, 2 repeats within the file, 78 new)" in out, out[-4000:]
    assert "loaded/empty rows/s: " in out and "MISMATCH" not in out, out[-4000:]


def test_the_chain_benchmark_calls_every_lead():
    out = _run("bench/chain.py", "--leads", "10", "--timeout", "120")
    assert "'provider.calls_placed': 15" in out and "'chain.runner_errors': []" in out, out[-4000:]


def test_the_bridge_benchmark_books_through_the_crm():
    # The tools get room (tests/voice/content_timing.py): on a loaded CI host a real SQLite booking can pass the
    # 0.4 s filler and the 3 s fallback, and this test is about the bench reaching the CRM, not its timing.
    room = {"LEADCHAIN_BRIDGE_FILLER_AFTER_S": "30", "LEADCHAIN_BRIDGE_TOOL_TIMEOUT_S": "60"}
    out = _run(
        "bench/bridge.py", "--sessions", "2", "--crm", "sqlite", "--pause", "0.05-0.1", "--ramp", "0.2", env=room
    )
    assert "bridge/sqlite  N=2    2/2 completed (2 ended by the agent)" in out, out[-4000:]
    assert "turns booked an appointment" in out and "no tool timeout" in out, out[-4000:]


def test_the_reports_benchmark_agrees_with_its_sql_baseline():
    out = _run("bench/reports.py", "--interactions", "2000", "--leads", "200", "--days", "10", "--repeat", "1")
    assert "headline numbers of KPIs (fast and plain) and baseline agree" in out, out[-4000:]
