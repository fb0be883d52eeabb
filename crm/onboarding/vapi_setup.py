"""Vapi: an assistant whose server URL is the CRM's webhook, whose model is the bridge's custom LLM with the
bridge's tools, and a free Vapi number bound to it (vapi-server-sdk; docs/onboarding.md §2).

Like Retell, Vapi's create endpoints take no idempotency key: objects are created under our `name` and a
retry lists the live ones first."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from vapi import Vapi
from vapi.core.api_error import ApiError
from vapi.types import CreateVapiPhoneNumberDto

from crm.onboarding.vendor import AgentTargets, ProvisioningFailed, TestCallView

# The functions the bridge answers (voice.bridge.vapi); parameters as JSON Schema.
TOOLS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("check_availability", "Free appointment slots for the caller's wish", {"preference": {"type": "string"}}),
    (
        "book_appointment",
        "Book a 30-minute consultation",
        {"start": {"type": "string", "format": "date-time"}, "end": {"type": "string", "format": "date-time"}},
    ),
    ("record_opt_out", "The caller wants no further calls", {"reason": {"type": "string"}}),
)


def tool_definitions(bridge_base: str) -> list[dict[str, Any]]:
    url = f"{bridge_base.rstrip('/')}/vapi/tools"
    return [
        {
            "type": "function",
            "function": {"name": name, "description": text, "parameters": {"type": "object", "properties": props}},
            "server": {"url": url},
        }
        for name, text, props in TOOLS
    ]


class VapiSetup:
    provider: str = "vapi"
    steps: tuple[str, ...] = ("assistant", "phone_number")

    def __init__(self, *, api_key: str, base_url: str, targets: AgentTargets, timeout_s: float = 20.0) -> None:
        self.client = Vapi(token=api_key, base_url=base_url.rstrip("/"), timeout=timeout_s)
        self.targets = targets

    def create(self, step: str, reference: str, created: Mapping[str, str]) -> str:
        bridge = self.targets.bridge_base.rstrip("/")
        try:
            if step == "assistant":
                assistant = self.client.assistants.create(
                    name=reference,
                    model={
                        "provider": "custom-llm",
                        "url": f"{bridge}/vapi/llm",
                        "model": "leadchain-bridge",
                        "tools": tool_definitions(bridge),
                    },
                    server={"url": f"{self.targets.webhook_base.rstrip('/')}/webhooks/vapi"},
                    server_messages=["end-of-call-report", "status-update", "tool-calls"],
                )
                return assistant.id
            number = self.client.phone_numbers.create(
                request=CreateVapiPhoneNumberDto(
                    provider="vapi",
                    name=reference,
                    assistant_id=created["assistant"],
                    number_desired_area_code=str(self.targets.area_code),
                )
            )
            return number.id
        except (ApiError, httpx.HTTPError) as exc:
            raise ProvisioningFailed(step, _reason(exc)) from exc

    def number_of(self, created: Mapping[str, str]) -> str:
        try:
            number = self.client.phone_numbers.get(created["phone_number"])
        except (ApiError, httpx.HTTPError) as exc:
            raise ProvisioningFailed("phone_number", _reason(exc)) from exc
        e164 = getattr(number, "number", None)
        if not isinstance(e164, str):
            raise ProvisioningFailed("phone_number", "Vapi answered without the number")
        return e164

    def place_test_call(self, created: Mapping[str, str], to_number: str, key: str) -> str:
        try:
            call = self.client.calls.create(
                assistant_id=created["assistant"],
                phone_number_id=created["phone_number"],
                customer={"number": to_number},
                name=key,
            )
        except (ApiError, httpx.HTTPError) as exc:
            raise ProvisioningFailed("test_call", _reason(exc)) from exc
        call_id = getattr(call, "id", None)
        if not isinstance(call_id, str):
            raise ProvisioningFailed("test_call", "Vapi answered without a call id")
        return call_id

    def read_test_call(self, call_id: str) -> TestCallView:
        try:
            call = self.client.calls.get(call_id)
        except (ApiError, httpx.HTTPError) as exc:
            raise ProvisioningFailed("test_call", _reason(exc)) from exc
        ended = call.status == "ended"
        transcript = (getattr(call.artifact, "transcript", None) or "") if ended and call.artifact else ""
        seconds = None
        if call.started_at and call.ended_at:
            seconds = round((call.ended_at - call.started_at).total_seconds())
        return TestCallView(ended=ended, transcript=transcript, duration_s=seconds)

    def find(self, step: str, reference: str) -> str | None:
        try:
            listed: list[Any] = (
                list(self.client.assistants.list()) if step == "assistant" else list(self.client.phone_numbers.list())
            )
        except (ApiError, httpx.HTTPError) as exc:
            raise ProvisioningFailed(step, _reason(exc)) from exc
        return next((o.id for o in listed if getattr(o, "name", None) == reference), None)

    def delete(self, step: str, external_id: str) -> None:
        try:
            if step == "assistant":
                self.client.assistants.delete(external_id)
            else:
                self.client.phone_numbers.delete(external_id)
        except ApiError as exc:
            if exc.status_code == 404:
                return  # already gone
            raise ProvisioningFailed(step, _reason(exc)) from exc
        except httpx.HTTPError as exc:
            raise ProvisioningFailed(step, _reason(exc)) from exc


def _reason(exc: Exception) -> str:
    status = getattr(exc, "status_code", None)
    return f"Vapi answered {status}" if status else "Vapi could not be reached"
