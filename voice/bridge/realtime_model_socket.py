"""The call's socket to the OpenAI Realtime model (voice.bridge.twilio_media, docs/audio-agent.md): opened
with the API key read through crm.secrets per call (deps.connect, else the SDK), written to without ever
raising (a dead socket is the reader's to notice), and reopened with backoff after a drop
(RealtimeConfig.reconnect_attempts, doubling from reconnect_backoff_s)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from voice.bridge.openai_realtime import sdk_connect
from voice.bridge.realtime_config import ModelLink, RealtimeDeps

log = logging.getLogger(__name__)


class ModelSocket:
    def __init__(
        self, deps: RealtimeDeps, api_key: Callable[[], Awaitable[str | None]], label: Callable[[], str]
    ) -> None:
        self.deps = deps
        self._api_key = api_key
        self._label = label  # the stream sid, for logs
        self.link: ModelLink | None = None
        self.generation = 0  # which model socket; a tool result of an older one is told as a message
        self.reconnects = 0

    async def open(self) -> None:
        connect = self.deps.connect or sdk_connect
        self.link = await connect(self.deps.config, await self._api_key())

    async def send(self, event: dict[str, Any]) -> None:
        link = self.link
        if link is None:
            return
        try:
            await link.send(event)
        except Exception as e:  # noqa: BLE001 - a dead socket: the reader reconnects
            log.debug("twilio stream %s: model send failed (%s)", self._label(), type(e).__name__)

    async def drop(self) -> None:
        """The socket is lost: closed, and what comes next is a new generation."""
        old, self.link = self.link, None
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        self.generation += 1

    async def reopen(self, closing: Callable[[], bool]) -> bool:
        """A new socket after a drop, with backoff; False when every attempt failed or the call is closing."""
        config = self.deps.config
        delay = config.reconnect_backoff_s
        for attempt in range(1, config.reconnect_attempts + 1):
            if closing():
                return False
            await asyncio.sleep(delay)
            delay *= 2
            try:
                await self.open()
            except Exception as e:  # noqa: BLE001 - try again after the backoff
                log.info("twilio stream %s: reconnect %d failed (%s)", self._label(), attempt, type(e).__name__)
                continue
            self.reconnects += 1
            log.info("twilio stream %s: model session reconnected (attempt %d)", self._label(), attempt)
            return True
        return False

    async def close(self) -> None:
        link, self.link = self.link, None
        if link is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(link.close(), 2)
