"""bench/render_dashboard.py over real scrapes of the web's /metrics: the dashboard's queries evaluated
(a rate and a quantile checked against the traffic sent) and drawn to a PNG."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from bench.render_dashboard import DASHBOARD, Parser, Samples, evaluate, main, panel_series
from tests.conftest import API_KEY


@pytest.mark.parametrize("backend", ["sqlite"])
def test_scraped_samples_are_evaluated_and_drawn(client, tmp_path):
    scrapes = tmp_path / "run.jsonl"
    rounds = [(0, 0), (15, 30), (30, 60), (45, 0), (60, 90)]  # (seconds into the run, /healthz requests before)
    with scrapes.open("w") as sink:
        for t, healthz in rounds:
            for _ in range(healthz):
                client.get("/healthz")
            client.get("/api/v1/leads/1")  # a 401 each round
            client.get("/api/v1/leads/1", headers={"X-API-Key": API_KEY})
            text = client.get("/metrics").get_data(as_text=True)
            sink.write(json.dumps({"t": 1_000_000 + t, "target": "web", "text": text}) + "\n")

    samples = Samples.load(scrapes)
    rate = Parser('sum by (route) (rate(leadchain_http_requests_total{route="/healthz"}[1m]))').expr()
    # Between t=15 and t=60 (the window (0, 60]) the counter grew by 60 + 0 + 90 requests over 45 s.
    [(labels, value)] = evaluate(rate, samples, 1_000_060).items()
    assert dict(labels) == {"route": "/healthz"} and value == pytest.approx(150 / 45)
    errors = Parser("sum by (route) (increase(leadchain_webhook_signature_failures_total[1m]))").expr()
    assert evaluate(errors, samples, 1_000_060) == {frozenset({("route", "/api/v1/leads/<int:lead_id>")}): 3}
    p99 = Parser(
        "histogram_quantile(0.99, sum by (le, route) (rate(leadchain_http_request_duration_seconds_bucket[1m])))"
    ).expr()
    assert 0 < evaluate(p99, samples, 1_000_060)[frozenset({("route", "/healthz")})] <= 0.25

    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    [requests_panel] = [p for p in dashboard["panels"] if p["title"].startswith("Web requests/s")]
    assert set(panel_series(requests_panel, samples, "1m")) == {"200", "401", "404"}

    out = tmp_path / "dashboard.png"
    if os.environ.get("LEADCHAIN_KEEP_RENDER"):  # to look at it: the file named there
        out = Path(os.environ["LEADCHAIN_KEEP_RENDER"])
    assert main(["render", str(scrapes), "--out", str(out)]) == 0
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and out.stat().st_size > 50_000
