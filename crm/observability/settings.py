"""Observability settings, read from the environment once per process (docs/observability.md §1).

They live here rather than in crm.config.Settings so that this package stays one self-contained part:
the web, the workers and the tests build them with `ObservabilitySettings.from_env()` or by hand.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

# How long a running chain may stay in one stage before it counts as stuck: beyond the stage's next step.
# Active stages move within minutes; waiting ones are bounded by the chain's own timers (retry backoff,
# the result timeout and its fallback polling, the calling window over a weekend, the nurture cadence).
DEFAULT_STUCK_AFTER_S: dict[str, float] = {
    "importing": 15 * 60,
    "continuing": 15 * 60,
    "qualifying": 15 * 60,
    "calling": 30 * 60,
    "following_up": 30 * 60,
    "waiting_for_result": 2 * 3600,
    "waiting_for_retry": 2 * 86400,
    "waiting_for_window": 4 * 86400,
    "nurturing": 35 * 86400,
}


class ObservabilitySettingsError(ValueError):
    def __init__(self, name: str, problem: str) -> None:
        super().__init__(f"{name}: {problem}")
        self.name = name


@dataclass(frozen=True)
class ObservabilitySettings:
    service_name: str = "leadchain"
    # Each worker process serves /metrics here (0: not served). The voice bridge has its own port.
    worker_metrics_port: int = 9464
    worker_metrics_host: str = "0.0.0.0"  # noqa: S104 - inside a container; compose publishes nothing
    # OTLP/HTTP endpoint of a collector; None: spans are made (for in-process exporters) but not sent.
    otlp_endpoint: str | None = None
    log_json: bool = True
    log_level: str = "INFO"
    stuck_after_s: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_STUCK_AFTER_S))
    # The database collector's answer is reused for this long (Prometheus scrapes every 15 s; several
    # gunicorn processes each answer scrapes), and its queries get this long on the server.
    collector_cache_s: float = 10.0
    collector_timeout_ms: int = 2000
    # gunicorn: every web process writes its samples here and /metrics adds them up (None: this process's)
    multiproc_dir: str | None = None

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, service_name: str = "leadchain"
    ) -> ObservabilitySettings:
        env = os.environ if environ is None else environ
        port_text = env.get("LEADCHAIN_WORKER_METRICS_PORT", "9464").strip()
        if not port_text.isascii() or not port_text.isdigit() or int(port_text) > 65535:
            raise ObservabilitySettingsError("LEADCHAIN_WORKER_METRICS_PORT", f"not a port number: {port_text!r}")
        fmt = env.get("LEADCHAIN_LOG_FORMAT", "json").strip().lower()
        if fmt not in ("json", "text"):
            raise ObservabilitySettingsError("LEADCHAIN_LOG_FORMAT", f"json or text, not {fmt!r}")
        level = env.get("LEADCHAIN_LOG_LEVEL", "INFO").strip().upper()
        if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            raise ObservabilitySettingsError("LEADCHAIN_LOG_LEVEL", f"DEBUG, INFO, WARNING or ERROR, not {level!r}")
        return cls(
            service_name=env.get("OTEL_SERVICE_NAME", "").strip() or service_name,
            worker_metrics_port=int(port_text),
            otlp_endpoint=env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip() or None,
            log_json=fmt == "json",
            log_level=level,
            multiproc_dir=env.get("PROMETHEUS_MULTIPROC_DIR", "").strip() or None,
        )
