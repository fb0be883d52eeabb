"""The agent's audio to Twilio, and what of it the caller heard (voice.bridge.twilio_media,
docs/audio-agent.md).

Each ``response.output_audio.delta`` goes to Twilio as one ``media`` at once, followed by a ``mark``
naming how many bytes of that assistant item have been sent; Twilio echoes the mark when the audio before
it was played, so ``played`` is what the caller heard (8 bytes of μ-law per ms). A ``clear`` drops what
Twilio has not played; the marks pending then are echoed too and are not counted as played.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp import web

from voice.bridge.twilio_frames import clear_frame, dumps, mark_frame, media_frame


class TwilioPlayback:
    def __init__(self, ws: web.WebSocketResponse, stream_sid: Callable[[], str]) -> None:
        self.ws = ws
        self._stream_sid = stream_sid  # known once the start frame came
        self.item: str | None = None  # the assistant item playing
        self.sent = 0  # its bytes sent to Twilio
        self.played = 0  # its bytes confirmed played by marks
        self.marks: OrderedDict[str, tuple[str, int]] = OrderedDict()  # name: (item, bytes sent up to it)
        self.cleared: set[str] = set()
        self.mark_seq = 0
        self.drained = asyncio.Event()  # set while no mark is pending: all audio sent was played
        self.drained.set()

    @property
    def unplayed(self) -> bool:
        return self.item is not None and self.sent > self.played

    async def send(self, frame: dict[str, Any]) -> bool:
        if self.ws.closed:
            return False
        try:
            await self.ws.send_str(dumps(frame))
        except (ConnectionError, RuntimeError):
            return False
        return True

    async def play(self, item_id: Any, payload: str, n: int) -> None:
        """`n` bytes of `item_id`'s audio to Twilio, then the mark that tells when they were played."""
        if item_id != self.item:
            self.item, self.sent, self.played = item_id, 0, 0  # a new item starts its counts at 0
        self.sent += n
        # The payload goes on as it came: the model's μ-law is Twilio's μ-law.
        await self.send(media_frame(self._stream_sid(), payload))
        self.mark_seq += 1
        name = f"a{self.mark_seq}"
        self.marks[name] = (str(item_id), self.sent)
        self.drained.clear()
        await self.send(mark_frame(self._stream_sid(), name))

    def on_mark(self, name: str) -> None:
        if name in self.cleared:
            self.cleared.discard(name)  # echoed after a clear: that audio was never played
            return
        if name not in self.marks:
            return
        # Marks come back in the order they were sent: this one and every one before it were played.
        while self.marks:
            key, (item_id, upto) = self.marks.popitem(last=False)
            if item_id == self.item:
                self.played = max(self.played, upto)
            if key == name:
                break
        if not self.marks:
            self.drained.set()

    async def clear(self) -> None:
        """Twilio drops the audio it has not played; the marks it then echoes were not played."""
        if not self.unplayed:
            return
        await self.send(clear_frame(self._stream_sid()))
        self.cleared.update(self.marks)
        self.marks.clear()
        self.drained.set()

    def truncate(self) -> int:
        """After a barge-in: the bytes the caller heard, which are now all that counts as sent."""
        played = min(self.played, self.sent)
        self.sent = played
        return played
