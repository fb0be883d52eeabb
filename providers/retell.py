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

import logging
import re
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

import httpx
import retell
from retell import Retell
from retell.lib import verify
from retell.types.call_list_params import FilterCriteria

from providers.base import CallRequest, ProviderCall, ProviderRejected, ProviderUnavailable, retry_after_seconds
from providers.events import SENTIMENTS, CallEvent, Turn, classify_structured, classify_summary, result_from_event
from providers.parsing import ID, MAX_COST_CENTS, MAX_DURATION_S, SHORT, TEXT, URL, FieldError, Fields, decode_object
from providers.wire import InvalidSignature
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
MAX_TRANSCRIPT = 300_000  # characters of transcript text (a 256 KB body cannot hold more)


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
                # httpx applies it per phase (connect, write, read): a third keeps the request in the window.
                timeout=request.timeout_s / 3 if request.timeout_s is not None else retell.NOT_GIVEN,
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
    body: bytes, headers: Mapping[str, str], secrets: Sequence[str], *, verifier: Verifier | None = None
) -> list[CallEvent]:
    """Verify `X-Retell-Signature` over the raw body (docs/providers.md §1.6) and read the event.

    `secrets` are the API keys with the webhook badge (several during a rotation). Raises InvalidSignature
    (missing, malformed, wrong or outside ±5 minutes) or MalformedPayload (FieldError names the field).
    Events that are not about an outbound call's life (e.g. `call_inbound`, §1.7) give an empty list.
    """
    signature = _header(headers, SIGNATURE_HEADER)
    if not signature or not secrets:
        raise InvalidSignature("missing X-Retell-Signature")
    try:
        text = body.decode("utf-8")  # Retell signs the body as text; other bytes cannot carry its signature
    except UnicodeDecodeError:
        raise InvalidSignature("body is not UTF-8") from None
    if verifier is None:
        verifier = verify
    if not any(verifier(text, key, signature) for key in secrets):
        raise InvalidSignature("X-Retell-Signature does not match")
    return events_from_payload(decode_object(body, "").data)


def events_from_payload(payload: Any) -> list[CallEvent]:
    """The CallEvents of one verified webhook body `{"event": ..., "call": {...}}` (§1.5)."""
    envelope = Fields.of(payload, "")
    event_type = envelope.text("event", SHORT, required=True)
    if event_type not in STAGES:
        return []  # call_inbound (with or without its call_id), chat and future events: acknowledged
    call = envelope.obj("call") or envelope.obj("data")  # `data` is the deprecated alias
    if call is None:
        raise FieldError("call", "is required (an object)")
    return [event_from_call(event_type, call)]


def _turns_from_objects(items: list[Any], path: str) -> list[Turn]:
    turns = []
    for item in items:
        turn = Fields.of(item, path)
        role = turn.text("role")
        content = turn.text("content", TEXT)
        speaker = SPEAKERS.get(role or "")
        if speaker is None or not content:
            continue
        words = turn.items("words") or []
        at_s = Fields.of(words[0], f"{path}.words[]").number("start", 0, MAX_DURATION_S) if words else None
        turns.append(Turn(speaker, content, at_s))
    return turns


def _turns_from_text(text: str) -> list[Turn]:
    turns: list[Turn] = []
    for line in text.splitlines():
        match = re.match(r"^(Agent|User):\s?(.*)$", line)
        if match and match.group(2):
            turns.append(Turn("agent" if match.group(1) == "Agent" else "callee", match.group(2)))
        elif turns and line.strip():
            turns[-1].text += "\n" + line
    return turns


def _turns(call: Fields) -> list[Turn] | None:
    """The conversation from transcript_object, or from the transcript text when that shows more of it
    (a transcript_object can hold fewer turns than the text: the callee's words must not be lost)."""
    objects = call.items("transcript_object")
    text = call.text("transcript", MAX_TRANSCRIPT)
    from_objects = _turns_from_objects(objects, f"{call.path}.transcript_object[]") if objects is not None else None
    from_text = _turns_from_text(text) if text and text.strip() else None
    if from_objects is not None and (_callee_spoke(from_objects) or not _callee_spoke(from_text)):
        return from_objects
    return from_text if from_text is not None else from_objects


def _callee_spoke(turns: list[Turn] | None) -> bool:
    return any(t.speaker == "callee" for t in turns or [])


def _conversation(call: Fields, analysis: Fields | None, turns: list[Turn] | None) -> bool:
    if _callee_spoke(turns) or (analysis is not None and analysis.flag("call_successful") is True):
        return True
    if turns is not None:
        return False
    # No transcript stored (data_storage_setting): a connected call of some length counts as one.
    return call.time("start_timestamp", "ms") is not None and (_duration_ms(call) or 0) > 0


