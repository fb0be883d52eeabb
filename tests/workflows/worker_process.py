"""A worker process that a test can SIGKILL: chain worker + relay and/or provider worker, real app.

    python -m tests.workflows.worker_process --db URL --temporal HOST:PORT --chain-queue Q \
        --provider-queue Q2 --state FILE --chain-key K [--role both|chain|provider] [--delay 0.3]

Its voice provider and email sender are file-backed fakes: every request is one row in a SQLite file
(WAL), so what "the provider did" survives the process being killed, and a request made twice is two
rows (no unique constraint, no de-duplication by key: the app's ledger has to prevent it, not the fake).
Each request is recorded first, then the fake sleeps `--delay` seconds, then marks the row returned:
a kill in that window leaves a row that was acted on but never returned to the activity (a provider
that dialled while the worker died). There is no webhook deliverer here: the chain polls get_call.

The test reads the same file through FileState below.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

from crm.email.port import EmailMessage
from providers.base import CallRequest, ProviderCall
from workflows.payloads import CallResult, ChainSettings

# Registered under a real provider name: campaigns may only name retell, vapi or bland.
PROVIDER_NAME = "retell"
EMAIL_NAME = "filefake-mail"

# What happens on successive dials of a number, by its last digit: (status, classification) per dial.
SCRIPTS: dict[str, list[tuple[str, str | None]]] = {
    "1": [("no_answer", None), ("completed", "booked")],
    "2": [("completed", "interested")],
    "3": [("busy", None), ("voicemail", None), ("completed", "booked")],
}
DEFAULT_SCRIPT = [("completed", "booked")]


@dataclass(frozen=True)
class Expected:
    stage: str
    calls: int
    email_template: str
    task_kind: str


def expected_for(number_e164: str) -> Expected:
    """The end of the chain for a number under SCRIPTS (with max_call_attempts >= 3)."""
    script = SCRIPTS.get(number_e164[-1], DEFAULT_SCRIPT)
    classification = script[-1][1]
    if classification == "booked":
        return Expected("booked", len(script), "booking_confirmation", "appointment")
    return Expected("handed_over", len(script), "follow_up", "callback")


def settings(chain_queue: str, provider_queue: str) -> ChainSettings:
    # call_result_timeout_s is short: no webhook arrives, the chain asks the provider (get_call).
    return ChainSettings(
        call_result_timeout_s=1,
        call_poll_interval_s=1,
        max_call_polls=5,
        max_call_attempts=3,
        retry_delay_s=1,
        nurture_delays_s=[0, 1, 1],
        rescore_delay_s=1,
        max_nurture_cycles=2,
        chain_task_queue=chain_queue,
        provider_task_queue=provider_queue,
        # A killed in-flight dial is retried after this; the fakes answer in 0.4 s.
        provider_activity_timeout_s=5,
    )


# ---- the file-backed state ------------------------------------------------------------------------

SCHEMA = """
CREATE TABLE IF NOT EXISTS calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, chain_id TEXT, lead_id INTEGER,
    to_number TEXT NOT NULL, status TEXT NOT NULL, classification TEXT,
    pid INTEGER NOT NULL, placed_at REAL NOT NULL, returned_at REAL);
CREATE TABLE IF NOT EXISTS emails (
    id INTEGER PRIMARY KEY AUTOINCREMENT, key TEXT NOT NULL, lead_id INTEGER, to_addr TEXT,
    template TEXT, step INTEGER, pid INTEGER NOT NULL, sent_at REAL NOT NULL, returned_at REAL);
"""


class FileState:
    """The SQLite file both fakes write and the test reads. A fresh connection per operation."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = str(path)

    def connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA busy_timeout = 30000")
        return conn

    def init(self) -> FileState:
        with closing(self.connect()) as conn:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.executescript(SCHEMA)
        return self

    def rows(self, table: str) -> list[dict]:
        assert table in ("calls", "emails")
        with closing(self.connect()) as conn:
            return [dict(r) for r in conn.execute(f"SELECT * FROM {table} ORDER BY id")]

    def in_flight(self, table: str, pid: int) -> list[dict]:
        """Requests the process `pid` has made whose answer it has not had yet."""
        assert table in ("calls", "emails")
        with closing(self.connect()) as conn:
            return [
                dict(r)
                for r in conn.execute(
                    f"SELECT * FROM {table} WHERE pid = ? AND returned_at IS NULL ORDER BY id", (pid,)
                )
            ]


class FileVoiceProvider:
    """A provider that dials every request it gets (it ignores idempotency keys) and remembers them."""

    def __init__(self, state: FileState, delay_s: float, name: str = PROVIDER_NAME) -> None:
        self.state, self.delay_s, self.name = state, delay_s, name

    def place_call(self, request: CallRequest) -> ProviderCall:
        with closing(self.state.connect()) as conn:
            conn.execute("BEGIN IMMEDIATE")
            dials = conn.execute("SELECT count(*) FROM calls WHERE to_number = ?", (request.to_number,)).fetchone()[0]
            script = SCRIPTS.get(request.to_number[-1], DEFAULT_SCRIPT)
            status, classification = script[min(dials, len(script) - 1)]
            row_id = conn.execute(
                "INSERT INTO calls (key, chain_id, lead_id, to_number, status, classification, pid, placed_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    request.idempotency_key,
                    request.chain_id,
                    request.lead_id,
                    request.to_number,
                    status,
                    classification,
                    os.getpid(),
                    time.time(),
                ),
            ).lastrowid
            conn.execute("COMMIT")
            # The provider has acted; the answer is still on its way back (a kill here is the F1 window).
            time.sleep(self.delay_s)
            conn.execute("UPDATE calls SET returned_at = ? WHERE id = ?", (time.time(), row_id))
        return ProviderCall(self.name, f"{self.name}_call_{row_id}")

    def find_call(self, idempotency_key: str) -> ProviderCall | None:
        with closing(self.state.connect()) as conn:
            row = conn.execute("SELECT id FROM calls WHERE key = ? ORDER BY id LIMIT 1", (idempotency_key,)).fetchone()
        return ProviderCall(self.name, f"{self.name}_call_{row['id']}") if row else None

    def get_call(self, call_id: str) -> CallResult | None:
        prefix = f"{self.name}_call_"
        if not call_id.startswith(prefix):
            return None
        with closing(self.state.connect()) as conn:
            row = conn.execute("SELECT * FROM calls WHERE id = ?", (int(call_id[len(prefix) :]),)).fetchone()
        if row is None:
            return None
        answered = row["status"] == "completed"
        return CallResult(
            provider=self.name,
            call_id=call_id,
            event_id=f"{call_id}:ended",
            answered=answered,
            status=row["status"],
            classification=row["classification"],
            duration_s=95 if answered else 0,
        )


