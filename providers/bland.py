"""Bland (docs.bland.ai, docs/providers.md §3) over plain httpx: there is no official Python SDK.

Wire facts this adapter relies on (docs/providers.md §3):

* auth header `authorization: <raw key>`, no `Bearer`;
* `POST /v1/calls` answers `{"status":"success","call_id",...}`; a validation error is 400 with
  `{"status":"error","message","errors":[...]}`;
* `GET /v1/calls/{id}` and the post-call webhook carry the same flat call-details object:
  `call_length` in MINUTES (float), `corrected_duration` in SECONDS as a STRING, `price` in DOLLARS,
  `completed` (bool) is the authoritative "done" flag;
* `GET /v1/calls` lists calls (filters: from_number, to_number, from/to index range, limit, ascending,
  sort_by); its items carry no `metadata`, so a look-up by our key reads each candidate's details;
* the webhook is signed with `X-Webhook-Signature` = lowercase hex HMAC-SHA256(signing secret, raw body),
  with NO timestamp.

Mapping of our terms onto Bland's:

* `CallRequest.agent_id` is a Bland **pathway_id** (the campaign's agent is a pathway built in Bland's
  portal). Without one, the call runs on `task` (a prompt): this adapter's `task` argument, else a short
  default that only states the disclosure and goal.
* `CallRequest.variables` (strings) go to `request_data` (usable as `{{first_name}}` in the pathway);
  `CallRequest.metadata()` (lead_id, chain_id, idempotency_key) goes to `metadata`, which Bland returns
  unchanged on the call and the webhook: that is how webhooks and look-ups map back to lead and chain.
* The outcome and sentiment come from `analysis`, filled by Bland from the `analysis_schema` sent
  with every call (keys `outcome` and `sentiment`); `variables.outcome` (a pathway may extract it) and
  the summary text are fallbacks (events.classify).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import httpx

from providers.base import CallRequest, ProviderCall, ProviderRejected, ProviderUnavailable, retry_after_seconds
from providers.events import CLASSIFICATIONS, SENTIMENTS, CallEvent, Turn, classify, result_from_event
from providers.parsing import ID, MAX_COST_CENTS, MAX_DURATION_S, TEXT, URL, FieldError, Fields, cents, decode_object
from providers.wire import InvalidSignature, MalformedPayload
from workflows.payloads import CallResult
from workflows.vocabulary import CallStatus

log = logging.getLogger(__name__)

NAME = "bland"
SIGNATURE_HEADER = "X-Webhook-Signature"
# Bland's `language` values for our two languages (docs.bland.ai send-call: "en-US", "de", ...).
LANGUAGES = {"de": "de", "en": "en-US", "fr": "fr"}
ANALYSIS_SCHEMA = {
    "outcome": "one of: " + ", ".join(CLASSIFICATIONS) + " (empty when the callee was not reached)",
    "sentiment": "the callee's overall sentiment, one of: positive, neutral, negative",
}
ANALYSIS_PROMPT = (
    "Classify the call's outcome for the sales team and the callee's sentiment. "
    "Use exactly one of the listed values for each field."
)
DEFAULT_TASK = (
    "You are the digital assistant of the company, an AI system. Say so at the start and that the "
    "call is recorded. Ask whether the callee would like an appointment about their enquiry, and "
    "book one if they agree. If they ask not to be called again, confirm and end the call."
)

# Bland `status` / `queue_status` values (docs/providers.md §3.3) -> our stage while the call is not done.
_LIVE_STAGES = {
    "queued": "queued",
    "pre_queue": "queued",
    "ringing": "ringing",
    "started": "in_progress",
    "in-progress": "in_progress",
    "in_progress": "in_progress",
    "allocated": "queued",
}
_NOT_CONNECTED = {"no-answer": CallStatus.NO_ANSWER, "no_answer": CallStatus.NO_ANSWER, "busy": CallStatus.BUSY}
_FAILED = {"failed", "canceled", "cancelled", "complete_error", "pre_queue_error", "queue_error", "call_error", "error"}
STATUS_LEN = 64  # Bland status strings are short; the delivery key holds one
_SPEAKERS = {"assistant": "agent", "robot": "agent", "agent": "agent", "user": "callee"}


# ---------------------------------------------------------------------------------------- signing


def sign(secret: str, body: bytes) -> str:
    """The value of X-Webhook-Signature for `body` (docs/providers.md §3.6)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(body: bytes, headers: Mapping[str, str], secrets: Iterable[str]) -> bool:
    """True when any of the active secrets (several during rotation) signed exactly these bytes.
    Constant-time compare; a missing or non-ASCII header is a failed signature, never an error."""
    given = (headers.get(SIGNATURE_HEADER) or "").strip().lower()
    if not given:
        return False
    try:
        given_bytes = given.encode("ascii")
    except UnicodeEncodeError:
        return False
    ok = False
    for secret in secrets:
        if secret:
            ok |= hmac.compare_digest(sign(secret, body).encode("ascii"), given_bytes)
    return ok


