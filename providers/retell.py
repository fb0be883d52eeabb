"""Retell (retell-sdk 6.2.13): dial, look up, normalise webhooks. Wire formats: docs/providers.md §1.

Decisions:
* `create_phone_call` carries our key in Retell's own `idempotency_key` body field (a retry within an hour
  returns the same call) and is never retried by the SDK (`max_retries=0`); after an ambiguous failure the
  ledger asks `find_call`, which lists calls filtered on `metadata.idempotency_key`.
* A call is final for the chain on `call_analyzed` (Retell sends it after `call_ended`, with the
  classification), and already on `call_ended` when the call never connected (no answer, busy, dial
  failure): no analysis can add anything then, and the docs do not promise `call_analyzed` for such calls.
  Both events produce the same result id (`retell:<call_id>`), so the chain takes exactly one.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import retell
from retell import Retell
from retell.lib import verify
from retell.types.call_list_params import FilterCriteria

from providers.base import CallRequest, ProviderCall, ProviderRejected, ProviderUnavailable, retry_after_seconds
from providers.events import CallEvent, Turn, classify_text, result_from_event
from providers.wire import InvalidSignature, MalformedPayload
from workflows.payloads import CallResult
from workflows.vocabulary import CallStatus

log = logging.getLogger(__name__)

NAME = "retell"
SIGNATURE_HEADER = "X-Retell-Signature"
STAGES = {
    "call_started": "in_progress",
    "transcript_updated": "in_progress",
    "transfer_started": "in_progress",
    "transfer_bridged": "in_progress",
    "transfer_cancelled": "in_progress",
    "transfer_ended": "in_progress",
    "call_ended": "ended",
    "call_analyzed": "analyzed",
}
# disconnection_reason of calls that never reached anyone: our end status.
NOT_CONNECTED = {
    "dial_no_answer": CallStatus.NO_ANSWER,
    "dial_busy": CallStatus.BUSY,
    "user_declined": CallStatus.BUSY,
    "dial_failed": CallStatus.FAILED,
    "invalid_destination": CallStatus.FAILED,
    "marked_as_spam": CallStatus.FAILED,
    "telephony_provider_permission_denied": CallStatus.FAILED,
    "telephony_provider_unavailable": CallStatus.FAILED,
    "sip_routing_error": CallStatus.FAILED,
    "network_blocked": CallStatus.FAILED,
    "concurrency_limit_reached": CallStatus.FAILED,
    "no_concurrency_fallback": CallStatus.FAILED,
    "no_valid_payment": CallStatus.FAILED,
    "credit_exhausted": CallStatus.FAILED,
    "budget_reached": CallStatus.FAILED,
    "scam_detected": CallStatus.FAILED,
    "registered_call_timeout": CallStatus.FAILED,
    "error_user_not_joined": CallStatus.FAILED,
}
# Reached a machine, not a person: worth another try like voicemail.
MACHINE = {"voicemail_reached": CallStatus.VOICEMAIL, "ivr_reached": CallStatus.NO_ANSWER}
REASON_CLASSIFICATION = {"user_requested_dnc": "do_not_call", "user_requested_callback": "callback_requested"}
ENDED_STATUSES = ("ended", "error", "not_connected")
# Transcript roles; transfer_target is the person we transferred to: our side of the conversation.
SPEAKERS = {"agent": "agent", "user": "callee", "transfer_target": "agent"}
# A connected call whose analysis has not come this long after its end is reported without it.
ANALYSIS_GRACE_S = 600
FIND_PAGE_SIZE = 50
FIND_MAX_PAGES = 20


class RetellProvider:
    """VoiceProvider for Retell through the official SDK client."""

    name = NAME

    def __init__(
        self, *, api_key: str, base_url: str, webhook_keys: list[str] | None = None, timeout_s: float = 20.0
    ) -> None:
        # An explicit timeout (below the place_call activity's 60 s) replaces the SDK's 120 s/300 s defaults.
        # No SDK retries at all: Temporal retries the activity (with Retry-After), and SDK-level waits
        # inside an activity only stretch it towards its timeout.
        self.client = Retell(
            api_key=api_key, base_url=base_url, max_retries=0, timeout=httpx.Timeout(timeout_s, connect=5.0)
        )
        # Retell signs webhooks with the API key that has the webhook badge; several during a rotation.
        self.webhook_keys = list(webhook_keys or [api_key])

    # ---- outbound ---------------------------------------------------------------------------------

    def place_call(self, request: CallRequest) -> ProviderCall:
        if not request.from_number:
            raise ProviderRejected("retell: the campaign has no from_number")
        variables = {str(k): str(v) for k, v in request.variables.items()}
        variables.setdefault("language", request.language)
        kwargs: dict[str, Any] = {}
        if request.agent_id:
            kwargs["override_agent_id"] = request.agent_id
        try:
            call = self.client.call.create_phone_call(
                from_number=request.from_number,
                to_number=request.to_number,
                metadata=request.metadata(),
                retell_llm_dynamic_variables=variables,
                idempotency_key=request.idempotency_key,
                max_retries=0,
                **kwargs,
            )
        except retell.APIError as e:
            raise _mapped(e, "create-phone-call") from None
        if not getattr(call, "call_id", None):
            # Accepted but unreadable: the ledger's retry looks the call up by our key before dialling again.
            raise ProviderUnavailable("retell: create-phone-call answered without a call_id")
        return ProviderCall(NAME, call.call_id, "queued")

    def find_call(self, idempotency_key: str) -> ProviderCall | None:
        criteria: FilterCriteria = {
            "metadata": [{"key": "idempotency_key", "op": "eq", "type": "string", "value": idempotency_key}]
        }
        page_key: str | None = None
        for _ in range(FIND_MAX_PAGES):
            try:
                page = self.client.call.list(
                    filter_criteria=criteria,
                    limit=FIND_PAGE_SIZE,
                    sort_order="descending",
                    pagination_key=page_key if page_key else retell.omit,  # omit: the SDK's "not sent"
                )
            except retell.APIError as e:
                raise _mapped(e, "list-calls") from None
            for item in page.items or []:
                metadata = item.metadata if isinstance(item.metadata, dict) else {}
                # The filter narrows the listing; the match is checked here all the same.
                if metadata.get("idempotency_key") == idempotency_key and item.call_id:
                    return ProviderCall(NAME, item.call_id, "queued")
            if not page.has_more or not page.pagination_key:
                return None
            page_key = page.pagination_key
        log.warning("retell: find_call gave up after %d pages", FIND_MAX_PAGES)
        return None

    def get_call(self, call_id: str) -> CallResult | None:
        try:
            call = self.client.call.retrieve(call_id)
        except retell.NotFoundError:
            return None
        except retell.APIError as e:
            raise _mapped(e, "get-call") from None
        data = call.to_dict() if hasattr(call, "to_dict") else dict(call)
        if data.get("call_status") not in ENDED_STATUSES:
            return None
        event = event_from_call("call_analyzed" if data.get("call_analysis") else "call_ended", data)
        if not event.final:
            ended_ms = data.get("end_timestamp")
            if (
                not isinstance(ended_ms, (int, float))
                or not ended_ms
                or time.time() * 1000 - ended_ms < ANALYSIS_GRACE_S * 1000
            ):
                return None  # the analysis (and with it the classification) is still coming
        return result_from_event(event)

    def delete_call(self, call_id: str) -> None:
        try:
            self.client.call.delete(call_id)
        except retell.NotFoundError:
            return  # already gone: erasure is done
        except retell.APIError as e:
            raise _mapped(e, "delete-call") from None

    # ---- inbound ----------------------------------------------------------------------------------

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[CallEvent]:
        return parse_webhook(body, headers, self.webhook_keys, verifier=self.client.verify)


def _mapped(error: Exception, what: str) -> Exception:
    """SDK error → ProviderUnavailable (429, 408/409, 5xx, network) or ProviderRejected (other 4xx)."""
    if isinstance(error, retell.APIStatusError):
        status = error.status_code
        detail = f"retell {what}: HTTP {status}: {_message(error)}"
        if status in (408, 409, 429) or status >= 500:
            return ProviderUnavailable(detail, retry_after(error.response.headers), status=status)
        return ProviderRejected(detail)
    # APIConnectionError / APITimeoutError / unreadable response: the request may or may not have arrived.
    return ProviderUnavailable(f"retell {what}: {type(error).__name__}")


def _message(error: retell.APIStatusError) -> str:
    body = error.body
    if isinstance(body, dict):
        return str(body.get("message") or body.get("error_message") or body)[:200]
    return str(error.message)[:200]


retry_after = retry_after_seconds


# ---- webhooks: verification and normalisation -------------------------------------------------------


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is None and not hasattr(headers, "getlist"):  # a plain dict: look case-insensitively
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value


# retell.lib.verify(body text, API key, signature) -> bool; tests hand in the client's bound method.
Verifier = Callable[[str, str, str], bool]


def parse_webhook(
    body: bytes, headers: Mapping[str, str], keys: list[str], *, verifier: Verifier | None = None
) -> list[CallEvent]:
    """Verify `X-Retell-Signature` over the raw body (docs/providers.md §1.6) and normalise the event.

    Raises InvalidSignature (missing, malformed, wrong or outside ±5 minutes) or MalformedPayload.
    Events that are not about an outbound call's life (e.g. `call_inbound`) give an empty list.
    """
    signature = _header(headers, SIGNATURE_HEADER)
    if not signature or not keys:
        raise InvalidSignature("missing X-Retell-Signature")
    try:
        text = body.decode("utf-8")  # Retell signs the body as text; other bytes cannot carry its signature
    except UnicodeDecodeError:
        raise InvalidSignature("body is not UTF-8") from None
    if verifier is None:
        verifier = verify
    if not any(verifier(text, key, signature) for key in keys):
        raise InvalidSignature("X-Retell-Signature does not match")
    try:
        payload = json.loads(text)
    except ValueError as e:
        raise MalformedPayload(f"not JSON: {e}") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("event"), str):
        raise MalformedPayload('expected {"event": ..., "call": {...}}')
    call = payload.get("call", payload.get("data"))  # `data` is the deprecated alias
    if not isinstance(call, dict):
        raise MalformedPayload("`call` must be an object")
    if payload["event"] not in STAGES:
        return []
    return [event_from_call(payload["event"], call)]


def _ms(value: Any) -> datetime | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0:
        return datetime.fromtimestamp(value / 1000, tz=UTC)
    return None


def _object(call: dict[str, Any], name: str) -> dict[str, Any] | None:
    """A field of a call that must be a JSON object; None when it is absent or of another type."""
    value = call.get(name)
    return value if isinstance(value, dict) else None


def _turns(call: dict[str, Any]) -> list[Turn] | None:
    objects = call.get("transcript_object")
    if isinstance(objects, list):
        turns = []
        for item in objects:
            if not isinstance(item, dict) or not item.get("content"):
                continue
            role = item.get("role")
            speaker = SPEAKERS.get(role) if isinstance(role, str) else None
            if speaker is None:
                continue
            words = item.get("words") or []
            at_s = words[0].get("start") if words and isinstance(words[0], dict) else None
            turns.append(Turn(speaker, str(item["content"]), float(at_s) if isinstance(at_s, (int, float)) else None))
        return turns
    text = call.get("transcript")
    if isinstance(text, str) and text.strip():
        turns = []
        for line in text.splitlines():
            match = re.match(r"^(Agent|User):\s?(.*)$", line)
            if match and match.group(2):
                turns.append(Turn("agent" if match.group(1) == "Agent" else "callee", match.group(2)))
            elif turns and line.strip():
                turns[-1].text += "\n" + line
        return turns
    return None


def _conversation(call: dict[str, Any], turns: list[Turn] | None) -> bool:
    if turns is not None:
        return any(t.speaker == "callee" for t in turns)
    # No transcript stored (data_storage_setting): a connected call of some length counts as one.
    return bool(call.get("start_timestamp")) and (call.get("duration_ms") or 0) > 0


def _end_status(call: dict[str, Any], analysis: dict[str, Any], turns: list[Turn] | None) -> tuple[str, bool]:
    """(end status, connected) of an ended call."""
    reason = call.get("disconnection_reason")
    if reason in NOT_CONNECTED:
        return NOT_CONNECTED[reason], False
    if call.get("call_status") == "not_connected":
        return CallStatus.FAILED, False
    if analysis.get("in_voicemail") or reason == "voicemail_reached":
        return CallStatus.VOICEMAIL, True
    if reason in MACHINE:
        return MACHINE[reason], True
    talked = _conversation(call, turns)
    if isinstance(reason, str) and reason.startswith("error_") and not talked:
        return CallStatus.FAILED, True
    # Hang-ups, transfers, time limits, and errors after a conversation took place: what was said counts.
    return (CallStatus.COMPLETED if talked else CallStatus.NO_ANSWER), True


def event_from_call(event_type: str, call: dict[str, Any]) -> CallEvent:
    """One CallEvent from a Retell call object (webhook `call` field or get-call answer)."""
    call_id = call.get("call_id")
    if not isinstance(call_id, str) or not call_id:
        raise MalformedPayload("call.call_id missing")
    stage = STAGES.get(event_type, "in_progress")
    analysis = _object(call, "call_analysis")
    turns = _turns(call)
    metadata = _object(call, "metadata") or {}
    event = CallEvent(
        provider=NAME,
        call_id=call_id,
        event_id=f"{event_type}:{call_id}",
        event_type=event_type,
        stage=stage,
        occurred_at=_ms(call.get("end_timestamp") if stage in ("ended", "analyzed") else call.get("start_timestamp")),
        started_at=_ms(call.get("start_timestamp")),
        ended_at=_ms(call.get("end_timestamp")),
        duration_s=_duration_s(call),
        transcript=turns,
        recording_url=call.get("recording_url") or None,
        cost_cents=_cost_cents(call),
        analysis=analysis,
        lead_id=_int(metadata.get("lead_id")),
        chain_id=str(metadata["chain_id"]) if metadata.get("chain_id") else None,
        idempotency_key=str(metadata["idempotency_key"]) if metadata.get("idempotency_key") else None,
        extra={k: call[k] for k in ("call_status", "disconnection_reason", "agent_id") if call.get(k) is not None},
    )
    if analysis is not None:
        _add_analysis(event, analysis)
    if stage in ("ended", "analyzed"):
        _add_ending(event, call, analysis, turns)
    return event


def _duration_s(call: dict[str, Any]) -> int | None:
    """duration_ms, else end minus start; whole seconds (None when unknown or negative)."""
    duration_ms = call.get("duration_ms")
    if (
        not isinstance(duration_ms, (int, float))
        and isinstance(call.get("end_timestamp"), (int, float))
        and isinstance(call.get("start_timestamp"), (int, float))
    ):
        duration_ms = call["end_timestamp"] - call["start_timestamp"]
    return round(duration_ms / 1000) if isinstance(duration_ms, (int, float)) and duration_ms >= 0 else None


def _cost_cents(call: dict[str, Any]) -> int | None:
    """call_cost.combined_cost, in whole cents (None when missing or negative)."""
    combined = (_object(call, "call_cost") or {}).get("combined_cost")
    return int(round(combined)) if isinstance(combined, (int, float)) and combined >= 0 else None


def _add_analysis(event: CallEvent, analysis: dict[str, Any]) -> None:
    summary = analysis.get("call_summary")
    event.summary = summary if isinstance(summary, str) and summary else None
    sentiment = analysis.get("user_sentiment")
    event.sentiment = sentiment.lower() if isinstance(sentiment, str) and sentiment else None


def _add_ending(
    event: CallEvent, call: dict[str, Any], analysis: dict[str, Any] | None, turns: list[Turn] | None
) -> None:
    """End status, answered, classification and finality of an ended or analyzed call."""
    end_status, connected = _end_status(call, analysis or {}, turns)
    event.end_status, event.answered = end_status, end_status == CallStatus.COMPLETED
    if event.answered:
        custom = analysis.get("custom_analysis_data") if analysis else None
        event.classification = classify_text(
            event.summary, custom if isinstance(custom, dict) else None
        ) or REASON_CLASSIFICATION.get(str(call.get("disconnection_reason")))
    event.final = event.stage == "analyzed" or not connected


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
