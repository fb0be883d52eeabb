"""SendGrid in the provider sandbox (docs/providers.md §4): mail send, a mailbox, signed Event Webhooks.

Under the blueprint prefix /sendgrid:

* ``POST /sendgrid/v3/mail/send``: Bearer auth with the sandbox key (else 401 with SendGrid's body),
  payload validated like SendGrid (400 ``{"errors":[{"message","field","help"}]}``), 202 with an
  empty body and ``X-Message-Id``. ``mail_settings.sandbox_mode.enable`` validates only (200).
  Faults injected through /sandbox/faults {"provider": "sendgrid"} answer 429/5xx with SendGrid bodies.
* ``GET /sendgrid/sandbox/mail``: the mailbox, every accepted message with its HTML rendered in a
  sandboxed iframe (``?format=json`` for tests).
* ``GET /sendgrid/sandbox/public-key``: ``{"public_key": <base64 DER SPKI>}``, the Event Webhook
  verification key of this sandbox process (a fresh P-256 key pair per start), as SendGrid shows it.

After each accepted message the recipient's persona plays out (chosen by the address's +tag, else
its local part, e.g. ``clicks.anna@x`` or ``anna+bounces@x``; anything else: ``delivers``):

=============  ===============================================================================
delivers       processed, delivered, open (the default)
quiet          processed, delivered
opens          processed, delivered, two opens
clicks         processed, delivered, open, click on the first link of the HTML
bounces        processed, bounce (type bounce, 5.1.1 Invalid Address)
blocked        processed, bounce (type blocked, 5.7.1)
spamreport     processed, delivered, open, spamreport
unsubscribes   processed, delivered, open, the mailbox provider's RFC 8058 one-click POST to the
               List-Unsubscribe URL (only to the CRM's own base URL), an ``unsubscribe`` event
replies        processed, delivered, open, then a reply through Inbound Parse (multipart POST to
               <CRM>/webhooks/sendgrid/inbound, signed like the events)
=============  ===============================================================================

Event batches are POSTed to <CRM>/webhooks/sendgrid signed with ECDSA P-256 over timestamp + body
(base64 DER; X-Twilio-Email-Event-Webhook-Signature/-Timestamp), re-signed on every attempt.
The sandbox's webhook mode for "sendgrid" (POST /sandbox/webhook-mode) adds ``duplicate`` extra
deliveries of every event, each with a new ``sg_event_id`` and batched differently (SendGrid's
retries look like that), ``reorder`` reverses the batches, ``delay_s`` delays them.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import Blueprint, Response, jsonify, render_template_string, request
from flask.typing import ResponseReturnValue

from sandbox.context import Sandbox
from sandbox.dispatcher import Delivery
from sandbox.sendgrid_validation import mail_error, validate
from sandbox.state import WebhookMode

MAX_BYTES = 30 * 1024 * 1024
PERSONAS = ("delivers", "quiet", "opens", "clicks", "bounces", "blocked", "spamreport", "unsubscribes", "replies")
ALIASES = {
    "deliver": "delivers",
    "delivered": "delivers",
    "open": "opens",
    "click": "clicks",
    "bounce": "bounces",
    "spam": "spamreport",
    "unsubscribe": "unsubscribes",
    "unsub": "unsubscribes",
    "reply": "replies",
}
REPLY_TEXT = {
    "de": "Danke für Ihre Nachricht. Bitte rufen Sie mich nächste Woche an.",
    "en": "Thanks for your message. Please call me next week.",
}


@dataclass
class SentMail:
    message_id: str
    sg_message_id: str
    received_at: float
    to_email: str
    to_name: str
    persona: str
    from_email: str
    reply_to: str
    subject: str
    text: str
    html: str
    headers: dict[str, str]
    custom_args: dict[str, str]
    categories: list[str]
    attachments: list[dict[str, Any]]
    request: dict[str, Any] = field(repr=False, default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "request"}


class SendGridSandbox:
    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.private_key = ec.generate_private_key(ec.SECP256R1())
        self.public_key_b64 = base64.b64encode(
            self.private_key.public_key().public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ).decode()
        self.mailbox: list[SentMail] = []
        self.requests = 0
        self.events_planned: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    # ---- signing ------------------------------------------------------------------------------

    def sign(self, body: bytes) -> dict[str, str]:
        ts = str(int(time.time()))
        signature = self.private_key.sign(ts.encode() + body, ec.ECDSA(hashes.SHA256()))
        return {
            "X-Twilio-Email-Event-Webhook-Signature": base64.b64encode(signature).decode(),
            "X-Twilio-Email-Event-Webhook-Timestamp": ts,
        }

    # ---- mailbox ------------------------------------------------------------------------------

    def messages(self, **custom_args: str) -> list[SentMail]:
        with self._lock:
            found = list(self.mailbox)
        return [m for m in found if all(m.custom_args.get(k) == v for k, v in custom_args.items())]

    def accept(self, payload: dict[str, Any]) -> str:
        message_id = _token(22)
        content = {c.get("type"): c.get("value") for c in payload.get("content") or []}
        headers = {str(k): str(v) for k, v in (payload.get("headers") or {}).items()}
        categories = [str(c) for c in payload.get("categories") or []]
        attachments = [_attachment_view(a) for a in payload.get("attachments") or []]
        top_args = {str(k): str(v) for k, v in (payload.get("custom_args") or {}).items()}
        mails = []
        for p_index, personalization in enumerate(payload["personalizations"]):
            args = {**top_args, **_strings(personalization.get("custom_args"))}
            for r_index, recipient in enumerate(personalization.get("to") or []):
                to_email = recipient["email"]
                mails.append(
                    SentMail(
                        message_id=message_id,
                        sg_message_id=f"{message_id}.recvd-sandbox-{p_index}{r_index}-{uuid.uuid4().hex[:8].upper()}-0.0",
                        received_at=time.time(),
                        to_email=to_email,
                        to_name=recipient.get("name") or "",
                        persona=persona_for(to_email),
                        from_email=payload["from"]["email"],
                        reply_to=(payload.get("reply_to") or {}).get("email", ""),
                        subject=personalization.get("subject") or payload.get("subject") or "",
                        text=content.get("text/plain") or "",
                        html=content.get("text/html") or "",
                        headers={**headers, **_strings(personalization.get("headers"))},
                        custom_args=args,
                        categories=categories,
                        attachments=attachments,
                        request=payload,
                    )
                )
        with self._lock:
            self.mailbox.extend(mails)
        for mail in mails:
            self._play(mail)
        return message_id

    # ---- personas -----------------------------------------------------------------------------

    def _play(self, mail: SentMail) -> None:
        config = self.sandbox.config
        url = config.webhook_url("sendgrid")
        if not url:
            return
        t0 = int(mail.received_at)
        base = {
            "email": mail.to_email,
            "sg_message_id": mail.sg_message_id,
            "smtp-id": f"<{mail.message_id}@ismtpd-sandbox>",
            "category": mail.categories if len(mail.categories) != 1 else mail.categories[0],
            **mail.custom_args,
        }
        if not mail.categories:
            base.pop("category")

        def ev(kind: str, offset: int, **extra: Any) -> dict[str, Any]:
            return {**base, "event": kind, "timestamp": t0 + offset, **extra}

        batches, extra = self._script(mail, ev, url)
        self._schedule(url, batches, extra)

    def _script(
        self, mail: SentMail, ev: Callable[..., dict[str, Any]], url: str
    ) -> tuple[list[list[dict[str, Any]]], list[tuple[float, Delivery]]]:
        """The recipient persona's event batches, plus any other requests it makes (one-click
        unsubscribe, an Inbound Parse reply)."""
        config = self.sandbox.config
        step = config.step_s
        processed = ev("processed", 0)
        delivered = ev("delivered", 1, response="250 2.0.0 OK", ip="127.0.0.1", tls=1, cert_err=0)
        opened = ev("open", 4, useragent="Mozilla/5.0 (sandbox)", ip="127.0.0.2", sg_machine_open=False)
        batches: list[list[dict[str, Any]]] = [[processed]]
        extra: list[tuple[float, Delivery]] = []
        persona = mail.persona
        if persona == "bounces":
            batches[0].append(
                ev(
                    "bounce",
                    1,
                    type="bounce",
                    status="5.1.1",
                    bounce_classification="Invalid Address",
                    reason="550 5.1.1 The email account that you tried to reach does not exist.",
                )
            )
        elif persona == "blocked":
            batches[0].append(
                ev(
                    "bounce",
                    1,
                    type="blocked",
                    status="5.7.1",
                    bounce_classification="Reputation",
                    reason="550 5.7.1 Message rejected due to local policy",
                )
            )
        else:
            batches[0].append(delivered)
            if persona == "opens":
                batches.append(
                    [opened, ev("open", 40, useragent="Mozilla/5.0 (sandbox)", ip="127.0.0.2", sg_machine_open=False)]
                )
            elif persona != "quiet":
                batches.append([opened])
            if persona == "clicks":
                batches.append(
                    [
                        ev(
                            "click",
                            6,
                            url=first_link(mail.html),
                            url_offset={"index": 0, "type": "html"},
                            useragent="Mozilla/5.0 (sandbox)",
                            ip="127.0.0.2",
                        )
                    ]
                )
            elif persona == "spamreport":
                batches.append([ev("spamreport", 10)])
            elif persona == "unsubscribes":
                link = list_unsubscribe_url(mail.headers.get("List-Unsubscribe", ""))
                if link and config.webhook_base and link.startswith(config.webhook_base.rstrip("/") + "/"):
                    extra.append(
                        (
                            step,
                            Delivery(
                                link,
                                b"List-Unsubscribe=One-Click",
                                lambda body: {},
                                content_type="application/x-www-form-urlencoded",
                                schedule="one_click",
                            ),
                        )
                    )
                batches.append([ev("unsubscribe", 12)])
            elif persona == "replies":
                body, content_type = inbound_parse_body(mail, language_of(mail))
                extra.append(
                    (step, Delivery(f"{url}/inbound", body, self.sign, content_type, schedule="sendgrid_inbound"))
                )
        return batches, extra

    def _schedule(self, url: str, batches: list[list[dict[str, Any]]], extra: list[tuple[float, Delivery]]) -> None:
        step = self.sandbox.config.step_s
        with self._lock:
            self.events_planned.extend(e for batch in batches for e in batch)
        mode: WebhookMode = self.sandbox.state.mode("sendgrid")
        plan: list[tuple[float, Delivery]] = []
        for i, batch in enumerate(batches):
            # The first batch waits a little, as SendGrid's does (seconds there): the sender records
            # the message id first.
            plan.append((max(step * 4, 0.3) if i == 0 else step, self._delivery(url, batch)))
        plan.extend(extra)
        everything = [e for batch in batches for e in batch]
        for copy_no in range(mode.duplicate):
            # SendGrid's duplicates: the same events (same timestamps), new sg_event_ids, other batches.
            regrouped = list(reversed(everything)) if copy_no % 2 == 0 else everything
            plan.append((step, self._delivery(url, regrouped)))
        self.sandbox.dispatcher.send_sequence(
            plan, WebhookMode(duplicate=0, reorder=mode.reorder, delay_s=mode.delay_s)
        )

    def _delivery(self, url: str, events: list[dict[str, Any]]) -> Delivery:
        body = json.dumps([{**e, "sg_event_id": _token(22)} for e in events]).encode()
        return Delivery(url, body, self.sign, schedule="sendgrid_events")


# ---- helpers ------------------------------------------------------------------------------------


def _strings(mapping: dict[str, Any] | None) -> dict[str, str]:
    """A JSON object's keys and values as text (custom_args and headers are strings at SendGrid)."""
    return {str(k): str(v) for k, v in (mapping or {}).items()}