def _secret_list(secret: str | Iterable[str] | None) -> list[str]:
    if secret is None:
        return []
    if isinstance(secret, str):
        return [s for s in secret.replace(",", " ").split() if s]
    return [s for s in secret if s]


# ---------------------------------------------------------------------------------------- normalising


def duration_seconds(details: Fields) -> int | None:
    """Seconds: `corrected_duration` (seconds, a string) when present, else `call_length` (MINUTES)."""
    corrected = details.number("corrected_duration", 0, MAX_DURATION_S, numeric_text=True)
    if corrected is not None:
        return int(Decimal(str(corrected)).to_integral_value(ROUND_HALF_UP))
    minutes = details.number("call_length", 0, MAX_DURATION_S / 60)
    return None if minutes is None else int((Decimal(str(minutes)) * 60).to_integral_value(ROUND_HALF_UP))


def price_cents(details: Fields) -> int | None:
    """`price` is in US dollars (a float such as 0.068): whole cents, rounded half up."""
    return cents(details.number("price", 0, MAX_COST_CENTS / 100))


def _end_status(details: Fields, duration_s: int | None) -> tuple[str, bool]:
    """(our end status, answered) for a finished call."""
    status = (details.text("status", STATUS_LEN) or details.text("queue_status", STATUS_LEN) or "").lower()
    answered_by = (details.text("answered_by") or "").lower()
    if status in _NOT_CONNECTED:
        return _NOT_CONNECTED[status], False
    if status in _FAILED or (details.text("error_message", TEXT) and not duration_s):
        return CallStatus.FAILED, False
    if answered_by == "voicemail":
        return CallStatus.VOICEMAIL, False
    if answered_by in ("no-answer", "no_answer"):
        return CallStatus.NO_ANSWER, False
    if answered_by == "human" or duration_s:
        return CallStatus.COMPLETED, True
    # Done, nothing connected and no reason given: nobody picked up.
    return CallStatus.NO_ANSWER, False


def _transcript(details: Fields, started: datetime | None) -> list[Turn] | None:
    items = details.items("transcripts")
    if items is None:
        return None
    turns = []
    for item in items:
        entry = Fields.of(item, "transcripts[]")
        speaker = _SPEAKERS.get((entry.text("user") or "").lower())
        text = entry.text("text", TEXT)
        if speaker is None or text is None:
            continue  # agent-action entries are tool calls, not speech
        at = entry.time("created_at")
        turns.append(
            Turn(speaker=speaker, text=text, at_s=round((at - started).total_seconds(), 3) if at and started else None)
        )
    return turns


def event_from_details(raw: Fields | Mapping[str, Any]) -> CallEvent:
    """One CallEvent from Bland's flat call-details object (GET /v1/calls/{id} or the post-call webhook),
    every field read typed and range-checked (docs/providers.md §3.3)."""
    details = raw if isinstance(raw, Fields) else Fields.of(dict(raw), "")
    call_id = details.text("call_id", ID) or details.text("c_id", ID)
    if not call_id:
        raise FieldError("call_id", "is required")
    status = (details.text("status", STATUS_LEN) or "").lower() or None
    done = details.flag("completed") is True or (status or "") in (
        _FAILED | set(_NOT_CONNECTED) | {"completed", "complete"}
    )
    meta = details.obj("metadata")
    started = details.time("started_at")
    ended = details.time("end_at")
    event = CallEvent(
        provider=NAME,
        call_id=call_id,
        # Bland signs without a timestamp, so a captured body stays valid forever: replay protection is
        # the durable delivery record (crm.services.deliveries, unique per provider and event_id). One
        # post-call webhook per call, and its `resend` repeats the same body, so call id plus final status
        # names the delivery; a replay finds its record and changes nothing.
        event_id=f"call:{call_id}:{status or 'completed'}",
        event_type="post_call" if done else f"call_{status or 'update'}",
        stage="analyzed" if done else _LIVE_STAGES.get(status or "", "queued"),
        occurred_at=ended or details.time("created_at"),
        started_at=started,
        ended_at=ended,
        transcript=_transcript(details, started),
        summary=details.text("summary", TEXT) or None,
        recording_url=details.text("recording_url", URL) or None,
        cost_cents=price_cents(details),
        analysis=details.free("analysis"),
        final=done,
        lead_id=meta.ident("lead_id") if meta else None,
        chain_id=(meta.text("chain_id") or None) if meta else None,
        idempotency_key=(meta.text("idempotency_key") or None) if meta else None,
        extra=_extra(details),
    )
    if done:
        _add_outcome(event, details)
    return event


