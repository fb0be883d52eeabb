"""`twilio_realtime`: our own audio agent. Twilio places the call and streams its audio (Media Streams) to
the voice bridge, which talks to the OpenAI Realtime model (docs/audio-agent.md). This module is the
telephony half, over the official `twilio` SDK; wire details live in providers.twilio_wire.

Decisions (docs/audio-agent.md §T1/§T3):
* The key handed in is `<AccountSid>:<AuthToken>`, one secret like every provider's API key; the auth
  token also verifies Twilio's webhooks.
* Twilio has no idempotency key. The status callback URL carries our lead id and call key, so Twilio's
  first signed callback (`initiated`) tells the CRM which call our key made; `find_call` asks the CRM
  (`call_lookup`, handed in by the factory) instead of Twilio, whose call resource carries nothing of ours.
  Between the create request and that callback a lost answer stays ambiguous: the ledger's retry waits
  for its backoff first, which outlasts Twilio's first callback in practice (documented limit).
* Recording is on (`Record=true`, both channels), like the other providers' calls: the agent discloses it.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlencode, urlsplit

import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from providers.base import CallRequest, ProviderCall, ProviderRejected, ProviderUnavailable
from providers.events import CallEvent, call_result
from providers.twilio_cost import CostRates, RealtimeUsage, call_cost_cents
from providers.twilio_wire import (
    CALL_SID,
    END_STATUSES,
    LIVE_STAGES,
    NAME,
    SIGNATURE_HEADER,
    dial_twiml,
    event_from_status,
    stream_twiml,
    verify,
)
from providers.wire import InvalidSignature
from workflows.payloads import CallResult

log = logging.getLogger(__name__)
# The SDK logs every request at INFO on this logger: the URL (with List filters such as To=<number>), the
# query, the form and the headers (all but Authorization). Ours logs ids only; the SDK's warnings still show.
SDK_HTTP_LOGGER = "twilio.http_client"

STATUS_EVENTS = ["initiated", "ringing", "answered", "completed"]
# The CRM's public URL of a Twilio request (set by crm.webhooks.twilio from its configuration, never
# from the request): what the signature covers, for parse_webhook's (body, headers) shape.
URL_HEADER = "X-Leadchain-Public-Url"
# call key -> the CallSid the CRM learnt from Twilio's signed callbacks (crm.services.twilio_calls).
CallLookup = Callable[[str], str | None]


@dataclass(frozen=True)
class TwilioPrice:
    """Twilio's own charge for a call, as its call resource reports it: `price` a negative decimal string
    ("-0.01300"), `unit` an ISO 4217 code ("USD")."""

    price: str
    unit: str


def split_key(api_key: str) -> tuple[str, str]:
    """(AccountSid, AuthToken) from the `<AccountSid>:<AuthToken>` secret."""
    account, _, token = api_key.partition(":")
    if not account or not token:
        raise ValueError("the twilio_realtime key must be '<AccountSid>:<AuthToken>'")
    return account, token


def chain_hash(chain_id: str) -> str:
    """The chain id as the bridge sees it: a digest, so the stream's parameters carry no chain name."""
    return hashlib.sha256(chain_id.encode()).hexdigest()[:16]


def _unavailable(what: str, e: Exception) -> ProviderUnavailable:
    return ProviderUnavailable(f"twilio {what}: {type(e).__name__}")


def _refusal(what: str, e: TwilioRestException) -> Exception:
    """A 4xx (not 429) is for good; 429, 5xx ask for a retry (or the failover)."""
    message = f"twilio {what}: HTTP {e.status} code {e.code}"
    if e.status == 429 or e.status >= 500:
        return ProviderUnavailable(message, status=e.status)
    return ProviderRejected(message)