def _attachment_view(attachment: dict[str, Any]) -> dict[str, Any]:
    """An attachment as the mailbox shows it: text attachments decoded, others by name and type only."""
    return {
        "filename": attachment.get("filename"),
        "type": attachment.get("type"),
        "disposition": attachment.get("disposition"),
        "content": base64.b64decode(attachment.get("content") or "").decode("utf-8", "replace")
        if str(attachment.get("type", "")).startswith("text/")
        else None,
    }


def _token(n: int) -> str:
    return secrets.token_urlsafe(n)[:n]


def persona_for(address: str) -> str:
    local = address.split("@", 1)[0].lower()
    base, _, tag = local.partition("+")
    for candidate in (tag, base, re.split(r"[._\-0-9]", base, maxsplit=1)[0]):
        if not candidate:
            continue
        name = ALIASES.get(candidate, candidate)
        if name in PERSONAS:
            return name
    return "delivers"


def first_link(html: str) -> str:
    href: str
    for href in re.findall(r'href="([^"]+)"', html or ""):
        if href.startswith("http") and "/unsubscribe/" not in href:
            return href.replace("&amp;", "&")
    return "https://example.com/"


def list_unsubscribe_url(header: str) -> str | None:
    part: str
    for part in re.findall(r"<([^>]+)>", header or ""):
        if part.startswith(("https://", "http://")):
            return part
    return None


