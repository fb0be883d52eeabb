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

import copy
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import sqlalchemy as sa
from flask import current_app, jsonify, request
from flask_smorest import Blueprint

from crm.email import suppression
from crm.email.sendgrid_sender import PROVIDER, settle_from_event
from crm.errors import ApiError
from crm.extensions import db
from crm.models import Direction, Interaction, Lead, SideEffect
from crm.requests import raw_body
from crm.routing import MAX_ROW_ID
from crm.services import deliveries
from crm.temporal_gateway import TemporalUnavailable
from crm.tenancy import routing
from crm.tenancy.context import company_scope
from crm.tenancy.web import bind_request_company
from crm.webhooks.sendgrid_inbound import INBOUND_SOURCE, company_of_reply, parse_reply, record_reply
from crm.webhooks.sendgrid_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_request
from workflows.vocabulary import StopReason

log = logging.getLogger(__name__)

bp = Blueprint(
    "webhooks_sendgrid",
    __name__,
    url_prefix="/webhooks",
    description="SendGrid Event Webhook and Inbound Parse (ECDSA-signed)",
)

EVENT_SOURCE = "provider:sendgrid"
# SendGrid posts a batch every 30 s or at 768 KB, whichever comes first.
MAX_EVENT_BATCH_BYTES = 2 * 1024 * 1024

STATE_RANK = {"created": 0, "sent": 0, "processed": 1, "delivered": 2, "opened": 3, "clicked": 4}
FAILED_RANK = {"dropped": 10, "blocked": 11, "bounced": 12}
# SendGrid drops mail to addresses on its own suppression lists; mirror them on the lead.
DROP_REASONS = (
    ("bounced address", "bounced"),
    ("invalid", "invalid"),
    ("unsubscribed address", "unsubscribed"),
    ("spam reporting address", "suppressed"),
)


class NotRecordedYet(Exception):
    """One of our messages whose interaction the sending activity has not committed yet."""


# ---- Event Webhook ------------------------------------------------------------------------------


def natural_key(event: dict[str, Any]) -> str:
    parts = [str(event.get(k) or "") for k in ("sg_message_id", "event", "timestamp", "url")]
    return "ev:" + hashlib.sha256("\x1f".join(parts).encode()).hexdigest()


def _lead_id_of(event: dict[str, Any]) -> int | None:
    """The `lead_id` custom argument as a row id: ASCII digits from 1 to MAX_ROW_ID (crm/routing.py), else
    None. str.isdigit() took '١' for lead 1, and an id past the column was an OverflowError, a 500."""
    text = str(event.get("lead_id") or "")
    if not (text.isascii() and text.isdigit()) or len(text) > 10:
        return None
    value = int(text)
    return value if 1 <= value <= MAX_ROW_ID else None


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
        # Only a chain message's send records an interaction to wait for; a report mail's ledger row
        # (kind report_email) never gets one, and waiting for it would answer 503 forever.
        ledger = db.session.scalar(sa.select(SideEffect.id).where(SideEffect.key == key, SideEffect.kind == "email"))
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
    handler = EVENT_HANDLERS.get(kind)
    target = handler(data, flags, event) if handler is not None else None
    data["flags"] = sorted(flags)
    interaction.data = data
    if target is not None:
        interaction.status = _forward(interaction.status, target)


# One handler per event kind: each updates the interaction's data and flags in place and names the
# state the event moves the interaction towards (None: the state stays).
EventHandler = Callable[[dict[str, Any], set[str], dict[str, Any]], str | None]


def _on_deferred(data: dict[str, Any], flags: set[str], event: dict[str, Any]) -> str | None:
    data["deferrals"] = int(data.get("deferrals") or 0) + 1
    return None


def _on_open(data: dict[str, Any], flags: set[str], event: dict[str, Any]) -> str | None:
    if event.get("sg_machine_open"):
        # Apple-style machine opens prove delivery, not interest: counted apart from opens.
        data["machine_opens"] = int(data.get("machine_opens") or 0) + 1
        return "delivered"
    data["opens"] = int(data.get("opens") or 0) + 1
    return "opened"


def _on_click(data: dict[str, Any], flags: set[str], event: dict[str, Any]) -> str | None:
    url = str(event.get("url") or "")
    if "/unsubscribe/" in url:
        flags.add("unsubscribe_link_clicked")
        return "opened"
    data["clicks"] = int(data.get("clicks") or 0) + 1
    data["clicked_urls"] = sorted(set(data.get("clicked_urls") or []) | {url[:300]})[:20]
    return "clicked"


def _on_bounce(data: dict[str, Any], flags: set[str], event: dict[str, Any]) -> str | None:
    data["bounce"] = {
        "type": event.get("type") or "bounce",
        "status": str(event.get("status") or "")[:20],
        "classification": str(event.get("bounce_classification") or "")[:60],
    }
    return "blocked" if event.get("type") == "blocked" else "bounced"


