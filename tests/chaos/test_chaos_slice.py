"""A slice of `make chaos` (docs/chaos.md) small enough for the normal suite: the real stack as separate
processes (bench/chaos/stack.py), ~150 deliveries plus the sandbox's provider and SendGrid events, with a
chain-worker SIGKILL, a provider 429 storm, dropped database connections and a provider-worker SIGKILL
injected, then the invariants read from PostgreSQL, Temporal and the sandbox's ledger, and the usage metering
checked against them (bench/chaos/metering.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from bench.chaos import check

ROOT = Path(__file__).resolve().parents[2]


def test_a_chaos_slice_loses_and_duplicates_nothing(tmp_path, sqlite_dir):
    out = tmp_path / "summary.json"
    # The run's folder holds Temporal's SQLite state: on tmpfs (tests/conftest.py sqlite_dir) where the machine
    # has it, as its every workflow task's fsync on disk is CPU and waiting the 2-core CI machine cannot spare.
    # A restarted Temporal still finds its state there; `make chaos` keeps its run on disk.
    run_dir = sqlite_dir / "chaos-run"
    argv = [
        sys.executable, "-m", "bench.chaos.run", "--deliveries", "150", "--rate", "10", "--fault-gap-s", "3",
        "--fault-scale", "0.3", "--min-faults", "4", "--max-faults", "4", "--quiet-limit-s", "120",
        "--provider-timeout-s", "15", "--run-dir", str(run_dir), "--out", str(out),
        # The four faults below need neither OpenBao (F12) nor the voice bridge (F10): start neither.
        "--no-vault", "--no-bridge",
        # A webhook refused during a fault is retried within seconds, not 30 s: quiet waits for it.
        "--sandbox-retry-max-delay-s", "4",
    ]  # fmt: skip
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert out.exists(), done.stdout + done.stderr
    s = json.loads(out.read_text())
    note = done.stdout + f"\n(logs in {run_dir / 'logs'})"
    assert s["deliveries"] >= 150 and s["accepted"] > 0, note
    assert set(s["faults_by_kind"]) == {
        "F1 chain worker (with relay) SIGKILL",
        "F8 provider 429 storm",
        "F9 database connections dropped",
        "F1/F2 provider worker SIGKILL",
    }, note
    inv = s["invariants"]
    assert s["lost"] == 0 and s["duplicated"] == 0, (inv, note)
    assert inv["leads_stored"] == inv["accepted_identities"] > 0, note
    assert inv["refused_kinds_accepted"] == 0 and inv["refused_kinds_stored"] == 0, note
    assert inv["sandbox_calls"] > 0 and s["provider_and_sendgrid_deliveries"], note
    assert s["time_to_quiet_s"] is not None, (s["state_at_end"], note)
    # Metering under the same kills (issue 20): a metering process SIGKILLed at work, then run twice; every
    # call the sandbox placed and mail it accepted billed once, nothing billed that was not, a re-run adds 0.
    m = s["metering"]
    assert m["runs"]["killed"]["returncode"] == -9 and m["runs"]["first"]["returncode"] == 0, (m, note)
    assert m["usage_events"]["call"] == inv["sandbox_calls"] > 0, (m, note)
    assert m["lost"] == {"calls": 0, "emails": 0} and m["phantom"] == {"calls": 0, "emails": 0}, (m, note)
    assert m["duplicated"] == 0 and m["rerun_added"] == 0, (m, note)
    # The month's invoice is its usage priced to the cent, and re-running the month changes nothing.
    assert m["invoices"]["issued"] >= 1 and m["invoices"]["wrong"] == [] and m["ok"], (m, note)
    assert done.returncode == 0, note


def test_the_sandbox_webhook_ledger_is_counted_by_kind_and_outcome():
    box = {
        "webhooks": [
            {"path": "/webhooks/retell", "attempts": [503, 0, 204]},
            {"path": "/webhooks/retell", "attempts": [0, 0, 0, 0]},
            {"path": "/webhooks/sendgrid", "attempts": [200]},
            {"path": "/webhooks/sendgrid/inbound", "attempts": [200]},
            {"path": "/u/abc.def", "attempts": [200]},
        ]
    }
    once = {"sent": 1, "accepted": 1, "given_up": 0, "answers_5xx": 0, "no_connection": 0, "retries": 0}
    retell = {"sent": 2, "accepted": 1, "given_up": 1, "answers_5xx": 1, "no_connection": 5, "retries": 5}
    assert check.provider_deliveries(box) == {
        "provider_event_retell": retell,
        "sendgrid_event": once,
        "sendgrid_inbound": once,
        "unsubscribe_one_click": once,
    }
