"""Replay a ReportWorkflow history recorded with the workflow as it was before the period-to-date flag
(tests/reports/record_report_history.py): runs started by older code keep replaying with today's."""

from __future__ import annotations

from pathlib import Path

from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from workflows.reports import ReportWorkflow

HISTORY = Path(__file__).with_name("histories") / "report_daily.json"


async def test_report_history_replays():
    history = WorkflowHistory.from_json("report_daily", HISTORY.read_text())
    await Replayer(workflows=[ReportWorkflow], data_converter=pydantic_data_converter).replay_workflow(history)
