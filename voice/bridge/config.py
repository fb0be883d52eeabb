"""Settings of the voice-bridge process: crm.config.Settings.bridge (LEADCHAIN_BRIDGE_*), handed in.

Secrets are not settings: the Retell path secret and the Vapi server secret are read through the
project's secrets interface (crm.secrets) on every connection, so a rotation needs no restart.
"""

from __future__ import annotations

from dataclasses import dataclass

from crm.config import BridgeSettings
from crm.secret_names import BRIDGE_RETELL_PATH_SECRET as RETELL_PATH_SECRET
from crm.secret_names import BRIDGE_VAPI_SECRET as VAPI_SECRET

__all__ = ["RETELL_PATH_SECRET", "VAPI_SECRET", "BridgeConfig"]


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
    def from_settings(cls, settings: BridgeSettings) -> BridgeConfig:
        return cls(
            host=settings.host,
            port=settings.port,
            metrics_host=settings.metrics_host,
            metrics_port=settings.metrics_port,
            filler_after_s=settings.filler_after_s,
            tool_timeout_s=settings.tool_timeout_s,
            call_details_wait_s=settings.call_details_wait_s,
            shutdown_grace_s=settings.shutdown_grace_s,
            company_name=settings.company_name,
            transfer_number=settings.transfer_number,
            callback_number=settings.callback_number,
        )