def _extra(details: Fields) -> dict[str, Any]:
    names = ("call_ended_by", "error_message", "answered_by", "disposition_tag")
    return {k: v for k in names if (v := details.text(k, TEXT)) is not None}


def _add_outcome(event: CallEvent, details: Fields) -> None:
    """What a finished call adds: end status, answered, duration, sentiment and classification."""
    duration = duration_seconds(details)
    end_status, answered = _end_status(details, duration)
    event.end_status, event.answered = end_status, answered
    event.duration_s = duration if duration is not None else 0
    analysis = details.obj("analysis")
    sentiment = ((analysis.text("sentiment") if analysis else None) or "").lower()
    event.sentiment = sentiment if sentiment in SENTIMENTS else None
    if answered:
        variables = details.obj("variables")
        # The analysis_schema's answer first, a pathway's extracted variables next, the summary's words last.
        event.classification = classify(
            event.summary, analysis.data if analysis else None, variables.data if variables else None
        )


def events_from_payload(payload: Any) -> list[CallEvent]:
    """The one final CallEvent of a post-call webhook body (the flat call-details object, §3.5)."""
    return [event_from_details(Fields.of(payload, ""))]


def parse_webhook(body: bytes, headers: Mapping[str, str], secrets: Sequence[str]) -> list[CallEvent]:
    """Verify on the raw bytes (any active secret), then read the flat post-call object."""
    if not verify_signature(body, headers, _secret_list(secrets)):
        raise InvalidSignature("bad or missing X-Webhook-Signature")
    return events_from_payload(decode_object(body, "").data)


# ---------------------------------------------------------------------------------------- the client


def _retry_after(response: httpx.Response) -> float | None:
    return retry_after_seconds(response.headers)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        parts = [str(body.get("message") or "")] + [str(e) for e in body.get("errors") or []]
        return "; ".join(p for p in parts if p)[:300] or response.reason_phrase
    return str(body)[:200]


