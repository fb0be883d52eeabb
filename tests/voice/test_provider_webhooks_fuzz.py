"""A signed-body fuzzer per provider (issue 14: "0 responses 5xx"): the documented payloads of
tests/data/providers/, made about one of our calls, then mutated at random places (wrong types, numbers out
of range or not finite, huge or unstorable strings, deep nesting, missing and extra fields), signed correctly
and posted through the Flask app. No answer may be 5xx (nor an exception); a 4xx stores nothing; a 2xx
"unparseable" stores nothing but its record.

LEADCHAIN_FUZZ_BODIES sets the bodies per provider and backend: 200 in the normal run, 2,000 or more in the
long one (`LEADCHAIN_FUZZ_BODIES=2000 pytest tests/voice/test_provider_webhooks_fuzz.py`). The generator is
seeded (LEADCHAIN_FUZZ_SEED, default 14), so a failure repeats; the failing body is in the message.
"""

from __future__ import annotations

import json
import os
import random
from typing import Any

import pytest

from tests.voice.provider_hooks import (
    compact,
    counts,
    fixture,
    hooks_app,  # noqa: F401 (a fixture)
    ours,
    post,
    seed_lead,
)

BODIES = int(os.environ.get("LEADCHAIN_FUZZ_BODIES", "200"))
SEED = int(os.environ.get("LEADCHAIN_FUZZ_SEED", "14"))
BASES = {
    "retell": [
        "retell_call_started.json",
        "retell_call_ended.json",
        "retell_call_analyzed_call_object.json",
        "retell_call_analyzed_one_turn.json",
        "retell_call_inbound_with_call_id.json",
    ],
    "vapi": ["vapi_status_update_in_progress.json", "vapi_status_update_ended.json", "vapi_end_of_call_report.json"],
    "bland": ["bland_call_details.json", "bland_post_call.json", "bland_call_details_hotel_summary.json"],
}
# Literals json.dumps cannot write, put into the body text in place of their marker string.
RAW = {"__INF__": "1e400", "__NEGINF__": "-1e400", "__BIGEXP__": "1e308", "__HUGEINT__": "9" * 400}


def _nested(depth: int) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value]
    return value


def _poison(rng: random.Random) -> Any:
    choices: list[Any] = [
        None,
        True,
        False,
        0,
        -1,
        -0.5,
        1e13,
        1e20,
        -1e20,
        2**31,
        2**63,
        10**30,
        float("nan"),
        "__INF__",
        "__NEGINF__",
        "__BIGEXP__",
        "__HUGEINT__",
        "",
        " ",
        "x" * rng.choice([33, 129, 201, 300, 1001, 70_000]),
        "9" * rng.choice([5, 50, 5000]),
        "nul\x00byte",
        "lone \ud800 surrogate",
        "2026-13-45T25:61:00Z",
        "0001-01-01T00:00:00",
        "9999-12-31T23:59:59+00:00",
        "١٢٣",
        [],
        {},
        [1, "a", None],
        {"a": {"b": [1, 2, {"c": None}]}},
        _nested(rng.choice([5, 15, 60])),
        "user_hangup",
        "ended",
        "completed",
    ]
    return rng.choice(choices)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:5]):
            found += _paths(item, (*path, index))
    return found


def _mutate(payload: Any, rng: random.Random) -> Any:
    for _ in range(rng.randint(1, 4)):
        paths = [p for p in _paths(payload) if p]
        if not paths:
            return _poison(rng)
        path = rng.choice(paths)
        parent = payload
        for step in path[:-1]:
            parent = parent[step]
        last = path[-1]
        action = rng.random()
        if action < 0.15 and isinstance(parent, dict):
            del parent[last]
        elif action < 0.25 and isinstance(parent, dict):
            parent[f"extra_{rng.randint(0, 99)}"] = _poison(rng)
        elif action < 0.32:
            parent[last] = [parent[last]]
        else:
            parent[last] = _poison(rng)
    return payload


def _body(payload: Any) -> bytes:
    text = json.dumps(payload, separators=(",", ":"), ensure_ascii=True, allow_nan=True)
    for marker, literal in RAW.items():
        text = text.replace(json.dumps(marker), literal)
    return text.encode()


@pytest.mark.parametrize("provider", list(BASES))
def test_signed_random_bodies_never_answer_5xx(hooks_app, provider):  # noqa: F811
    rng = random.Random(f"{SEED}:{provider}")
    lead_id = seed_lead(hooks_app)
    client = hooks_app.test_client()
    statuses: dict[int, int] = {}
    kinds = {"refused": 0, "unparseable": 0, "recorded": 0}
    for n in range(BODIES):
        name = rng.choice(BASES[provider])
        base = fixture(name)
        if "inbound" not in name:
            base = ours(provider, base, lead_id, f"call-fuzz-{provider}-{n}")
        body = _body(_mutate(base, rng)) if rng.random() < 0.9 else compact(base)
        before = counts(hooks_app)
        try:
            r = post(client, provider, body)
        except Exception as e:  # the app raised: a 500 in production
            pytest.fail(f"{provider} body #{n} raised {type(e).__name__}: {e!s:.300}\n{body[:2000]!r}")
        statuses[r.status_code] = statuses.get(r.status_code, 0) + 1
        assert r.status_code < 500, (
            f"{provider} body #{n}: {r.status_code} {r.get_data(as_text=True)[:300]}\n{body[:2000]!r}"
        )
        after = counts(hooks_app)
        if r.status_code >= 400:
            assert after == before, f"{provider} body #{n} answered {r.status_code} but stored something"
            kinds["refused"] += 1
        elif (r.get_json() or {}).get("status") == "unparseable":
            assert after["interactions"] == before["interactions"], f"{provider} body #{n}"
            kinds["unparseable"] += 1
        elif after["webhook_deliveries"] > before["webhook_deliveries"]:
            kinds["recorded"] += 1
    # The mutations reach both sides: some bodies are refused or kept as unreadable, some are recorded.
    assert kinds["recorded"] > 0 and kinds["refused"] + kinds["unparseable"] > 0, (kinds, statuses)
