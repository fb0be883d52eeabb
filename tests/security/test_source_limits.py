"""Per-source limits on the lead webhook (issue 19 item 5): a source's verified deliveries are counted, past
its limit the answer is 429 with Retry-After and nothing is stored; forged deliveries never use up the source's
allowance (they meet the per-address failure limit instead). In one process on both databases; the limit's
sharing across processes is tests/security/test_shared_rate_limits.py's."""

from __future__ import annotations

import uuid

from tests.conftest import WEBHOOK_SECRETS, set_settings
from tests.crm.test_webhook_leads import counts
from tests.helpers import post_signed


def _lead(n: int) -> dict:
    return {"first_name": "Quelle", "last_name": f"Test{n}", "email": f"quelle.{n}@limit.example"}


def test_a_source_past_its_limit_gets_429_and_stores_nothing(app, client):
    app.config["RATELIMIT_KEY_PREFIX"] = f"source-limit-{uuid.uuid4().hex[:8]}"  # counts of this test only
    set_settings(app, "security", source_limit="2/minute", auth_failure_limit="100/minute")
    for n in range(3):  # forged: refused, and not counted against the source
        assert post_signed(client, "website", _lead(n), "whsec_" + "A" * 32).status_code == 401
    assert [post_signed(client, "website", _lead(n), WEBHOOK_SECRETS[0]).status_code for n in range(2)] == [202, 202]
    stored = counts(app)["lead_submissions"]
    r = post_signed(client, "website", _lead(9), WEBHOOK_SECRETS[0])
    assert r.status_code == 429 and int(r.headers["Retry-After"]) > 0
    assert r.get_json()["code"] == 429 and "webhook source" in r.get_json()["message"]
    assert counts(app)["lead_submissions"] == stored
