"""Clean shutdown (issue 12, part 3).

* A stopping worker gives running activities the grace period (LEADCHAIN_WORKER_SHUTDOWN_GRACE_S, below
  compose's stop_grace_period) instead of cancelling them at once.
* `leadchain up` stops workers before Temporal, and its children do not get the terminal's Ctrl+C
  themselves: real worker processes against a real dev server, stopped by the launcher's code, log no
  "tcp connect error" retries (what they logged when Temporal went first).
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from temporalio import activity, workflow
from temporalio.client import WorkflowFailureError
from temporalio.common import RetryPolicy
from temporalio.worker import Worker

from tests.sandbox_fixtures import free_port
from tests.temporal_fixtures import binary
from tests.test_local_stack_cli import leadchain, second_terminal_env
from workers import chain as chain_mod
from workers.launcher import (
    TEMPORAL_SHUTDOWN_NOISE,
    TIER_TEMPORAL,
    TIER_WORKERS,
    Service,
    stack_environment,
    start_service,
    stop_services,
)
from workers.shutdown import DEFAULT_GRACE_S, ENV_VAR, worker_shutdown_grace_s

REPO = Path(__file__).resolve().parents[2]
started = threading.Event()


@activity.defn(name="slow_step")
def slow_step(seconds: float) -> str:
    """Like a PDF render or a provider call: takes a while, heartbeats, and gives up when cancelled."""
    started.set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        activity.heartbeat()
        if activity.is_cancelled():
            raise RuntimeError("cancelled before it finished")
        time.sleep(0.1)
    return "finished"


@workflow.defn(sandboxed=False)
class RunsSlowStep:
    @workflow.run
    async def run(self, queue: str) -> str:
        return await workflow.execute_activity(
            "slow_step",
            2.0,
            task_queue=queue,
            start_to_close_timeout=timedelta(seconds=30),
            heartbeat_timeout=timedelta(seconds=5),
            retry_policy=RetryPolicy(maximum_attempts=1),
        )


class _Acts:
    def all(self):
        return [slow_step]


async def _stop_provider_worker_mid_activity(client, grace: str, monkeypatch) -> str:
    """Run the real provider worker (workers.chain) with a slow activity, stop it while the activity runs."""
    monkeypatch.setenv(ENV_VAR, grace)
    queue, wf_queue = f"shutdown-{uuid.uuid4().hex[:8]}", f"shutdown-wf-{uuid.uuid4().hex[:8]}"
    started.clear()
    stop = asyncio.Event()
    worker = chain_mod.provider_worker(client, _Acts(), ThreadPoolExecutor(2), task_queue=queue)
    running = asyncio.create_task(chain_mod.worker_runner(worker)(stop))
    async with Worker(client, task_queue=wf_queue, workflows=[RunsSlowStep]):
        handle = await client.start_workflow(
            RunsSlowStep.run, queue, id=f"shutdown-{uuid.uuid4().hex}", task_queue=wf_queue
        )
        while not started.is_set():
            await asyncio.sleep(0.05)
        stop.set()  # what SIGTERM does (run_until_signalled)
        await running
        try:
            return await asyncio.wait_for(handle.result(), 30)
        except WorkflowFailureError as e:
            return f"failed: {e.cause}"


async def test_a_running_activity_finishes_within_the_grace_period(temporal_env, monkeypatch):
    assert await _stop_provider_worker_mid_activity(temporal_env.client, "10", monkeypatch) == "finished"


async def test_without_a_grace_period_the_running_activity_is_cancelled(temporal_env, monkeypatch):
    # The old behaviour ("will wait 0:00:00 before cancelling activities"), so the test above means something.
    outcome = await _stop_provider_worker_mid_activity(temporal_env.client, "0", monkeypatch)
    assert outcome.startswith("failed"), outcome


def test_the_grace_period_fits_inside_compose_stop_grace_period():
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text(encoding="utf-8"))
    for name, service in compose["services"].items():
        if not (name.startswith("worker-") and name != "worker-voice-bridge"):
            continue
        stop_grace = service["stop_grace_period"]
        assert stop_grace.endswith("s"), stop_grace
        env = service.get("environment") or {}
        grace = worker_shutdown_grace_s({ENV_VAR: str(env[ENV_VAR])} if ENV_VAR in env else {})
        assert 0 < grace <= int(stop_grace[:-1]) - 5, (name, grace, stop_grace)
    assert worker_shutdown_grace_s({}) == DEFAULT_GRACE_S
    with pytest.raises(SystemExit):
        worker_shutdown_grace_s({ENV_VAR: "soon"})


# ------------------------------------------------------------------ the launcher's stop order, for real


def _temporal_dev_server(var: Path, port: int) -> Service:
    return Service(
        "temporal",
        [
            binary("temporal"),
            "server",
            "start-dev",
            "--headless",
            "--db-filename",
            str(var / "temporal.db"),
            "--ip",
            "127.0.0.1",
            "--port",
            str(port),
            "--ui-port",
            str(free_port()),
            "--search-attribute",
            "LeadStage=Keyword",
            "--log-level",
            "warn",
        ],
        ready=f"127.0.0.1:{port}",
        tier=TIER_TEMPORAL,
        quiet_when_stopping=TEMPORAL_SHUTDOWN_NOISE,
    )


def test_the_launcher_stops_workers_before_temporal_without_connection_errors(tmp_path):
    var = tmp_path / "var"
    var.mkdir()
    port = free_port()
    env = stack_environment(var, base=second_terminal_env(var, LEADCHAIN_WORKER_SHUTDOWN_GRACE_S="4"))
    env["TEMPORAL_ADDRESS"] = f"127.0.0.1:{port}"
    assert leadchain("db-upgrade", env=env).returncode == 0
    leadchain_bin = str(Path(sys.executable).with_name("leadchain"))
    services = [
        _temporal_dev_server(var, port),
        *(Service(name, [leadchain_bin, "worker", name], tier=TIER_WORKERS) for name in ("chain", "provider")),
    ]
    logs = {svc.name: (tmp_path / f"{svc.name}.log") for svc in services}
    outputs = {name: path.open("wb") for name, path in logs.items()}
    procs = []
    try:
        for svc in services:
            procs.append((svc, start_service(svc, env, outputs[svc.name])))
            if svc.ready:
                from workers.launcher import _wait_port

                assert _wait_port(svc.ready, 60), logs[svc.name].read_text()
        # Each child leads its own process group: a Ctrl+C to the terminal's group reaches only the launcher.
        for _, proc in procs:
            assert os.getpgid(proc.pid) == proc.pid != os.getpgid(0)
        for name in ("chain", "provider"):
            _wait_for_poller(name, port, logs[name])
        stop_services(procs, worker_grace_s=4)
    finally:
        for _, proc in procs:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
        for out in outputs.values():
            out.close()
    for svc, proc in procs:
        assert proc.returncode is not None, svc.name
    # The dev server's own shutdown chatter (its system workers polling its closing frontend) is dropped.
    temporal_log = logs["temporal"].read_text(errors="replace")
    assert "Temporal Server:" in temporal_log  # its output does come through
    assert not any(noise in temporal_log for noise in TEMPORAL_SHUTDOWN_NOISE), temporal_log
    for name in ("chain", "provider"):
        text = logs[name].read_text(errors="replace")
        assert f"{name} worker stopped" in text, text
        assert "will wait 0:00:04 before cancelling activities" in text, text
        assert "tcp connect error" not in text and "retried" not in text, text


def _wait_for_poller(name: str, port: int, log: Path, timeout: float = 60) -> None:
    """Until the worker polls its task queue (the container health check's test)."""
    import dataclasses

    from crm.config import Config
    from workers.health import check

    cfg = dataclasses.replace(Config(), temporal_address=f"127.0.0.1:{port}")
    deadline = time.monotonic() + timeout
    while not asyncio.run(check(name, cfg))[0]:
        assert time.monotonic() < deadline, log.read_text(errors="replace")
        time.sleep(0.5)
