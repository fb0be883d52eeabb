"""Prometheus metrics of the voice bridge, in a registry of their own (served on the internal port only).

``leadchain_bridge_turn_seconds`` is the bridge's own time per turn: provider request in → first chunk out
(docs/voice-bridge.md §V3; for the rules policy that is all bridge time). Its buckets are fine below 50 ms
because the budget is 20 ms p95 and bench/bridge.py reads quantiles from them.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

TURN_BUCKETS = (
    0.00025,
    0.0005,
    0.00075,
    0.001,
    0.0015,
    0.002,
    0.003,
    0.004,
    0.005,
    0.0075,
    0.01,
    0.015,
    0.02,
    0.025,
    0.03,
    0.04,
    0.05,
    0.075,
    0.1,
    0.15,
    0.2,
    0.3,
    0.5,
    1.0,
    2.0,
    5.0,
)
TOOL_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 1.0, 2.0, 3.0, 5.0, 10.0)

__all__ = ["BridgeMetrics", "CONTENT_TYPE_LATEST"]


class BridgeMetrics:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.turn_seconds = Histogram(
            "leadchain_bridge_turn_seconds",
            "Bridge time per turn: provider request in to first chunk out",
            ["provider"],
            buckets=TURN_BUCKETS,
            registry=r,
        )
        self.tool_seconds = Histogram(
            "leadchain_bridge_tool_seconds", "Duration of CRM tool calls", ["tool"], buckets=TOOL_BUCKETS, registry=r
        )
        self.sessions = Counter("leadchain_bridge_sessions", "Provider sessions accepted", ["provider"], registry=r)
        self.active_sessions = Gauge("leadchain_bridge_active_sessions", "Open Retell WebSocket sessions", registry=r)
        self.superseded = Counter(
            "leadchain_bridge_superseded_responses",
            "Responses abandoned because a newer response_id arrived",
            ["provider"],
            registry=r,
        )
        self.tool_timeouts = Counter(
            "leadchain_bridge_tool_timeouts", "CRM tools past the hard timeout", ["tool"], registry=r
        )
        self.fillers = Counter(
            "leadchain_bridge_fillers", "Filler phrases spoken while a tool was slow", ["tool"], registry=r
        )
        self.auth_failures = Counter(
            "leadchain_bridge_auth_failures",
            "Provider requests refused for a missing or wrong credential",
            ["provider"],
            registry=r,
        )

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
