"""With PROMETHEUS_MULTIPROC_DIR (gunicorn in compose), /metrics answers the sum over every process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

CHILD = """
import sys
from crm import create_app
app = create_app({"SQLALCHEMY_DATABASE_URI": "sqlite://", "TESTING": True})
client = app.test_client()
for _ in range(int(sys.argv[1])):
    client.get("/healthz")
if sys.argv[2:] == ["scrape"]:
    print(client.get("/metrics").get_data(as_text=True))
"""
REPO = Path(__file__).resolve().parents[2]


def run(tmp_path: Path, *args: str) -> str:
    env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": str(tmp_path)}
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=120, check=True
    )
    return done.stdout


def test_metrics_add_up_across_processes(tmp_path):
    run(tmp_path, "3")
    run(tmp_path, "4")
    text = run(tmp_path, "2", "scrape")
    sample = r'^leadchain_http_requests_total\{method="GET",route="/healthz",status="200"\} (\S+)$'
    found = re.search(sample, text, re.M)
    assert found and float(found.group(1)) == 9
