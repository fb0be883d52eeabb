"""The Bridge: what every request handler of the voice bridge needs, injected (the dialog policy, the CRM
tools, secrets, metrics), and the open live sessions.

It sits below the provider protocols (voice.bridge.retell, voice.bridge.vapi) and the server that wires
them into apps (voice.bridge.server), so the protocols use it without importing the server.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Protocol
from zoneinfo import ZoneInfo

from aiohttp import WSCloseCode, web

from crm.secrets import Secrets
from providers.vapi import verify_server_auth
from voice.bridge.config import VAPI_SECRET, BridgeConfig
from voice.bridge.crm_tools import ToolsFactory
from voice.bridge.dialog.types import DialogPolicy, TurnResult
from voice.bridge.metrics import BridgeMetrics
from voice.bridge.realtime_config import RealtimeDeps

log = logging.getLogger(__name__)

SECRET_TTL_S = 5.0
# Where both apps keep their Bridge (server.create_app sets it).
BRIDGE: web.AppKey[Any] = web.AppKey("leadchain_bridge", object)


class LiveSession(Protocol):
    """An open provider session the bridge can speak into or close (voice.bridge.retell.RetellSession)."""

    async def interrupt(self, text: str, *, no_interruption_allowed: bool = False) -> bool: ...

    async def finish(self, grace_s: float, code: int = WSCloseCode.GOING_AWAY, message: bytes = b"") -> None: ...


class Bridge:
    """Everything a request handler needs, injected: the policy, the CRM tools, secrets, metrics."""

    def __init__(
        self,
        *,
        policy: DialogPolicy,
        tools_factory: ToolsFactory,
        secrets: Secrets,
        config: BridgeConfig | None = None,
        metrics: BridgeMetrics | None = None,
        clock: Callable[[], datetime] | None = None,
        vapi_fallback_secrets: Callable[[], list[str]] | None = None,
    ) -> None:
        self.policy = policy
        self.tools_factory = tools_factory
        self.secrets = secrets
        self.config = config or BridgeConfig()
        self.metrics = metrics or BridgeMetrics()
        self._zone = ZoneInfo(self.config.timezone)
        self._clock = clock
        self._vapi_fallback = vapi_fallback_secrets
        self._secret_cache: dict[str, tuple[float, list[str]]] = {}
        self.sessions: dict[str, LiveSession] = {}
        self.stopping = False
        # Twilio Media Streams <-> OpenAI Realtime (issue 22): None until wired (server.build_bridge).
        self.realtime: RealtimeDeps | None = None

    def now(self) -> datetime:
        return self._clock() if self._clock is not None else datetime.now(self._zone)

    # ---- secrets (read through crm.secrets; cached briefly so Vault is not asked per frame) -----------

    def _secret_list(self, name: str) -> list[str]:
        cached = self._secret_cache.get(name)
        now = time.monotonic()
        if cached is not None and now - cached[0] < SECRET_TTL_S:
            return cached[1]
        try:
            values = self.secrets.get_list(name)
        except Exception as e:  # noqa: BLE001 - SecretsError and friends: fail closed
            log.warning("secret %s unavailable (%s): refusing providers", name, type(e).__name__)
            values = cached[1] if cached is not None else []
        if name == VAPI_SECRET and not values and self._vapi_fallback is not None:
            values = self._vapi_fallback()
        self._secret_cache[name] = (now, values)
        return values

    async def secret_list(self, name: str) -> list[str]:
        cached = self._secret_cache.get(name)
        if cached is not None and time.monotonic() - cached[0] < SECRET_TTL_S:
            return cached[1]
        return await asyncio.to_thread(self._secret_list, name)

    def retell_path_ok(self, given: str, secrets: list[str]) -> bool:
        encoded = given.encode()
        # Every candidate is compared (no early exit), each in constant time.
        return bool(secrets) and sum(hmac.compare_digest(encoded, s.encode()) for s in secrets) > 0

    async def vapi_authenticated(self, body: bytes, headers: Mapping[str, str]) -> bool:
        return verify_server_auth(body, headers, await self.secret_list(VAPI_SECRET))

    # ---- logging ------------------------------------------------------------------------------------

    def log_result(self, call_id: str, provider: str, response_id: int | None, result: TurnResult) -> None:
        # Ids and labels only: no transcript text, names or numbers (S13).
        log.info(
            "%s call %s turn %s: intent=%s classification=%s booking=%s end_call=%s",
            provider,
            call_id,
            response_id if response_id is not None else "-",
            result.intent,
            result.classification,
            result.booking.status if result.booking else None,
            result.end_call,
        )

    # ---- pushed from outside a turn -----------------------------------------------------------------

    async def interrupt(self, call_id: str, text: str, *, no_interruption_allowed: bool = False) -> bool:
        """agent_interrupt on the call's open Retell session (False when this bridge has none)."""
        session = self.sessions.get(call_id)
        if session is None:
            return False
        return await session.interrupt(text, no_interruption_allowed=no_interruption_allowed)

    async def shutdown(self) -> None:
        """SIGTERM: refuse new sessions, let running turns finish, close the rest with 1001."""
        self.stopping = True
        sessions = list(self.sessions.values())
        if sessions:
            log.info("closing %d Retell session(s) with 1001", len(sessions))
            await asyncio.gather(
                *(s.finish(self.config.shutdown_grace_s, message=b"bridge restarting") for s in sessions),
                return_exceptions=True,
            )
        drain = getattr(self.tools_factory, "drain", None)
        if drain is not None:
            await drain()
