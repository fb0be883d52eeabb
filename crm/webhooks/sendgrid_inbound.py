"""A reply through SendGrid Inbound Parse, once its signature is checked (crm/webhooks/sendgrid.py): read
from the posted form, matched to its lead, stored as an inbound email interaction with a task for the
owner (automatic replies: stored only)."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import timedelta
from email.message import Message
from email.parser import HeaderParser
from email.utils import parseaddr
from typing import Any

import sqlalchemy as sa

from crm import catalogs
from crm.email import suppression
from crm.email.sendgrid_sender import PROVIDER
from crm.email.tokens import lead_from_reply_address
from crm.extensions import db
from crm.models import AuditEntry, Direction, Interaction, InteractionKind, Lead, Task
from crm.models.deliveries import WebhookDelivery
from crm.models.types import utcnow
from crm.services.normalize import FieldError, normalise_email
from crm.tenancy import routing
from workflows.vocabulary import StopReason, TaskKind

AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matische)?[ -]?(reply|antwort)|out of (the )?office|"
    r"abwesenheitsnotiz|abwesend|i am out of|ich bin (nicht im büro|abwesend))",
    re.I,
)


def _is_auto_reply(headers, subject: str) -> bool:
    auto_submitted = (headers.get("Auto-Submitted") or "no").strip().lower()
    if auto_submitted != "no":
        return True
    if (headers.get("Precedence") or "").strip().lower() in ("auto_reply", "bulk", "junk", "list"):
        return True
    if any(headers.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")):
        return True
    return bool(AUTO_SUBJECT.match(subject or ""))


INBOUND_SOURCE = "provider:sendgrid-inbound"


def company_of_reply(sender: str, recipients: str, delivery_key: str) -> int | None:
    """The company of the lead a reply is from: the company that stored this delivery (`delivery_key`)
    already, else the lead of our signed reply address (Reply-To carries the lead id and its MAC), else the
    one company with a live lead of the sender's address. A sender who is a lead of several companies and
    wrote to no reply address of ours is nobody's (None): the reply is not guessed into one of them."""
    lead_id = lead_from_reply_address(recipients)
    with routing.platform_lookup("route inbound reply"):
        # A retry of a reply stored once goes to the company that stored it, whatever happened to the lead
        # since (erased on request): it then replays the stored answer instead of being dropped as nobody's.
        stored = db.session.scalars(
            sa.select(WebhookDelivery.company_id)
            .where(WebhookDelivery.source == INBOUND_SOURCE, WebhookDelivery.delivery_key == delivery_key)
            .distinct()
            .limit(2)
        ).all()
        if len(stored) == 1:
            return stored[0]
        if lead_id:
            found = db.session.scalar(sa.select(Lead.company_id).where(Lead.id == lead_id))
            if found is not None:
                return found
        try:
            _, key = normalise_email(sender) if sender else (None, None)
        except FieldError:
            key = None
        if not key:
            return None
        companies = db.session.scalars(
            sa.select(Lead.company_id).where(Lead.email_key == key, Lead.merged_into_id.is_(None)).distinct().limit(2)
        ).all()
        return companies[0] if len(companies) == 1 else None


def _match_lead(sender: str, recipients: str) -> Lead | None:
    if sender:
        try:
            _, key = normalise_email(sender)
        except FieldError:
            key = None
        if key:
            lead = db.session.scalar(sa.select(Lead).where(Lead.email_key == key, Lead.merged_into_id.is_(None)))
            if lead is not None:
                return lead
    lead_id = lead_from_reply_address(recipients)
    return suppression.live_lead(db.session.get(Lead, lead_id)) if lead_id else None


def _text_of(form) -> str:
    text = form.get("text") or ""
    if not text and form.get("html"):
        text = re.sub(r"<[^>]+>", " ", form.get("html"))
        text = re.sub(r"[ \t]+", " ", text)
    return text.strip()


@dataclass(frozen=True)
class InboundReply:
    """What the CRM keeps of one posted reply; `key` names the delivery (its Message-ID, hashed)."""

    sender: str
    recipients: str
    subject: str
    message_id: str
    key: str
    auto: bool
    text: str
    in_reply_to: str
    spam_score: str
    attachments: int


