"""Twilio Programmable Voice in the sandbox (issue 22; docs/audio-agent.md §T8), served under
/twilio_realtime so the official SDK works with `client.api.base_url = <sandbox>/twilio_realtime`:

* `POST /2010-04-01/Accounts/{AC}/Calls.json` (form: To, From, Twiml or Url, StatusCallback,
  StatusCallbackEvent repeated, Record, ...), `GET .../Calls.json` (To, From, Status filters; a page),
  `GET|POST|DELETE .../Calls/{CA}.json` (POST: Twiml, Url or Status=completed|canceled);
* `GET .../Recordings.json` (CallSid filter), `DELETE .../Recordings/{RE}.json`;
* Basic auth AccountSid:AuthToken; errors in Twilio's shape {code, message, more_info, status};
* a completed call's `price` (with `price_unit` "USD") is null until `price_delay_s` after its end, as
  Twilio fills it in some time later; `POST /twilio_realtime/price-delay {"seconds": s}` sets that delay
  for calls created afterwards (default PRICE_DELAY_S);
* `POST /twilio_realtime/ring` (the sandbox's own control) rings one of OUR numbers: a signed post to the
  CRM's /webhooks/twilio/voice, then the returned TwiML is followed (a `<Connect><Stream>` runs the media client).

A call's life, callbacks and media: sandbox.twilio_call."""

from __future__ import annotations

import re
import time
from typing import Any
from urllib.parse import urlencode

import httpx
from flask import Blueprint, Response, jsonify, request
from flask.typing import ResponseReturnValue

from sandbox import personas, twilio_media
from sandbox.call_scripts import SCENARIOS
from sandbox.context import Sandbox
from sandbox.state import SandboxCall, now_ms
from sandbox.twilio_call import API_VERSION, END, FORM, PROVIDER, CallLife, TwilioCall, dial_of, sid, signature
from sandbox.twilio_call import stream_of as stream_of

ACCOUNT_SID = "AC" + "5a" * 16
AUTH_TOKEN = "sandbox-twilio-auth-token"
E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
PRICE_DELAY_S = 3.0  # a completed call's price appears this long after its end (sandbox default)


def error(status: int, code: int, message: str) -> Response:
    response = jsonify(
        code=code, message=message, more_info=f"https://www.twilio.com/docs/errors/{code}", status=status
    )
    response.status_code = status
    return response


