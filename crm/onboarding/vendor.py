"""The small interface each provider's setup module implements, and what it is asked to point at."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class AgentTargets:
    """Where a new agent's conversation, tools and webhooks go, and how it speaks.

    `retell_llm_websocket_url` carries the bridge's path secret (Retell's custom LLM has no other way to
    authenticate): it goes to the provider only, never into a log or the provisioned_objects table."""

    webhook_base: str  # the CRM's public URL; webhooks go to /webhooks/<provider>
    bridge_base: str  # the voice bridge's public http(s) URL (Vapi's custom LLM and tools)
    retell_llm_websocket_url: str  # ws(s)://…/llm-websocket/<path secret>
    language: str = "de"
    area_code: int = 415  # the providers sell US/CA numbers through their API; others are imported by SIP


class ProvisioningFailed(Exception):
    """The provider refused or was unreachable at `step`; the message names the step, never a secret."""

    def __init__(self, step: str, message: str) -> None:
        super().__init__(f"{step}: {message}")
        self.step = step
        self.message = message


@dataclass(frozen=True)
class TestCallView:
    """Where the wizard's test call is: the transcript once it has ended (shown to the admin who took it)."""

    ended: bool
    transcript: str = ""
    duration_s: int | None = None


class VendorSetup(Protocol):
    provider: str
    # In creation order; undo runs them backwards (a number before the agent it rings).
    steps: tuple[str, ...]

    def create(self, step: str, reference: str, created: Mapping[str, str]) -> str:
        """Create the object of `step` under the name `reference`; return the provider's id for it.
        `created` holds the ids of the earlier steps (the agent a number is bound to)."""
        ...

    def find(self, step: str, reference: str) -> str | None:
        """The id of a live object of `step` created under `reference`, if any (a lost create answer)."""
        ...

    def delete(self, step: str, external_id: str) -> None:
        """Delete the object; one that is already gone counts as deleted."""
        ...

    def number_of(self, created: Mapping[str, str]) -> str:
        """The E.164 form of the number provisioned (shown to the admin, routed by crm.inbound.numbers)."""
        ...

    def place_test_call(self, created: Mapping[str, str], to_number: str, key: str) -> str:
        """Ring `to_number` (the admin's own) from the new number with the new agent; the call id."""
        ...

    def read_test_call(self, call_id: str) -> TestCallView:
        """The test call now."""
        ...
