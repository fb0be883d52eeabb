"""Vapi (https://vapi.ai) through the official `vapi-server-sdk` (docs/providers.md §2).

Decisions worth knowing:

* **from_number is a Vapi phoneNumberId.** Vapi dials from a number registered in Vapi and identified by
  its id (`phoneNumberId`), not by its E.164 string; for a Vapi campaign `Campaign.from_number` (and
  `failover_from_number`) hold that id, e.g. the demo's `phone_number_demo`.
* **No SDK retries on create.** The Fern client retries `POST /call` on 408/409/429/5xx when retries
  are enabled (and version 3.x enables them by default), which can dial a person twice. Create is sent
  with `max_retries=0`; the activity retries instead, and looks the call up by our idempotency key first.
* **Correlation ids travel in `assistantOverrides.metadata`**: this SDK's create has no top-level
  `metadata` (§2.2). Script variables go in `assistantOverrides.variableValues`.
* **Server messages are read in `providers.vapi_events`** from the raw JSON, dispatched on `message.type`,
  every field typed and range-checked (docs/providers.md §0.1); the SDK's `ServerMessage` union picks the
  first member whatever the type says (§2.3).
* **Webhook authentication (§2.4)** lives in `providers.vapi_auth` (re-exported here for the callers).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

import httpx

from providers.base import CallRequest, ProviderCall, ProviderRejected, ProviderUnavailable, retry_after_seconds
from providers.events import CallEvent, call_result
from providers.events import Turn as Turn
from providers.parsing import FieldError, Fields, parse_time

# Re-exported ("as"): the CRM webhook and the voice bridge import them from here.
from providers.vapi_auth import DEFAULT_HMAC_PLAN
from providers.vapi_auth import HmacPlan as HmacPlan
from providers.vapi_auth import split_secrets as split_secrets
from providers.vapi_auth import verify_server_auth as verify_server_auth
from providers.vapi_events import CONNECTED_REASONS as CONNECTED_REASONS
from providers.vapi_events import NAME, cents_of_dollars, report_of
from providers.vapi_events import end_status_for as end_status_for
from providers.vapi_events import events_from_payload as events_from_payload
from providers.vapi_events import metadata_of as metadata_of
from providers.vapi_events import parse_webhook as parse_webhook
from workflows.payloads import CallResult
from workflows.vocabulary import CallStatus

if TYPE_CHECKING:
    from vapi.core.request_options import RequestOptions

Answer = TypeVar("Answer")

log = logging.getLogger(__name__)

# How long after its end a connected call's analysis may still come; get_call waits for it until then.
ANALYSIS_GRACE = timedelta(minutes=5)
MAX_LIST_PAGES = 10


# The names the tests and older callers know.
_cents = cents_of_dollars
events_from_message = events_from_payload
parse_server_message = parse_webhook


# ---- server messages (tool calls; the call events are read in providers.vapi_events) ------------------


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _when(value: Any) -> datetime | None:
    """A time in a Vapi API answer (ISO or epoch); None when unreadable (a look-up skips it)."""
    try:
        return parse_time(value, "createdAt", epoch="auto")
    except FieldError:
        return None


def tool_calls(message: Mapping[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    """(tool_call_id, function name, arguments) from a tool-calls message; `arguments` arrive as an object in
    webhooks but as a JSON string in the SDK type and in artifact.messages (§2.3): both are accepted."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for item in message.get("toolCallList") or message.get("toolCalls") or []:
        if not isinstance(item, dict):
            continue
        function = _dict(item.get("function"))
        args: Any = function.get("arguments", item.get("parameters"))
        if isinstance(args, str):
            try:
                args = json.loads(args) if args.strip() else {}
            except ValueError:
                args = {}
        found.append(
            (
                str(item.get("id") or ""),
                str(function.get("name") or item.get("name") or ""),
                args if isinstance(args, dict) else {},
            )
        )
    return found


# ---- the provider ---------------------------------------------------------------------------------


def _plain(model: Any) -> dict[str, Any]:
    """An SDK model as the JSON Vapi sent (camelCase; unknown fields kept)."""
    if isinstance(model, dict):
        return model
    if hasattr(model, "model_dump"):
        dumped: dict[str, Any] = model.model_dump(mode="json", by_alias=True, exclude_none=True)
        return dumped
    # pydantic v1 models (older SDKs): their dict() is not JSON-safe, a round trip through JSON makes it so.
    loaded: dict[str, Any] = json.loads(json.dumps(model.dict(by_alias=True), default=str))
    return loaded


_retry_after = retry_after_seconds


