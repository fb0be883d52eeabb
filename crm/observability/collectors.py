"""Metrics read from the database at scrape time (docs/observability.md §2.3): chains by stage and stuck
beyond their next step, the intake and call-result outboxes' backlog, the last report emailed, and the
providers' cost over the last 30 days.

Bounded: each query runs on its own connection with a server-side statement timeout
(`collector_timeout_ms`), one failing query costs only its own metrics (and counts in
``leadchain_collector_errors``), and the answer is reused for `collector_cache_s`, so any number of
scrapes makes at most one round of queries per interval and process.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

from crm.extensions import db
from crm.models import Interaction, Lead, LeadSubmission, Report, SideEffect
from crm.observability.settings import ObservabilitySettings
from crm.tenancy.context import operator_scope

log = logging.getLogger(__name__)
REPORT_EMAIL_KIND = "report_email"  # activities.report_activities.LEDGER_KIND (a layer above; same string)


class DatabaseCollector:
    def __init__(self, app: Flask, settings: ObservabilitySettings, *, clock: Callable[[], datetime] | None = None):
        self.app, self.settings = app, settings
        self.clock = clock or (lambda: datetime.now(UTC))
        self._lock = threading.Lock()
        self._cached: list[Metric] = []
        self._cached_at = float("-inf")
        self._errors: dict[str, int] = {}

    def describe(self) -> list[Metric]:
        return []  # registration must not query the database

    def collect(self) -> Iterator[Metric]:
        with self._lock:
            if time.monotonic() - self._cached_at >= self.settings.collector_cache_s:
                started = time.perf_counter()
                self._cached = self._query_all()
                self._cached_at = time.monotonic()
                took = GaugeMetricFamily(
                    "leadchain_collector_duration_seconds", "Time the last database collection took"
                )
                took.add_metric([], time.perf_counter() - started)
                self._cached.append(took)
            errors = CounterMetricFamily(
                "leadchain_collector_errors", "Database collector queries that failed", labels=["query"]
            )
            for name, count in sorted(self._errors.items()):
                errors.add_metric([name], count)
            yield from self._cached
            yield errors

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        with self.app.app_context():
            engine = db.engine
        # Installation-wide counts (no personal data): an operator context, or PostgreSQL's row-level
        # security would show the scrape no company's rows (crm.tenancy.rls).
        with operator_scope("metrics", "installation-wide gauges"), engine.connect() as conn:
            if engine.dialect.name == "postgresql":
                conn.execute(sa.text(f"SET LOCAL statement_timeout = {int(self.settings.collector_timeout_ms)}"))
            yield conn

    def _query_all(self) -> list[Metric]:
        found: list[Metric] = []
        for name, query in (
            ("chains", self._chains),
            ("submissions", self._submissions),
            ("call_results", self._call_results),
            ("reports", self._reports),
            ("cost", self._cost),
        ):
            try:
                with self._connection() as conn:
                    found.extend(query(conn))
            except Exception as e:  # noqa: BLE001 - a scrape reports what it can; the error is counted
                self._errors[name] = self._errors.get(name, 0) + 1
                log.warning("metrics collector: query %s failed: %s", name, type(e).__name__)
        return found

    def _chains(self, conn: sa.Connection) -> list[Metric]:
        now = self.clock()
        stuck_when = [
            (sa.and_(Lead.chain_stage == stage, Lead.updated_at < now - timedelta(seconds=after)), 1)
            for stage, after in self.settings.stuck_after_s.items()
        ]
        rows = conn.execute(
            sa.select(Lead.chain_stage, sa.func.count(), sa.func.sum(sa.case(*stuck_when, else_=0)))
            .where(Lead.chain_stage.is_not(None), Lead.merged_into_id.is_(None))
            .group_by(Lead.chain_stage)
        ).all()
        chains = GaugeMetricFamily("leadchain_chains", "Leads by their chain's stage", labels=["stage"])
        stuck = GaugeMetricFamily(
            "leadchain_chains_stuck",
            "Running chains in one stage for longer than the stage's next step allows",
            labels=["stage"],
        )
        for stage, count, stuck_count in rows:
            chains.add_metric([stage], count)
            if stage in self.settings.stuck_after_s:
                stuck.add_metric([stage], stuck_count or 0)
        return [chains, stuck]

    def _submissions(self, conn: sa.Connection) -> list[Metric]:
        count, oldest = conn.execute(
            sa.select(sa.func.count(), sa.func.min(LeadSubmission.received_at)).where(
                LeadSubmission.dispatched_at.is_(None)
            )
        ).one()
        return self._backlog(
            "leadchain_submissions_pending", "Stored leads not yet handed to their chain", count, oldest
        )

    def _call_results(self, conn: sa.Connection) -> list[Metric]:
        # The provider-event outbox (crm.models.call_outbox), by table name: a database migrated before it
        # existed answers nothing here instead of failing the other queries.
        if not sa.inspect(conn).has_table("call_result_deliveries"):
            return []
        count, oldest = conn.execute(
            sa.text("SELECT count(*), min(created_at) FROM call_result_deliveries WHERE delivered_at IS NULL")
        ).one()
        return self._backlog(
            "leadchain_call_results_pending", "Call results stored but not yet delivered to their chain", count, oldest
        )

    def _backlog(self, name: str, doc: str, count: int, oldest: Any) -> list[Metric]:
        pending = GaugeMetricFamily(name, doc)
        pending.add_metric([], count)
        age = GaugeMetricFamily(f"{name}_oldest_seconds", f"{doc}: age of the oldest (0 when none)")
        age.add_metric([], max(0.0, (self.clock() - _aware(oldest)).total_seconds()) if oldest is not None else 0.0)
        return [pending, age]

    def _reports(self, conn: sa.Connection) -> list[Metric]:
        built = GaugeMetricFamily(
            "leadchain_report_last_built_timestamp_seconds",
            "When the newest report of a kind was built",
            labels=["kind"],
        )
        for kind, newest in conn.execute(sa.select(Report.kind, sa.func.max(Report.created_at)).group_by(Report.kind)):
            built.add_metric([kind], _aware(newest).timestamp())
        sent = GaugeMetricFamily(
            "leadchain_report_last_sent_timestamp_seconds", "When a report email was last sent (0: never)"
        )
        newest_sent = conn.execute(
            sa.select(sa.func.max(SideEffect.completed_at)).where(
                SideEffect.kind == REPORT_EMAIL_KIND, SideEffect.status == "done"
            )
        ).scalar()
        sent.add_metric([], _aware(newest_sent).timestamp() if newest_sent is not None else 0.0)
        return [built, sent]

    def _cost(self, conn: sa.Connection) -> list[Metric]:
        since = self.clock() - timedelta(days=30)
        cost = GaugeMetricFamily(
            "leadchain_provider_cost_cents_30d",
            "What the providers charged for calls and messages recorded in the last 30 days, in cents",
            labels=["provider", "currency"],
        )
        rows = conn.execute(
            sa.select(Interaction.provider, Interaction.currency, sa.func.sum(Interaction.cost_cents))
            .where(Interaction.created_at >= since, Interaction.cost_cents.is_not(None))
            .group_by(Interaction.provider, Interaction.currency)
        )
        for provider, currency, cents in rows:
            cost.add_metric([provider or "unknown", currency or "unknown"], float(cents or 0))
        return [cost]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
