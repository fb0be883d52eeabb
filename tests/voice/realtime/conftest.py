"""Protocol tests of the bridge's Twilio Media Streams <-> OpenAI Realtime path (issue 22).

Two peers around a real bridge server (aiohttp on a free loopback port, fake CRM backend):

* ``TwilioPeer``: a `websockets` client speaking Twilio's Media Streams JSON (connected, start, media with
  μ-law payloads, mark echoes, dtmf, stop), recording what the bridge sends;
* ``RealtimePeer``: a `websockets` server speaking the Realtime GA events at ``/v1/realtime``, which the
  bridge reaches through the official SDK by URL only (``RealtimeConfig.url``); each connection records
  the events it receives, and the test pushes server events into it or drops it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
from dataclasses import dataclass, field
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve

from crm.secrets import EnvSecrets
from tests.voice.bridge.conftest import NOW, FakeBackend, Notifications, ScriptPolicy
from voice.bridge.config import BridgeConfig
from voice.bridge.crm_tools import CrmToolsFactory
from voice.bridge.metrics import BridgeMetrics
from voice.bridge.realtime_config import RealtimeConfig, RealtimeDeps
from voice.bridge.realtime_report import RealtimeCallReport
from voice.bridge.server import Bridge, BridgeServer

# How long a test waits for a frame that must come. Only a failing test waits this long; a loaded CI host
# has held a bridge turn for over 4 s, which the former 3 s turned into a false failure.
WAIT_S = 15.0

PATH_SECRET = "twilio-media-path-secret-0123456789"
API_KEY = "sk-test-realtime-key"
SECRETS = EnvSecrets(
    {
        "LEADCHAIN_SECRET_BRIDGE_TWILIO_MEDIA_PATH_SECRET": f"old-secret-abcdef {PATH_SECRET}",
        "LEADCHAIN_SECRET_BRIDGE_REALTIME_API_KEY": API_KEY,
    }
)
CALL_SID = "CA" + "0123456789abcdef" * 2
STREAM_SID = "MZ" + "fedcba9876543210" * 2
FRAME = 160  # bytes of μ-law per 20 ms


def lin2ulaw(sample: int) -> int:
    """G.711 μ-law of one 16-bit sample (what audioop.lin2ulaw computes, without the deprecated module)."""
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = max(0, sample.bit_length() - 8)
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def tone(ms: int, hz: float = 440.0, amplitude: int = 8000) -> bytes:
    """`ms` of a sine tone as 8 kHz μ-law."""
    return bytes(lin2ulaw(int(amplitude * math.sin(2 * math.pi * hz * n / 8000))) for n in range(ms * 8))


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


# ---- the Realtime peer -------------------------------------------------------------------------------


@dataclass
class ModelConn:
    ws: ServerConnection
    path: str
    headers: dict[str, str]
    received: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)
    log: list[dict[str, Any]] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def send(self, **event: Any) -> None:
        await self.ws.send(json.dumps(event))

    async def next(self, kind: str | None = None, timeout: float = WAIT_S, skip_audio: bool = True) -> dict[str, Any]:
        """The next event received (of type `kind`; audio appends skipped unless asked for)."""
        while True:
            event = await asyncio.wait_for(self.received.get(), timeout)
            if kind is None and skip_audio and event.get("type") == "input_audio_buffer.append":
                continue
            if kind is None or event.get("type") == kind:
                return event

    async def drop(self) -> None:
        """The socket dies without a close handshake (a network drop)."""
        self.ws.transport.abort()

    def types(self) -> list[str]:
        return [e["type"] for e in self.log if e["type"] != "input_audio_buffer.append"]


class RealtimePeer:
    def __init__(self) -> None:
        self.connections: asyncio.Queue[ModelConn] = asyncio.Queue()
        self.all: list[ModelConn] = []
        self.refuse = 0  # refuse this many upcoming connections (a reconnect has to try again)
        self.server: Any = None
        self.port = 0

    async def start(self) -> None:
        self.server = await serve(self._handle, "127.0.0.1", 0, process_request=self._admit)
        self.port = self.server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v1"

    def _admit(self, ws: ServerConnection, request: Any) -> Any:
        if self.refuse > 0:
            self.refuse -= 1
            return ws.respond(503, "try again\n")  # the handshake fails: the bridge backs off and retries
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        conn = ModelConn(ws, request.path, {k.lower(): v for k, v in request.headers.raw_items()})
        self.all.append(conn)
        await self.connections.put(conn)
        await conn.send(type="session.created", event_id="ev_0", session={"type": "realtime", "id": "sess_1"})
        try:
            async for message in ws:
                event = json.loads(message)
                conn.log.append(event)
                await conn.received.put(event)
        except Exception:  # noqa: BLE001 - a dropped socket
            pass
        finally:
            conn.closed.set()

    async def accept(self, timeout: float = WAIT_S) -> ModelConn:
        return await asyncio.wait_for(self.connections.get(), timeout)

    async def stop(self) -> None:
        self.server.close()
        await self.server.wait_closed()


# ---- the Twilio peer ---------------------------------------------------------------------------------


class TwilioPeer:
    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seq = 0
        self.chunk = 0
        self.received: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.log: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def open(cls, url: str) -> TwilioPeer:
        return cls(await connect(url))

    async def _read(self) -> None:
        try:
            async for message in self.ws:
                assert isinstance(message, str), "Twilio accepts text frames only"
                event = json.loads(message)
                self.log.append(event)
                await self.received.put(event)
        except Exception:  # noqa: BLE001 - closed
            pass

    async def _send(self, event: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(event))

    def _next_seq(self) -> str:
        self.seq += 1
        return str(self.seq)

    async def begin(self, **parameters: str) -> None:
        await self._send({"event": "connected", "protocol": "Call", "version": "1.0.0"})
        await self._send(
            {
                "event": "start",
                "sequenceNumber": self._next_seq(),
                "streamSid": STREAM_SID,
                "start": {
                    "streamSid": STREAM_SID,
                    "accountSid": "AC" + "0" * 32,
                    "callSid": CALL_SID,
                    "tracks": ["inbound"],
                    "customParameters": parameters or {"direction": "outbound", "lead_id": "7", "call_key": "k-7"},
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
            }
        )

    async def media(self, payload: bytes) -> None:
        self.chunk += 1
        await self._send(
            {
                "event": "media",
                "sequenceNumber": self._next_seq(),
                "streamSid": STREAM_SID,
                "media": {
                    "track": "inbound",
                    "chunk": str(self.chunk),
                    "timestamp": str(self.chunk * 20),
                    "payload": b64(payload),
                },
            }
        )

    async def mark(self, name: str) -> None:
        await self._send(
            {"event": "mark", "sequenceNumber": self._next_seq(), "streamSid": STREAM_SID, "mark": {"name": name}}
        )

    async def dtmf(self, digit: str) -> None:
        await self._send(
            {
                "event": "dtmf",
                "sequenceNumber": self._next_seq(),
                "streamSid": STREAM_SID,
                "dtmf": {"track": "inbound_track", "digit": digit},
            }
        )

    async def stop(self) -> None:
        await self._send(
            {
                "event": "stop",
                "sequenceNumber": self._next_seq(),
                "streamSid": STREAM_SID,
                "stop": {"accountSid": "AC" + "0" * 32, "callSid": CALL_SID},
            }
        )

    async def next(self, event: str | None = None, timeout: float = WAIT_S) -> dict[str, Any]:
        while True:
            message = await asyncio.wait_for(self.received.get(), timeout)
            if event is None or message.get("event") == event:
                return message

    async def quiet_for(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.received.get(), seconds)
        except TimeoutError:
            return True
        return False

    async def closed(self, timeout: float = WAIT_S) -> int | None:
        await asyncio.wait_for(self.reader, timeout)
        return self.ws.close_code

    async def close(self) -> None:
        await self.ws.close()
        self.reader.cancel()


# ---- the bridge ----------------------------------------------------------------------------------------


@dataclass
class Harness:
    server: BridgeServer
    bridge: Bridge
    backend: FakeBackend
    model: RealtimePeer
    reports: list[RealtimeCallReport]
    transfers: list[tuple[str, str, str]]

    def media_url(self, secret: str = PATH_SECRET) -> str:
        return f"{self.server.ws_url}/twilio/media/{secret}"

    async def call(self, **parameters: str) -> tuple[TwilioPeer, ModelConn]:
        """A started stream and its model connection, past session.update and the opening."""
        twilio = await TwilioPeer.open(self.media_url())
        await twilio.begin(**parameters)
        model = await self.model.accept()
        assert (await model.next())["type"] == "session.update"
        assert (await model.next())["type"] == "response.create"
        return twilio, model

    async def ended(self, timeout: float = WAIT_S) -> RealtimeCallReport:
        for _ in range(int(timeout / 0.01)):
            if self.reports:
                return self.reports[-1]
            await asyncio.sleep(0.01)
        raise AssertionError("no end-of-call report")


@pytest.fixture
async def harness():
    model = RealtimePeer()
    await model.start()
    config = BridgeConfig(port=0, metrics_port=0, shutdown_grace_s=0.5, transfer_number="+4930123456")
    metrics = BridgeMetrics()
    backend = FakeBackend()
    factory = CrmToolsFactory(None, config=config, metrics=metrics, backend=backend, notifier=Notifications())
    bridge = Bridge(
        policy=ScriptPolicy(), tools_factory=factory, secrets=SECRETS, config=config, metrics=metrics, clock=lambda: NOW
    )
    reports: list[RealtimeCallReport] = []
    transfers: list[tuple[str, str, str]] = []

    async def on_end(report: RealtimeCallReport) -> None:
        reports.append(report)

    async def transfer(call_sid: str, number: str, summary: str, company_id: int | None) -> bool:
        transfers.append((call_sid, number, summary))
        return True

    bridge.realtime = RealtimeDeps(
        config=RealtimeConfig(url=model.url, reconnect_backoff_s=0.02, drain_timeout_s=1.0),
        transfer=transfer,
        on_end=on_end,
    )
    server = BridgeServer(bridge)
    await server.start()
    yield Harness(server, bridge, backend, model, reports, transfers)
    await server.stop()
    factory.close()
    await model.stop()
