"""Twilio Programmable Voice on the wire (docs/audio-agent.md §T2/§T5): the TwiML we answer, the
X-Twilio-Signature check, and status callbacks read into CallEvents.

Wire facts relied on (docs/audio-agent.md §T4/§T5, twilio 9.13 `request_validator.py`):

* callbacks are `application/x-www-form-urlencoded`; a name may repeat;
* the signature is base64 HMAC-SHA1(auth token, the full URL Twilio called + every form name and value in
  sorted order); validators try the URL with and without the default port. There is NO timestamp, so a
  captured callback verifies for ever: replay protection is our at-most-once processing keyed by
  CallSid + CallStatus + SequenceNumber (crm.services.deliveries);
* call statuses: queued, initiated (callbacks only), ringing, in-progress, completed, busy, failed,
  no-answer, canceled; `CallDuration` (seconds, a string) comes with `completed`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

from twilio.request_validator import RequestValidator
from twilio.twiml.voice_response import Connect, Dial, VoiceResponse

from providers.events import CallEvent
from providers.parsing import EARLIEST, LATEST, MAX_DB_INT, MAX_DURATION_S, FieldError
from workflows.vocabulary import CallStatus

NAME = "twilio_realtime"
SIGNATURE_HEADER = "X-Twilio-Signature"
CALL_SID = re.compile(r"^CA[0-9a-f]{32}$")
ACCOUNT_SID = re.compile(r"^AC[0-9a-f]{32}$")
# Our call key (the ledger's idempotency key) travels in the status callback URL: chain ids, digits, ':'.
CALL_KEY = re.compile(r"^[A-Za-z0-9:._-]{1,200}$")

# Twilio status -> our stage while the call runs.
LIVE_STAGES = {"queued": "queued", "initiated": "queued", "ringing": "ringing", "in-progress": "in_progress"}
# Twilio status -> (our end status, answered) once the call is over. `canceled` is a call we hung up
# (or updated to canceled) before it was answered: nobody was reached, and nothing retries it better
# than the chain's own retry, so it reads as failed.
END_STATUSES = {
    "completed": (CallStatus.COMPLETED, True),
    "busy": (CallStatus.BUSY, False),
    "no-answer": (CallStatus.NO_ANSWER, False),
    "failed": (CallStatus.FAILED, False),
    "canceled": (CallStatus.FAILED, False),
}
STATUSES = tuple(LIVE_STAGES) + tuple(END_STATUSES)
# What Twilio's answering-machine detection says of a machine (`AnsweredBy`).
MACHINE = ("machine_start", "machine_end_beep", "machine_end_silence", "machine_end_other", "fax")


# ---------------------------------------------------------------------------------------- TwiML


def stream_twiml(stream_url: str, parameters: Mapping[str, str]) -> str:
    """`<Connect><Stream>`: the call's audio both ways over the bridge's WebSocket. Values ride in
    `<Parameter>` (Twilio refuses a Stream URL with a query string, error 31922), and only ids: no name
    or phone number ever goes to the bridge this way (docs/audio-agent.md §T2)."""
    response = VoiceResponse()
    connect = Connect()
    stream = connect.stream(url=stream_url)
    for name, value in parameters.items():
        stream.parameter(name=name, value=value)
    response.append(connect)
    return str(response)


def dial_twiml(number: str, caller_id: str | None = None) -> str:
    """`<Dial>` a person: updating a live call with it ends the stream and bridges the callee through."""
    response = VoiceResponse()
    dial = Dial(caller_id=caller_id) if caller_id else Dial()
    dial.number(number)
    response.append(dial)
    return str(response)


# ---------------------------------------------------------------------------------------- signing


class _Form(dict[str, list[str]]):
    """A form whose names may repeat, as the SDK's validator reads one (its `getlist`)."""

    def getlist(self, name: str) -> list[str]:
        return self[name]


