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
* a usage key counted twice (``duplicated``), and what the last run added (``rerun_added``: must be 0);
* each month's invoice (a billing account on a plan of this module's prices is given to a company that has
  none): one per company and month, each line the month's usage events summed and priced to the cent, and
  the re-run answering with the same invoice (``invoices``).

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

# Prices for the check's invoices: every billed metric priced, some included, so each line is arithmetic.
CHAOS_PLAN: dict[str, Any] = {
    "code": "chaos-check",
    "name": "Chaos check",
    "base_fee_cents": 4900,
    "unit_prices_cents": {
        "call_placed": 35, "call_minutes": 12, "appointment_booked": 250, "email_sent": 1, "inbound_answered": 40,
    },
    "included": {"call_placed": 2, "email_sent": 5},
}  # fmt: skip


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
    reports = [json.loads(line) for line in lines if line.startswith("{")]
    added = sum(r["added"] for r in reports)
    invoices = {f"{r['company']}:{period}": number for r in reports for period, number in r["invoices"].items()}
    return {
        "returncode": proc.returncode,
        "added": added,
        "invoices": invoices,
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
        invoices = conn.execute(
            "SELECT company_id, period, number, lines, net_cents, vat_cents, gross_cents FROM invoices"
        ).fetchall()
        used = {
            (company, period, metric): int(quantity)
            for company, period, metric, quantity in conn.execute(
                "SELECT company_id, period, metric, sum(quantity) FROM usage_events GROUP BY 1, 2, 3"
            )
        }
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
        "invoices": _invoices(invoices, used, first["invoices"], again["invoices"]),
    }
    result["ok"] = (
        first["returncode"] == 0
        and again["returncode"] == 0
        and result["duplicated"] == 0
        and result["rerun_added"] == 0
        and not any(result["lost"].values())
        and not any(result["phantom"].values())
        and not any(v for d in result["usage_vs_ledger"].values() for v in d.values())
        and result["invoices"]["issued"] > 0
        and not result["invoices"]["wrong"]
    )
    return result


def _invoices(rows: list[Any], used: dict[tuple[int, str, str], int], first: dict, again: dict) -> dict[str, Any]:
    """Each month's invoice: one per company and month, its lines the month's usage priced to the cent
    (used = the usage events' sum, amount = billed quantity x unit price, net = the lines, gross = net + VAT),
    and the re-run gave the same number without a new invoice."""
    wrong: list[str] = []
    per_month = Counter((company, period) for company, period, *_ in rows)
    wrong += [f"{c}:{p}: {n} invoices" for (c, p), n in per_month.items() if n > 1]
    for company, period, number, lines, net, vat, gross in rows:
        where = f"{company}:{period} {number}"
        if sum(line["amount_cents"] for line in lines) != net or gross != net + vat:
            wrong.append(f"{where}: lines, net, VAT and gross do not add up")
        for line in lines:
            if line["metric"] == "base_fee":
                continue
            if line["used"] != used.get((company, period, line["metric"]), 0):
                wrong.append(f"{where}: {line['metric']} used {line['used']}, usage events say "
                             f"{used.get((company, period, line['metric']), 0)}")  # fmt: skip
            if line["amount_cents"] != line["billed_quantity"] * line["unit_price_cents"]:
                wrong.append(f"{where}: {line['metric']} amount is not quantity x price")
            if line["billed_quantity"] != max(0, line["used"] - line["included"]):
                wrong.append(f"{where}: {line['metric']} billed quantity is not used less included")
    if first != again:
        wrong.append(f"the re-run's invoices differ: {first} then {again}")
    return {"issued": len(rows), "numbers": sorted(r[2] for r in rows), "wrong": wrong}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--period", action="append", default=[], help="a month, YYYY-MM (repeatable)")
    args = parser.parse_args(argv)
    import sqlalchemy as sa

    from crm import create_app
    from crm.billing import invoicing, metering
    from crm.extensions import db
    from crm.models import BillingAccount, Plan
    from crm.models.companies import Company
    from crm.tenancy.context import company_scope, operator_scope

    app = create_app()
    with app.app_context(), operator_scope("chaos-check", "meter every company after a chaos run"):
        companies = list(db.session.scalars(sa.select(Company.id).where(Company.active.is_(True))))
        plan = db.session.scalar(sa.select(Plan).where(Plan.code == CHAOS_PLAN["code"]))
        if plan is None:
            plan = Plan(**CHAOS_PLAN)
            db.session.add(plan)
            db.session.commit()
        plan_id = plan.id
        db.session.remove()
    for company_id in companies:
        print(f"metering company {company_id}", flush=True)
        with app.app_context(), company_scope(company_id):
            added = sum(metering.meter(period) for period in args.period)
            if invoicing.account() is None:  # the run's companies have none: the chaos plan, billed in DE
                db.session.add(BillingAccount(plan_id=plan_id, legal_name=f"Chaos {company_id}", country="DE"))
                db.session.commit()
            invoices = {period: invoicing.issue(period).number for period in args.period}
            db.session.remove()
        print(json.dumps({"company": company_id, "added": added, "invoices": invoices}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