class TwilioRealtimeProvider:
    """VoiceProvider over Twilio Programmable Voice with the bridge's Media Streams agent."""

    name = NAME

    def __init__(
        self,
        *,
        api_key: str,
        base_url: str = "https://api.twilio.com",
        status_callback_url: str | None = None,
        stream_url: str | None = None,
        from_number: str | None = None,
        call_lookup: CallLookup | None = None,
        record: bool = True,
        rates: CostRates | None = None,
        timeout_s: float = 20.0,
    ) -> None:
        self.account_sid, self.auth_token = split_key(api_key)
        self.webhook_secrets = [self.auth_token]
        self.status_callback_url = status_callback_url
        self.stream_url = stream_url
        self.from_number = from_number
        self.call_lookup = call_lookup
        self.record = record
        self.rates = rates or CostRates()
        logging.getLogger(SDK_HTTP_LOGGER).setLevel(logging.WARNING)
        # No retries (the SDK retries only https, and only when asked): a retried create could dial twice.
        self._http = TwilioHttpClient(timeout=timeout_s, max_retries=0)
        self.client = Client(self.account_sid, self.auth_token, http_client=self._http)
        # The SDK keeps the path after the base (`/2010-04-01/Accounts/...`): the sandbox serves it there.
        self.client.api.base_url = base_url.rstrip("/")

    # -- dialling -------------------------------------------------------------------------------

    def stream_parameters(self, request: CallRequest) -> dict[str, str]:
        """What the bridge learns of the call at `start`: ids only (docs/audio-agent.md §T2)."""
        return {
            "direction": "outbound",
            "lead_id": str(request.lead_id),
            "call_key": request.idempotency_key,
            "chain": chain_hash(request.chain_id),
            "language": request.language,
            **({"agent_id": request.agent_id} if request.agent_id else {}),
        }

    def callback_url(self, request: CallRequest) -> str | None:
        if not self.status_callback_url:
            return None
        # Ids only (the chain's id is a keyed hash): the chain learns the result even when the activity
        # that dialled died before it recorded the call.
        query = urlencode({"lead": request.lead_id, "chain": request.chain_id, "key": request.idempotency_key})
        return f"{self.status_callback_url}?{query}"

    def place_call(self, request: CallRequest) -> ProviderCall:
        if not self.stream_url:
            raise ProviderRejected("twilio_realtime has no bridge stream URL configured")
        caller = request.from_number or self.from_number
        if not caller:
            raise ProviderRejected("twilio_realtime needs a from number (the campaign's or the default)")
        kwargs: dict[str, Any] = {
            "to": request.to_number,
            "from_": caller,
            "twiml": stream_twiml(self.stream_url, self.stream_parameters(request)),
        }
        callback = self.callback_url(request)
        if callback:
            kwargs.update(status_callback=callback, status_callback_event=STATUS_EVENTS, status_callback_method="POST")
        if self.record:
            kwargs.update(record=True, recording_channels="dual")
        if request.timeout_s is not None:
            # The SDK takes no per-request timeout, only its HTTP client's: the dial window (the same for
            # every activity attempt, give or take) bounds the next requests too, which is harmless.
            self._http.timeout = max(0.5, request.timeout_s)
        try:
            call = self.client.calls.create(**kwargs)
        except TwilioRestException as e:
            raise _refusal("create call", e) from None
        except (requests.RequestException, TwilioException) as e:
            # Maybe created: the activity's retry asks find_call before dialling again.
            raise _unavailable("create call", e) from None
        if not call.sid:
            raise ProviderUnavailable("twilio answered without a call sid")
        log.info("twilio_realtime call placed: %s lead %s", call.sid, request.lead_id)
        return ProviderCall(NAME, str(call.sid), LIVE_STAGES.get(str(call.status), "queued"))

    def find_call(self, idempotency_key: str) -> ProviderCall | None:
        """The call our key made, as Twilio's signed callbacks told the CRM (see the module's docstring)."""
        if self.call_lookup is None:
            return None
        sid = self.call_lookup(idempotency_key)
        if not sid:
            return None
        try:
            call = self.client.calls(sid).fetch()
        except TwilioRestException as e:
            if e.status == 404:
                return ProviderCall(NAME, sid, "ended")
            raise _refusal("fetch call", e) from None
        except (requests.RequestException, TwilioException) as e:
            raise _unavailable("fetch call", e) from None
        status = str(call.status)
        return ProviderCall(NAME, sid, "ended" if status in END_STATUSES else LIVE_STAGES.get(status, "queued"))

    # -- reading --------------------------------------------------------------------------------

    def _fetch(self, call_id: str) -> Any | None:
        if not CALL_SID.match(call_id):
            return None
        try:
            return self.client.calls(call_id).fetch()
        except TwilioRestException as e:
            if e.status == 404:
                return None
            raise _refusal("fetch call", e) from None
        except (requests.RequestException, TwilioException) as e:
            raise _unavailable("fetch call", e) from None

    def get_call(self, call_id: str) -> CallResult | None:
        call = self._fetch(call_id)
        status = str(call.status) if call is not None else ""
        if call is None or status not in END_STATUSES:
            return None
        end_status, answered = END_STATUSES[status]
        duration = int(call.duration) if str(call.duration or "").isdigit() else 0
        # The classification is the bridge's (it heard the call), recorded by the CRM: not Twilio's to say.
        return call_result(
            NAME, call_id, answered=answered, status=end_status, classification=None, duration_s=duration
        )

    def cost_cents(self, call_id: str, usage: RealtimeUsage | None) -> int | None:
        """Twilio's minutes (its own price once reported) plus the model's tokens; None before the end."""
        call = self._fetch(call_id)
        if call is None or str(call.status) not in END_STATUSES:
            return None
        duration = int(call.duration) if str(call.duration or "").isdigit() else 0
        return call_cost_cents(duration, call.price, usage, self.rates)

    def fetch_price(
        self,
        call_id: str,
        *,
        tries: int = 6,
        first_wait_s: float = 1.0,
        sleep: Callable[[float], None] = time.sleep,
    ) -> TwilioPrice | None:
        """Twilio's price of an ended call. Twilio fills in the call resource's `price` and `price_unit` some
        time after the end (null before), so the call is fetched again after 1, 2, 4 ... s while the price
        is null or Twilio does not answer; None after `tries` fetches (6: about a minute), for a call Twilio
        does not know, or for a price that is not a decimal."""
        wait = first_wait_s
        for attempt in range(tries):
            if attempt:
                sleep(wait)
                wait *= 2
            try:
                call = self._fetch(call_id)
            except ProviderUnavailable:
                continue  # Twilio busy or away: try again after the wait
            except ProviderRejected:
                return None
            if call is None:
                return None
            price, unit = call.price, call.price_unit
            if price is None or str(call.status) not in END_STATUSES:
                continue
            try:
                finite = Decimal(str(price)).is_finite()
            except InvalidOperation:
                finite = False
            if not finite:
                return None
            return TwilioPrice(str(price), str(unit or "USD").upper())
        return None

    def parse_webhook(self, body: bytes, headers: Mapping[str, str]) -> list[CallEvent]:
        return parse_webhook(body, headers, self.webhook_secrets)

    # -- acting on a live call --------------------------------------------------------------------

    def transfer(self, call_id: str, number: str, caller_id: str | None = None) -> None:
        """Hand the callee to a person: the new TwiML ends the stream and dials `number`."""
        try:
            self.client.calls(call_id).update(twiml=dial_twiml(number, caller_id))
        except TwilioRestException as e:
            raise _refusal("transfer", e) from None
        except (requests.RequestException, TwilioException) as e:
            raise _unavailable("transfer", e) from None

    def hang_up(self, call_id: str) -> None:
        try:
            self.client.calls(call_id).update(status="completed")
        except TwilioRestException as e:
            if e.status != 404:
                raise _refusal("hang up", e) from None

    def delete_call(self, call_id: str) -> None:
        """Erase the call at Twilio: its recordings first (DELETE Recordings), then the call log itself
        (Twilio documents DELETE for a call resource once it has ended). Both are idempotent: a 404 is
        already gone."""
        try:
            for recording in self.client.recordings.list(call_sid=call_id):
                try:
                    self.client.recordings(str(recording.sid)).delete()
                except TwilioRestException as e:
                    if e.status != 404:
                        raise
            self.client.calls(call_id).delete()
        except TwilioRestException as e:
            if e.status != 404:
                raise _refusal("delete call", e) from None
        except (requests.RequestException, TwilioException) as e:
            raise _unavailable("delete call", e) from None


def parse_webhook(body: bytes, headers: Mapping[str, str], secrets: Iterable[str]) -> list[CallEvent]:
    """A status callback, verified against the public URL in URL_HEADER (see crm.webhooks.twilio)."""
    url = headers.get(URL_HEADER) or ""
    try:
        form = parse_qs(body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise InvalidSignature("body is not UTF-8 form data") from None
    if not url or not verify(url, form, headers.get(SIGNATURE_HEADER) or "", secrets):
        raise InvalidSignature("bad or missing X-Twilio-Signature")
    query = dict(parse_qsl(urlsplit(url).query))
    lead = query.get("lead", "")
    return [
        event_from_status(
            form,
            lead_id=int(lead) if lead.isdigit() and len(lead) < 10 else None,
            call_key=query.get("key"),
            chain_id=query.get("chain") or None,
        )
    ]