class TwilioApi:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.account_sid = sandbox.config.keys.get("twilio_account_sid", ACCOUNT_SID)
        self.token = sandbox.config.keys.get("twilio_auth_token", AUTH_TOKEN)
        self.calls: dict[str, TwilioCall] = {}
        self.lives: dict[str, CallLife] = {}
        self.price_delay_s = PRICE_DELAY_S

    def refused(self, account: str) -> Response | None:
        auth = request.authorization
        if auth is None or auth.username != self.account_sid or auth.password != self.token:
            return error(401, 20003, "Authenticate")
        if account != self.account_sid:
            return error(404, 20404, "The requested resource was not found")
        return None

    def find(self, account: str, call_sid: str) -> TwilioCall | Response:
        refused = self.refused(account)
        if refused is not None:
            return refused
        call = self.calls.get(call_sid)
        return (
            call if call is not None else error(404, 20404, f"The requested resource /Calls/{call_sid} was not found")
        )

    def create(self, account: str) -> ResponseReturnValue:
        self.sandbox.state.count_request(PROVIDER)
        refused = self.refused(account)
        if refused is not None:
            return refused
        fault = self.sandbox.state.take_fault(PROVIDER)
        if fault is not None:
            return error(fault.status, 20429 if fault.status == 429 else 20500, "Service unavailable")
        form = request.form
        to, from_ = form.get("To", ""), form.get("From", "")
        if not to:
            return error(400, 21201, "No 'To' number is specified")
        if not E164.match(to):
            return error(400, 21211, "The 'To' number is not a valid phone number.")
        if not from_:
            return error(400, 21603, "A 'From' phone number is required.")
        if not (form.get("Twiml") or form.get("Url") or form.get("ApplicationSid")):
            return error(400, 21205, "Url parameter is required.")
        callback = form.get("StatusCallback")
        if callback and not callback.startswith(("http://", "https://")):
            return error(400, 21609, "Invalid StatusCallback")
        call = self.add(to, from_, {**form.to_dict(), "StatusCallbackEvent": form.getlist("StatusCallbackEvent")})
        return jsonify(call.resource()), 201

    def add(self, to: str, from_: str, req: dict[str, Any], direction: str = "outbound-api") -> TwilioCall:
        state = self.sandbox.state
        call = SandboxCall(PROVIDER, sid("CA"), req, to, personas.persona_for(to).name, "en", now_ms())
        call.language = personas.language_for(to, None)
        twilio_call = TwilioCall(
            state.add_call(call), self.account_sid, from_, direction, price_delay_s=self.price_delay_s
        )
        self.calls[call.call_id] = twilio_call
        if direction == "outbound-api":
            life = CallLife(self.sandbox, twilio_call, self.token, twilio_media.start_media_call)
            self.lives[call.call_id] = life
            life.start()
        return twilio_call

    def fetch(self, account: str, call_sid: str) -> ResponseReturnValue:
        found = self.find(account, call_sid)
        if isinstance(found, Response):
            return found
        with found.lock:
            found.fetches += 1
        return jsonify(found.resource())

    def set_price_delay(self) -> ResponseReturnValue:
        """`{"seconds": s}`: calls created from now on report their price s seconds after their end."""
        seconds = (request.get_json(silent=True) or {}).get("seconds")
        if isinstance(seconds, bool) or not isinstance(seconds, int | float) or not 0 <= seconds <= 3600:
            return jsonify(error="seconds must be a number from 0 to 3600"), 422
        self.price_delay_s = float(seconds)
        return jsonify(seconds=self.price_delay_s)

    def update(self, account: str, call_sid: str) -> ResponseReturnValue:
        found = self.find(account, call_sid)
        if isinstance(found, Response):
            return found
        form, life = request.form, self.lives.get(call_sid)
        status = form.get("Status")
        if found.status in END and (status or form.get("Twiml") or form.get("Url")):
            return error(400, 21220, "Call is not in-progress. Cannot redirect.")
        if status in ("completed", "canceled") and life is not None:
            ending = "canceled" if status == "canceled" and found.status in ("queued", "ringing") else "completed"
            life.stop.set()
            life.finish(ending, 0 if found.started is None else max(1, round(time.time() - found.started)))
        elif status:
            return error(400, 21218, "Invalid Status")
        twiml = form.get("Twiml")
        if twiml:
            found.call.request = {**found.call.request, "Twiml": twiml}
            found.transferred_to = dial_of(twiml) or found.transferred_to
        return jsonify(found.resource())

    def delete(self, account: str, call_sid: str) -> ResponseReturnValue:
        found = self.find(account, call_sid)
        if isinstance(found, Response):
            return found
        if found.status not in END:
            return error(400, 20009, "Cannot delete a call that is in progress")
        del self.calls[call_sid]
        return Response(status=204)

    def list_calls(self, account: str) -> ResponseReturnValue:
        refused = self.refused(account)
        if refused is not None:
            return refused
        args = request.args
        calls = sorted(self.calls.values(), key=lambda c: c.created, reverse=True)
        for name, attribute in (("To", "to"), ("From", "from"), ("Status", "status")):
            if args.get(name):
                calls = [c for c in calls if c.resource()[attribute] == args[name]]
        return self.page("calls", [c.resource() for c in calls], f"/{API_VERSION}/Accounts/{account}/Calls.json")

    def page(self, key: str, items: list[dict[str, Any]], uri: str) -> Response:
        size = min(1000, max(1, int(request.args.get("PageSize", "50") or 50)))
        return jsonify(
            {
                key: items[:size],
                "end": max(0, min(len(items), size) - 1),
                "first_page_uri": f"{uri}?PageSize={size}&Page=0",
                "next_page_uri": None,
                "page": 0,
                "page_size": size,
                "previous_page_uri": None,
                "start": 0,
                "uri": f"{uri}?PageSize={size}&Page=0",
            }
        )

    def list_recordings(self, account: str) -> ResponseReturnValue:
        refused = self.refused(account)
        if refused is not None:
            return refused
        wanted = request.args.get("CallSid")
        found = [r for c in self.calls.values() if wanted in (None, c.sid) for r in c.recordings]
        return self.page("recordings", found, f"/{API_VERSION}/Accounts/{account}/Recordings.json")

    def delete_recording(self, account: str, recording_sid: str) -> ResponseReturnValue:
        refused = self.refused(account)
        if refused is not None:
            return refused
        for call in self.calls.values():
            for recording in call.recordings:
                if recording["sid"] == recording_sid:
                    call.recordings.remove(recording)
                    return Response(status=204)
        return error(404, 20404, f"The requested resource /Recordings/{recording_sid} was not found")

    def ring(self) -> ResponseReturnValue:
        """Ring one of our numbers: `{"to": our number, "from": the caller, "url"?: the voice webhook}`."""
        body = request.get_json(silent=True) or {}
        to, from_ = str(body.get("to", "")), str(body.get("from", ""))
        url = str(body.get("url") or self.sandbox.config.webhook_url("twilio/voice") or "")  # /webhooks/twilio/voice
        if not E164.match(to) or not url:
            return jsonify(error="to must be E.164 and the CRM's voice URL known"), 422
        call = self.add(to, from_, {"inbound": True}, direction="inbound")
        call.status = "ringing"
        fields = [
            ("AccountSid", self.account_sid),
            ("ApiVersion", API_VERSION),
            ("CallSid", call.sid),
            ("CallStatus", "ringing"),
            ("Called", to),
            ("Caller", from_),
            ("Direction", "inbound"),
            ("From", from_),
            ("To", to),
        ]
        headers = {"Content-Type": FORM, "X-Twilio-Signature": signature(self.token, url, fields)}
        answer = httpx.post(url, content=urlencode(fields).encode(), headers=headers, timeout=15)
        stream = stream_of(answer.text) if answer.status_code == 200 else None
        if stream is not None:
            call.status = "in-progress"
            twilio_media.start_media_call(
                stream.url,
                account_sid=self.account_sid,
                call_sid=call.sid,
                stream_sid=sid("MZ"),
                custom_parameters=stream.parameters,
                persona=personas.persona_for(from_ or to),
                language=call.call.language,
                scripts=self.sandbox.call_scripts,
            )
        else:
            call.status = "completed" if answer.status_code == 200 else "failed"
        return jsonify(call_sid=call.sid, status=answer.status_code, twiml=answer.text, streaming=stream is not None)


