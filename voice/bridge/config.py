"""Settings of the voice-bridge process (env vars, with the defaults used by `leadchain worker voice-bridge`).

Secrets are not settings: the Retell path secret and the Vapi server secret are read through the
project's secrets interface (crm.secrets) on every connection, so a rotation needs no restart.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

# Secret names (crm.secrets "group/key"): each may hold two values during a rotation.
RETELL_PATH_SECRET = "bridge/retell-path-secret"
VAPI_SECRET = "bridge/vapi-secret"


@dataclass(frozen=True)
class BridgeConfig:
    host: str = "127.0.0.1"
    port: int = 8765
    metrics_host: str = "127.0.0.1"  # /metrics is internal only (docs/compliance.md §S14)
    metrics_port: int = 9465
    filler_after_s: float = 0.4  # a CRM tool slower than this gets a spoken filler first (V4)
    tool_timeout_s: float = 3.0  # past this the tool raises ToolTimeout and the policy falls back
    call_details_wait_s: float = 1.0  # how long the begin message waits for Retell's call_details
    shutdown_grace_s: float = 5.0  # SIGTERM: running turns may finish, then sockets close 1001
    timezone: str = "Europe/Berlin"
    company_name: str = "Leadchain"
    transfer_number: str | None = None
    callback_number: str | None = None  # said in the opening; else the call's caller ID is said

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> BridgeConfig:
        env = os.environ if environ is None else environ

        def num(name: str, default: float) -> float:
            raw = env.get(name, "").strip()
            return float(raw) if raw else default

        return cls(
            host=env.get("LEADCHAIN_BRIDGE_HOST", "").strip() or cls.host,
            port=int(num("LEADCHAIN_BRIDGE_PORT", cls.port)),
            metrics_host=env.get("LEADCHAIN_BRIDGE_METRICS_HOST", "").strip() or cls.metrics_host,
            metrics_port=int(num("LEADCHAIN_BRIDGE_METRICS_PORT", cls.metrics_port)),
            filler_after_s=num("LEADCHAIN_BRIDGE_FILLER_AFTER_S", cls.filler_after_s),
            tool_timeout_s=num("LEADCHAIN_BRIDGE_TOOL_TIMEOUT_S", cls.tool_timeout_s),
            call_details_wait_s=num("LEADCHAIN_BRIDGE_CALL_DETAILS_WAIT_S", cls.call_details_wait_s),
            shutdown_grace_s=num("LEADCHAIN_BRIDGE_SHUTDOWN_GRACE_S", cls.shutdown_grace_s),
            company_name=env.get("LEADCHAIN_COMPANY_NAME", "").strip() or cls.company_name,
            transfer_number=env.get("LEADCHAIN_BRIDGE_TRANSFER_NUMBER", "").strip() or None,
            callback_number=env.get("LEADCHAIN_BRIDGE_CALLBACK_NUMBER", "").strip() or None,
        )
