"""The voice bridge's HTTP/WebSocket server (aiohttp): what a voice provider talks to during a live call.

Public app (LEADCHAIN_BRIDGE_HOST:PORT, default 127.0.0.1:8765):

* ``GET /llm-websocket/{secret}/{call_id}``: Retell's Custom LLM WebSocket (voice.bridge.retell). The
  path secret (secret ``bridge/retell-path-secret``, two values during a rotation) is compared in
  constant time; a wrong one gets the socket closed with 1008 before anything else is said (S10).
* ``POST /vapi/tools``: Vapi server messages; ``tool-calls`` are answered with ``{"results": [...]}``.
* ``POST /vapi/llm/chat/completions``: Vapi's custom LLM (OpenAI format, SSE streaming).
  Both Vapi routes need X-Vapi-Secret, Bearer or HMAC with secret ``bridge/vapi-secret`` (401 otherwise).
* ``GET /twilio/media/{secret}``: Twilio Media Streams from ``<Connect><Stream>`` (issue 22), bridged
  to an OpenAI Realtime session (voice.bridge.twilio_media). The path secret (secret
  ``bridge/twilio-media-path-secret``, two values during a rotation) is compared in constant time; a wrong
  one gets the socket closed with 1008 before anything else is read or said.
* ``GET /healthz``.

Internal app (LEADCHAIN_BRIDGE_METRICS_PORT, default 9465): ``GET /metrics`` only (S14).
"""

from __future__ import annotations

import asyncio
import gc
import logging
import re
from collections.abc import Callable
from datetime import datetime
from typing import Any

from aiohttp import WSCloseCode, web

from providers.factory import webhook_secret
from providers.vapi import split_secrets
from voice.bridge import vapi as vapi_routes
from voice.bridge.config import RETELL_PATH_SECRET, BridgeConfig
from voice.bridge.core import BRIDGE, Bridge
from voice.bridge.crm_tools import CrmToolsFactory, temporal_notifier
from voice.bridge.dialog.factory import API_KEY_SECRET, build_policy, with_inbound
from voice.bridge.dialog.types import DialogPolicy
from voice.bridge.metrics import CONTENT_TYPE_LATEST, BridgeMetrics
from voice.bridge.realtime_config import MEDIA_PATH_SECRET, RealtimeConfig, RealtimeDeps
from voice.bridge.realtime_records import provider_transfer, store_report
from voice.bridge.retell import RetellSession
from voice.bridge.twilio_media import TwilioMediaSession

log = logging.getLogger(__name__)

CALL_ID = re.compile(r"[A-Za-z0-9_\-.:]{1,128}")


# ---- handlers ------------------------------------------------------------------------------------


async def retell_websocket(request: web.Request) -> web.StreamResponse:
    bridge: Bridge = request.app[BRIDGE]
    call_id = request.match_info["call_id"]
    secrets = await bridge.secret_list(RETELL_PATH_SECRET)
    # No permessage-deflate: the frames are a few hundred bytes of JSON, and compressing every one of them
    # was 5-10 % of the bridge's CPU per turn (bench/README.md, "bridge", issue 21). A client that offers
    # it gets plain frames, as RFC 7692 allows.
    ws = web.WebSocketResponse(max_msg_size=4 << 20, compress=False)
    await ws.prepare(request)
    # The secret is never logged: the path is shown redacted.
    where = f"/llm-websocket/***/{call_id if CALL_ID.fullmatch(call_id) else '<invalid>'}"
    if not bridge.retell_path_ok(request.match_info["secret"], secrets) or not CALL_ID.fullmatch(call_id):
        bridge.metrics.auth_failures.labels("retell").inc()
        log.warning("retell %s from %s: wrong path secret or call id, closing 1008", where, request.remote)
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"unauthorised")
        return ws
    if bridge.stopping:
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"bridge restarting")
        return ws
    previous = bridge.sessions.get(call_id)
    if previous is not None:
        # Retell keeps one socket per call: a new one means the old one is dead to it.
        log.info("retell call %s: new connection replaces the open one", call_id)
        asyncio.ensure_future(previous.finish(0, code=WSCloseCode.OK, message=b"replaced"))
    session = RetellSession(bridge, ws, call_id)
    bridge.sessions[call_id] = session
    bridge.metrics.sessions.labels("retell").inc()
    bridge.metrics.active_sessions.inc()
    log.info("retell %s: session open", where)
    try:
        await session.run()
    finally:
        bridge.metrics.active_sessions.dec()
        if bridge.sessions.get(call_id) is session:
            del bridge.sessions[call_id]
    return ws


async def twilio_media_websocket(request: web.Request) -> web.StreamResponse:
    bridge: Bridge = request.app[BRIDGE]
    secrets = await bridge.secret_list(MEDIA_PATH_SECRET)
    ws = web.WebSocketResponse(max_msg_size=1 << 20)
    await ws.prepare(request)
    if not bridge.retell_path_ok(request.match_info["secret"], secrets):
        bridge.metrics.auth_failures.labels("twilio_realtime").inc()
        log.warning("twilio /twilio/media/*** from %s: wrong path secret, closing 1008", request.remote)
        await ws.close(code=WSCloseCode.POLICY_VIOLATION, message=b"unauthorised")
        return ws
    if bridge.stopping or bridge.realtime is None:
        await ws.close(code=WSCloseCode.TRY_AGAIN_LATER, message=b"not available")
        return ws
    session = TwilioMediaSession(bridge, bridge.realtime, ws)
    bridge.metrics.sessions.labels("twilio_realtime").inc()
    bridge.metrics.active_sessions.inc()
    try:
        await session.run()
    finally:
        bridge.metrics.active_sessions.dec()
    return ws


