"""The metering invariant after a chaos run (issue 20): what the sandbox saw placed and sent is billed once.

Usage metering (crm/billing/metering.py) reads the side-effect ledger, so its invariants under the fault
suite's worker kills are the ledger's plus its own: every call the sandbox created and every mail it
accepted has exactly one usage event, no usage event stands for a call or mail the sandbox never saw, and
metering again adds nothing. After the run has gone quiet (faults healed, the chain worker and the provider
worker having been SIGKILLed during it), `check` meters every month the run touched in a process of its
own that is SIGKILLed while it works, then twice to the end, and compares:

* usage events of metric ``call_placed`` / ``email_sent`` against the ledger's done call and email rows
  (``usage_vs_ledger``: keys in one and not the other);
* the sandbox's calls (by our idempotency key) and accepted mails (by message key) against those usage
  events (``lost``: placed or sent and not billed; ``phantom``: billed and never placed or sent);
* a usage key counted twice (``duplicated``), and what the last run added (``rerun_added``: must be 0).

The process entry point (run by `check`, with the stack's environment, like a worker):

    python -m bench.chaos.metering --period 2026-12 [--period ...]

meters each active company's months in the company's scope and prints one JSON line per company.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections import Counter
from typing import Any

import psycopg

from bench.chaos.stack import Stack


def _periods(conn: psycopg.Connection) -> list[str]:
    rows = conn.execute(
        "SELECT DISTINCT to_char(coalesce(completed_at, created_at) AT TIME ZONE 'UTC', 'YYYY-MM') "
        "FROM side_effects WHERE status = 'done'"
    ).fetchall()
    return sorted(r[0] for r in rows)


def _meter(stack: Stack, periods: list[str], kill: bool = False) -> dict[str, Any]:
    """One metering process; with `kill`, SIGKILLed as soon as it says it is metering a company."""
    argv = [sys.executable, "-m", "bench.chaos.metering"] + [a for p in periods for a in ("--period", p)]
    proc = subprocess.Popen(
        argv, cwd=stack.source, env=stack.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    lines: list[str] = []
    if kill and proc.stdout is not None:
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("metering"):
                proc.kill()  # SIGKILL in the middle of its work: what it had not committed is gone
                break
    out, err = proc.communicate(timeout=300)
    lines += out.splitlines()
    added = sum(json.loads(line)["added"] for line in lines if line.startswith("{"))
    return {
        "returncode": proc.returncode,
        "added": added,
        "stderr": err[-2000:] if proc.returncode and not kill else "",
    }


def check(stack: Stack, box: dict[str, Any]) -> dict[str, Any]:
    """Meter (killed once, then twice to the end) and compare usage, ledger and sandbox; see the module doc."""
    conninfo = dict(dbname=stack.db_name, connect_timeout=5)
    with psycopg.connect(stack.admin_conninfo, **conninfo) as conn:
        periods = _periods(conn)
    killed = _meter(stack, periods, kill=True)
    first = _meter(stack, periods)
    again = _meter(stack, periods)
    with psycopg.connect(stack.admin_conninfo, **conninfo) as conn:
        usage = conn.execute(
            "SELECT key, metric FROM usage_events WHERE metric IN ('call_placed', 'email_sent') AND key LIKE 'ledger:%'"
        ).fetchall()
        done = conn.execute(
            "SELECT key, kind FROM side_effects WHERE status = 'done' AND kind IN ('call', 'email')"
        ).fetchall()
        ledger_emails = {r[0] for r in conn.execute("SELECT key FROM side_effects WHERE kind = 'email'")}
    counted = Counter(key.removeprefix("ledger:") for key, _ in usage)
    billed = {kind: {key.removeprefix("ledger:") for key, metric in usage if metric == name}
              for kind, name in (("call", "call_placed"), ("email", "email_sent"))}  # fmt: skip
    ledger_done = {kind: {key for key, k in done if k == kind} for kind in ("call", "email")}
    placed = {c["key"] for c in box["calls"] if c.get("key")}
    # Mails of the chain's ledger only (an invitation or a report mail is no chain email).
    sent = {m["key"] for m in box["mails"] if m.get("key") in ledger_emails}
    result = {
        "periods": periods,
        "runs": {"killed": killed, "first": first, "again": again},
        "usage_events": {kind: len(keys) for kind, keys in billed.items()},
        "usage_vs_ledger": {
            kind: {
                "billed_not_done": len(billed[kind] - ledger_done[kind]),
                "done_not_billed": len(ledger_done[kind] - billed[kind]),
            }
            for kind in ("call", "email")
        },  # fmt: skip
        "lost": {"calls": len(placed - billed["call"]), "emails": len(sent - billed["email"])},
        "phantom": {"calls": len(billed["call"] - placed), "emails": len(billed["email"] - sent)},
        "duplicated": sum(1 for c in counted.values() if c > 1),
        "rerun_added": again["added"],
    }
    result["ok"] = (
        first["returncode"] == 0
        and again["returncode"] == 0
        and result["duplicated"] == 0
        and result["rerun_added"] == 0
        and not any(result["lost"].values())
        and not any(result["phantom"].values())
        and not any(v for d in result["usage_vs_ledger"].values() for v in d.values())
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--period", action="append", default=[], help="a month, YYYY-MM (repeatable)")
    args = parser.parse_args(argv)
    import sqlalchemy as sa

    from crm import create_app
    from crm.billing import metering
    from crm.extensions import db
    from crm.models.companies import Company
    from crm.tenancy.context import company_scope, operator_scope

    app = create_app()
    with app.app_context(), operator_scope("chaos-check", "meter every company after a chaos run"):
        companies = list(db.session.scalars(sa.select(Company.id).where(Company.active.is_(True))))
        db.session.remove()
    for company_id in companies:
        print(f"metering company {company_id}", flush=True)
        with app.app_context(), company_scope(company_id):
            added = sum(metering.meter(period) for period in args.period)
            db.session.remove()
        print(json.dumps({"company": company_id, "added": added}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
