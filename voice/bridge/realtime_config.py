"""Settings and seams of the Twilio Media Streams <-> OpenAI Realtime path (issue 22, docs/audio-agent.md).

``RealtimeConfig`` holds the non-secret settings (crm.config.Settings.bridge, LEADCHAIN_BRIDGE_REALTIME_*);
``RealtimeDeps`` adds what the process wires in: how a model socket is opened (the SDK by default, a test's
stand-in by URL), the provider's transfer and end-of-call hooks, and the CRM write of the call's record.
Secrets (the path secret of the media route, the model's API key) are read through crm.secrets per call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from crm.config import BridgeSettings
from crm.secret_names import BRIDGE_REALTIME_API_KEY, BRIDGE_TWILIO_MEDIA_PATH_SECRET
from voice.bridge.realtime_report import RealtimeCallReport

PROVIDER = "twilio_realtime"
MEDIA_PATH_SECRET = BRIDGE_TWILIO_MEDIA_PATH_SECRET
API_KEY_SECRET = BRIDGE_REALTIME_API_KEY


@dataclass(frozen=True)
class RealtimeConfig:
    url: str | None = None  # websocket_base_url ("ws://127.0.0.1:P/v1"); None: OpenAI's own
    model: str = "gpt-realtime"
    voice: str = "marin"
    transcribe_model: str = "gpt-4o-transcribe"
    vad_threshold: float = 0.5
    vad_prefix_ms: int = 300
    vad_silence_ms: int = 500
    reconnect_attempts: int = 5  # model socket drops mid-call: tries, backoff doubling from reconnect_backoff_s
    reconnect_backoff_s: float = 0.2
    drain_timeout_s: float = 8.0  # before a hang-up or transfer: wait this long for the goodbye to be played
    summary_chars: int = 4000  # the conversation re-sent to a reconnected model session, at most

    @classmethod
    def from_settings(cls, settings: BridgeSettings) -> RealtimeConfig:
        return cls(
            url=settings.realtime_url or None,
            model=settings.realtime_model,
            voice=settings.realtime_voice,
            transcribe_model=settings.realtime_transcribe_model,
        )


class ModelLink(Protocol):
    """One open model socket: JSON events out, JSON events in (raises on a closed socket)."""

    async def send(self, event: dict[str, Any]) -> None: ...

    async def recv(self) -> dict[str, Any]: ...

    async def close(self) -> None: ...


# (call_sid, E.164 number, a short summary for the human, the call's company): True when the provider
# moved the call (production: providers/twilio_realtime.py's transfer, voice.bridge.realtime_records).
Transfer = Callable[[str, str, str, int | None], Awaitable[bool]]
# The call's record at its end (transcript, usage, outcome): the provider's hook (cost, chain).
CallEnded = Callable[[RealtimeCallReport], Awaitable[Any]]
# Opens one model socket (the SDK at config.url by default).
Connect = Callable[[RealtimeConfig, str | None], Awaitable[ModelLink]]
# Stores the report on the call's interaction; runs in a worker thread (voice.bridge.realtime_records).
StoreReport = Callable[[RealtimeCallReport], Any]


@dataclass
class RealtimeDeps:
    config: RealtimeConfig = field(default_factory=RealtimeConfig)
    connect: Connect | None = None  # None: voice.bridge.openai_realtime.sdk_connect
    transfer: Transfer | None = None  # None: a transfer is refused to the model ("no one available")
    on_end: CallEnded | None = None
    store: StoreReport | None = None  # None: nothing stored (tests without a database)
