"""The alert rules, the Prometheus configuration and the dashboard's queries: valid PromQL (promtool,
when installed: the Debian package `prometheus`), the alerts the issue asks for, and every leadchain
metric they name is one the code exports (a typo would be a panel or an alert that never shows)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
import yaml

from bench.render_dashboard import DASHBOARD, Parser
from crm.extensions import db
from crm.models import Direction, Interaction, InteractionKind, Lead
from crm.observability.collectors import DatabaseCollector
from crm.observability.metrics import WebMetrics, WorkerMetrics
from crm.observability.settings import ObservabilitySettings
from tests.observability.test_collectors import NOW, add_leads

REPO = Path(__file__).resolve().parents[2]
ALERTS = REPO / "deploy" / "prometheus" / "alerts.yml"
PROMETHEUS = REPO / "deploy" / "prometheus" / "prometheus.yml"
PROMTOOL = shutil.which("promtool")
REQUIRED_ALERTS = {
    "LeadchainReportNotSent",
    "LeadchainChainsStuck",
    "LeadchainProviderErrorBudget",
    "LeadchainWebhook401Spike",
    "LeadchainQueueBacklog",
}
# Names the stack exports that are not ours: Prometheus's own and Temporal's task backlog.
FOREIGN = {"up", "approximate_backlog_count"}


def alert_rules() -> list[dict]:
    return [rule for group in yaml.safe_load(ALERTS.read_text(encoding="utf-8"))["groups"] for rule in group["rules"]]


def dashboard_exprs() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def test_the_alerts_the_issue_asks_for_are_there_and_complete():
    rules = alert_rules()
    assert REQUIRED_ALERTS <= {r["alert"] for r in rules}
    for rule in rules:
        assert rule["expr"].strip() and rule["labels"]["severity"] in ("warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"], rule["alert"]
        assert re.fullmatch(r"\d+[smh]", rule.get("for", "0s")), rule["alert"]


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (apt-get install prometheus)")
def test_promtool_accepts_the_rules_the_config_and_every_dashboard_query(tmp_path):
    checked = subprocess.run([PROMTOOL, "check", "rules", str(ALERTS)], capture_output=True, text=True, check=False)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # The configuration names the rules by their path in the container: point it at the repository's.
    config = yaml.safe_load(PROMETHEUS.read_text(encoding="utf-8"))
    config["rule_files"] = [str(ALERTS)]
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
    checked = subprocess.run(
        [PROMTOOL, "check", "config", str(tmp_path / "prometheus.yml")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    # Each panel query, $__rate_interval as Grafana fills it, as a recording rule: promtool parses it.
    records = [
        {"record": f"dashboard:query_{i}", "expr": e.replace("$__rate_interval", "1m")}
        for i, e in enumerate(dashboard_exprs())
    ]
    (tmp_path / "dashboard.yml").write_text(yaml.safe_dump({"groups": [{"name": "d", "rules": records}]}))
    checked = subprocess.run(
        [PROMTOOL, "check", "rules", str(tmp_path / "dashboard.yml")], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_the_renderer_reads_every_dashboard_query():
    for expr in dashboard_exprs():
        Parser(expr.replace("$__rate_interval", "1m")).expr()


@pytest.mark.parametrize("backend", ["sqlite"])
def test_every_metric_named_in_alerts_and_dashboard_is_exported(app):
    web, worker = WebMetrics(), WorkerMetrics()
    web.requests.labels("GET", "/x", "200").inc()
    web.latency.labels("GET", "/x").observe(0.1)
    web.signature_failures.labels("/x").inc()
    web.email_events.labels("open").inc()
    worker.activity_seconds.labels("a", "q", "ok").observe(1)
    worker.activity_failures.labels("a", "E").inc()
    worker.provider.observe("bland", 429, 0.1)
    worker.provider.observe("bland", 500, 0.1)
    add_leads(app, [("calling", timedelta(days=1))])
    with app.app_context():
        lead = db.session.scalar(sa.select(Lead))
        db.session.add(
            Interaction(
                lead_id=lead.id, kind=InteractionKind.CALL, direction=Direction.OUTBOUND, cost_cents=5, created_at=NOW
            )
        )
        db.session.commit()
        db.session.remove()
    collected = DatabaseCollector(app, ObservabilitySettings(), clock=lambda: NOW).collect()
    exported = {s.name for r in (web.registry, worker.registry) for m in r.collect() for s in m.samples}
    exported |= {s.name for m in collected for s in m.samples}
    used = set()
    for expr in [r["expr"] for r in alert_rules()] + dashboard_exprs():
        used |= set(re.findall(r"\b(leadchain_[a-z0-9_]+)", expr))
    assert used, "no metric names found"
    assert used - exported == set()
