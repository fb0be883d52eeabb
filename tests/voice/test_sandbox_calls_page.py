"""The sandbox's calls page (`make up` prints its URL for a newcomer to follow the demo calls) reads as text:
the counts per provider in words, never a Python dict's repr (it showed `{'create_requests': {...}}`)."""

from __future__ import annotations

import httpx

from sandbox.app import SandboxConfig, create_sandbox_app
from tests.sandbox_fixtures import ServerThread
from tests.voice.test_sandbox_summary import KEYS


def test_the_calls_page_counts_the_calls_in_words():
    with ServerThread(create_sandbox_app(SandboxConfig(step_s=0.05))) as server:
        empty = httpx.get(f"{server.url}/sandbox/calls", timeout=10)
        assert empty.status_code == 200
        assert "0 call(s) placed; create requests per provider:\nnone" in empty.text
        assert "no calls yet" in empty.text
        for number in ("+4930231251100", "+4930231251101"):
            placed = httpx.post(
                f"{server.url}/retell/v2/create-phone-call",
                headers=KEYS["retell"],
                json={"from_number": "+4930555000", "to_number": number},
                timeout=10,
            )
            assert placed.status_code == 201, placed.text
        page = httpx.get(f"{server.url}/sandbox/calls", timeout=10).text
    assert "2 call(s) placed; create requests per provider:\nretell 2 (2 accepted)</p>" in page
    assert "+4930231251101" in page
    assert "{" not in page.split("<body>", 1)[1] and "&#39;" not in page
