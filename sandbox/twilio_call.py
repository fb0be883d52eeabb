"""One call in the sandbox's Twilio (sandbox.twilio): its resource as Twilio shows it, its life, its signed
status callbacks and, when its TwiML is `<Connect><Stream url>`, its Media Stream (sandbox.twilio_media).

Life of an outbound call, one `step_s` apart: queued → initiated (callback) → ringing → the persona answers
(in-progress, "answered" callback) or not (no-answer / busy, the end). Answered with a Stream: the media
client runs the persona's script against the stream URL until either side stops, then the call completes.
Answered without one: it completes one more step later. `CallDuration` is the persona's duration on the
simulated clock (like the other providers' sandboxes), or the stream's real length when one ran.

Status callbacks are form posts signed as Twilio signs them: base64 HMAC-SHA1(auth token, the callback URL
followed by every field name and value, names sorted) in `X-Twilio-Signature`."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import urlencode

from sandbox import personas
from sandbox.context import Sandbox
from sandbox.dispatcher import Delivery
from sandbox.state import SandboxCall

PROVIDER = "twilio_realtime"
API_VERSION = "2010-04-01"
FORM = "application/x-www-form-urlencoded"
CALLBACK_WAIT_S = 5.0  # the longest a call's next callback waits for the previous one's answer
END = ("completed", "busy", "no-answer", "failed", "canceled")
# Which progress event each status is (StatusCallbackEvent names what the caller asked for).
EVENT_OF = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"} | {s: "completed" for s in END}


def sid(prefix: str) -> str:
    return prefix + secrets.token_hex(16)


def rfc2822(moment: float) -> str:
    return format_datetime(datetime.fromtimestamp(moment, tz=UTC))


def signature(token: str, url: str, fields: list[tuple[str, str]]) -> str:
    """What Twilio puts in X-Twilio-Signature for a form post of `fields` to `url`."""
    data = url + "".join(name + value for name, value in sorted(fields))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


@dataclass
class Stream:
    url: str
    parameters: dict[str, str]


def stream_of(twiml: str) -> Stream | None:
    """The `<Connect><Stream url>` of a TwiML document, with its `<Parameter>`s; None without one."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return None
    node = root.find("./Connect/Stream")
    if node is None or not node.get("url"):
        return None
    params = {p.get("name", ""): p.get("value", "") for p in node.findall("Parameter") if p.get("name")}
    return Stream(node.get("url", ""), params)


def dial_of(twiml: str) -> str | None:
    """The number a `<Dial>` TwiML hands the call to (a live transfer)."""
    try:
        root = ET.fromstring(twiml)
    except ET.ParseError:
        return None
    node = root.find("./Dial")
    if node is None:
        return None
    number = node.find("Number")
    return ((number.text if number is not None else node.text) or "").strip() or None


@dataclass
class TwilioCall:
    call: SandboxCall
    account_sid: str
    from_number: str
    direction: str = "outbound-api"
    status: str = "queued"
    created: float = field(default_factory=time.time)
    started: float | None = None
    ended: float | None = None
    duration_s: int | None = None
    sequence: int = 0
    transferred_to: str | None = None
    recordings: list[dict[str, Any]] = field(default_factory=list)
    media: Any = None  # the sandbox.twilio_media thread, while one runs
    # Twilio fills in `price` some time after the end (null before): this many seconds here.
    price_delay_s: float = 0.0
    fetches: int = 0  # GETs of this call resource (a price poller's tries show here)
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def sid(self) -> str:
        return self.call.call_id

    def uri(self, suffix: str = "") -> str:
        return f"/{API_VERSION}/Accounts/{self.account_sid}/Calls/{self.sid}{suffix}.json"

    def price(self) -> str | None:
        """Twilio's price of a completed call: null until `price_delay_s` after the end, then the started
        minutes at 1.3 ct as a negative decimal string with five places ("-0.02600"), as Twilio reports a
        charge (the CRM's configured estimate is 1.4 ct: the two differ on purpose). Calls that were not
        answered stay null here (nothing billed)."""
        if self.status != "completed" or self.duration_s is None or self.ended is None:
            return None
        if time.time() < self.ended + self.price_delay_s:
            return None
        return f"-{-(-self.duration_s // 60) * 0.013:.5f}"

    def resource(self) -> dict[str, Any]:
        """The call resource as Twilio's API answers it (snake_case, RFC 2822 dates, strings for numbers)."""
        return {
            "sid": self.sid,
            "account_sid": self.account_sid,
            "parent_call_sid": None,
            "date_created": rfc2822(self.created),
            "date_updated": rfc2822(time.time()),
            "to": self.call.to_number,
            "to_formatted": self.call.to_number,
            "from": self.from_number,
            "from_formatted": self.from_number,
            "phone_number_sid": None,
            "status": self.status,
            "start_time": rfc2822(self.started) if self.started else None,
            "end_time": rfc2822(self.ended) if self.ended else None,
            "duration": str(self.duration_s) if self.duration_s is not None else None,
            "price": self.price(),
            "price_unit": "USD",
            "direction": self.direction,
            "answered_by": None,
            "api_version": API_VERSION,
            "forwarded_from": None,
            "group_sid": None,
            "caller_name": None,
            "queue_time": "0",
            "trunk_sid": None,
            "uri": self.uri(),
            "subresource_uris": {
                name: self.uri(f"/{name.title().replace('_', '')}")
                for name in ("notifications", "recordings", "payments", "events", "siprec", "streams")
            },
        }


