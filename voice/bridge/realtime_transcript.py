"""The transcript of one Realtime call, both sides (voice.bridge.twilio_media, docs/audio-agent.md).

Items are keyed by the model's conversation item id and kept in the order they appeared; an assistant
item counts the μ-law bytes received for it, and when the caller barged in, the bytes played, so its text
is cut to the share the caller heard.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from providers.events import Turn


@dataclass
class TranscriptItem:
    """One conversation item's text, in the order the items appeared."""

    order: int
    speaker: str  # agent | callee
    at_s: float
    text: str = ""
    received: int = 0  # μ-law bytes of assistant audio received
    played: int | None = None  # set when truncated: the bytes the caller heard


class Transcript:
    def __init__(self, elapsed_s: Callable[[], float]) -> None:
        self.elapsed_s = elapsed_s  # seconds since the stream started, for an item's at_s
        self.items: dict[str, TranscriptItem] = {}

    def add(self, item_id: Any, speaker: str, text: str) -> None:
        if isinstance(item_id, str) and item_id not in self.items:
            self.items[item_id] = TranscriptItem(len(self.items), speaker, round(self.elapsed_s(), 2), text)

    def set_text(self, item_id: Any, speaker: str, text: Any) -> None:
        if not isinstance(item_id, str) or not isinstance(text, str):
            return
        self.add(item_id, speaker, "")
        self.items[item_id].text = text

    def received(self, item_id: Any, n: int) -> None:
        item = self.items.get(item_id) if isinstance(item_id, str) else None
        if item is not None:
            item.received += n

    def truncated(self, item_id: str, played: int) -> None:
        item = self.items.get(item_id)
        if item is not None:
            item.played = played

    @property
    def greeted(self) -> bool:
        """Whether any assistant words were transcribed yet (the opening was heard)."""
        return any(i.speaker == "agent" and i.text for i in self.items.values())

    def turns(self) -> tuple[Turn, ...]:
        turns = []
        for item in sorted(self.items.values(), key=lambda i: i.order):
            text = item.text.strip()
            if item.played is not None and item.received > 0:
                # Cut to the share the caller heard (interrupted): whole words, by audio length.
                words = text.split()
                text = " ".join(words[: round(len(words) * min(1.0, item.played / item.received))])
            if text:
                turns.append(Turn(item.speaker, text, item.at_s))
        return tuple(turns)

    def pairs(self) -> list[tuple[str, str]]:
        return [(t.speaker, t.text) for t in self.turns()]
