"""Retell: a custom-LLM agent whose WebSocket URL is the voice bridge and whose webhook is the CRM, and a
purchased number bound to it for inbound and outbound calls (retell-sdk 6.2.13; docs/onboarding.md §2).

Retell has no idempotency key on create-agent or create-phone-number, so each object is created under a
name of ours (`agent_name`, the number's `nickname`) and a retry first lists the live objects for it."""

from __future__ import annotations

from collections.abc import Mapping

import httpx
import retell
from retell import Retell, omit

from crm.onboarding.vendor import AgentTargets, ProvisioningFailed, TestCallView

LANGUAGES = {"de": "de-DE", "en": "en-US", "fr": "fr-FR"}
# A multilingual ElevenLabs voice from Retell's catalogue; the company can change it in Retell later.
VOICE_ID = "11labs-Adrian"
PAGE, MAX_PAGES = 100, 50
WEBHOOK_EVENTS = ["call_started", "call_ended", "call_analyzed"]


class RetellSetup:
    provider: str = "retell"
    steps: tuple[str, ...] = ("agent", "phone_number")

    def __init__(self, *, api_key: str, base_url: str, targets: AgentTargets, timeout_s: float = 20.0) -> None:
        # Not retried by the SDK: a retried create could buy twice; our own retry looks the object up first.
        self.client = Retell(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=httpx.Timeout(timeout_s, connect=5.0)
        )
        self.targets = targets

    def create(self, step: str, reference: str, created: Mapping[str, str]) -> str:
        try:
            if step == "agent":
                agent = self.client.agent.create(
                    agent_name=reference,
                    response_engine={"type": "custom-llm", "llm_websocket_url": self.targets.retell_llm_websocket_url},
                    voice_id=VOICE_ID,
                    language=LANGUAGES.get(self.targets.language, "de-DE"),  # type: ignore[arg-type]
                    webhook_url=f"{self.targets.webhook_base.rstrip('/')}/webhooks/retell",
                    webhook_events=WEBHOOK_EVENTS,  # type: ignore[arg-type]
                )
                return agent.agent_id
            agent_id = created["agent"]
            number = self.client.phone_number.create(
                area_code=self.targets.area_code,
                nickname=reference,
                inbound_agents=[{"agent_id": agent_id, "weight": 1}],
                outbound_agents=[{"agent_id": agent_id, "weight": 1}],
            )
            return number.phone_number
        except retell.APIError as exc:
            raise ProvisioningFailed(step, _reason(exc)) from exc

    def find(self, step: str, reference: str) -> str | None:
        try:
            return self._find(step, reference)
        except retell.APIError as exc:
            raise ProvisioningFailed(step, _reason(exc)) from exc

    def number_of(self, created: Mapping[str, str]) -> str:
        return created["phone_number"]  # Retell names a number by its E.164 form

    def place_test_call(self, created: Mapping[str, str], to_number: str, key: str) -> str:
        try:
            call = self.client.call.create_phone_call(
                from_number=created["phone_number"],
                to_number=to_number,
                override_agent_id=created["agent"],
                idempotency_key=key,  # a double click rings once
                metadata={"purpose": "onboarding-test-call"},
            )
        except retell.APIError as exc:
            raise ProvisioningFailed("test_call", _reason(exc)) from exc
        return call.call_id

    def read_test_call(self, call_id: str) -> TestCallView:
        try:
            return _retell_view(self.client.call.retrieve(call_id))
        except retell.APIError as exc:
            raise ProvisioningFailed("test_call", _reason(exc)) from exc

    def _find(self, step: str, reference: str) -> str | None:
        # list-agents and list-phone-numbers (v2) page with `pagination_key`; a company has a handful.
        key: str | None = None
        for _ in range(MAX_PAGES):
            if step == "agent":
                agents = self.client.agent.list(limit=PAGE, pagination_key=key or omit)
                hit = next((a.agent_id for a in agents.items if a.agent_name == reference), None)
                more, key = agents.has_more, agents.pagination_key
            else:
                numbers = self.client.phone_number.list(limit=PAGE, pagination_key=key or omit)
                hit = next((n.phone_number for n in numbers.items if n.nickname == reference), None)
                more, key = numbers.has_more, numbers.pagination_key
            if hit is not None or not more or not key:
                return hit
        return None

    def delete(self, step: str, external_id: str) -> None:
        try:
            if step == "agent":
                self.client.agent.delete(external_id)
            else:
                self.client.phone_number.delete(external_id)
        except retell.NotFoundError:
            return  # already gone: what an undo wants
        except retell.APIError as exc:
            raise ProvisioningFailed(step, _reason(exc)) from exc


def _retell_view(call: object) -> TestCallView:
    status = str(getattr(call, "call_status", "") or "")
    ended = status in ("ended", "error", "not_connected")
    duration = getattr(call, "duration_ms", None)
    return TestCallView(
        ended=ended,
        transcript=(getattr(call, "transcript", None) or "") if ended else "",
        duration_s=round(duration / 1000) if isinstance(duration, int | float) else None,
    )


def _reason(exc: retell.APIError) -> str:
    status = getattr(exc, "status_code", None)
    return f"Retell answered {status}" if status else "Retell could not be reached"
