"""The provider interface the chain's call step talks to."""

from __future__ import annotations

import email.utils
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

from providers.events import CallEvent
from workflows.payloads import CallResult


def retry_after_seconds(headers: Mapping[str, str] | None) -> float | None:
    """Seconds to wait, from `retry-after-ms` or `retry-after` (seconds or an HTTP date); None if absent."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    value = headers.get("retry-after-ms")
    if value:
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time()) if when else None


class ProviderRejected(Exception):
    """The provider refused the request for good (4xx other than 429): retrying cannot help."""


class ProviderUnavailable(Exception):
    """5xx, 429 or a network failure: worth retrying, or failing over to another provider.

    `status` is the HTTP status when the provider answered (it refused the request); None when no answer
    came (timeout, dropped connection), so whether it acted is unknown.
    """

    def __init__(self, message: str, retry_after_s: float | None = None, status: int | None = None) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
        self.status = status


@dataclass(frozen=True)
class CallRequest:
    lead_id: int
    chain_id: str
    idempotency_key: str
    to_number: str
    language: str
    # Our ids travel as provider metadata so webhooks and look-ups map back to lead and chain.
    variables: dict[str, str] = field(default_factory=dict)  # script variables: strings only
    agent_id: str | None = None
    from_number: str | None = None
    # The most the create request may take, answered or not (activities.provider_activities.dial_window_s):
    # a dial must not outlive the activity attempt that made it. None: the adapter's own timeout.
    timeout_s: float | None = None

    def metadata(self) -> dict[str, str]:
        return {"lead_id": str(self.lead_id), "chain_id": self.chain_id, "idempotency_key": self.idempotency_key}


@dataclass(frozen=True)
class ProviderCall:
    provider: str
    call_id: str
    status: str = "queued"


class VoiceProvider(Protocol):
    name: str

    def place_call(self, request: CallRequest) -> ProviderCall:
        """Dial. Raises ProviderRejected or ProviderUnavailable."""

    def find_call(self, idempotency_key: str) -> ProviderCall | None:
        """The call placed with our key, if the provider has one (used after an ambiguous failure)."""

    def get_call(self, call_id: str) -> CallResult | None:
        """The call's normalised result once it has ended, else None."""

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[CallEvent]:
        """Verify (raises providers.wire.InvalidSignature) and read a webhook into CallEvents
        (providers.events), every field typed and range-checked (MalformedPayload / FieldError). The
        webhook route uses each vendor module's `parse_webhook(body, headers, secrets)` of the same
        shape with the secrets it gathers (docs/providers.md §0.1)."""

    def delete_call(self, call_id: str) -> None:
        """Erase the call's data at the provider (GDPR Art. 17)."""


class ProviderRegistry:
    """Which provider serves a lead. Campaign routing and failover extend this."""

    def __init__(self, providers: dict[str, VoiceProvider] | None = None, default: str | None = None) -> None:
        self.providers = dict(providers or {})
        self.default = default or (next(iter(self.providers)) if self.providers else None)

    def for_lead(self, lead_id: int) -> VoiceProvider | None:
        return self.providers.get(self.default) if self.default else None

    def get(self, name: str) -> VoiceProvider | None:
        return self.providers.get(name)
