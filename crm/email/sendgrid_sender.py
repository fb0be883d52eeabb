"""SendGridSender: the chain's EmailSender (crm/email/port.py) on the official `sendgrid` SDK.

What goes out (docs/providers.md §4.2): from/reply-to, one personalization per lead, text/plain then
text/html, the booking invite as an .ics attachment, categories per template, custom_args
{lead_id, chain_id, message_key} (echoed on every Event Webhook event), List-Unsubscribe +
List-Unsubscribe-Post (RFC 8058 one-click), SendGrid's own subscription tracking off (our link is
the one that counts). The 202's X-Message-Id is the message id the CRM stores.

At most once per idempotency key
--------------------------------
SendGrid's mail send has no idempotency key and no lookup by our custom_args (the Email Activity
API is a paid add-on with minutes of lag, and the sandbox has none), so `find_sent` cannot ask
SendGrid. Instead the sender keeps a send journal on the activity's ledger row (SideEffect, written
before any provider is asked), in `result["sendgrid"]`, each step committed on its own connection:

* ``in_flight``: committed *before* the HTTP request. If this commit fails, nothing is sent.
* ``accepted`` + the X-Message-Id: committed right after the 202.
* ``failed``: SendGrid answered with an error status, or the request never got through connection
  setup and sending (urllib's URLError): nothing was accepted, a retry may send.

`find_sent(key)` reads the journal: ``accepted`` → the real message id; ``failed`` or no journal →
None (send); ``in_flight`` → the attempt died while SendGrid may have accepted the mail (killed
between request and journal, a read timeout, a reset after the request was written). Then it
returns ``unconfirmed-<hash of key>`` instead of None: the activity records the email as sent under
that placeholder and does not send again. The Event Webhook later brings the message's events with
our ``message_key`` custom arg and replaces the placeholder with the real id
(crm/webhooks/sendgrid.py), so the interaction ends up exactly as in a clean run.

Residual risk (the price of at-most-once, stated precisely): if the worker dies after the
``in_flight`` commit but *before* the request was fully written to SendGrid (the window from the
commit through DNS, TCP and TLS setup to the last byte sent: milliseconds, up to the connect time),
the mail was never sent
and is not retried; it stays an ``unconfirmed-`` interaction that no event ever confirms. The same
holds if the database is unreachable at the moment an error answer should be journaled as
``failed`` (the journal stays ``in_flight``: conservative). Duplicates
are not possible as long as the ledger row survives: every path that may have reached SendGrid
leaves ``in_flight`` or ``accepted`` behind. The HTTP timeout (20 s) is kept well below the
activity's start-to-close timeout (60 s) so an attempt never overlaps its own retry.

An attempt that outlived its window is fenced off: the activity counts each attempt on the ledger row
in the database (``attempts = attempts + 1``) and hands that count to the send, and ``in_flight`` is
written only while the row still holds it. A worker starved of CPU between its count and its request
(seen for the dial: docs/reliability.md §F8) would otherwise find, when it wakes, that the next attempt
has looked, found no journal and sent; now its ``in_flight`` matches no row and it sends nothing
(``Superseded``). Whichever attempt writes ``in_flight`` first is the only one that may send.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import logging
import urllib.error
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, has_app_context
from python_http_client import exceptions as http_errors
from sendgrid import SendGridAPIClient
from sendgrid.helpers.mail import (
    Attachment,
    Category,
    ClickTracking,
    Content,
    CustomArg,
    Disposition,
    FileContent,
    FileName,
    FileType,
    From,
    Header,
    Mail,
    OpenTracking,
    ReplyTo,
    SubscriptionTracking,
    To,
    TrackingSettings,
)
from temporalio.exceptions import ApplicationError

from crm.email import ics
from crm.email import settings as email_settings
from crm.email.appointment_links import manage_url
from crm.email.port import EmailMessage
from crm.email.render import Rendered, latest_appointment, render, template_file
from crm.email.tokens import reply_address, unsubscribe_url
from crm.extensions import db
from crm.models import Lead, SideEffect
from crm.models.types import utcnow

log = logging.getLogger(__name__)
PROVIDER = "sendgrid"
REAL_HOST = "https://api.sendgrid.com"
UNCONFIRMED_PREFIX = "unconfirmed-"
REJECTED_STATUSES = {400, 401, 403, 404, 413, 415}


def unconfirmed_ref(idempotency_key: str) -> str:
    return UNCONFIRMED_PREFIX + hashlib.sha256(idempotency_key.encode()).hexdigest()[:40]


@dataclass
class OutgoingAttachment:
    filename: str
    content: bytes
    mime_type: str


@dataclass
class Outgoing:
    """One email as it will be handed to the SDK (tests and previews look at it)."""

    to_email: str
    to_name: str
    rendered: Rendered
    categories: list[str]
    custom_args: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    attachments: list[OutgoingAttachment] = field(default_factory=list)
    reply_to: str | None = None


class SendGridSender:
    name = PROVIDER

    def __init__(
        self, *, api_key: str, host: str = REAL_HOST, app: Flask | None = None, timeout_s: float = 20.0
    ) -> None:
        self.app = app
        self.host = host.rstrip("/")
        self.timeout_s = timeout_s
        self._sg = SendGridAPIClient(api_key=api_key, host=self.host)
        # Propagated to every request (python_http_client copies it into each child client).
        self._sg.client.timeout = timeout_s

    def __repr__(self) -> str:  # never the key
        return f"SendGridSender(host={self.host!r})"

    # ---- EmailSender ----------------------------------------------------------------------------

    def send(self, message: EmailMessage) -> str:
        with self._context():
            outgoing = self.build(message)
            return self.deliver(outgoing, journal_key=message.idempotency_key, attempt=message.attempt)

    def find_sent(self, idempotency_key: str) -> str | None:
        with self._context():
            row = _ledger_row(idempotency_key)
        if row is None:
            return None
        ref, result = row
        journal = (result or {}).get(PROVIDER) if isinstance(result, dict) else None
        if not journal:
            return None
        state = journal.get("state")
        if state == "accepted":
            return journal.get("message_id") or ref
        if state == "in_flight":
            log.warning("email %s: an earlier attempt may have reached SendGrid; not sending again", idempotency_key)
            return unconfirmed_ref(idempotency_key)
        return None

    # ---- building -------------------------------------------------------------------------------

    def build(self, message: EmailMessage) -> Outgoing:
        """The email for a chain step, rendered with the lead's data (inside an app context)."""
        lead = db.session.get(Lead, message.lead_id)
        if lead is None:
            raise ApplicationError(
                f"lead {message.lead_id} does not exist", type="ProviderRejected", non_retryable=True
            )
        context: dict[str, Any] = {"step": message.step}
        attachments: list[OutgoingAttachment] = []
        stem = template_file(message.template, message.step)
        if stem == "booking_confirmation":
            appointment = latest_appointment(lead.id)
            context["appointment"] = appointment
            if appointment is not None:
                owner = lead.owner
                from_address, from_name = email_settings.sender_address()
                invite = ics.build_invite(
                    appointment,
                    lead_name=lead.display_name,
                    lead_email=message.to,
                    organizer_name=owner.name if owner else from_name,
                    organizer_email=owner.email if owner else from_address,
                    tz_name=owner.timezone if owner else None,
                    language=message.language,
                    sequence=appointment.ics_sequence or 0,
                )
                attachments.append(OutgoingAttachment("invite.ics", invite, "text/calendar"))
                # The signed link to move or cancel it (works until the start, once per change).
                context["manage_url"] = manage_url(appointment)
        rendered = render(message.template, lead, context, message.language)
        chain_id = (
            message.idempotency_key.split(":email:", 1)[0]
            if ":email:" in message.idempotency_key
            else (lead.chain_id or "")
        )
        custom_args = {"lead_id": str(lead.id), "message_key": message.idempotency_key}
        if chain_id:
            custom_args["chain_id"] = chain_id
        categories = ["leadchain", message.template]
        if stem != message.template:
            categories.append(stem)
        link = unsubscribe_url(lead.id)
        return Outgoing(
            to_email=message.to,
            to_name=lead.display_name if lead.display_name != message.to else "",
            rendered=rendered,
            categories=categories,
            custom_args=custom_args,
            headers={"List-Unsubscribe": f"<{link}>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"},
            attachments=attachments,
            reply_to=reply_address(email_settings.reply_to(), lead.id),
        )

    def mail(self, outgoing: Outgoing) -> Mail:
        from_address, from_name = email_settings.sender_address()
        subject, html, text = outgoing.rendered
        mail = Mail(
            from_email=From(from_address, from_name),
            to_emails=To(outgoing.to_email, outgoing.to_name or None),
            subject=subject,
        )
        mail.add_content(Content("text/plain", text))
        mail.add_content(Content("text/html", html))
        if outgoing.reply_to:
            mail.reply_to = ReplyTo(outgoing.reply_to)
        for category in outgoing.categories[:10]:
            mail.add_category(Category(category[:255]))
        for key, value in outgoing.custom_args.items():
            mail.add_custom_arg(CustomArg(key, str(value)))
        for key, value in outgoing.headers.items():
            mail.add_header(Header(key, value))
        for item in outgoing.attachments:
            mail.add_attachment(
                Attachment(
                    FileContent(base64.b64encode(item.content).decode()),
                    FileName(item.filename),
                    FileType(item.mime_type),
                    Disposition("attachment"),
                )
            )
        mail.tracking_settings = TrackingSettings(
            click_tracking=ClickTracking(True, False),
            open_tracking=OpenTracking(True),
            subscription_tracking=SubscriptionTracking(False),
        )
        return mail

    # ---- sending --------------------------------------------------------------------------------

    def deliver(self, outgoing: Outgoing, *, journal_key: str | None = None, attempt: int = 0) -> str:
        """POST one email; return its X-Message-Id. With journal_key, every step is journaled on
        that ledger row first (see the module docstring); with attempt, only while the row's attempt
        count is still that. Raises ApplicationError: non-retryable "ProviderRejected" for a refused
        request and "Superseded" for an attempt a newer one has replaced, retryable "ProviderUnavailable"
        otherwise."""
        mail = self.mail(outgoing)
        if journal_key:
            if not _journal(journal_key, "in_flight", attempt=attempt):
                raise ApplicationError(
                    "superseded by a newer attempt; not sending", type="Superseded", non_retryable=True
                )
        try:
            response = self._sg.send(mail)
        except http_errors.HTTPError as e:
            # SendGrid answered: it did not accept the message.
            if journal_key:
                _journal(journal_key, "failed", detail=f"HTTP {e.status_code}")
            raise _error_for(e) from None
        except urllib.error.URLError as e:
            # Raised while connecting or writing the request (urllib wraps those): SendGrid cannot
            # have accepted a request it did not fully receive.
            if journal_key:
                _journal(journal_key, "failed", detail=f"no connection: {type(e.reason).__name__}")
            raise ApplicationError(
                f"SendGrid unreachable: {type(e.reason).__name__}", type="ProviderUnavailable"
            ) from None
        except (OSError, http.client.HTTPException) as e:
            # The request was sent, the answer was lost: SendGrid may have accepted it. The journal
            # stays in_flight, so a retry will not send again.
            raise ApplicationError(
                f"SendGrid answer lost ({type(e).__name__}); not resending", type="ProviderUnavailable"
            ) from None
        message_id = (response.headers.get("X-Message-Id") or "").strip()
        if response.status_code != 202 or not message_id:
            # 200 means sandbox_mode (validated, not sent); never set by us. Treat as unconfirmed.
            message_id = unconfirmed_ref(journal_key or repr(outgoing.custom_args))
            log.error("SendGrid answered %s without X-Message-Id", response.status_code)
        if journal_key:
            _journal(journal_key, "accepted", message_id=message_id)
        return message_id

    def _context(self):
        if has_app_context() or self.app is None:
            return contextlib.nullcontext()
        return self.app.app_context()


