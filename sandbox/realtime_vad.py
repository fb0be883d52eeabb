"""The Realtime stand-in's server VAD: WebRTC's voice activity detector (webrtcvad) on the audio the client
appends, in 20 ms frames of 8 kHz 16-bit PCM (μ-law is decoded, 24 kHz PCM is decimated). Speech starts
when 4 of the last 6 frames are voiced; it stops after `silence_duration_ms` without a voiced frame. Times
are ms of audio since the session's first append, as the API counts them: `audio_start_ms` reaches back
`prefix_padding_ms` before the first voiced frame, `audio_end_ms` is where the silence was long enough
(it includes that silence)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import webrtcvad

from sandbox import speech

_WINDOW = 6
_START_VOICED = 4
_FRAME_SAMPLES = 160  # 20 ms at 8 kHz
_LINEAR_BYTES = tuple(v.to_bytes(2, "little", signed=True) for v in speech.MULAW_TO_LINEAR)


@dataclass(frozen=True)
class VadEvent:
    kind: str  # started | stopped
    ms: int  # audio_start_ms or audio_end_ms


def to_pcm8k(audio: bytes, audio_format: str) -> bytes:
    """Client audio as 8 kHz 16-bit PCM for the detector."""
    if audio_format == speech.PCMU:
        return b"".join(_LINEAR_BYTES[b] for b in audio)
    samples = memoryview(audio[: len(audio) // 2 * 2]).cast("h")
    return samples[::3].tobytes()  # 24 kHz -> 8 kHz (good enough to find speech)


class ServerVad:
    def __init__(self, settings: dict[str, Any]) -> None:
        self.settings = settings
        threshold = float(settings.get("threshold", 0.5))
        self.vad = webrtcvad.Vad(min(3, max(0, int(threshold * 4))))  # 0.5 -> mode 2
        self.recent: deque[tuple[int, bool]] = deque(maxlen=_WINDOW)  # (frame start ms, voiced)
        self.pending = b""
        self.position_ms = 0
        self.speaking = False
        self.silent_ms = 0

    def feed(self, pcm8k: bytes) -> list[VadEvent]:
        events = []
        data = self.pending + pcm8k
        step = _FRAME_SAMPLES * 2
        usable = len(data) - len(data) % step
        self.pending = data[usable:]
        for start in range(0, usable, step):
            voiced = self.vad.is_speech(data[start : start + step], speech.SAMPLE_RATE)
            event = self._frame(voiced)
            if event is not None:
                events.append(event)
        return events

    def _frame(self, voiced: bool) -> VadEvent | None:
        frame_ms = self.position_ms
        self.position_ms += speech.FRAME_MS
        self.recent.append((frame_ms, voiced))
        if not self.speaking:
            voiced_frames = [ms for ms, v in self.recent if v]
            if len(voiced_frames) >= _START_VOICED:
                self.speaking, self.silent_ms = True, 0
                padding = int(self.settings.get("prefix_padding_ms") or 0)
                return VadEvent("started", max(0, voiced_frames[0] - padding))
            return None
        self.silent_ms = 0 if voiced else self.silent_ms + speech.FRAME_MS
        if self.silent_ms >= int(self.settings.get("silence_duration_ms") or 500):
            self.speaking = False
            self.recent.clear()
            return VadEvent("stopped", self.position_ms)
        return None