def language_of(mail: SentMail) -> str:
    match = re.search(r'<html lang="(de|en)"', mail.html or "")
    return match.group(1) if match else "de"


def inbound_parse_body(mail: SentMail, language: str) -> tuple[bytes, str]:
    """A reply as SendGrid's Inbound Parse posts it (docs/providers.md §4.5), from the recipient to our
    Reply-To address."""
    reply_id = f"<{uuid.uuid4().hex}@mail.sandbox.example>"
    to = mail.reply_to or mail.from_email
    sender = f"{mail.to_name} <{mail.to_email}>" if mail.to_name else mail.to_email
    subject = f"Re: {mail.subject}" if language == "en" else f"AW: {mail.subject}"
    text = REPLY_TEXT[language]
    raw_headers = (
        f"Received: from mail.sandbox.example by mx.sendgrid.net\nMessage-ID: {reply_id}\n"
        f"In-Reply-To: <{mail.message_id}@ismtpd-sandbox>\nFrom: {sender}\nTo: {to}\n"
        f"Subject: {subject}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=UTF-8\n"
    )
    fields = {
        "headers": raw_headers,
        "dkim": f"{{@{mail.to_email.split('@')[-1]} : pass}}",
        "content-ids": "{}",
        "to": to,
        "from": sender,
        "cc": "",
        "text": text + "\n\n> " + mail.text[:200].replace("\n", "\n> "),
        "html": f"<p>{text}</p>",
        "sender_ip": "127.0.0.3",
        "spam_report": "",
        "spam_score": "0.1",
        "envelope": json.dumps({"to": [to], "from": mail.to_email}),
        "subject": subject,
        "charsets": json.dumps({"to": "UTF-8", "from": "UTF-8", "subject": "UTF-8", "text": "UTF-8", "html": "UTF-8"}),
        "SPF": "pass",
        "attachments": "0",
        "attachment-info": "{}",
    }
    boundary = "xYzZY" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    parts.append(f"--{boundary}--\r\n".encode())
    return b"".join(parts), f"multipart/form-data; boundary={boundary}"


