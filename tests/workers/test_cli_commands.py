"""`leadchain seed-demo` says what it made in one readable line (a newcomer saw a dict dump just before the
stack's banner); every worker `make up` starts is a choice of `leadchain worker`."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

import workers.cli
from workers.cli import main


def test_seed_demo_reports_in_words_and_is_idempotent(app, monkeypatch) -> None:
    # The command builds its app from the environment; here it is the test's app on the test database.
    monkeypatch.setattr(workers.cli, "_app", lambda: app)
    first = CliRunner().invoke(main, ["seed-demo"])
    assert first.exit_code == 0, first.output
    line = next(x for x in first.output.splitlines() if x.startswith("demo data:"))
    assert "{" not in line and "companies created" in line and "users created" in line
    second = CliRunner().invoke(main, ["seed-demo"])
    assert second.exit_code == 0, second.output
    assert "demo data: already in place, nothing new" in second.output


def test_every_worker_the_stack_starts_is_a_choice_of_the_worker_command() -> None:
    # `make up` stopped at once when the calendars worker was added to workers.main but not to the command.
    from workers.launcher import local_services
    from workers.main import WORKERS

    assert set(workers.cli.WORKER_NAMES) == set(WORKERS)
    started = {s.argv[2] for s in local_services("127.0.0.1", 5000, Path("/tmp/unused")) if s.argv[1:2] == ["worker"]}
    assert started and started <= set(workers.cli.WORKER_NAMES)


def test_a_posted_demo_lead_is_one_line_not_a_dict() -> None:
    from crm import demo

    accepted = {
        "http_status": 202,
        "chain_id": "c1-lead-abc",
        "status": "accepted",
        "status_url": "http://127.0.0.1:5000/api/v1/submissions/5",
        "warnings": [],
    }
    line = demo.describe_answer(accepted)
    assert line == "lead accepted: chain c1-lead-abc, status http://127.0.0.1:5000/api/v1/submissions/5"
    refused = demo.describe_answer({"http_status": 401, "detail": "bad signature"})
    assert refused == "lead refused: HTTP 401 bad signature" and "{" not in refused
