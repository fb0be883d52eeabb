"""Records the ReportWorkflow history replayed by test_report_replay.py. Run explicitly (not collected):

    .venv/bin/python -m pytest tests/reports/record_report_history.py

Recorded with the workflow as it was before the period-to-date change, so the replay test proves that
runs started by the older code still replay with today's."""

from __future__ import annotations

import asyncio
import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from crm import create_app
from tests.conftest import _wipe, make_test_secrets
from tests.reports.conftest import RecordingMailer
from workflows.report_payloads import ReportOutcome, ReportRequest

HISTORIES = Path(__file__).with_name("histories")


@pytest.fixture
def app(migrated_urls):
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["sqlite"]}, secrets=make_test_secrets())
    _wipe(app)
    yield app
    _wipe(app)


async def test_record_report_history(temporal_env, app):
    from workers import reports as reports_worker
    from workers.chain import worker_runner

    client, queue = temporal_env.client, f"reports-rec-{uuid.uuid4().hex[:8]}"
    executor, stop = ThreadPoolExecutor(max_workers=2), asyncio.Event()
    task = asyncio.create_task(
        worker_runner(reports_worker.reports_worker(client, app, executor, mailer=RecordingMailer(), task_queue=queue))(
            stop
        )
    )
    try:
        handle = await client.start_workflow(
            "ReportWorkflow",
            ReportRequest(kind="daily", day="2026-01-15"),
            id=f"record-report-{uuid.uuid4().hex[:8]}",
            task_queue=queue,
            result_type=ReportOutcome,
        )
        await asyncio.wait_for(handle.result(), 90)
        history = await handle.fetch_history()
        HISTORIES.mkdir(exist_ok=True)
        (HISTORIES / "report_daily.json").write_text(json.dumps(json.loads(history.to_json()), indent=1))
    finally:
        stop.set()
        await asyncio.wait_for(task, 30)
        executor.shutdown(wait=False)