MAILBOX = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sandbox mailbox</title>
<style>body{font-family:sans-serif;margin:2rem}article{border:1px solid #ccc;margin:0 0 2rem 0;padding:1rem}
dl{display:grid;grid-template-columns:10rem 1fr;gap:.2rem .8rem;font-size:.85rem}dt{color:#666}
iframe{width:100%;height:32rem;border:1px solid #ddd}</style></head><body>
<h1>Sandbox mailbox</h1><p>{{ messages|length }} message(s) accepted, {{ requests }} send request(s)</p>
{% for m in messages %}<article><h2>{{ m.subject }}</h2><dl>
<dt>to</dt><dd>{{ m.to_name }} &lt;{{ m.to_email }}&gt; (persona {{ m.persona }})</dd>
<dt>from / reply-to</dt><dd>{{ m.from_email }} / {{ m.reply_to }}</dd>
<dt>X-Message-Id</dt><dd>{{ m.message_id }}</dd>
<dt>categories</dt><dd>{{ m.categories|join(", ") }}</dd>
<dt>custom_args</dt><dd>{{ m.custom_args }}</dd>
<dt>List-Unsubscribe</dt><dd>{{ m.headers.get("List-Unsubscribe", "") }}</dd>
<dt>attachments</dt><dd>{% for a in m.attachments %}{{ a.filename }} ({{ a.type }}) {% endfor %}</dd></dl>
<iframe sandbox="" srcdoc="{{ m.html }}" title="{{ m.subject }}"></iframe>
<details><summary>text/plain</summary><pre>{{ m.text }}</pre></details></article>
{% else %}<p>no mail yet</p>{% endfor %}</body></html>"""


def blueprint(sandbox: Sandbox) -> Blueprint:
    mail = SendGridSandbox(sandbox)
    sandbox.sendgrid = mail  # tests and the mailbox read it
    bp = Blueprint("sandbox_sendgrid", __name__)

    def errors(
        status: int, items: list[dict[str, Any]], headers: dict[str, str] | None = None
    ) -> tuple[Response, int, dict[str, str]]:
        return jsonify({"errors": items}), status, headers or {}

    @bp.post("/v3/mail/send")
    def mail_send() -> ResponseReturnValue:
        with mail._lock:
            mail.requests += 1
        auth = request.headers.get("Authorization", "")
        if auth != f"Bearer {sandbox.config.keys['sendgrid']}":
            return errors(
                401,
                [
                    {
                        "field": None,
                        "message": "The provided authorization grant is invalid, expired, or revoked",
                        "help": None,
                    }
                ],
            )
        if request.content_length and request.content_length > MAX_BYTES:
            return errors(413, [{"field": None, "message": "Request entity too large", "help": None}])
        fault = sandbox.state.take_fault("sendgrid")
        if fault is not None:
            headers: dict[str, str] = {}
            if fault.status == 429:
                headers = {
                    "X-RateLimit-Limit": "600",
                    "X-RateLimit-Remaining": "0",
                    "X-RateLimit-Reset": str(int(time.time()) + int(fault.retry_after_s or 1)),
                }
            if fault.retry_after_s is not None:
                headers["Retry-After"] = str(int(fault.retry_after_s))
            message = "too many requests" if fault.status == 429 else "internal server error"
            return errors(fault.status, [{"field": None, "message": message, "help": None}], headers)
        try:
            payload = json.loads(request.get_data() or b"null")
        except ValueError:
            return errors(400, [mail_error("Bad Request", None)])
        problems = validate(payload)
        if problems:
            return errors(400, problems)
        if ((payload.get("mail_settings") or {}).get("sandbox_mode") or {}).get("enable"):
            return "", 200
        message_id = mail.accept(payload)
        return "", 202, {"X-Message-Id": message_id}

    @bp.get("/sandbox/mail")
    def mailbox() -> ResponseReturnValue:
        messages = mail.messages()
        if request.args.get("format") == "json":
            return jsonify([m.as_json() for m in messages])
        return render_template_string(MAILBOX, messages=list(reversed(messages)), requests=mail.requests)

    @bp.get("/sandbox/public-key")
    def public_key() -> ResponseReturnValue:
        return jsonify(public_key=mail.public_key_b64)

    return bp