def choose_script(sandbox: Sandbox) -> ResponseReturnValue:
    """`{"to": a number, "script": a name in sandbox.call_scripts.SCENARIOS}`: calls to that number play the
    script (its persona still decides whether they are answered); `"script": null` forgets it."""
    body = request.get_json(silent=True) or {}
    to, name = str(body.get("to", "")), body.get("script")
    if not E164.match(to) or (name is not None and name not in SCENARIOS):
        return jsonify(error="to must be E.164 and script one of " + ", ".join(sorted(SCENARIOS))), 422
    if name is None:
        sandbox.twilio_scripts.pop(to, None)
    else:
        sandbox.twilio_scripts[to] = SCENARIOS[name]
    return jsonify(to=to, script=name)


def blueprint(sandbox: Sandbox) -> Blueprint:
    api = TwilioApi(sandbox)
    bp = Blueprint("sandbox_twilio", __name__)
    base = f"/{API_VERSION}/Accounts/<account>"
    bp.add_url_rule(f"{base}/Calls.json", view_func=api.create, methods=["POST"])
    bp.add_url_rule(f"{base}/Calls.json", view_func=api.list_calls, methods=["GET"])
    bp.add_url_rule(f"{base}/Calls/<call_sid>.json", view_func=api.fetch, methods=["GET"])
    bp.add_url_rule(f"{base}/Calls/<call_sid>.json", view_func=api.update, methods=["POST"])
    bp.add_url_rule(f"{base}/Calls/<call_sid>.json", view_func=api.delete, methods=["DELETE"])
    bp.add_url_rule(f"{base}/Recordings.json", view_func=api.list_recordings, methods=["GET"])
    bp.add_url_rule(f"{base}/Recordings/<recording_sid>.json", view_func=api.delete_recording, methods=["DELETE"])
    bp.add_url_rule("/ring", view_func=api.ring, methods=["POST"], endpoint="ring")
    bp.add_url_rule("/price-delay", view_func=api.set_price_delay, methods=["POST"], endpoint="price_delay")
    bp.add_url_rule("/scripts", view_func=lambda: choose_script(sandbox), methods=["POST"], endpoint="scripts")
    return bp
