"""SendGrid into the CRM: the signed Event Webhook and Inbound Parse (replies).

POST /webhooks/sendgrid
    A JSON array of events, signed with ECDSA P-256 over ``timestamp + raw body`` (docs/providers.md §4.4).
    Bad, missing or stale signature → 401 and nothing stored. SendGrid sends each event about three
    times with a new ``sg_event_id`` each time, so every event is deduplicated on its natural key
    (sg_message_id, event, timestamp, url) through deliveries.process_once. The email interaction's
    state only moves forward (sent < processed < delivered < opened < clicked; bounced/blocked/
    dropped are final), opens and clicks are counted in ``data["opens"/"clicks"]`` (the scoring
    reads them; Apple-style machine opens are kept apart in ``data["machine_opens"]``), hard bounces
    mark the address bounced, spam reports and unsubscribes suppress it, withdraw email consent and
    stop the chain. An event of one of our messages whose interaction is not recorded yet (the
    sending activity has not committed, or died and awaits its retry) is not acknowledged: the batch
    answers 503 and SendGrid delivers it again (the events already applied replay as no-ops).

POST /webhooks/sendgrid/inbound
    Inbound Parse (multipart/form-data), signed the same way when the parse webhook has a security
    policy with signature verification (required here). The reply is matched to its lead by the
    sender's address (email_key), else by the signed +tag of our Reply-To address, stored as an
    inbound email interaction, the owner gets a task and the chain is told to stop ("replied").
    Automatic replies (RFC 3834 Auto-Submitted, out-of-office) are stored but neither stop the chain
    nor create a task.

Verification keys: secrets ``providers/sendgrid-webhook-public-key`` (base64 DER SPKI as SendGrid shows
it; several for rotation) and ``providers/sendgrid-inbound-public-key`` (the parse security policy's
key; falls back to the event key). Keyless sandbox mode: fetched from the sandbox's
/sendgrid/sandbox/public-key.
"""

from __future__ import annotations

import base64
import binascii
import copy
import hashlib
import json
import logging
import os
import re
import time
from datetime import timedelta
from email.message import Message
from email.parser import HeaderParser
from email.utils import parseaddr
from typing import Any

import httpx
import sqlalchemy as sa
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app, jsonify, request
from flask_smorest import Blueprint

from crm.email import suppression
from crm.email.factory import sandbox_url, uses_sandbox
from crm.email.sendgrid_sender import PROVIDER, settle_from_event
from crm.email.tokens import lead_from_reply_address
from crm.errors import ApiError
from crm.extensions import db
from crm.models import AuditEntry, Direction, Interaction, InteractionKind, Lead, SideEffect, Task
from crm.models.types import utcnow
from crm.requests import raw_body
from crm.services import deliveries
from crm.services.normalize import FieldError, normalise_email
from crm.temporal_gateway import TemporalUnavailable
from workflows.vocabulary import StopReason, TaskKind

log = logging.getLogger(__name__)

bp = Blueprint(
    "webhooks_sendgrid",
    __name__,
    url_prefix="/webhooks",
    description="SendGrid Event Webhook and Inbound Parse (ECDSA-signed)",
)

SIGNATURE_HEADER = "X-Twilio-Email-Event-Webhook-Signature"
TIMESTAMP_HEADER = "X-Twilio-Email-Event-Webhook-Timestamp"
EVENT_SOURCE = "provider:sendgrid"
INBOUND_SOURCE = "provider:sendgrid-inbound"
# SendGrid posts a batch every 30 s or at 768 KB, whichever comes first.
MAX_EVENT_BATCH_BYTES = 2 * 1024 * 1024
SANDBOX_KEY_REFRESH_S = 30.0
# How old a signed timestamp may be. SendGrid retries a failed post for up to 24 hours and it is not
# documented whether a retry is signed anew; every event is deduplicated on its natural key (kept
# longer than this window), so a replayed genuine batch changes nothing, while a window shorter than
# the retry horizon could reject SendGrid's own retries after an outage. Hence 25 h by default;
# LEADCHAIN_SENDGRID_TOLERANCE_S (or app.config) tightens it once re-signing is confirmed.
DEFAULT_REPLAY_WINDOW_S = 25 * 3600
FUTURE_SKEW_S = 300