class CallLife:
    """Runs one call: its status steps, callbacks and media, on a thread of its own."""

    def __init__(self, sandbox: Sandbox, call: TwilioCall, token: str, start_media: Callable[..., Any]) -> None:
        self.sandbox, self.call, self.token, self.start_media = sandbox, call, token, start_media
        self.request = call.call.request
        self.stop = threading.Event()

    def start(self) -> None:
        threading.Thread(target=self.run, daemon=True, name=f"sandbox-twilio-{self.call.sid}").start()

    def callback(self, status: str) -> None:
        """The signed status callback for `status`, if the call asked for that event."""
        url = self.request.get("StatusCallback")
        wanted = self.request.get("StatusCallbackEvent") or ["completed"]
        if not url or EVENT_OF.get(status) not in wanted:
            return
        call = self.call
        with call.lock:
            sequence = call.sequence  # Twilio numbers a call's callbacks from 0
            call.sequence += 1
        fields = [
            ("AccountSid", call.account_sid),
            ("ApiVersion", API_VERSION),
            ("CallSid", call.sid),
            ("CallStatus", status),
            ("CallbackSource", "call-progress-events"),
            ("Called", call.call.to_number),
            ("Caller", call.from_number),
            ("Direction", call.direction),
            ("From", call.from_number),
            ("SequenceNumber", str(sequence)),
            ("Timestamp", rfc2822(time.time())),
            ("To", call.call.to_number),
        ]
        if status in END and call.duration_s is not None:
            fields += [("CallDuration", str(call.duration_s)), ("Duration", str(-(-call.duration_s // 60)))]
        body = urlencode(fields).encode()
        sig = signature(self.token, url, fields)
        delivery = Delivery(url, body, lambda _b: {"X-Twilio-Signature": sig}, content_type=FORM)
        self.sandbox.dispatcher.send_sequence([(0.0, delivery)], self.sandbox.state.mode(PROVIDER))
        # One call's callbacks go out one after another (the next once this one is answered), as one call's
        # events do in the other providers' sandboxes; the webhook modes may still reorder or repeat them.
        deadline = time.monotonic() + CALLBACK_WAIT_S
        while delivery not in self.sandbox.dispatcher.sent and time.monotonic() < deadline:
            time.sleep(0.005)

    def set_status(self, status: str) -> None:
        with self.call.lock:
            if self.call.status in END:
                return
            self.call.status = status
            self.call.call.status = {"in-progress": "in_progress", "queued": "queued", "ringing": "ringing"}.get(
                status, "ended"
            )
        self.callback(status)

    def wait(self, steps: float = 1.0) -> bool:
        """Sleep `steps` steps; False when the call was ended meanwhile (hung up by the API)."""
        self.stop.wait(self.sandbox.config.step_s * steps)
        return self.call.status not in END

    def run(self) -> None:
        persona = personas.PERSONAS[self.call.call.persona]
        self.callback("initiated")
        if not self.wait():
            return
        self.set_status("ringing")
        if not self.wait():
            return
        if not persona.answered:
            self.finish({"busy": "busy"}.get(persona.end_status, "no-answer"), 0)
            return
        self.call.started = time.time()
        self.set_status("in-progress")
        stream = stream_of(str(self.request.get("Twiml") or ""))
        if stream is not None:
            self.run_media(stream, persona)
        elif not self.wait():
            return
        length = persona.duration_s if stream is None else max(1, round(time.time() - (self.call.started or 0)))
        self.finish("completed", length)

    def run_media(self, stream: Stream, persona: personas.Persona) -> None:
        thread = self.start_media(
            stream.url,
            account_sid=self.call.account_sid,
            call_sid=self.call.sid,
            stream_sid=sid("MZ"),
            custom_parameters=stream.parameters,
            persona=self.sandbox.twilio_scripts.get(self.call.call.to_number, persona),
            language=self.call.call.language,
            scripts=self.sandbox.call_scripts,
        )
        self.call.media = thread
        thread.join()

    def finish(self, status: str, duration_s: int) -> None:
        call = self.call
        with call.lock:
            if call.status in END:
                return
            call.ended = time.time()
            call.duration_s = duration_s
            if status == "completed" and str(self.request.get("Record", "")).lower() == "true":
                call.recordings.append(recording(call, duration_s))
        self.set_status(status)


def recording(call: TwilioCall, duration_s: int) -> dict[str, Any]:
    rec_sid = sid("RE")
    return {
        "sid": rec_sid,
        "account_sid": call.account_sid,
        "call_sid": call.sid,
        "api_version": API_VERSION,
        "date_created": rfc2822(time.time()),
        "date_updated": rfc2822(time.time()),
        "start_time": rfc2822(call.started or call.created),
        "duration": str(duration_s),
        "channels": 2,
        "source": "OutboundAPI",
        "status": "completed",
        "price": None,
        "price_unit": "USD",
        "uri": f"/{API_VERSION}/Accounts/{call.account_sid}/Recordings/{rec_sid}.json",
    }