class BlandProvider:
    """VoiceProvider for Bland. Thread-safe (one httpx.Client, shared by the activity threads)."""

    name = NAME

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "https://api.bland.ai",
        webhook_url: str | None = None,
        webhook_secret: str | Iterable[str] | None = None,
        task: str | None = None,
        max_duration_min: int = 15,
        find_scan_limit: int = 100,
        timeout: httpx.Timeout | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.webhook_url = webhook_url
        self.webhook_secrets = _secret_list(webhook_secret)
        self.task = task or DEFAULT_TASK
        self.max_duration_min = max_duration_min  # Bland's max_duration is in minutes
        self.find_scan_limit = find_scan_limit
        # Create answers fast; a slow answer must not hold the activity past its start-to-close timeout.
        self._client = httpx.Client(
            base_url=base_url.rstrip("/"),
            transport=transport or httpx.HTTPTransport(retries=0),
            timeout=timeout or httpx.Timeout(20.0, connect=5.0),
            headers={"authorization": api_key, "accept": "application/json", "user-agent": "leadchain"},
        )

    def close(self) -> None:
        self._client.close()

    # -- requests ------------------------------------------------------------------------------

    def _send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One attempt, no retries: a retried POST could dial twice (Temporal retries the activity,
        which looks the call up by our key first)."""
        try:
            response = self._client.request(method, path, **kw)
        except httpx.TimeoutException as e:
            # For a POST the call may have been queued: the activity's retry looks it up before dialling.
            raise ProviderUnavailable(f"bland {method} {path}: timed out ({type(e).__name__})") from None
        except httpx.HTTPError as e:
            raise ProviderUnavailable(f"bland {method} {path}: {type(e).__name__}") from None
        if response.status_code == 429 or response.status_code >= 500:
            raise ProviderUnavailable(
                f"bland {method} {path}: HTTP {response.status_code} {_message(response)}",
                retry_after_s=_retry_after(response),
                status=response.status_code,
            )
        return response

    def _json(self, response: httpx.Response) -> Any:
        try:
            return response.json()
        except ValueError:
            raise ProviderUnavailable(f"bland answered HTTP {response.status_code} without JSON") from None

    def place_call(self, request: CallRequest) -> ProviderCall:
        body: dict[str, Any] = {"phone_number": request.to_number}
        if request.from_number:
            body["from"] = request.from_number
        if request.agent_id:
            body["pathway_id"] = request.agent_id
        else:
            body["task"] = self.task
        body.update(
            {
                "language": LANGUAGES.get(request.language, request.language),
                "request_data": dict(request.variables),
                "metadata": request.metadata(),
                "record": True,
                "wait_for_greeting": True,
                "answered_by_enabled": True,
                "max_duration": self.max_duration_min,
                "analysis_schema": ANALYSIS_SCHEMA,
                "analysis_prompt": ANALYSIS_PROMPT,
            }
        )
        if self.webhook_url:
            body["webhook"] = self.webhook_url
        extra: dict[str, Any] = {}
        if request.timeout_s is not None:
            # Each phase's limit is a third of what is left: the whole request ends inside it.
            extra["timeout"] = httpx.Timeout(request.timeout_s / 3)
        response = self._send("POST", "/v1/calls", json=body, **extra)
        if response.status_code >= 400:
            raise ProviderRejected(f"bland refused the call: HTTP {response.status_code} {_message(response)}")
        data = self._json(response)
        if not isinstance(data, dict) or data.get("status") != "success":
            raise ProviderRejected(f"bland refused the call: {_message(response)}")
        call_id = data.get("call_id")
        if not call_id:
            # Accepted but unnamed: unknown whether it dials. Retry; the retry looks up our key first.
            raise ProviderUnavailable("bland answered success without a call_id")
        return ProviderCall(NAME, str(call_id), "queued")

    def _details(self, call_id: str) -> dict[str, Any] | None:
        response = self._send("GET", f"/v1/calls/{call_id}")
        if response.status_code in (400, 404):
            return None
        if response.status_code >= 400:
            raise ProviderRejected(f"bland GET call: HTTP {response.status_code} {_message(response)}")
        data = self._json(response)
        return data if isinstance(data, dict) else None

    def find_call(self, idempotency_key: str) -> ProviderCall | None:
        """The call placed with our key: the newest calls first, each one's metadata checked (the list
        itself carries no metadata; the details of a list item that does carry it are not fetched)."""
        response = self._send(
            "GET", "/v1/calls", params={"limit": self.find_scan_limit, "sort_by": "created_at", "ascending": "false"}
        )
        if response.status_code >= 400:
            raise ProviderRejected(f"bland list calls: HTTP {response.status_code} {_message(response)}")
        data = self._json(response)
        calls = data.get("calls") if isinstance(data, dict) else None
        for item in calls or []:
            call_id = item.get("call_id") or item.get("c_id")
            if not call_id:
                continue
            meta = item.get("metadata") if "metadata" in item else (self._details(call_id) or {}).get("metadata")
            if isinstance(meta, Mapping) and meta.get("idempotency_key") == idempotency_key:
                done = item.get("completed") is True
                return ProviderCall(NAME, str(call_id), "ended" if done else "queued")
        return None

    def get_call(self, call_id: str) -> CallResult | None:
        details = self._details(call_id)
        if details is None:
            return None
        try:
            event = event_from_details(details)
        except MalformedPayload:
            return None
        return result_from_event(event) if event.final else None

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[CallEvent]:
        return parse_webhook(body, headers, self.webhook_secrets)

    def delete_call(self, call_id: str) -> None:
        raise NotImplementedError(
            "Bland documents no endpoint that deletes a call's transcript, recording or details "
            "(docs/providers.md §3 lists send, details, list, stop and post-call webhook resend only); "
            "erasure at Bland has to be requested from Bland (account/support), so it is tracked by hand"
        )
