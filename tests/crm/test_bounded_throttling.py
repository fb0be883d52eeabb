"""Throttling in shared storage (issue 14 items 5 and 6): login limits, failed API keys and failed webhook
signatures are counted in Redis, so the documented limits hold across web processes (gunicorn workers,
replicas): two web instances, each in its own process, share one count, and whichever answers the
request past the limit says 429 with Retry-After.

Real Redis at 127.0.0.1:6379 (LEADCHAIN_TEST_REDIS); no Redis fails these tests, it never skips them.
Each test uses its own key prefix, so parallel runs do not share counts."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
import redis

from crm import create_app
from crm.api import auth
from crm.config import Settings
from tests.conftest import API_KEY, WEBHOOK_SECRETS, make_test_secrets
from tests.helpers import signed_headers

ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("LEADCHAIN_TEST_REDIS", "redis://127.0.0.1:6379/0")


@pytest.fixture
def redis_prefix():
    """A key prefix of this test's own; its keys are deleted afterwards."""
    client = redis.Redis.from_url(REDIS_URL, socket_timeout=2)
    try:
        client.ping()
    except redis.RedisError as e:
        pytest.fail(f"Redis at {REDIS_URL} is required for the throttling tests: {e}", pytrace=False)
    prefix = f"leadchain-test-{uuid.uuid4().hex[:12]}"
    yield prefix
    keys = list(client.scan_iter(f"*{prefix}*"))
    if keys:
        client.delete(*keys)


@pytest.fixture
def two_webs(migrated_urls, redis_prefix):
    """Base URLs of two web instances in separate processes sharing the Redis limits storage."""
    env = {
        **os.environ,
        "DATABASE_URL": migrated_urls["sqlite"],
        "LEADCHAIN_RATELIMIT_STORAGE": REDIS_URL,
        "LEADCHAIN_AUTH_FAILURE_LIMIT": "5/minute",
    }
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tests.faults.web_instance", redis_prefix],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    try:
        urls = [f"http://127.0.0.1:{int(p.stdout.readline())}" for p in procs]  # type: ignore[union-attr]
        yield urls
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def alternate(urls):
    return itertools.cycle(urls)


def test_login_limit_per_account_holds_across_processes(two_webs):
    webs = alternate(two_webs)
    form = {"email": "nobody@example.test", "password": "wrong password, long enough"}
    statuses = [httpx.post(f"{next(webs)}/login", data=form).status_code for _ in range(6)]
    # The documented 5/minute per account: five failures answered 401, the sixth 429 whichever web answers.
    assert statuses == [401] * 5 + [429], statuses
    r = httpx.post(f"{next(webs)}/login", data=form)
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_login_limit_per_ip_holds_across_processes(two_webs):
    webs = alternate(two_webs)
    statuses = [
        httpx.post(f"{next(webs)}/login", data={"email": f"n{i}@example.test", "password": "x" * 20}).status_code
        for i in range(21)
    ]
    assert statuses == [401] * 20 + [429], statuses  # 20/hour per IP, each account failing once


def test_failed_api_keys_are_throttled_per_ip_across_processes(two_webs):
    webs = alternate(two_webs)
    bad = {"Authorization": "Bearer not-a-key"}
    statuses = [httpx.get(f"{next(webs)}/api/v1/leads", headers=bad).status_code for _ in range(5)]
    assert statuses == [401] * 5
    for base in two_webs:
        r = httpx.get(f"{base}/api/v1/leads", headers=bad)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert r.json()["code"] == 429
        # Past the limit nothing is checked, a right key neither: guessing gets no answer at all.
        assert httpx.get(f"{base}/api/v1/leads", headers={"X-API-Key": API_KEY}).status_code == 429


def test_failed_webhook_signatures_are_throttled_per_ip_across_processes(two_webs):
    webs = alternate(two_webs)
    body = json.dumps({"email": "throttle@example.de"}).encode()
    forged = {**signed_headers(WEBHOOK_SECRETS[0], body), "webhook-signature": "v1," + "A" * 44}
    statuses = [
        httpx.post(f"{next(webs)}/webhooks/leads/website", content=body, headers=forged).status_code for _ in range(6)
    ]
    assert statuses == [401] * 5 + [429], statuses
    r = httpx.post(
        f"{next(webs)}/webhooks/leads/website", content=body, headers=signed_headers(WEBHOOK_SECRETS[0], body)
    )
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0


def test_the_local_stack_counts_in_redis_unless_memory_is_chosen(tmp_path):
    from workers.launcher import stack_environment

    base = {"LEADCHAIN_VAR_DIR": str(tmp_path)}
    assert stack_environment(tmp_path, base)["LEADCHAIN_RATELIMIT_STORAGE"] == "redis://127.0.0.1:6379/0"
    chosen = stack_environment(tmp_path, {**base, "LEADCHAIN_RATELIMIT_STORAGE": "memory://"})
    assert chosen["LEADCHAIN_RATELIMIT_STORAGE"] == "memory://"  # one process, said explicitly


def test_a_hung_redis_neither_hangs_nor_unlimits(migrated_urls, redis_prefix):
    # The limits storage stalls (accepts TCP, never answers): requests still answer promptly, counted per
    # process meanwhile, so the limits still hold in that process.
    from tests.faults.tcp_proxy import TcpProxy

    with TcpProxy("127.0.0.1", 6379) as hung:
        hung.stall()
        settings = Settings.from_env().with_part(
            "security", ratelimit_storage=f"redis://127.0.0.1:{hung.port}/0", auth_failure_limit="3/minute"
        )
        app = create_app(
            {"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["sqlite"], "RATELIMIT_KEY_PREFIX": redis_prefix},
            settings=settings,
            secrets=make_test_secrets(),
        )
        client = app.test_client()
        answers = []
        try:
            for _ in range(4):
                start = time.monotonic()
                answers.append(client.get("/api/v1/leads", headers={"X-API-Key": "wrong"}).status_code)
                assert time.monotonic() - start < 2
        finally:  # the process-local fallback is the process's: leave it clean for the next test
            auth._LOCAL_UNTIL[0] = 0.0
            auth._LOCAL.storage.reset()
        assert answers == [401, 401, 401, 429]