class FileEmailSender:
    """An email API that sends every request it gets and can look a message up by our key."""

    def __init__(self, state: FileState, delay_s: float, name: str = EMAIL_NAME) -> None:
        self.state, self.delay_s, self.name = state, delay_s, name

    def send(self, message: EmailMessage) -> str:
        with closing(self.state.connect()) as conn:
            row_id = conn.execute(
                "INSERT INTO emails (key, lead_id, to_addr, template, step, pid, sent_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    message.idempotency_key,
                    message.lead_id,
                    message.to,
                    message.template,
                    message.step,
                    os.getpid(),
                    time.time(),
                ),
            ).lastrowid
            time.sleep(self.delay_s)  # sent, not yet acknowledged (the F2 window)
            conn.execute("UPDATE emails SET returned_at = ? WHERE id = ?", (time.time(), row_id))
        return f"msg_{row_id}"

    def find_sent(self, idempotency_key: str) -> str | None:
        with closing(self.state.connect()) as conn:
            row = conn.execute("SELECT id FROM emails WHERE key = ? ORDER BY id LIMIT 1", (idempotency_key,)).fetchone()
        return f"msg_{row['id']}" if row else None


# ---- the process ----------------------------------------------------------------------------------


def build_app(db_url: str, chain_key: str, sandbox_url: str | None = None):
    from crm import create_app
    from crm.config import Settings
    from tests.conftest import make_test_secrets
    from tests.workflows.conftest import always_open_policy

    settings = Settings.from_env().with_part("providers", sandbox_url=sandbox_url or None)
    return create_app(
        {"SQLALCHEMY_DATABASE_URI": db_url},
        settings=settings,
        secrets=make_test_secrets(LEADCHAIN_SECRET_APP_CHAIN_KEY=chain_key),
        gate_policy=always_open_policy(),
    )


async def run(args: argparse.Namespace) -> None:
    from activities.provider_activities import ProviderActivities
    from crm.tenancy.temporal_headers import tenant_client
    from providers.base import ProviderRegistry
    from workers import chain as chain_mod
    from workers.relay import Relay
    from workflows.client import connect

    app = build_app(args.db, args.chain_key, args.sandbox_url)
    # As workers/main.py: the relay's starts carry the company and the activities bind it (a plain client
    # runs them with no scope: NoCompanyScope on the first statement).
    client = tenant_client(await connect(args.temporal))
    state = FileState(args.state).init()
    chain_settings = settings(args.chain_queue, args.provider_queue)
    runners, executors = [], []
    if args.role in ("chain", "both"):
        executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="chain-activity")
        executors.append(executor)
        runners.append(
            chain_mod.worker_runner(chain_mod.chain_worker(client, app, executor, task_queue=args.chain_queue))
        )
        runners.append(
            chain_mod.relay_runner(Relay(app, client, chain_settings, poll_s=0.1, task_queue=args.chain_queue))
        )
    if args.role in ("provider", "both"):
        executor = ThreadPoolExecutor(max_workers=8, thread_name_prefix="provider-activity")
        executors.append(executor)
        if args.sandbox_url:
            # The real provider adapters against the provider sandbox (which counts every dial).
            from providers.factory import registry

            providers = registry(app)
        else:
            providers = ProviderRegistry({PROVIDER_NAME: FileVoiceProvider(state, args.delay)})
        acts = ProviderActivities(app, providers, FileEmailSender(state, args.delay))
        runners.append(
            chain_mod.worker_runner(chain_mod.provider_worker(client, acts, executor, task_queue=args.provider_queue))
        )
    logging.getLogger(__name__).info("worker process %s up (role %s)", os.getpid(), args.role)
    if args.ready:
        Path(args.ready).write_text(str(os.getpid()))
    await chain_mod.run_until_signalled(*runners)
    for executor in executors:
        executor.shutdown(wait=False, cancel_futures=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", required=True)
    parser.add_argument("--temporal", required=True)
    parser.add_argument("--chain-queue", required=True)
    parser.add_argument("--provider-queue", required=True)
    parser.add_argument("--state", required=True)
    parser.add_argument("--chain-key", required=True)
    parser.add_argument("--role", choices=("both", "chain", "provider"), default="both")
    parser.add_argument(
        "--delay", type=float, default=0.4, help="seconds between a fake recording a request and answering it"
    )
    parser.add_argument("--sandbox-url", help="use the real provider adapters against this provider sandbox")
    parser.add_argument("--ready", help="file to write this process's pid to once the workers are built")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format=f"%(asctime)s [{os.getpid()}] %(levelname)s %(name)s %(message)s")
    asyncio.run(run(args))
    # temporalio's core threads can abort interpreter shutdown (sdk-python#300).
    os._exit(0)


if __name__ == "__main__":
    main()
