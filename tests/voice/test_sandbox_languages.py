"""Which language the provider sandbox's callee speaks: the one the call asks for (de, en, fr, on every
provider's own request field), else the dialled country's (German for +49/+43/+41, French for +33/+32/+352,
English elsewhere). Over HTTP, a call asking for French gets the French persona's lines even from a number
whose country would say otherwise."""

from __future__ import annotations

import time

import httpx
import pytest

from sandbox.app import SandboxConfig, create_sandbox_app
from sandbox.personas import PERSONAS, language_for
from tests.sandbox_fixtures import ServerThread

KEYS = {
    "retell": {"Authorization": "Bearer key_sandbox_retell"},
    "vapi": {"Authorization": "Bearer sandbox-vapi-private-key"},
    "bland": {"authorization": "sandbox-bland-key"},
}


@pytest.mark.parametrize(
    "number, requested, expected",
    [
        ("+41223104150", None, "de"),  # Switzerland stays German unless French is asked for
        ("+41223104150", "fr", "fr"),
        ("+33142685300", None, "fr"),
        ("+3222345670", None, "fr"),
        ("+35226123450", None, "fr"),
        ("+33142685300", "en", "en"),
        ("+4930231250", None, "de"),
        ("+43123456780", None, "de"),
        ("+12125550100", None, "en"),
        ("+12125550100", "fr", "fr"),
        ("+12125550100", "it", "en"),  # a language the sandbox does not speak: the country's
        ("+35312345670", None, "en"),  # Ireland (+353) is not Luxembourg (+352)
    ],
)
def test_the_callee_language(number, requested, expected):
    assert language_for(number, requested) == expected


def test_every_persona_has_french_lines_where_it_has_german_ones():
    for persona in PERSONAS.values():
        assert [who for who, _ in persona.transcript["fr"]] == [who for who, _ in persona.transcript["de"]]
        assert all(text.strip() for _, text in persona.transcript["fr"])


@pytest.fixture(scope="module")
def sandbox_url():
    with ServerThread(create_sandbox_app(SandboxConfig(step_s=0.05))) as server:
        yield server.url


def _place(http: httpx.Client, provider: str, number: str, language: str) -> str:
    """Place a call on the provider's own API, the language in its own request field; the path to GET it."""
    if provider == "retell":
        body = {
            "from_number": "+4930555000",
            "to_number": number,
            "retell_llm_dynamic_variables": {"language": language},
        }
        return "/retell/v2/get-call/" + http.post("/retell/v2/create-phone-call", json=body).json()["call_id"]
    if provider == "vapi":
        body = {
            "assistantId": "asst_sandbox",
            "phoneNumberId": "pn_sandbox",
            "customer": {"number": number},
            "assistantOverrides": {"variableValues": {"language": language}},
        }
        return "/vapi/call/" + http.post("/vapi/call", json=body).json()["id"]
    # Bland's language field as the adapter sends it (providers/bland.py LANGUAGES: "fr").
    body = {"phone_number": number, "task": "sandbox", "language": language}
    return "/bland/v1/calls/" + http.post("/bland/v1/calls", json=body).json()["call_id"]


def _callee_said(provider: str, call: dict) -> list[str] | None:
    """The callee's lines once the call is analysed (None before)."""
    if provider == "retell":
        return (
            [t["content"] for t in call["transcript_object"] if t["role"] == "user"]
            if "call_analysis" in call
            else None
        )
    if provider == "vapi":
        return (
            [m["message"] for m in call["artifact"]["messages"] if m["role"] == "user"] if "analysis" in call else None
        )
    return [t["text"] for t in call["transcripts"] if t["user"] == "user"] if call["completed"] else None


def _callee_lines(base: str, provider: str, number: str, language: str) -> list[str]:
    with httpx.Client(base_url=base, headers=KEYS[provider], timeout=10) as http:
        path = _place(http, provider, number, language)
        deadline = time.monotonic() + 10
        while True:
            call = http.get(path).json()
            said = _callee_said(provider, call)
            if said is not None:
                return said
            assert time.monotonic() < deadline, call
            time.sleep(0.05)


@pytest.mark.parametrize("provider", ["retell", "vapi", "bland"])
def test_a_call_asking_for_french_hears_the_french_persona(sandbox_url, provider):
    """A US number (English by its country) asking for French: the "do_not_call" persona (last digit 3)
    answers in French on every provider."""
    lines = _callee_lines(sandbox_url, provider, "+12125550103", "fr")
    assert lines == ["Ne m'appelez plus jamais!"], lines


@pytest.mark.parametrize("provider", ["retell", "vapi", "bland"])
def test_a_swiss_number_without_french_asked_for_stays_german(sandbox_url, provider):
    lines = _callee_lines(sandbox_url, provider, "+41223104153", "")
    assert lines == ["Rufen Sie mich nie wieder an!"], lines