class VapiProvider:
    name = NAME

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str | None = None,
        webhook_secret: str | Iterable[str] | None = None,
        hmac_plan: HmacPlan = DEFAULT_HMAC_PLAN,
        timeout_s: float = 20.0,
        lookback: timedelta = timedelta(days=2),
    ) -> None:
        # Imported here, not at start-up: the Vapi SDK takes about a second to import (generated pydantic
        # types), and only a process that builds a Vapi provider needs it.
        from vapi import Vapi

        self.client = Vapi(token=api_key, base_url=(base_url or "https://api.vapi.ai").rstrip("/"), timeout=timeout_s)
        self.webhook_secrets = split_secrets(webhook_secret)
        self.hmac_plan = hmac_plan
        self.lookback = lookback

    def _call_api(self, what: str, fn: Callable[[], Answer], *, missing_ok: bool = False) -> Answer | None:
        from vapi.core.api_error import ApiError  # the SDK is loaded by __init__ already; see there

        try:
            return fn()
        except ApiError as e:
            status = e.status_code or 0
            if missing_ok and status == 404:
                return None
            detail = e.body.get("message") if isinstance(e.body, dict) else e.body
            text = f"vapi {what}: HTTP {status}: {str(detail)[:200]}"
            if status in (0, 408, 429) or status >= 500:
                raise ProviderUnavailable(text, _retry_after(e.headers), status=status or None) from None
            raise ProviderRejected(text) from None
        except httpx.HTTPError as e:
            # Also a read timeout on create: the call may exist; the activity looks for it before re-dialling.
            raise ProviderUnavailable(f"vapi {what}: {type(e).__name__}: {e}"[:300]) from None

    def place_call(self, request: CallRequest) -> ProviderCall:
        if not request.agent_id or not request.from_number:
            raise ProviderRejected("vapi needs the campaign's assistant id and phoneNumberId (from_number)")
        created = self._call_api(
            "create call",
            lambda: self.client.calls.create(
                assistant_id=request.agent_id,
                phone_number_id=request.from_number,  # for Vapi: the phoneNumberId, not an E.164 number
                customer={"number": request.to_number},
                assistant_overrides={"variableValues": dict(request.variables), "metadata": request.metadata()},
                request_options=_create_options(request.timeout_s),
            ),
        )
        call = _plain(created)
        if not call.get("id"):
            raise ProviderUnavailable("vapi create call: answer without a call id")
        return ProviderCall(NAME, call["id"], call.get("status") or "queued")

    def find_call(self, idempotency_key: str) -> ProviderCall | None:
        """GET /call (newest first, pages of 100 back through `lookback`) matched on our metadata."""
        since = datetime.now(UTC) - self.lookback
        before: datetime | None = None
        for _ in range(MAX_LIST_PAGES):
            page = self._call_api(
                # partial, not a lambda: this page's `before` is bound now.
                "list calls",
                partial(self.client.calls.list, limit=100, created_at_ge=since, created_at_lt=before),
            )
            calls = [_plain(c) for c in page or []]
            for call in calls:
                if metadata_of(call).get("idempotency_key") == idempotency_key and call.get("id"):
                    return ProviderCall(NAME, call["id"], call.get("status") or "queued")
            created = [t for t in (_when(c.get("createdAt")) for c in calls) if t is not None]
            if len(calls) < 100 or not created:
                return None
            before = min(created)
        return None

    def get_call(self, call_id: str) -> CallResult | None:
        found = self._call_api("get call", lambda: self.client.calls.get(call_id), missing_ok=True)
        call = _plain(found) if found is not None else {}
        if call.get("status") != "ended":
            return None
        fields = Fields(call, "call")
        report = report_of(fields, fields)
        status, answered, classification = report.outcome
        ended = report.ended_at or _when(call.get("updatedAt"))
        if (
            status == CallStatus.COMPLETED
            and not report.analysis
            and ended is not None
            and datetime.now(UTC) - ended < ANALYSIS_GRACE
        ):
            return None  # Vapi analyses a call after it ended; the chain's answer depends on that analysis
        # The same event id as the webhook path's result (crm.services.calls.result_for): the chain's
        # update is deduplicated whichever way the result arrives first.
        return call_result(
            NAME,
            call_id,
            answered=answered,
            status=status,
            classification=classification,
            duration_s=report.duration_s or 0,
        )

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[CallEvent]:
        return parse_webhook(body, headers, self.webhook_secrets, plan=self.hmac_plan)

    def delete_call(self, call_id: str) -> None:
        """DELETE /call/{id}; a call Vapi no longer has counts as erased."""
        self._call_api("delete call", lambda: self.client.calls.delete(call_id), missing_ok=True)


def _create_options(timeout_s: float | None) -> RequestOptions:
    """No SDK retries (a retried POST could dial twice); the activity's dial window as the timeout. The SDK
    takes whole seconds: rounded down, at least 1. httpx applies it per phase (connect, write, read), so
    a third of the window keeps the whole request inside it."""
    options: RequestOptions = {"max_retries": 0}
    if timeout_s is not None:
        options["timeout_in_seconds"] = max(1, int(timeout_s / 3))
    return options