def _end_status(call: Fields, analysis: Fields | None, turns: list[Turn] | None) -> tuple[str, bool]:
    """(end status, connected) of an ended call."""
    reason = call.text("disconnection_reason")
    if reason in NOT_CONNECTED:
        return NOT_CONNECTED[reason], False
    if call.text("call_status") == "not_connected":
        return CallStatus.FAILED, False
    if (analysis is not None and analysis.flag("in_voicemail")) or reason == "voicemail_reached":
        return CallStatus.VOICEMAIL, True
    if reason in MACHINE:
        return MACHINE[reason], True
    talked = _conversation(call, analysis, turns)
    if reason is not None and reason.startswith("error_") and not talked:
        return CallStatus.FAILED, True
    # Hang-ups, transfers, time limits, and errors after a conversation took place: what was said counts.
    return (CallStatus.COMPLETED if talked else CallStatus.NO_ANSWER), True


def event_from_call(event_type: str, raw: Fields | dict[str, Any]) -> CallEvent:
    """One CallEvent from a Retell call object (webhook `call` field or get-call answer), every field read
    typed and range-checked (docs/providers.md §1.4)."""
    call = raw if isinstance(raw, Fields) else Fields.of(raw, "call")
    call_id = call.text("call_id", ID, required=True)
    assert call_id is not None  # required
    stage = STAGES.get(event_type, "in_progress")
    analysis = call.obj("call_analysis")
    turns = _turns(call)
    metadata = call.obj("metadata")
    started, ended = call.time("start_timestamp", "ms"), call.time("end_timestamp", "ms")
    event = CallEvent(
        provider=NAME,
        call_id=call_id,
        event_id=f"{event_type}:{call_id}",
        event_type=event_type,
        stage=stage,
        occurred_at=ended if stage in ("ended", "analyzed") else started,
        started_at=started,
        ended_at=ended,
        duration_s=_duration_s(call, started, ended),
        transcript=turns,
        recording_url=call.text("recording_url", URL) or None,
        cost_cents=_cost_cents(call),
        analysis=call.free("call_analysis"),
        lead_id=metadata.ident("lead_id") if metadata else None,
        chain_id=metadata.text("chain_id", SHORT) if metadata else None,
        idempotency_key=metadata.text("idempotency_key", SHORT) if metadata else None,
        extra={k: v for k in ("call_status", "disconnection_reason", "agent_id") if (v := call.text(k)) is not None},
    )
    if analysis is not None:
        _add_analysis(event, analysis)
    if stage in ("ended", "analyzed"):
        _add_ending(event, call, analysis, turns)
    return event


def _duration_ms(call: Fields) -> float | None:
    return call.number("duration_ms", 0, MAX_DURATION_S * 1000)


def _duration_s(call: Fields, started: datetime | None, ended: datetime | None) -> int | None:
    """duration_ms, else end minus start; whole seconds (None when unknown, negative or over a day)."""
    duration_ms = _duration_ms(call)
    if duration_ms is not None:
        return round(duration_ms / 1000)
    if started is None or ended is None:
        return None
    seconds = (ended - started).total_seconds()
    return round(seconds) if 0 <= seconds <= MAX_DURATION_S else None


def _cost_cents(call: Fields) -> int | None:
    """call_cost.combined_cost (cents already), in whole cents."""
    cost = call.obj("call_cost")
    combined = cost.number("combined_cost", 0, MAX_COST_CENTS) if cost else None
    return None if combined is None else int(round(combined))


def _add_analysis(event: CallEvent, analysis: Fields) -> None:
    event.summary = analysis.text("call_summary", TEXT) or None
    sentiment = (analysis.text("user_sentiment") or "").lower()
    event.sentiment = sentiment if sentiment in SENTIMENTS else None


def _add_ending(event: CallEvent, call: Fields, analysis: Fields | None, turns: list[Turn] | None) -> None:
    """End status, answered, classification and finality of an ended or analyzed call."""
    end_status, connected = _end_status(call, analysis, turns)
    event.end_status, event.answered = end_status, end_status == CallStatus.COMPLETED
    if event.answered:
        custom = analysis.obj("custom_analysis_data") if analysis else None
        reason = call.text("disconnection_reason") or ""
        # Structured first: the agent's custom analysis, then what the hang-up says, then the summary's words.
        event.classification = (
            classify_structured(custom.data if custom else None)
            or REASON_CLASSIFICATION.get(reason)
            or classify_summary(event.summary)
        )
    event.final = event.stage == "analyzed" or not connected
