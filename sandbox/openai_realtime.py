"""The OpenAI Realtime API stand-in (issue 22): a WebSocket server on its own loopback port that the real
`openai` SDK connects to (`AsyncOpenAI(api_key=..., websocket_base_url=server.url)`, then
`client.realtime.connect(model=...)`: `ws://127.0.0.1:<port>/v1/realtime?model=...`). The handshake needs
`Authorization: Bearer <api_key>` (else 401 with the API's JSON error) and a `model` (or `call_id`) query
parameter; each connection is a RealtimeSession (sandbox.realtime_session) that hears the callee's scripted
turns through its server VAD and answers with real speech (sandbox.call_scripts says how a session finds
its call's script in the shared ScriptBook).

It runs its asyncio loop in a thread of its own, so the Flask sandbox (sandbox.app starts it when
SandboxConfig.realtime_port is set) and tests on any loop can use it. For benchmarks it keeps its own
processing time per response (trigger -> first delta: `delays`), and for the bridge's reconnect test a fault
hook drops a connection in the middle of an answer (`drop_next`)."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
import threading
import uuid
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qs, urlsplit

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from sandbox.call_scripts import ScriptBook
from sandbox.realtime_responses import Pace
from sandbox.realtime_session import RealtimeSession

log = logging.getLogger(__name__)
API_KEY = "sk-sandbox-openai"
PATH = "/v1/realtime"


@dataclass
class Delay:
    session_id: str
    response_id: str
    ms: float  # what triggered the response (speech stopped, response.create) -> its first delta


class RealtimeServer:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        api_key: str = API_KEY,
        scripts: ScriptBook | None = None,
        pace: Pace | None = None,
    ) -> None:
        self.host, self.port, self.api_key = host, port, api_key
        self.scripts = scripts if scripts is not None else ScriptBook()
        self.pace = pace or Pace()
        self.sessions: deque[RealtimeSession] = deque(maxlen=100)  # the latest, for tests and the page
        self.delays: deque[Delay] = deque(maxlen=10_000)
        self.rejected = 0  # handshakes refused (bad key, path or model)
        self._ids = itertools.count(1)
        self._drop: dict[str, int] = {}  # "next" (the next session to answer) or a session id -> deltas left
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The SDK's `websocket_base_url` (it appends /realtime)."""
        return f"ws://{self.host}:{self.port}/v1"

    # -- life --------------------------------------------------------------------------------------------

    def start(self) -> RealtimeServer:
        ready = threading.Event()
        failure: list[BaseException] = []

        def main() -> None:
            try:
                asyncio.run(self._serve(ready))
            except BaseException as exc:  # reported to start()
                failure.append(exc)
                ready.set()

        self._thread = threading.Thread(target=main, daemon=True, name="openai-realtime-sandbox")
        self._thread.start()
        ready.wait(10)
        if failure:
            raise failure[0]
        log.info("OpenAI Realtime sandbox on %s", self.url)
        return self

    async def _serve(self, ready: threading.Event) -> None:
        self._loop, self._stop = asyncio.get_running_loop(), asyncio.Event()
        server: Server
        async with serve(
            self._connection, self.host, self.port, process_request=self._handshake, max_size=None
        ) as server:
            self.port = server.sockets[0].getsockname()[1]
            ready.set()
            await self._stop.wait()

    def stop(self) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(5)

    def __enter__(self) -> RealtimeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults and figures ------------------------------------------------------------------------------

    def drop_next(self, after_audio_deltas: int = 1) -> None:
        """Fault: the next response's connection dies (TCP abort, no close frame) after this many audio deltas."""
        with self._lock:
            self._drop["next"] = after_audio_deltas

    def drop_now(self, session_id: str) -> bool:
        """Called before each audio delta: True when the fault says this connection dies now."""
        with self._lock:
            if "next" in self._drop:
                self._drop[session_id] = self._drop.pop("next")
            left = self._drop.get(session_id)
            if left is None:
                return False
            if left > 0:
                self._drop[session_id] = left - 1
                return False
            del self._drop[session_id]
            return True

    def record_delay(self, session_id: str, response_id: str, ms: float) -> None:
        self.delays.append(Delay(session_id, response_id, ms))

    def new_id(self, prefix: str) -> str:
        return f"{prefix}_{next(self._ids):06d}{uuid.uuid4().hex[:10]}"

    # -- connections -------------------------------------------------------------------------------------

    def _handshake(self, connection: ServerConnection, request: Request) -> Response | None:
        url = urlsplit(request.path)
        query = parse_qs(url.query)
        if url.path.rstrip("/") != PATH:
            return self._refuse(
                connection, HTTPStatus.NOT_FOUND, "invalid_request_error", None, f"Invalid URL (GET {url.path})"
            )
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            sent = str(request.headers.get("Authorization", "")).removeprefix("Bearer ")
            message = (
                f"Incorrect API key provided: {sent[:3]}***{sent[-4:]}." if sent else "Missing bearer authentication."
            )
            return self._refuse(
                connection, HTTPStatus.UNAUTHORIZED, "invalid_request_error", "invalid_api_key", message
            )
        if not query.get("model") and not query.get("call_id"):
            message = "Missing required parameter: 'model'."
            return self._refuse(
                connection, HTTPStatus.BAD_REQUEST, "invalid_request_error", "missing_required_parameter", message
            )
        return None

    def _refuse(
        self, connection: ServerConnection, status: HTTPStatus, kind: str, code: str | None, message: str
    ) -> Response:
        self.rejected += 1
        body = json.dumps({"error": {"message": message, "type": kind, "code": code, "param": None}})
        response = connection.respond(status, body)
        response.headers["Content-Type"] = "application/json"
        return response

    async def _connection(self, ws: ServerConnection) -> None:
        request = ws.request
        path = request.path if request is not None else ""
        query = parse_qs(urlsplit(path).query)
        model = (query.get("model") or ["gpt-realtime"])[0]
        session = RealtimeSession(ws, self, model, hints=path)
        self.sessions.append(session)
        await session.serve()

    def session(self, session_id: str) -> RealtimeSession | None:
        return next((s for s in self.sessions if s.id == session_id), None)

    def stats(self) -> dict[str, Any]:
        delays = sorted(d.ms for d in self.delays)
        return {
            "url": self.url,
            "sessions": len(self.sessions),
            "rejected": self.rejected,
            "responses": len(delays),
            "processing_ms_p50": delays[len(delays) // 2] if delays else None,
            "processing_ms_max": delays[-1] if delays else None,
        }
