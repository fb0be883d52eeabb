"""Real speech for the sandbox's voices (issue 22): espeak-ng says a line in German, English or French, sox
turns its WAV into the telephone's 8 kHz mono G.711 μ-law (Twilio's Media Streams format and the Realtime
API's `audio/pcmu`) or into 24 kHz 16-bit PCM (`audio/pcm`). Each (text, language, format) is synthesised
once per process and cached; silence before and after the words is trimmed, so the end of the bytes is the
end of the speech (the latency figures count from there).

Both programs are Debian packages (scripts/system-deps.sh); without them `speak` raises SpeechUnavailable
instead of producing anything that merely looks like audio."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Iterator

SAMPLE_RATE = 8000
FRAME_MS = 20
FRAME_BYTES = SAMPLE_RATE * FRAME_MS // 1000  # 160 μ-law bytes: one Media Streams frame
MULAW_SILENCE = 0xFF  # μ-law's zero sample
VOICES = {"de": "de", "en": "en-us", "fr": "fr"}
PCMU = "audio/pcmu"
PCMA = "audio/pcma"
PCM24K = "audio/pcm"  # 16-bit little-endian, 24 kHz, mono (the Realtime API's `audio/pcm`)
_SOX_OUT = {
    PCMU: ["-r", "8000", "-c", "1", "-e", "u-law", "-b", "8", "-t", "raw", "-"],
    PCMA: ["-r", "8000", "-c", "1", "-e", "a-law", "-b", "8", "-t", "raw", "-"],
    PCM24K: ["-r", "24000", "-c", "1", "-e", "signed-integer", "-b", "16", "-L", "-t", "raw", "-"],
}
# Samples quieter than this (16-bit) count as silence when trimming; 10 ms of it are kept at each end.
_TRIM_LEVEL = 300


class SpeechUnavailable(RuntimeError):
    """espeak-ng or sox is missing (scripts/system-deps.sh installs both)."""


def _mulaw_decode_table() -> tuple[int, ...]:
    table = []
    for byte in range(256):
        u = ~byte & 0xFF
        magnitude = (((u & 0x0F) << 3) + 0x84) << ((u >> 4) & 0x07)
        table.append(0x84 - magnitude if u & 0x80 else magnitude - 0x84)
    return tuple(table)


MULAW_TO_LINEAR = _mulaw_decode_table()


def mulaw_to_pcm16(data: bytes) -> bytes:
    """G.711 μ-law bytes as 16-bit little-endian PCM at the same rate."""
    out = bytearray(2 * len(data))
    for i, byte in enumerate(data):
        out[2 * i : 2 * i + 2] = MULAW_TO_LINEAR[byte].to_bytes(2, "little", signed=True)
    return bytes(out)


def bytes_per_ms(audio_format: str) -> int:
    return 48 if audio_format == PCM24K else 8


_cache: dict[tuple[str, str, str], bytes] = {}
_lock = threading.Lock()


def speak(text: str, language: str, audio_format: str = PCMU) -> bytes:
    """`text` spoken by espeak-ng in `language` (de, en, fr), as raw audio in `audio_format`."""
    key = (text, language, audio_format)
    with _lock:
        cached = _cache.get(key)
    if cached is not None:
        return cached
    if audio_format not in _SOX_OUT:
        raise ValueError(f"unknown audio format {audio_format!r}")
    espeak, sox = shutil.which("espeak-ng"), shutil.which("sox")
    if espeak is None or sox is None:
        raise SpeechUnavailable("espeak-ng and sox are needed for the sandbox's speech (scripts/system-deps.sh)")
    wav = subprocess.run(
        [espeak, "-v", VOICES.get(language, "en-us"), "--stdout", text],
        capture_output=True,
        check=True,
        timeout=30,
    ).stdout
    raw = subprocess.run(
        [sox, "-t", "wav", "-", *_SOX_OUT[audio_format]], input=wav, capture_output=True, check=True, timeout=30
    ).stdout
    audio = raw if audio_format == PCMA else _trim(raw, audio_format)
    with _lock:
        _cache[key] = audio
    return audio


def _trim(raw: bytes, audio_format: str) -> bytes:
    if audio_format == PCMU:
        loud = [i for i, b in enumerate(raw) if abs(MULAW_TO_LINEAR[b]) > _TRIM_LEVEL]
        width, keep = 1, 80
    else:
        samples = memoryview(raw).cast("h")
        loud = [i for i, s in enumerate(samples) if abs(s) > _TRIM_LEVEL]
        width, keep = 2, 240
    if not loud:
        return b""
    start = max(0, loud[0] - keep) * width
    end = min(len(raw) // width, loud[-1] + 1 + keep) * width
    return raw[start:end]


def frames(audio: bytes, size: int = FRAME_BYTES) -> Iterator[bytes]:
    """`audio` cut into frames of `size` bytes (20 ms of μ-law by default), the last padded with silence."""
    for start in range(0, len(audio), size):
        frame = audio[start : start + size]
        yield frame + bytes([MULAW_SILENCE]) * (size - len(frame))


def silence(ms: int) -> bytes:
    return bytes([MULAW_SILENCE]) * (ms * SAMPLE_RATE // 1000)