def _error_for(e: http_errors.HTTPError) -> ApplicationError:
    detail = ""
    try:
        errors = e.to_dict.get("errors") or []
        detail = "; ".join(str(err.get("message"))[:120] for err in errors[:3])
    except Exception:  # noqa: BLE001 - a body that is not SendGrid's JSON
        pass
    message = f"SendGrid {e.status_code}: {detail}"[:300]
    if e.status_code in REJECTED_STATUSES:
        return ApplicationError(message, type="ProviderRejected", non_retryable=True)
    delay = None
    headers = getattr(e, "headers", None)
    retry_after = headers.get("Retry-After") if headers is not None else None
    if retry_after and str(retry_after).isdigit():
        delay = timedelta(seconds=min(int(retry_after), 600))
    return ApplicationError(message, type="ProviderUnavailable", next_retry_delay=delay)


def _ledger_row(key: str) -> tuple[str | None, Any] | None:
    with db.engine.connect() as conn:
        row = conn.execute(sa.select(SideEffect.provider_ref, SideEffect.result).where(SideEffect.key == key)).first()
    return (row[0], row[1]) if row is not None else None


def _journal(
    key: str, state: str, *, message_id: str | None = None, detail: str | None = None, attempt: int = 0
) -> bool:
    """Commit one journal step on the ledger row, on a connection of its own (the activity's session
    is left alone). No row (a send outside the chain's ledger): nothing to journal. With ``attempt``,
    the step is written only while the row's attempt count is still ``attempt``; returns False when a
    newer attempt has counted itself since (the caller then must not send)."""
    entry: dict[str, Any] = {"state": state, "at": utcnow().isoformat()}
    if message_id:
        entry["message_id"] = message_id
    if detail:
        entry["detail"] = detail[:200]
    values: dict[str, Any] = {"result": {PROVIDER: entry}}
    if message_id:
        values.update(provider=PROVIDER, provider_ref=message_id)
    statement = sa.update(SideEffect).where(SideEffect.key == key)
    if attempt:
        statement = statement.where(SideEffect.attempts == attempt)
    with db.engine.begin() as conn:
        updated = conn.execute(statement.values(**values)).rowcount
    return updated > 0 or not attempt


def settle_from_event(key: str, message_id: str) -> str | None:
    """The Event Webhook saw our message_key with SendGrid's id. In the caller's session (it commits):
    settle an in-flight journal (a pending retry then finds the message instead of guessing) and
    replace an ``unconfirmed-`` placeholder on the ledger row. Returns the placeholder replaced, so
    the caller can move the interaction recorded under it to the real id."""
    row = db.session.scalar(sa.select(SideEffect).where(SideEffect.key == key))
    if row is None:
        return None
    placeholder = row.provider_ref if (row.provider_ref or "").startswith(UNCONFIRMED_PREFIX) else None
    journal = (row.result or {}).get(PROVIDER) if isinstance(row.result, dict) else None
    if row.status != "done" and journal and journal.get("state") == "in_flight":
        row.result = {
            PROVIDER: {
                "state": "accepted",
                "message_id": message_id,
                "at": utcnow().isoformat(),
                "detail": "confirmed by an event",
            }
        }
        row.provider, row.provider_ref = PROVIDER, message_id
    if placeholder:
        row.provider_ref = message_id
    return placeholder
