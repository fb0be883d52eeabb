"""Twilio's playback of a bidirectional stream's outbound audio, at real-time rate (sandbox.twilio_media):
audio and marks are queued in the order they arrive; each 20 ms tick plays 160 bytes; a mark is due once
everything queued before it has played; `clear` drops what has not played and hands back every pending
mark (Twilio echoes those too)."""

from __future__ import annotations

from collections import deque

from sandbox import speech


class Playback:
    def __init__(self) -> None:
        self.queue: deque[bytes | str] = deque()  # audio (bytes) and mark names (str), in arrival order
        self.pending_bytes = 0

    def add_audio(self, audio: bytes) -> None:
        if audio:
            self.queue.append(audio)
            self.pending_bytes += len(audio)

    def add_mark(self, name: str) -> bool:
        """Queue a mark; True when nothing is queued before it (it is due at once)."""
        if not self.queue:
            return True
        self.queue.append(name)
        return False

    def tick(self) -> tuple[int, list[str]]:
        """Play one frame: (ms of audio played, marks now due)."""
        budget = speech.FRAME_BYTES
        played = 0
        due: list[str] = []
        while self.queue:
            head = self.queue[0]
            if isinstance(head, str):
                due.append(head)
                self.queue.popleft()
                continue
            if budget == 0:
                break
            take = min(budget, len(head))
            budget -= take
            played += take
            if take == len(head):
                self.queue.popleft()
            else:
                self.queue[0] = head[take:]
        self.pending_bytes -= played
        return played * 1000 // speech.SAMPLE_RATE, due

    def clear(self) -> tuple[int, list[str]]:
        """Drop the unplayed audio: (bytes dropped, the pending marks, to echo now)."""
        dropped = self.pending_bytes
        marks = [item for item in self.queue if isinstance(item, str)]
        self.queue.clear()
        self.pending_bytes = 0
        return dropped, marks