def _on_dropped(data: dict[str, Any], flags: set[str], event: dict[str, Any]) -> str | None:
    data["drop_reason"] = str(event.get("reason") or "")[:200]
    return "dropped"


def _moves_to(target: str) -> EventHandler:
    return lambda data, flags, event: target


def _flags(flag: str) -> EventHandler:
    def handler(data: dict[str, Any], flags: set[str], event: dict[str, Any]) -> str | None:
        flags.add(flag)
        return None

    return handler


EVENT_HANDLERS: dict[str, EventHandler] = {
    "processed": _moves_to("processed"),
    "deferred": _on_deferred,
    "delivered": _moves_to("delivered"),
    "open": _on_open,
    "click": _on_click,
    "bounce": _on_bounce,
    "dropped": _on_dropped,
    "spamreport": _flags("spamreport"),
    "unsubscribe": _flags("unsubscribe"),
    "group_unsubscribe": _flags("unsubscribe"),
    "group_resubscribe": _flags("group_resubscribe"),
}


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


def company_of_event(event: dict[str, Any]) -> int | None:
    """Whose message the event is about (docs/tenancy.md rule 2): the interaction recorded under its
    message id, else the send of its message_key custom argument, else its lead_id custom argument's lead.
    The batch is signed by the installation's SendGrid account, which sends for every company, so each
    event is routed on its own; a company id in the event is never read."""
    message_id = message_id_of(event)
    key = event.get("message_key")
    lead_id = _lead_id_of(event)
    with routing.platform_lookup("route sendgrid event"):
        found = None
        if message_id:
            found = db.session.scalar(
                sa.select(Interaction.company_id)
                .where(Interaction.provider == PROVIDER, Interaction.provider_ref == message_id)
                .limit(1)
            )
        if found is None and isinstance(key, str) and key and len(key) <= 300:
            found = db.session.scalar(sa.select(SideEffect.company_id).where(SideEffect.key == key))
        if found is None and lead_id is not None:
            found = db.session.scalar(sa.select(Lead.company_id).where(Lead.id == lead_id))
        return found


@contextmanager
def _company_work(company_id: int) -> Iterator[None]:
    """One event's work in its company's scope and transaction; whatever it left open is closed before the
    next event, which may be another company's."""
    if db.session().in_transaction():
        db.session.rollback()
    try:
        with company_scope(company_id):
            yield
    finally:
        db.session.rollback()


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
        elif (custom_lead_id := _lead_id_of(event)) is not None:
            # Ours but not a chain message (e.g. a report): lead-level effects only.
            lead = db.session.get(Lead, custom_lead_id)
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
    verify_request(body, "events")
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
        if not isinstance(event, dict) or not isinstance(event.get("event"), str) or not routing.storable(event):
            results.append({"status": "ignored", "reason": "not an event object"})
            continue
        company_id = company_of_event(event)
        if company_id is None:  # no message, send or lead of ours names it: nothing to record
            results.append({"status": "ignored", "event": event.get("event"), "reason": "unknown message"})
            continue
        try:
            with _company_work(company_id):
                outcome = _process(event, digest)
        except NotRecordedYet:
            pending += 1
            results.append({"status": "pending", "event": event.get("event")})
            continue
        results.append(outcome.body)
        if not outcome.replayed and outcome.body.get("stop"):
            stops[(company_id, outcome.body["lead"])] = outcome.body["stop"]
    for (company_id, lead_id), reason in stops.items():
        with _company_work(company_id):
            lead = db.session.get(Lead, lead_id)
            if lead is not None:
                # The reason comes back from the delivery's stored JSON answer as a plain string.
                suppression.tell_chain(lead, StopReason(reason), actor="sendgrid")
    if pending:
        return (jsonify({"received": len(batch), "pending": pending, "results": results}), 503, {"Retry-After": "30"})
    return jsonify({"received": len(batch), "results": results}), 200


# ---- Inbound Parse ------------------------------------------------------------------------------


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
    verify_request(body, "inbound")
    if request.mimetype != "multipart/form-data":
        raise ApiError(415, "Inbound Parse posts multipart/form-data")
    # A reply's text or HTML part may exceed Flask's 500 KB per-field default; the body limit holds.
    request.max_form_memory_size = len(body) + 1
    reply = parse_reply(request.form, body)
    company_id = company_of_reply(reply.sender, reply.recipients, reply.key)
    if company_id is None:  # no lead of any company wrote it: nothing to record (as before companies)
        return jsonify({"status": "ignored", "reason": "no lead with this address"}), 200
    bind_request_company(company_id)
    outcome = deliveries.process_once(
        INBOUND_SOURCE, reply.key, deliveries.payload_hash(body), functools.partial(record_reply, reply)
    )
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
