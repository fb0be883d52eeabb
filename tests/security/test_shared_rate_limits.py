"""Per-key rate limits hold across web processes (issue 19 item 5): two web instances, each its own process,
count one key's requests in the same Redis, so the sixth request of a 5/minute key is refused whichever
instance answers it: 429 with Retry-After, and the other key of the company is not affected.

Real Redis at 127.0.0.1:6379 (LEADCHAIN_TEST_REDIS), real werkzeug servers on loopback, the migrated SQLite
file of the session. No Redis fails the test, it never skips."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from crm import create_app
from crm.api import keys
from crm.extensions import db
from crm.models.api_keys import ApiKey
from crm.tenancy.context import company_scope
from tests.conftest import make_test_secrets
from tests.crm.test_bounded_throttling import REDIS_URL, redis_prefix  # noqa: F401 (a fixture)

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def two_keys(migrated_urls):
    """Two read keys of the installation's company in the session's SQLite file, deleted afterwards."""
    app = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": migrated_urls["sqlite"]}, secrets=make_test_secrets())
    with app.app_context(), company_scope(1):
        issued = [keys.issue(1, f"limited-{n}", ["read"]) for n in range(2)]
        db.session.commit()
    yield [i.secret for i in issued]
    with app.app_context(), company_scope(1):
        db.session.execute(sa.delete(ApiKey).where(ApiKey.id.in_([i.key_id for i in issued])))
        db.session.commit()
        db.engine.dispose()


@pytest.fixture
def two_webs(migrated_urls, redis_prefix):  # noqa: F811 (the imported fixture)
    env = {
        **os.environ,
        "DATABASE_URL": migrated_urls["sqlite"],
        "LEADCHAIN_RATELIMIT_STORAGE": REDIS_URL,
        "LEADCHAIN_RATELIMIT_API_KEY": "5/minute",
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
        yield [f"http://127.0.0.1:{int(p.stdout.readline())}" for p in procs]  # type: ignore[union-attr]
    finally:
        for p in procs:
            p.terminate()
            p.wait(10)


def test_one_keys_limit_holds_across_two_processes(two_webs, two_keys):
    first, second = ({"Authorization": f"Bearer {k}"} for k in two_keys)
    webs = itertools.cycle(two_webs)
    statuses = [httpx.get(f"{next(webs)}/api/v1/leads", headers=first).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429], statuses
    for base in two_webs:
        r = httpx.get(f"{base}/api/v1/leads", headers=first)
        assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
        assert r.json()["code"] == 429 and "rate limit" in r.json()["message"]
    # Per key: the company's other key still has its own allowance.
    assert httpx.get(f"{two_webs[1]}/api/v1/leads", headers=second).status_code == 200