STATE_RANK = {"created": 0, "sent": 0, "processed": 1, "delivered": 2, "opened": 3, "clicked": 4}
FAILED_RANK = {"dropped": 10, "blocked": 11, "bounced": 12}
# SendGrid drops mail to addresses on its own suppression lists; mirror them on the lead.
DROP_REASONS = (
    ("bounced address", "bounced"),
    ("invalid", "invalid"),
    ("unsubscribed address", "unsubscribed"),
    ("spam reporting address", "suppressed"),
)
AUTO_SUBJECT = re.compile(
    r"^\s*(automatic reply|auto(matische)?[ -]?(reply|antwort)|out of (the )?office|"
    r"abwesenheitsnotiz|abwesend|i am out of|ich bin (nicht im büro|abwesend))",
    re.I,
)


class NotRecordedYet(Exception):
    """One of our messages whose interaction the sending activity has not committed yet."""


# ---- signature ----------------------------------------------------------------------------------


def _load_key(value: str) -> ec.EllipticCurvePublicKey | None:
    value = value.strip()
    try:
        if value.startswith("-----BEGIN"):
            key = serialization.load_pem_public_key(value.encode())
        else:
            key = serialization.load_der_public_key(base64.b64decode(value, validate=True))
    except (ValueError, binascii.Error, TypeError):
        log.error("a SendGrid verification key is not base64 DER / PEM SubjectPublicKeyInfo")
        return None
    return key if isinstance(key, ec.EllipticCurvePublicKey) else None


def _sandbox_keys(force: bool = False) -> list[str]:
    # Flask types current_app as the app itself; at runtime it is a LocalProxy that this unwraps.
    app = current_app._get_current_object()  # type: ignore[attr-defined]
    if not uses_sandbox(app):
        return []
    cache = app.extensions.get("leadchain.sendgrid.sandbox_key")
    if cache and not (force and time.monotonic() - cache[1] > SANDBOX_KEY_REFRESH_S):
        return cache[0]

    try:
        r = httpx.get(f"{sandbox_url(app)}/sendgrid/sandbox/public-key", timeout=5)
        r.raise_for_status()
        keys = [r.json()["public_key"]]
    except (httpx.HTTPError, ValueError, KeyError) as e:
        log.error("cannot fetch the sandbox's SendGrid public key: %s", type(e).__name__)
        keys = cache[0] if cache else []
    app.extensions["leadchain.sendgrid.sandbox_key"] = (keys, time.monotonic())
    return keys


def verification_keys(kind: str = "events", *, refresh: bool = False) -> list[ec.EllipticCurvePublicKey]:
    secrets = current_app.extensions["leadchain.secrets"]
    values = secrets.get_list("providers/sendgrid-inbound-public-key") if kind == "inbound" else []
    values = values or secrets.get_list("providers/sendgrid-webhook-public-key")
    if not values:
        values = _sandbox_keys(force=refresh)
    return [k for k in (_load_key(v) for v in values) if k is not None]


