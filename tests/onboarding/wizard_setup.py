"""Shared by the wizard tests: point an app at a live provider sandbox and give it the bridge's path secret."""

from __future__ import annotations

import dataclasses
import re
import time

from crm.secret_names import BRIDGE_RETELL_PATH_SECRET

BRIDGE_PATH_SECRET = "bridge-path-secret-for-tests"


def use_sandbox(app, sandbox_url: str) -> None:
    cfg = app.config["LEADCHAIN"]
    app.config["LEADCHAIN"] = dataclasses.replace(
        cfg, providers=dataclasses.replace(cfg.providers, sandbox_url=sandbox_url)
    )
    app.config["LEADCHAIN_BRIDGE_PUBLIC_URL"] = "https://bridge.example.test"
    app.extensions["leadchain.secrets"].put(BRIDGE_RETELL_PATH_SECRET, BRIDGE_PATH_SECRET)


def call_me_form(client, to_number: str) -> dict[str, str]:
    """The test-call form as the page gives it: the number typed in and the form's one-off token."""
    page = client.get("/onboarding/test_call").get_data(as_text=True)
    attempt = re.search(r'name="attempt" value="([A-Za-z0-9_-]+)"', page)
    assert attempt, page[-2000:]
    return {"to_number": to_number, "attempt": attempt.group(1)}


def transcript_page(client, location: str) -> str:
    """The wizard's test-call page once it shows the call's transcript (the sandbox plays the call in moments)."""
    for _ in range(200):
        page = client.get(location).get_data(as_text=True)
        if 'id="wiz-transcript"' in page:
            break
        time.sleep(0.05)
    assert re.search(r'id="wiz-transcript">[^<]+<', page), page[-2000:]
    return page


def ended_test_call(vendor, call_id: str):
    """The vendor's view of its test call once the sandbox has played it to the end."""
    view = vendor.read_test_call(call_id)
    for _ in range(200):
        if view.ended:
            break
        time.sleep(0.05)
        view = vendor.read_test_call(call_id)
    assert view.ended, view
    return view