def sign(token: str, url: str, params: Mapping[str, str | Sequence[str]]) -> str:
    """X-Twilio-Signature for a form POST to `url` (the SDK's own computation)."""
    form = _Form({k: [v] if isinstance(v, str) else list(v) for k, v in params.items()})
    return str(RequestValidator(token).compute_signature(url, form))


def verify(url: str, params: Mapping[str, Sequence[str]], signature: str, tokens: Iterable[str]) -> bool:
    """True when one of the auth tokens (two during a rotation) signed this URL and form. A missing or
    odd signature is a failed one, never an error."""
    if not signature or not signature.isascii():
        return False
    lists = _Form({k: list(v) for k, v in params.items()})
    ok = False
    for token in tokens:
        if token:
            ok |= bool(RequestValidator(token).validate(url, lists, signature))
    return ok


# ---------------------------------------------------------------------------------------- reading


def _one(form: Mapping[str, Sequence[str]], name: str, *, required: bool = False) -> str | None:
    values = form.get(name) or []
    if len(values) > 1:
        raise FieldError(name, "is given more than once")
    value = values[0] if values else None
    if required and not value:
        raise FieldError(name, "is required")
    if value is not None and (len(value) > 200 or "\x00" in value):
        raise FieldError(name, "is too long or holds a NUL")
    return value or None


def _count(form: Mapping[str, Sequence[str]], name: str, high: int) -> int | None:
    value = _one(form, name)
    if value is None:
        return None
    if not value.isascii() or not value.isdigit() or int(value) > high:
        raise FieldError(name, f"must be a whole number from 0 to {high}")
    return int(value)


def _timestamp(stamp: str) -> datetime:
    try:
        moment = parsedate_to_datetime(stamp)
    except (TypeError, ValueError, IndexError):
        raise FieldError("Timestamp", "must be an RFC 2822 date") from None
    # "-0000" reads as a naive time; RFC 2822 says it is UTC all the same.
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if not EARLIEST <= moment <= LATEST:
        raise FieldError("Timestamp", "is out of range")
    return moment


def call_sid(form: Mapping[str, Sequence[str]]) -> str:
    sid = _one(form, "CallSid", required=True) or ""
    if not CALL_SID.match(sid):
        raise FieldError("CallSid", "must be CA followed by 32 hex digits")
    return sid


def event_from_status(
    form: Mapping[str, Sequence[str]], *, lead_id: int | None, call_key: str | None, chain_id: str | None = None
) -> CallEvent:
    """One CallEvent from a status callback's form. `lead_id` and `call_key` come from the callback URL we
    set when dialling (signed along with the form)."""
    sid = call_sid(form)
    status = (_one(form, "CallStatus", required=True) or "").lower()
    if status not in STATUSES:
        raise FieldError("CallStatus", "must be one of " + ", ".join(STATUSES))
    sequence = _count(form, "SequenceNumber", MAX_DB_INT)
    duration = _count(form, "CallDuration", MAX_DURATION_S)
    stamp = _one(form, "Timestamp")
    occurred = _timestamp(stamp) if stamp else None
    answered_by = (_one(form, "AnsweredBy") or "").lower()
    ended = status in END_STATUSES
    event = CallEvent(
        provider=NAME,
        call_id=sid,
        # No timestamp in the signature: this key is what makes a replay change nothing.
        event_id=f"status:{sid}:{status}:{sequence if sequence is not None else '-'}",
        event_type=f"call_{status}",
        stage="ended" if ended else LIVE_STAGES[status],
        occurred_at=occurred,
        final=ended,
        lead_id=lead_id,
        chain_id=chain_id,
        idempotency_key=call_key,
        extra={"twilio_status": status, **({"answered_by": answered_by} if answered_by else {})},
    )
    if ended:
        end_status, answered = END_STATUSES[status]
        if status == "completed" and answered_by in MACHINE:
            end_status, answered = CallStatus.VOICEMAIL, False
        event.end_status, event.answered = end_status, answered
        event.duration_s = duration or 0
        event.ended_at = occurred
    return event