def signature_valid(body: bytes, headers, keys: list[ec.EllipticCurvePublicKey]) -> bool:
    signature, timestamp = headers.get(SIGNATURE_HEADER), headers.get(TIMESTAMP_HEADER)
    if not signature or not timestamp or not keys or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    age = time.time() - int(timestamp)
    if age > replay_window_s() or age < -FUTURE_SKEW_S:
        return False
    try:
        der = base64.b64decode(signature, validate=True)
    except (binascii.Error, ValueError):
        return False
    for key in keys:
        try:
            key.verify(der, timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
            return True
        except InvalidSignature:
            continue
    return False


def replay_window_s() -> int:
    value = current_app.config.get("LEADCHAIN_SENDGRID_TOLERANCE_S") or os.environ.get("LEADCHAIN_SENDGRID_TOLERANCE_S")
    return int(value) if value else DEFAULT_REPLAY_WINDOW_S


def _verify(body: bytes, kind: str) -> None:
    if signature_valid(body, request.headers, verification_keys(kind)):
        return
    # The sandbox may have restarted with a new key pair: fetch once more (rate-limited) and retry.
    if signature_valid(body, request.headers, verification_keys(kind, refresh=True)):
        return
    raise ApiError(401, "invalid or stale signature")


# ---- Event Webhook ------------------------------------------------------------------------------


def natural_key(event: dict[str, Any]) -> str:
    parts = [str(event.get(k) or "") for k in ("sg_message_id", "event", "timestamp", "url")]
    return "ev:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def message_id_of(event: dict[str, Any]) -> str | None:
    sg_message_id = event.get("sg_message_id")
    if not isinstance(sg_message_id, str) or not sg_message_id:
        return None
    return sg_message_id.split(".", 1)[0][:128]


def _find_interaction(ref: str) -> Interaction | None:
    return db.session.scalar(
        sa.select(Interaction).where(
            Interaction.provider == PROVIDER,
            Interaction.provider_ref == ref,
            Interaction.direction == Direction.OUTBOUND,
        )
    )


def _reconcile(event: dict[str, Any], message_id: str) -> Interaction | None:
    """Our message (message_key custom arg) not found under its id: settle an in-flight send and move
    an interaction recorded under an `unconfirmed-` placeholder to the real id."""
    key = event.get("message_key")
    if not isinstance(key, str) or not key:
        return None
    placeholder = settle_from_event(key, message_id)
    interaction = None
    if placeholder:
        interaction = _find_interaction(placeholder)
        if interaction is not None:
            interaction.provider_ref = message_id
            data = copy.deepcopy(interaction.data or {})
            data["confirmed_from"] = placeholder
            interaction.data = data
    db.session.commit()
    if interaction is None:
        interaction = _find_interaction(message_id)
    if interaction is None:
        ledger = db.session.scalar(sa.select(SideEffect.id).where(SideEffect.key == key))
        if ledger is not None:
            raise NotRecordedYet(message_id)
    return interaction


def apply_event(interaction: Interaction, event: dict[str, Any]) -> None:
    """Merge one event into the interaction; the result does not depend on the order of events."""
    data = copy.deepcopy(interaction.data or {})
    kind = str(event.get("event") or "")
    ts = event.get("timestamp")
    seen = data.setdefault("events", {})
    if isinstance(ts, int):
        seen[kind] = min(seen.get(kind, ts), ts)
    flags = set(data.get("flags") or [])
    target = None
    if kind == "processed":
        target = "processed"
    elif kind == "deferred":
        data["deferrals"] = int(data.get("deferrals") or 0) + 1
    elif kind == "delivered":
        target = "delivered"
    elif kind == "open":
        if event.get("sg_machine_open"):
            data["machine_opens"] = int(data.get("machine_opens") or 0) + 1
            target = "delivered"
        else:
            data["opens"] = int(data.get("opens") or 0) + 1
            target = "opened"
    elif kind == "click":
        url = str(event.get("url") or "")
        if "/unsubscribe/" in url:
            flags.add("unsubscribe_link_clicked")
            target = "opened"
        else:
            data["clicks"] = int(data.get("clicks") or 0) + 1
            data["clicked_urls"] = sorted(set(data.get("clicked_urls") or []) | {url[:300]})[:20]
            target = "clicked"
    elif kind == "bounce":
        target = "blocked" if event.get("type") == "blocked" else "bounced"
        data["bounce"] = {
            "type": event.get("type") or "bounce",
            "status": str(event.get("status") or "")[:20],
            "classification": str(event.get("bounce_classification") or "")[:60],
        }
    elif kind == "dropped":
        target = "dropped"
        data["drop_reason"] = str(event.get("reason") or "")[:200]
    elif kind == "spamreport":
        flags.add("spamreport")
    elif kind in ("unsubscribe", "group_unsubscribe"):
        flags.add("unsubscribe")
    elif kind == "group_resubscribe":
        flags.add("group_resubscribe")
    data["flags"] = sorted(flags)
    interaction.data = data
    if target is not None:
        interaction.status = _forward(interaction.status, target)


def _forward(current: str | None, target: str) -> str:
    current = current or "sent"
    if current in FAILED_RANK or target in FAILED_RANK:
        return max((s for s in (current, target) if s in FAILED_RANK), key=FAILED_RANK.__getitem__)
    return target if STATE_RANK.get(target, 0) > STATE_RANK.get(current, 0) else current


def _lead_effects(lead: Lead, event: dict[str, Any]) -> StopReason | None:
    """Bounces, drops, spam reports and unsubscribes on the lead. Returns a stop reason or None."""
    kind = event.get("event")
    address = str(event.get("email") or "").strip().lower()
    if not address or (lead.email or "").strip().lower() != address:
        # A late event for an address the lead no longer uses must not mark the new one.
        return None
    actor = "sendgrid"
    if kind == "bounce" and (event.get("type") or "bounce") == "bounce":
        suppression.mark_undeliverable(
            lead,
            status="bounced",
            actor=actor,
            detail=f"{event.get('status') or ''} {event.get('reason') or ''}".strip(),
        )
    elif kind == "dropped":
        reason = str(event.get("reason") or "").lower()
        for needle, status in DROP_REASONS:
            if needle in reason:
                if status in suppression.OBJECTION_STATUSES:
                    if suppression.object_to_email(lead, status=status, actor=actor, via="sendgrid_suppression"):
                        return StopReason.UNSUBSCRIBED
                else:
                    suppression.mark_undeliverable(lead, status=status, actor=actor, detail=reason)
                break
    elif kind == "spamreport":
        if suppression.object_to_email(lead, status="suppressed", actor=actor, via="spamreport"):
            return StopReason.UNSUBSCRIBED
    elif kind in ("unsubscribe", "group_unsubscribe"):
        if suppression.object_to_email(lead, status="unsubscribed", actor=actor, via="sendgrid_unsubscribe"):
            return StopReason.UNSUBSCRIBED
    return None


def _process(event: dict[str, Any], digest: str) -> deliveries.Outcome:
    key = natural_key(event)
    previous = deliveries.find(EVENT_SOURCE, key)
    if previous is not None:
        return deliveries.Outcome(previous.response_status, previous.response_body or {}, replayed=True)
    message_id = message_id_of(event)
    interaction = _find_interaction(message_id) if message_id else None
    if interaction is None and message_id:
        interaction = _reconcile(event, message_id)
    interaction_id = interaction.id if interaction is not None else None

    def work():
        lead = None
        target = db.session.get(Interaction, interaction_id) if interaction_id else None
        if target is not None:
            apply_event(target, event)
            lead = db.session.get(Lead, target.lead_id)
        elif str(event.get("lead_id") or "").isdigit():
            # Ours but not a chain message (e.g. a report): lead-level effects only.
            lead = db.session.get(Lead, int(event["lead_id"]))
        live = suppression.live_lead(lead)
        if lead is None or live is None:  # not ours, or merged into a record that is gone: nothing to mark
            return 200, {"status": "ignored", "event": event.get("event"), "reason": "unknown message"}
        stop = _lead_effects(live, event)
        return 200, {
            "status": "recorded",
            "event": event.get("event"),
            "interaction": interaction_id,
            "lead": lead.id,
            "stop": stop,
        }

    return deliveries.process_once(EVENT_SOURCE, key, digest, work)


@bp.route("/sendgrid", methods=["POST"])
@bp.doc(
    summary="Receive a batch of SendGrid events (Signed Event Webhook)",
    parameters=[
        {"in": "header", "name": h, "required": True, "schema": {"type": "string"}}
        for h in (SIGNATURE_HEADER, TIMESTAMP_HEADER)
    ],
    responses={
        "200": {"description": "every event applied or recognised as a duplicate"},
        "401": {"description": "bad or stale signature; nothing stored"},
        "503": {"description": "some events belong to a message not recorded yet; retry"},
    },
)
def events():
    body = raw_body(max(current_app.config["LEADCHAIN"].max_webhook_bytes, MAX_EVENT_BATCH_BYTES))
    _verify(body, "events")
    try:
        batch = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise ApiError(400, "body is not a JSON array of events") from None
    if not isinstance(batch, list):
        raise ApiError(400, "body is not a JSON array of events")
    digest = deliveries.payload_hash(body)
    results: list[dict[str, Any]] = []
    pending, stops = 0, {}
    for event in batch:
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            results.append({"status": "ignored", "reason": "not an event object"})
            continue
        try:
            outcome = _process(event, digest)
        except NotRecordedYet:
            db.session.rollback()
            pending += 1
            results.append({"status": "pending", "event": event.get("event")})
            continue
        results.append(outcome.body)
        if not outcome.replayed and outcome.body.get("stop"):
            stops[outcome.body["lead"]] = outcome.body["stop"]
    for lead_id, reason in stops.items():
        lead = db.session.get(Lead, lead_id)
        if lead is not None:
            # The reason comes back from the delivery's stored JSON answer as a plain string.
            suppression.tell_chain(lead, StopReason(reason), actor="sendgrid")
    if pending:
        return (jsonify({"received": len(batch), "pending": pending, "results": results}), 503, {"Retry-After": "30"})
    return jsonify({"received": len(batch), "results": results}), 200


# ---- Inbound Parse ------------------------------------------------------------------------------


def _is_auto_reply(headers, subject: str) -> bool:
    auto_submitted = (headers.get("Auto-Submitted") or "no").strip().lower()
    if auto_submitted != "no":
        return True
    if (headers.get("Precedence") or "").strip().lower() in ("auto_reply", "bulk", "junk", "list"):
        return True
    if any(headers.get(h) for h in ("X-Autoreply", "X-Autorespond", "X-Auto-Response-Suppress")):
        return True
    return bool(AUTO_SUBJECT.match(subject or ""))


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


@bp.route("/sendgrid/inbound", methods=["POST"])
@bp.doc(
    summary="Receive a reply through SendGrid Inbound Parse (multipart/form-data)",
    parameters=[
        {"in": "header", "name": h, "required": True, "schema": {"type": "string"}}
        for h in (SIGNATURE_HEADER, TIMESTAMP_HEADER)
    ],
    responses={
        "200": {"description": "stored (or not ours); a redelivery answers the same"},
        "401": {"description": "bad or stale signature; nothing stored"},
        "503": {"description": "stored, but the chain could not be told; retry"},
    },
)
def inbound():
    body = raw_body(current_app.config["LEADCHAIN"].max_request_bytes)
    _verify(body, "inbound")
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "Inbound Parse posts multipart/form-data")
    # A reply's text or HTML part may exceed Flask's 500 KB per-field default; the body limit holds.
    request.max_form_memory_size = len(body) + 1
    form = request.form
    raw_headers = form.get("headers") or ""
    headers: Message | dict[str, str] = HeaderParser().parsestr(raw_headers) if raw_headers else {}
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
    subject = (form.get("subject") or "").strip()
    message_id = ((headers.get("Message-ID") if headers else None) or "").strip() or "sha256:" + hashlib.sha256(
        body
    ).hexdigest()
    key = "in:" + hashlib.sha256(message_id.encode()).hexdigest()
    auto = _is_auto_reply(headers, subject) if headers else bool(AUTO_SUBJECT.match(subject))

    def work():
        lead = _match_lead(sender, recipients)
        if lead is None:
            return 200, {"status": "ignored", "reason": "no lead with this address"}
        text = _text_of(form)
        lang = lead.language if lead.language in ("de", "en") else "de"
        interaction = Interaction(
            lead_id=lead.id,
            kind=InteractionKind.EMAIL,
            direction=Direction.INBOUND,
            provider=PROVIDER,
            provider_ref=key[:128],
            status="auto_reply" if auto else "received",
            subject=subject[:300] or None,
            summary=text[:4000] or None,
            started_at=utcnow(),
            created_by="sendgrid-inbound",
            data={
                "from": sender[:254],
                "message_id": message_id[:300],
                "in_reply_to": ((headers.get("In-Reply-To") if headers else None) or "")[:300],
                "spam_score": str(form.get("spam_score") or "")[:10],
                "attachments": int(form.get("attachments") or 0)
                if str(form.get("attachments") or "0").isdigit()
                else 0,
                "auto_reply": auto,
            },
        )
        db.session.add(interaction)
        db.session.flush()
        task_id = None
        if not auto:
            title = (
                f"E-Mail-Antwort von {lead.display_name}" if lang == "de" else f"Email reply from {lead.display_name}"
            )
            task = Task(
                lead_id=lead.id,
                owner_id=lead.owner_id,
                kind=TaskKind.EMAIL_REPLY,
                title=title[:300],
                details=(f"{subject}\n\n{text}" if subject else text)[:4000] or None,
                due_at=utcnow() + timedelta(hours=4),
                dedupe_key=f"email-reply:{key[3:43]}",
            )
            db.session.add(task)
            db.session.flush()
            task_id = task.id
        db.session.add(
            AuditEntry(
                actor="sendgrid-inbound",
                action="lead.email_replied" if not auto else "lead.email_auto_reply",
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
            "stop": None if auto else StopReason.REPLIED,
        }

    outcome = deliveries.process_once(INBOUND_SOURCE, key, deliveries.payload_hash(body), work)
    answer = dict(outcome.body)
    if answer.get("stop"):
        lead = db.session.get(Lead, answer["lead"])
        try:
            # Also on a redelivery: if the chain was not reached the first time, it is now. Nothing
            # else stops the nurture sequence for a reply, so this one is required. A lead deleted since
            # the reply was recorded has no chain left to stop.
            answer["chain"] = (
                suppression.tell_chain(lead, StopReason.REPLIED, actor="sendgrid-inbound", required=True)
                if lead is not None
                else "no_chain"
            )
        except TemporalUnavailable:
            raise ApiError(
                503, "recorded; the workflow service is unavailable, retry later", headers={"Retry-After": "60"}
            ) from None
    return jsonify(answer), 200