async def healthz(request: web.Request) -> web.Response:
    bridge: Bridge = request.app[BRIDGE]
    if bridge.stopping:
        return web.json_response({"status": "stopping"}, status=503)
    return web.json_response({"status": "ok", "sessions": len(bridge.sessions)})


async def metrics_handler(request: web.Request) -> web.Response:
    bridge: Bridge = request.app[BRIDGE]
    return web.Response(body=bridge.metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST})


def create_app(bridge: Bridge) -> web.Application:
    """The public app (no /metrics: S14)."""
    app = web.Application(client_max_size=vapi_routes.MAX_BODY)
    app[BRIDGE] = bridge
    app.router.add_get("/llm-websocket/{secret}/{call_id}", retell_websocket)
    app.router.add_post("/vapi/tools", vapi_routes.tool_calls_handler)
    app.router.add_post("/vapi/llm/chat/completions", vapi_routes.chat_completions_handler)
    app.router.add_get("/twilio/media/{secret}", twilio_media_websocket)
    app.router.add_get("/healthz", healthz)

    async def on_shutdown(_app: web.Application) -> None:
        await bridge.shutdown()

    app.on_shutdown.append(on_shutdown)
    return app


def create_metrics_app(bridge: Bridge) -> web.Application:
    app = web.Application()
    app[BRIDGE] = bridge
    app.router.add_get("/metrics", metrics_handler)
    return app


class BridgeServer:
    """Both apps on their sockets; ``start`` then ``stop`` (tests), or ``serve_until`` (the worker)."""

    def __init__(
        self,
        bridge: Bridge,
        *,
        host: str | None = None,
        port: int | None = None,
        metrics_host: str | None = None,
        metrics_port: int | None = None,
    ) -> None:
        cfg = bridge.config
        self.bridge = bridge
        self.host = host if host is not None else cfg.host
        self.port = port if port is not None else cfg.port
        self.metrics_host = metrics_host if metrics_host is not None else cfg.metrics_host
        self.metrics_port = metrics_port if metrics_port is not None else cfg.metrics_port
        self._runners: list[web.AppRunner] = []

    async def start(self) -> None:
        for app, host, port, attr in (
            (create_app(self.bridge), self.host, self.port, "port"),
            (create_metrics_app(self.bridge), self.metrics_host, self.metrics_port, "metrics_port"),
        ):
            runner = web.AppRunner(
                app, access_log=None, handle_signals=False, shutdown_timeout=self.bridge.config.shutdown_grace_s + 1
            )
            await runner.setup()
            site = web.TCPSite(runner, host, port, reuse_address=True)
            await site.start()
            self._runners.append(runner)
            bound = runner.addresses[0][1] if runner.addresses else port
            setattr(self, attr, bound)
        log.info(
            "voice bridge on http://%s:%s (metrics on %s:%s)",
            self.host,
            self.port,
            self.metrics_host,
            self.metrics_port,
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    async def stop(self) -> None:
        for runner in reversed(self._runners):
            await runner.cleanup()
        self._runners.clear()

    async def serve_until(self, stop: asyncio.Event) -> None:
        await self.start()
        freeze_startup_heap()
        try:
            await stop.wait()
        finally:
            await self.stop()


def freeze_startup_heap() -> None:
    """Once serving: what is alive now (modules, the CRM app, compiled patterns) lives as long as the
    process, so the collector's full passes leave it alone (gc.freeze). Its garbage is collected first.
    Without it a full pass walked all of it a few times a minute under load (bench/README.md, "bridge")."""
    gc.collect()
    gc.freeze()


def build_bridge(
    app: Any,
    *,
    temporal_client: Any | None = None,
    temporal_connect: Callable[[], Any] | None = None,
    config: BridgeConfig | None = None,
    policy: DialogPolicy | None = None,
    clock: Callable[[], datetime] | None = None,
) -> Bridge:
    """The production wiring: the CRM app's settings and secrets, voice.bridge.booking, build_policy()."""
    settings = app.config["LEADCHAIN"].bridge
    config = config or BridgeConfig.from_settings(settings)
    metrics = BridgeMetrics()
    if policy is None:
        api_key = app.extensions["leadchain.secrets"].get(API_KEY_SECRET) if settings.llm_url else None
        policy = build_policy(settings=settings, api_key=api_key)
    # Calls to the company's numbers get the inbound dialog (issue 17) whichever policy places calls.
    policy = with_inbound(policy)
    notifier = (
        temporal_notifier(temporal_client, connect=temporal_connect)
        if temporal_client is not None or temporal_connect is not None
        else None
    )
    factory = CrmToolsFactory(app, config=config, metrics=metrics, notifier=notifier)

    def vapi_fallback() -> list[str]:
        # Without a bridge secret, the server secret the CRM's Vapi webhooks are verified with.

        with app.app_context():
            return split_secrets(webhook_secret(app, "vapi"))

    bridge = Bridge(
        policy=policy,
        tools_factory=factory,
        secrets=app.extensions["leadchain.secrets"],
        config=config,
        metrics=metrics,
        clock=clock,
        vapi_fallback_secrets=vapi_fallback,
    )
    # Issue 22: Twilio Media Streams <-> OpenAI Realtime; the transfer is the company's twilio_realtime
    # provider's; the record (transcript, usage, outcome) goes to the call's interaction.
    bridge.realtime = RealtimeDeps(
        config=RealtimeConfig.from_settings(settings),
        transfer=provider_transfer(app, factory.runner),
        store=store_report,
    )
    return bridge