def parse_reply(form: Any, body: bytes) -> InboundReply:
    """The reply in Inbound Parse's form fields; `body` (the raw request) names it when it has no Message-ID."""
    raw_headers = form.get("headers") or ""
    headers: Message | dict[str, str] = HeaderParser().parsestr(raw_headers) if raw_headers else {}
    sender, recipients = _addresses(form, headers)
    subject = (form.get("subject") or "").strip()
    message_id = ((headers.get("Message-ID") if headers else None) or "").strip() or "sha256:" + hashlib.sha256(
        body
    ).hexdigest()
    return InboundReply(
        sender=sender,
        recipients=recipients,
        subject=subject,
        message_id=message_id,
        key="in:" + hashlib.sha256(message_id.encode()).hexdigest(),
        auto=_is_auto_reply(headers, subject) if headers else bool(AUTO_SUBJECT.match(subject)),
        text=_text_of(form),
        in_reply_to=((headers.get("In-Reply-To") if headers else None) or "")[:300],
        spam_score=str(form.get("spam_score") or "")[:10],
        attachments=int(form.get("attachments") or 0) if str(form.get("attachments") or "0").isdigit() else 0,
    )


def _addresses(form: Any, headers: Message | dict[str, str]) -> tuple[str, str]:
    """(sender address, every recipient as one text): From, else the SMTP envelope's sender; To, Cc and
    the envelope's recipients (the signed Reply-To tag may be in any of them)."""
    _, sender = parseaddr(form.get("from") or (headers.get("From") if headers else "") or "")
    envelope = {}
    try:
        envelope = json.loads(form.get("envelope") or "{}")
    except ValueError:
        pass
    if not sender and isinstance(envelope, dict):
        sender = str(envelope.get("from") or "")
    recipients = " ".join(
        [form.get("to") or "", form.get("cc") or ""]
        + [str(x) for x in (envelope.get("to") or [] if isinstance(envelope, dict) else [])]
    )
    return sender, recipients


def record_reply(reply: InboundReply) -> tuple[int, dict[str, Any]]:
    """Store the reply (interaction, task unless automatic, audit entry); the answer names the stop reason
    the caller tells the chain. Runs once per reply through deliveries.process_once."""
    lead = _match_lead(reply.sender, reply.recipients)
    if lead is None:
        return 200, {"status": "ignored", "reason": "no lead with this address"}
    interaction = Interaction(
        lead_id=lead.id,
        kind=InteractionKind.EMAIL,
        direction=Direction.INBOUND,
        provider=PROVIDER,
        provider_ref=reply.key[:128],
        status="auto_reply" if reply.auto else "received",
        subject=reply.subject[:300] or None,
        summary=reply.text[:4000] or None,
        started_at=utcnow(),
        created_by="sendgrid-inbound",
        data={
            "from": reply.sender[:254],
            "message_id": reply.message_id[:300],
            "in_reply_to": reply.in_reply_to,
            "spam_score": reply.spam_score,
            "attachments": reply.attachments,
            "auto_reply": reply.auto,
        },
    )
    db.session.add(interaction)
    db.session.flush()
    task_id = None if reply.auto else _owner_task(lead, reply).id
    db.session.add(
        AuditEntry(
            actor="sendgrid-inbound",
            action="lead.email_replied" if not reply.auto else "lead.email_auto_reply",
            entity_type="lead",
            entity_id=lead.id,
            after={"interaction_id": interaction.id, "task_id": task_id},
        )
    )
    return 200, {
        "status": "recorded",
        "lead": lead.id,
        "interaction": interaction.id,
        "task": task_id,
        "stop": None if reply.auto else StopReason.REPLIED,
    }


def _owner_task(lead: Lead, reply: InboundReply) -> Task:
    """The lead owner's task to answer the reply, titled in the lead's language."""
    lang = lead.language if lead.language in catalogs.LANGUAGES else catalogs.DEFAULT_LANGUAGE
    # The same msgid the lead page shows it by (crm/ui/display_labels.py reads a stored title back).
    title = catalogs.gettext(lang, "ui", "Email reply from %(name)s", name=lead.display_name)
    subject, text = reply.subject, reply.text
    task = Task(
        lead_id=lead.id,
        owner_id=lead.owner_id,
        kind=TaskKind.EMAIL_REPLY,
        title=title[:300],
        details=(f"{subject}\n\n{text}" if subject else text)[:4000] or None,
        due_at=utcnow() + timedelta(hours=4),
        dedupe_key=f"email-reply:{reply.key[3:43]}",
    )
    db.session.add(task)
    db.session.flush()
    return task
