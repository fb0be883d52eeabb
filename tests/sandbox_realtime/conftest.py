"""The Realtime stand-in on a free loopback port for the module."""

from __future__ import annotations

import pytest

from sandbox.openai_realtime import RealtimeServer
from sandbox.realtime_responses import Pace


@pytest.fixture(scope="module")
def realtime():
    with RealtimeServer(pace=Pace(speed=0)) as server:
        yield server


@pytest.fixture(scope="module")
def paced():
    """Audio streamed at real-time rate (for cancel and barge-in)."""
    with RealtimeServer(pace=Pace(chunk_ms=100, speed=1.0)) as server:
        yield server
