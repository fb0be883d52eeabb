"""`python -m bench.chaos.run --deliveries 10000` (make chaos; make chaos-slice: 1,000).

Starts the stack (stack.py), drives lead deliveries while the sandbox's calls and mails produce provider
and SendGrid events, injects the fault cycle (drive.FAULT_CYCLE) until the deliveries are reached and at
least --min-faults faults are done, heals everything, waits for quiet (check.quiet_state, at most
--quiet-limit-s), checks the invariants and writes the summary (JSON) to --out. Exit 0 when lost 0,
duplicated 0, forged leads refused and quiet reached; 1 otherwise; 2 when the harness itself failed.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.chaos import check, drive, metering
from bench.chaos.stack import ROOT, Stack


def parse(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="bench.chaos.run")
    p.add_argument("--deliveries", type=int, default=10_000)
    p.add_argument(
        "--rate",
        type=float,
        default=None,
        help="lead deliveries per second (default: spread over the planned fault cycle, so that every fault "
        "meets a live stream)",
    )
    p.add_argument("--fault-gap-s", type=float, default=20.0, help="seconds between the end of one fault and the next")
    p.add_argument("--fault-scale", type=float, default=1.0, help="multiplies every fault's duration")
    p.add_argument("--min-faults", type=int, default=len(drive.FAULT_CYCLE))
    p.add_argument("--max-faults", type=int, default=10_000)
    p.add_argument(
        "--only-faults", default="", help="comma-separated kind prefixes, e.g. F10,F12 (default: the whole cycle)"
    )
    p.add_argument("--quiet-limit-s", type=float, default=900.0)
    p.add_argument("--step-s", type=float, default=0.2, help="the sandbox's pause between a call's events")
    p.add_argument(
        "--events-per-lead",
        type=float,
        default=6.0,
        help="provider and SendGrid webhooks expected per new lead: lead posting stops once the expected total "
        "reaches --deliveries (the events of the last leads still arrive; the summary counts what was sent)",
    )
    p.add_argument(
        "--provider-timeout-s",
        type=int,
        default=None,
        help="the chain's provider_activity_timeout_s (default: the production 60 s)",
    )
    p.add_argument(
        "--snapshot",
        action="store_true",
        help="run the committed HEAD (git archive into the run directory) instead of the working tree",
    )
    p.add_argument(
        "--sandbox-retry-max-delay-s",
        type=float,
        default=30.0,
        help="cap on the interval between the sandbox's webhook retries (their number and horizon stay the "
        "providers'): quiet waits for pending retries",
    )
    p.add_argument("--no-vault", action="store_true", help="secrets from the environment, no OpenBao (no F12)")
    p.add_argument("--no-bridge", action="store_true", help="no voice bridge: scripted sandbox calls (no F10)")
    p.add_argument(
        "--prometheus",
        action="store_true",
        help="scrape the stack with a real Prometheus and draw the dashboard from it at the end "
        "(artifacts/chaos-dashboard.png beside --out)",
    )
    p.add_argument("--out", type=Path, default=ROOT / "artifacts" / "chaos-summary.json")
    p.add_argument("--run-dir", type=Path, default=None, help="logs and Temporal's state (default: a temp dir)")
    return p.parse_args(argv)


def progress(stack: Stack, ledger: drive.Ledger) -> tuple[int, int]:
    """(lead deliveries sent, sandbox webhooks sent so far)."""
    try:
        hooks = len(check.sandbox_ledger(stack)["webhooks"])
    except Exception:  # noqa: BLE001 - a ledger read during a fault: count on at the next look
        hooks = 0
    return len(ledger.sent), hooks


# What one fault takes at --fault-scale 1 on average (drive.FAULT_CYCLE's durations plus restarts).
MEAN_FAULT_S = 12.0


def planned_rate(args: argparse.Namespace) -> float:
    """Lead deliveries per second that last as long as the minimum number of faults takes."""
    leads = args.deliveries / (1 + args.events_per_lead)
    planned_s = args.min_faults * (args.fault_gap_s + MEAN_FAULT_S * args.fault_scale)
    return max(0.3, leads / planned_s)


def drive_until_done(stack: Stack, ledger: drive.Ledger, args: argparse.Namespace, t0: float) -> None:
    driver = drive.Driver(stack, ledger)
    rate = args.rate or planned_rate(args)
    print(f"lead deliveries at {rate:.2f}/s, a fault every {args.fault_gap_s:.0f} s", flush=True)
    stack.run_tag = driver.run
    stop_faults = threading.Event()
    faults = threading.Thread(
        target=drive.fault_loop,
        args=(
            stack,
            ledger,
            t0,
            stop_faults,
            args.fault_gap_s,
            args.fault_scale,
            args.max_faults,
            tuple(k.strip() for k in args.only_faults.split(",") if k.strip()),
        ),  # fmt: skip
        daemon=True,
    )
    faults.start()
    last_print = 0.0
    while True:
        leads, hooks = progress(stack, ledger)
        done_faults = sum(ledger.faults.values())
        new_leads = sum(1 for s in ledger.sent if s.kind in drive.NEW_LEAD_KINDS and 200 <= s.status < 300)
        expected = leads + max(hooks, int(new_leads * args.events_per_lead))
        if expected >= args.deliveries and done_faults >= args.min_faults:
            break
        if expected < args.deliveries:
            driver.stream(max(5, min(50, int(rate * 10))), rate)
        else:
            time.sleep(2)  # deliveries reached: the remaining faults of the minimum run on the sandbox's stream
        if time.monotonic() - last_print > 30:
            last_print = time.monotonic()
            print(
                f"[{time.monotonic() - t0:6.0f} s] leads {leads}, sandbox webhooks {hooks}, faults {done_faults}",
                flush=True,
            )
    stop_faults.set()
    faults.join()


def wait_quiet(stack: Stack, sids: list[int], limit_s: float) -> tuple[float | None, dict[str, Any]]:
    started = time.monotonic()
    state: dict[str, Any] = {}
    while time.monotonic() - started < limit_s:
        try:
            state = check.quiet_state(stack, sids)
        except Exception as e:  # noqa: BLE001 - the stack still recovering: look again
            state = {"quiet": False, "error": f"{type(e).__name__}: {e}"[:200]}
        if state.get("quiet"):
            return time.monotonic() - started, state
        time.sleep(5)
    return None, state


def summarise(stack: Stack, ledger: drive.Ledger, args, t0, t_faults_end, quiet_s, quiet_state) -> dict[str, Any]:
    box = check.sandbox_ledger(stack)
    providers = check.provider_deliveries(box)
    by_kind: Counter = Counter(s.kind for s in ledger.sent)
    by_kind.update({k: v["sent"] for k, v in providers.items()})
    statuses: dict[str, Counter] = {}
    for s in ledger.sent:
        statuses.setdefault(s.kind, Counter())[str(s.status)] += 1
    latencies = sorted(s.elapsed_s for s in ledger.sent)
    inv = check.invariants(stack, ledger, stack.run_tag)
    accepted = sum(1 for s in ledger.sent if 200 <= s.status < 300) + sum(v["accepted"] for v in providers.values())
    return {
        "deliveries_requested": args.deliveries,
        "deliveries": sum(by_kind.values()),
        "deliveries_by_kind": dict(by_kind),
        "lead_answers_by_kind": {k: dict(v) for k, v in statuses.items()},
        "lead_latency_p50_s": round(latencies[len(latencies) // 2], 3) if latencies else None,
        "lead_latency_p99_s": round(latencies[int(len(latencies) * 0.99)], 3) if latencies else None,
        "provider_and_sendgrid_deliveries": providers,
        "faults_by_kind": dict(ledger.faults),
        "fault_timeline_s": ledger.fault_log,
        "accepted": accepted,
        "lost": inv["lost_total"],
        "duplicated": inv["duplicated_total"],
        "invariants": inv,
        "provider_events_given_up": sum(v["given_up"] for v in providers.values()),
        "time_to_quiet_s": None if quiet_s is None else round(quiet_s, 1),
        "quiet_limit_s": args.quiet_limit_s,
        "state_at_end": quiet_state,
        "drive_s": round(t_faults_end - t0, 1),
        "process_starts": {n: p.starts for n, p in stack.procs.items()},
        "secrets_in_logs": secrets_in_logs(stack),
        # Last: it meters, so everything above is read before any usage event exists.
        "metering": metering.check(stack, box),
    }


def draw_dashboard(stack: Stack, out: Path) -> str:
    """The provisioned dashboard's panels over the whole run, queried from the run's Prometheus."""
    from bench.render_dashboard import render_from_prometheus

    started = (stack.run_dir / "prometheus.yml").stat().st_mtime
    try:
        render_from_prometheus(stack.prometheus_url, started, time.time(), out, step=15.0)
    except Exception as e:  # noqa: BLE001 - the picture is an extra: the run's figures stand without it
        return f"not drawn: {type(e).__name__}: {e}"[:200]
    return str(out)


def secrets_in_logs(stack: Stack) -> dict[str, int]:
    """F12's "no plaintext secret in captured logs": every process log of the run searched for every secret
    value of the run (and the OpenBao root token outside OpenBao's own log). Counts by process, names only."""
    values = [v for v in stack.secrets.values() if len(v) >= 16]
    values += [v.split(":", 1)[1] for v in stack.secrets.values() if v.startswith("chaos:")]
    found: dict[str, int] = {}
    for log in sorted((stack.run_dir / "logs").glob("*.log")):
        text = log.read_text(errors="replace")
        secret_values = values + ([stack.bao_token] if stack.bao_token and log.stem != "openbao" else [])
        hits = sum(text.count(v) for v in secret_values)
        if hits:
            found[log.stem] = hits
    return found


def closing_note(s: dict[str, Any]) -> str:
    lines = [
        f"chaos: {s['deliveries']} deliveries (requested {s['deliveries_requested']}), accepted {s['accepted']}",
        "  by kind: " + ", ".join(f"{k} {v}" for k, v in sorted(s["deliveries_by_kind"].items())),
        "  faults: " + ", ".join(f"{k} x{v}" for k, v in s["faults_by_kind"].items()),
        f"  lost {s['lost']}, duplicated {s['duplicated']}, forged leads accepted "
        f"{s['invariants']['refused_kinds_accepted']}, provider events given up by the sandbox "
        f"{s['provider_events_given_up']}",
        f"  time to quiet: {s['time_to_quiet_s']} s (limit {s['quiet_limit_s']:.0f} s)",
        f"  secrets in process logs: {sum(s['secrets_in_logs'].values())} {s['secrets_in_logs'] or ''}",
        f"  metering ({'ok' if s['metering']['ok'] else 'FAILED'}): usage events {s['metering']['usage_events']}, "
        f"not billed {s['metering']['lost']}, billed never placed {s['metering']['phantom']}, "
        f"duplicated {s['metering']['duplicated']}, added by a re-run {s['metering']['rerun_added']}",
    ]
    return "\n".join(lines)


class Stopped(BaseException):
    """SIGINT or SIGTERM: stop the stack and leave."""


def _stop_on_signal(*_: object) -> None:
    raise Stopped


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix="leadchain-chaos-"))
    stack = Stack(
        run_dir,
        step_s=args.step_s,
        prometheus=args.prometheus,
        vault=not args.no_vault,
        bridge=not args.no_bridge,
        sandbox_retry_max_delay_s=args.sandbox_retry_max_delay_s,
    )
    if args.provider_timeout_s:
        stack.chain_settings["provider_activity_timeout_s"] = args.provider_timeout_s
    ledger = drive.Ledger()
    signal.signal(signal.SIGTERM, _stop_on_signal)
    signal.signal(signal.SIGINT, _stop_on_signal)
    try:
        commit = stack.snapshot_head() if args.snapshot else None
        stack.start()
        drive.set_webhook_modes(stack, reorder=False)
        t0 = time.monotonic()
        drive_until_done(stack, ledger, args, t0)
        time.sleep(2)  # the last lead requests' answers
        drive.heal(stack)
        t_end = time.monotonic()
        sids = [s.submission_id for s in ledger.sent if s.submission_id is not None]
        quiet_s, state = wait_quiet(stack, sids, args.quiet_limit_s)
        summary = summarise(stack, ledger, args, t0, t_end, quiet_s, state)
        summary["run_dir"] = str(run_dir)
        if args.prometheus:
            summary["dashboard_png"] = draw_dashboard(stack, args.out.with_name(args.out.stem + "-dashboard.png"))
        summary["code"] = f"commit {commit} (snapshot)" if commit else f"working tree of {ROOT}"
    except (Exception, Stopped) as e:  # noqa: BLE001 - the harness failed: say so, exit 2
        print(f"chaos harness failed: {type(e).__name__}: {e} (logs in {run_dir}/logs)", file=sys.stderr, flush=True)
        return 2
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # the stop below runs to its end
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        stack.stop()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=2, default=str))
    print(closing_note(summary), flush=True)
    ok = (
        summary["lost"] == 0
        and summary["duplicated"] == 0
        and summary["invariants"]["refused_kinds_accepted"] == 0
        and summary["time_to_quiet_s"] is not None
        and not summary["secrets_in_logs"]
        and summary["metering"]["ok"]
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
