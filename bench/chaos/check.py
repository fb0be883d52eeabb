"""The invariants after a chaos run, read from the database, Temporal and the sandbox's own ledger.

* lost: an identity (one lead's email/phone) with a 2xx answer and no lead row, a 2xx submission not
  processed, or a lead whose chain is not in Temporal;
* duplicated: more than one live lead per identity, more than one chain per lead, more than one call in
  the sandbox per idempotency key, more than one mail per message key, more than one appointment per
  (lead, start);
* refused: stale or tampered leads must get 4xx and leave nothing behind;
* quiet: every 2xx submission processed, no sandbox call still live,
  and every running chain in a waiting stage (WAITING below) — "terminal or waiting".
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import httpx
import psycopg
from temporalio.client import Client

from bench.chaos.drive import MUST_REFUSE, Ledger
from bench.chaos.stack import Stack

# Running chains in these stages wait on a timer or a person (docs/chaos.md §C4); the others are working.
WAITING = ("waiting_for_retry", "waiting_for_window", "following_up", "nurturing", "paused")
LIVE_CALL = ("registered", "queued", "ringing", "ongoing", "in-progress", "in_progress", "started")


def sandbox_ledger(stack: Stack) -> dict[str, Any]:
    return httpx.get(stack.sandbox_url + "/chaos/ledger", timeout=30).json()


def _conn(stack: Stack) -> psycopg.Connection:
    return psycopg.connect(stack.admin_conninfo, dbname=stack.db_name, connect_timeout=5)


def _temporal(stack: Stack, query_running: bool = True) -> dict[str, Any]:
    async def go() -> dict[str, Any]:
        client = await Client.connect(f"127.0.0.1:{stack.temporal_port}")
        running = (await client.count_workflows('ExecutionStatus="Running"')).count
        stages = ", ".join(f'"{s}"' for s in WAITING)
        waiting = (await client.count_workflows(f'ExecutionStatus="Running" AND LeadStage IN ({stages})')).count
        ids: set[str] = set()
        if not query_running:
            # Every execution, not a prefix: chain ids carry their company since tenancy ("c1-lead-...",
            # crm/services/submissions.py), and a lead's chain id is matched against this set as a whole.
            async for wf in client.list_workflows():
                ids.add(wf.id)
        return {"running": running, "waiting": waiting, "working": running - waiting, "ids": ids}

    return asyncio.run(go())


def quiet_state(stack: Stack, accepted_sids: list[int]) -> dict[str, Any]:
    with _conn(stack) as conn:
        unprocessed = conn.execute(
            "SELECT count(*) FROM lead_submissions WHERE id = ANY(%s) AND processed_at IS NULL", (accepted_sids,)
        ).fetchone()[0]
        intents = conn.execute("SELECT count(*) FROM side_effects WHERE status = 'intent'").fetchone()[0]
    box = sandbox_ledger(stack)
    calls = box["calls"]
    live_calls = sum(1 for c in calls if str(c["status"]).lower() in LIVE_CALL)
    temporal = _temporal(stack)
    state = {
        "unprocessed_submissions": unprocessed,
        "ledger_intents": intents,
        "live_sandbox_calls": live_calls,
        "chains_working": temporal["working"],
        "chains_waiting": temporal["waiting"],
        "sandbox_webhooks_pending": box["webhooks_pending"],
    }
    # Ledger rows left at `intent` are reported, not waited for: a call whose attempts ran out stays there
    # (docs/chaos.md §C5) while its chain has moved on.
    # A webhook the sandbox still retries is an event not yet in the CRM: quiet waits for it too.
    state["quiet"] = unprocessed == 0 and live_calls == 0 and temporal["working"] == 0 and box["webhooks_pending"] == 0
    return state


def _email_identity(email: str, run: str) -> int | None:
    local = email.split("@", 1)[0].split("+", 1)[0]
    prefix = f"chaos.{run}."
    return int(local[len(prefix) :]) if local.startswith(prefix) and local[len(prefix) :].isdigit() else None


def invariants(stack: Stack, ledger: Ledger, run: str) -> dict[str, Any]:  # noqa: C901 - one list of checks
    accepted_ids = {s.identity for s in ledger.sent if 200 <= s.status < 300 and s.kind not in MUST_REFUSE}
    refused_ids = {s.identity for s in ledger.sent if s.kind in MUST_REFUSE}
    forged_accepted = sum(1 for s in ledger.sent if s.kind in MUST_REFUSE and 200 <= s.status < 300)
    sids = [s.submission_id for s in ledger.sent if s.submission_id is not None]
    with _conn(stack) as conn:
        leads = conn.execute(
            "SELECT id, email, chain_id FROM leads WHERE email LIKE %s", (f"chaos.{run}.%",)
        ).fetchall()
        chains_per_lead = conn.execute(
            "SELECT lead_id, count(DISTINCT chain_id) FROM lead_submissions WHERE lead_id IS NOT NULL "
            "GROUP BY lead_id HAVING count(DISTINCT chain_id) > 1"
        ).fetchall()
        unprocessed = conn.execute(
            "SELECT count(*) FROM lead_submissions WHERE id = ANY(%s) AND (processed_at IS NULL OR lead_id IS NULL)",
            (sids,),
        ).fetchone()[0]
        missing_sids = (
            len(set(sids))
            - conn.execute("SELECT count(*) FROM lead_submissions WHERE id = ANY(%s)", (sids,)).fetchone()[0]
        )
        appointments = conn.execute(
            "SELECT count(*) FROM (SELECT lead_id, starts_at FROM appointments GROUP BY lead_id, starts_at "
            "HAVING count(*) > 1) d"
        ).fetchone()[0]
        effects = dict(conn.execute("SELECT kind, count(*) FROM side_effects GROUP BY kind").fetchall())
        unparseable = conn.execute("SELECT count(*) FROM unparseable_payloads").fetchone()[0]
        intents = conn.execute(
            "SELECT kind, count(*) FROM side_effects WHERE status = 'intent' GROUP BY kind"
        ).fetchall()
    by_identity = Counter(i for i in (_email_identity(e or "", run) for _, e, _ in leads) if i is not None)
    stored_ids = set(by_identity)
    temporal_ids = _temporal(stack, query_running=False)["ids"]
    chainless = sum(1 for _, _, chain in leads if not chain or chain not in temporal_ids)
    box = sandbox_ledger(stack)
    call_keys = Counter(c["key"] for c in box["calls"])
    mail_keys = Counter(m["key"] for m in box["mails"])
    lost = {
        "accepted_leads_without_row": len(accepted_ids - stored_ids),
        "accepted_submissions_missing": missing_sids,
        "accepted_submissions_unprocessed": unprocessed,
        "leads_without_chain_in_temporal": chainless,
    }
    duplicated = {
        "leads_per_identity_over_1": sum(1 for c in by_identity.values() if c > 1),
        "leads_with_more_than_one_chain": len(chains_per_lead),
        "calls_per_key_over_1": sum(1 for k, c in call_keys.items() if k and c > 1),
        "calls_without_key": call_keys.get(None, 0),
        "mails_per_key_over_1": sum(1 for k, c in mail_keys.items() if k and c > 1),
        "appointments_per_slot_over_1": appointments,
    }
    return {
        "accepted_identities": len(accepted_ids),
        "leads_stored": len(leads),
        "lost": lost,
        "lost_total": sum(lost.values()),
        "duplicated": duplicated,
        "duplicated_total": sum(v for k, v in duplicated.items() if k != "calls_without_key"),
        "refused_kinds_accepted": forged_accepted,
        "refused_kinds_stored": len(refused_ids & stored_ids),
        "side_effects_by_kind": effects,
        "sandbox_calls": len(box["calls"]),
        "sandbox_mails": len(box["mails"]),
        "unparseable_payloads": unparseable,
        "ledger_rows_left_at_intent": dict(intents),
    }


def provider_deliveries(box: dict[str, Any]) -> dict[str, Any]:
    """The sandbox's webhooks by kind: sent, answered 2xx at last, given up (every attempt failed), 5xx."""
    out: dict[str, Counter] = {}
    for hook in box["webhooks"]:
        parts = hook["path"].strip("/").split("/")
        if parts[:1] != ["webhooks"]:
            kind = "unsubscribe_one_click"  # the mailbox provider's RFC 8058 POST to our link
        elif parts[1:2] == ["sendgrid"]:
            kind = "sendgrid_inbound" if parts[2:3] == ["inbound"] else "sendgrid_event"
        else:
            kind = "provider_event_" + "_".join(parts[1:])
        c = out.setdefault(kind, Counter())
        c["sent"] += 1
        attempts = hook["attempts"]
        c["accepted"] += bool(attempts and 200 <= attempts[-1] < 300)
        c["given_up"] += bool(attempts and not 200 <= attempts[-1] < 300)
        c["answers_5xx"] += sum(1 for a in attempts if a >= 500)
        c["no_connection"] += sum(1 for a in attempts if a == 0)
        c["retries"] += max(0, len(attempts) - 1)
    return {k: dict(v) for k, v in out.items()}
