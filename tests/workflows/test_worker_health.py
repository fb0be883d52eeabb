"""The container health check: healthy only while a worker polls the queue."""

from __future__ import annotations

import asyncio
import dataclasses
from concurrent.futures import ThreadPoolExecutor

import pytest

from crm.config import Config
from workers import chain as chain_mod
from workers.health import check


# One backend only: the server remembers a queue's pollers for a while after they stop.
@pytest.mark.parametrize("backend", ["sqlite"])
async def test_worker_health_follows_the_worker(temporal_env, app):
    cfg = dataclasses.replace(Config(), temporal_address=temporal_env.client.service_client.config.target_host)
    ok, detail = await check("chain", cfg)
    assert not ok and "0 poller" in detail
    worker = chain_mod.chain_worker(temporal_env.client, app, ThreadPoolExecutor(2))
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(50):
            ok, detail = await check("chain", cfg)
            if ok:
                break
            await asyncio.sleep(0.2)
        assert ok, detail
    finally:
        await worker.shutdown()
        await task
    down = dataclasses.replace(Config(), temporal_address="127.0.0.1:1")
    assert (await check("provider", down))[0] is False


@pytest.mark.parametrize("backend", ["sqlite"])
async def test_calendars_worker_health_follows_its_queue(temporal_env, app):
    # compose's worker-calendars health check: healthy once the calendars worker polls leadchain-calendars.
    from workers import calendars as calendars_mod

    cfg = dataclasses.replace(Config(), temporal_address=temporal_env.client.service_client.config.target_host)
    worker = calendars_mod.calendars_worker(temporal_env.client, app, ThreadPoolExecutor(2))
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(50):
            ok, detail = await check("calendars", cfg)
            if ok:
                break
            await asyncio.sleep(0.2)
        assert ok and "leadchain-calendars" in detail, detail
    finally:
        await worker.shutdown()
        await task
