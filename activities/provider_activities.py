"""Provider steps of the lead chain: dial, poll a call, send an email. Each at most once per key.

Temporal retries activities; the provider may already have acted when a worker died. The ledger row
(SideEffect) is written before the provider is asked, so a retry either returns the stored result or,
when the first attempt's fate is unknown, asks the provider for a call/message with our key first.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.ledger import claim, done_ref, mark_done
from activities.rows import require_row
from crm.billing import limits as billing_limits
from crm.email.port import EmailMessage, EmailSender
from crm.extensions import db
from crm.models import AuditEntry, Campaign, Direction, Interaction, InteractionKind, Lead, SideEffect
from crm.models.types import utcnow
from crm.services import compliance, twilio_calls
from providers.base import (
    CallRequest,
    ProviderCall,
    ProviderRegistry,
    ProviderRejected,
    ProviderUnavailable,
    VoiceProvider,
)
from providers.twilio_wire import NAME as TWILIO_REALTIME
from workflows.chain_policies import CALL_FAILURE_BUDGET, CALL_RATE_LIMIT_HORIZON
from workflows.payloads import CallPlaced, CallResult, EmailSent, FetchCallInput, PlaceCallInput, SendEmailInput
from workflows.vocabulary import CallStatus, EmailSendStatus

# Attempts on the primary provider (429/5xx) before the campaign's failover provider takes the call.
FAILOVER_AFTER = 3
# A dial's HTTP request ends this long before its attempt's start-to-close window closes (dial_window_s),
# and an attempt with less than MIN_DIAL_S left dials nothing.
DIAL_MARGIN_S = 1.0
MIN_DIAL_S = 2.0
REFUSED_EMAIL_STATUSES = {"bounced", "invalid", "suppressed", "unsubscribed", "spam", "none"}


def campaign_for(lead: Lead) -> Campaign | None:
    if lead.campaign_id:
        campaign = db.session.get(Campaign, lead.campaign_id)
        if campaign is not None and campaign.active:
            return campaign
    if lead.utm_campaign:
        campaign = db.session.scalar(sa.select(Campaign).where(Campaign.name == lead.utm_campaign, Campaign.active))
        if campaign is not None:
            return campaign
    default: Campaign | None = db.session.scalar(
        sa.select(Campaign).where(Campaign.is_default, Campaign.active).order_by(Campaign.id)
    )
    return default


def script_variables(lead: Lead, campaign: Campaign) -> dict[str, str]:
    """Dynamic variables for the agent's script: strings only (Retell refuses anything else)."""
    values = {str(k): str(v) for k, v in (campaign.script_variables or {}).items()}
    values.update(
        {
            "first_name": lead.first_name or "",
            "last_name": lead.last_name or "",
            "company": lead.company or "",
            "language": lead.language,
        }
    )
    return values


class ProviderActivities:
    def __init__(self, app: Flask, providers: ProviderRegistry, email: EmailSender | None) -> None:
        self.app = app
        self.providers = providers
        self.email = email

    @activity.defn(name="place_call")
    def place_call(self, inp: PlaceCallInput) -> CallPlaced:
        with self.app.app_context():
            row = claim(inp.idempotency_key, "call", inp.lead_id)
            if row.status == "done":
                return CallPlaced(*done_ref(row))
            if row.status == "refused":
                return CallPlaced(row.provider or "", "", refused=(row.result or {}).get("reason", "refused"))
            if row.status == "failed":
                reason = str((row.result or {}).get("reason", "failed"))
                raise ApplicationError(reason, type="CallBudgetSpent", non_retryable=True)
            try:
                return self._place(row, inp)
            except ApplicationError as e:
                # The chain stops trying for this key: say so on the ledger row, where a person looks,
                # instead of leaving it at `intent` ("the provider may have acted"). A superseded attempt
                # is not the end: the newer attempt owns the row.
                if _last_attempt(e):
                    _give_up(row, inp, f"{e.type}: {e.message}"[:200])
                raise

    def _place(self, row: SideEffect, inp: PlaceCallInput) -> CallPlaced:
        spent = _budget_spent(row)
        lead = require_row(Lead, inp.lead_id)
        campaign = _active_campaign(lead)
        primary = self.providers.get(campaign.provider)
        failover = self.providers.get(campaign.failover_provider) if campaign.failover_provider else None
        if row.attempts > 0:
            # Looked up even with the budget spent: an attempt that timed out may have dialled.
            try:
                found = _earlier_call(row, inp.idempotency_key, (primary, failover))
            except ApplicationError as e:
                if spent is None:
                    raise
                raise ApplicationError(
                    f"{spent}; {e.message}"[:200], type="CallBudgetSpent", non_retryable=True
                ) from None
            if found is not None:
                return self._placed(row, inp, found.provider, found.call_id)
        if spent is not None:
            raise ApplicationError(spent, type="CallBudgetSpent", non_retryable=True)
        use_failover = failover is not None and (primary is None or activity.info().attempt > FAILOVER_AFTER)
        provider = failover if use_failover else primary
        if provider is None:
            raise ApplicationError(
                f"provider {campaign.provider} is not configured", type="NoProvider", non_retryable=True
            )
        refused = self._gate_refusal(row, inp.lead_id)
        if refused is not None:
            return CallPlaced(provider.name, "", refused=refused)
        request = _call_request(inp, lead, campaign, use_failover)
        _start_attempt(row)
        call = _dial(row, provider, request)
        return self._placed(row, inp, call.provider, call.call_id)

    def _gate_refusal(self, row: SideEffect, lead_id: int) -> str | None:
        """Compliance is checked at the last moment before every dial, not only when the chain decided.
        A refusal is stored on the ledger row (a retry answers it without asking again)."""
        # Scheduled time, not only the wall clock: the later of the two (time-skipping tests run ahead).
        now = max(utcnow(), activity.info().current_attempt_scheduled_time)
        _pause_at_hard_limit(now)
        gate = compliance.check_call_gate(
            lead_id, now_utc=now, threshold=0, policy=self.app.extensions.get("leadchain.gate_policy")
        )
        if gate.allowed:
            return None
        row.status, row.result = "refused", {"reason": gate.reason}
        db.session.commit()
        return gate.reason

    def _placed(self, row: SideEffect, inp: PlaceCallInput, provider: str, call_id: str) -> CallPlaced:
        mark_done(row, provider, call_id, {"attempt": inp.attempt})
        existing = db.session.scalar(
            sa.select(Interaction).where(Interaction.provider == provider, Interaction.provider_ref == call_id)
        )
        if existing is None:
            try:
                # A fast webhook may create the call's record between our look-up and this insert.
                with db.session.begin_nested():
                    db.session.add(
                        Interaction(
                            lead_id=inp.lead_id,
                            kind=InteractionKind.CALL,
                            direction=Direction.OUTBOUND,
                            provider=provider,
                            provider_ref=call_id,
                            status=CallStatus.QUEUED,
                            started_at=utcnow(),
                            created_by="chain",
                            data={"stage": CallStatus.QUEUED, "chain_id": inp.chain_id},
                        )
                    )
            except sa.exc.IntegrityError:
                existing = db.session.scalar(
                    sa.select(Interaction).where(Interaction.provider == provider, Interaction.provider_ref == call_id)
                )
        if existing is not None and "chain_id" not in (existing.data or {}):
            existing.data = {**(existing.data or {}), "chain_id": inp.chain_id}
        db.session.commit()
        return CallPlaced(provider, call_id)

    @activity.defn(name="fetch_call_result")
    def fetch_call_result(self, inp: FetchCallInput) -> CallResult | None:
        provider = self.providers.get(inp.provider)
        if provider is None:
            raise ApplicationError(f"provider {inp.provider} is not configured", type="NoProvider", non_retryable=True)
        polled = provider.get_call(inp.call_id)
        if polled is None or inp.provider != TWILIO_REALTIME:
            return polled
        # Twilio's end carries no classification: the bridge's record does (crm.services.twilio_calls).
        with self.app.app_context():
            return twilio_calls.with_bridge_report(polled)

    @activity.defn(name="send_email")
    def send_email(self, inp: SendEmailInput) -> EmailSent:
        with self.app.app_context():
            row = claim(inp.idempotency_key, "email", inp.lead_id)
            if row.status == "done":
                return EmailSent(EmailSendStatus.SENT, row.provider_ref)
            if row.status == "refused":
                return EmailSent(EmailSendStatus.REFUSED, reason=(row.result or {}).get("reason"))
            lead = require_row(Lead, inp.lead_id)
            email, address = self.email, lead.email
            reason = None
            if email is None:
                reason = "no email sender configured"
            elif not address:
                reason = "no email address"
            elif lead.do_not_contact:
                reason = "do not contact"
            elif lead.email_status in REFUSED_EMAIL_STATUSES:
                reason = f"address {lead.email_status}"
            # The first two conditions always set a reason; named here too so the sender and the address
            # are known to be there below.
            if reason or email is None or not address:
                row.status, row.result = "refused", {"reason": reason}
                db.session.add(
                    AuditEntry(
                        actor="chain",
                        action="email.refused",
                        entity_type="lead",
                        entity_id=lead.id,
                        after={"template": inp.template, "reason": reason},
                    )
                )
                db.session.commit()
                return EmailSent(EmailSendStatus.REFUSED, reason=reason)
            if row.attempts > 0:
                found = email.find_sent(inp.idempotency_key)
                if found:
                    return self._sent(row, inp, found)
            # Counted in the database, not from what this session read: two attempts that overlap get
            # different counts, and the send is fenced on this one (crm/email/sendgrid_sender.py).
            row.attempts = SideEffect.attempts + 1
            db.session.commit()
            message_id = email.send(
                EmailMessage(
                    lead_id=lead.id,
                    to=address,
                    language=lead.language,
                    template=inp.template,
                    step=inp.step,
                    idempotency_key=inp.idempotency_key,
                    attempt=row.attempts,
                )
            )
            return self._sent(db.session.merge(row), inp, message_id)

    def _sent(self, row: SideEffect, inp: SendEmailInput, message_id: str) -> EmailSent:
        email = self.email
        if email is None:  # send_email refuses before any send without a sender; this keeps it so
            raise ApplicationError("no email sender configured", type="NoProvider", non_retryable=True)
        mark_done(row, email.name, message_id, {"template": inp.template, "step": inp.step})
        db.session.add(
            Interaction(
                lead_id=inp.lead_id,
                kind=InteractionKind.EMAIL,
                direction=Direction.OUTBOUND,
                provider=email.name,
                provider_ref=message_id,
                status="sent",
                subject=inp.template,
                data={"template": inp.template, "step": inp.step},
                started_at=utcnow(),
                created_by="chain",
            )
        )
        db.session.commit()
        return EmailSent(EmailSendStatus.SENT, message_id)

    def all(self) -> list[Callable[..., Any]]:
        return [self.place_call, self.fetch_call_result, self.send_email]


def _active_campaign(lead: Lead) -> Campaign:
    campaign = campaign_for(lead)
    if campaign is None:
        raise ApplicationError(
            "no active campaign: configure one (provider, agent, from-number)",
            type="NoProvider",
            non_retryable=True,
        )
    return campaign


def _earlier_call(
    row: SideEffect, idempotency_key: str, candidates: tuple[VoiceProvider | None, ...]
) -> ProviderCall | None:
    """An earlier attempt may have reached either provider before failing: look before dialling."""
    refused_so_far = (row.result or {}).get("refused_by", [])
    for candidate in candidates:
        if candidate is None:
            continue
        try:
            found = candidate.find_call(idempotency_key)
        except ProviderUnavailable as e:
            # A provider that answered every earlier attempt with 429/5xx never took the call;
            # only then may its failing look-up be skipped (a storm must not block failover).
            if candidate.name in refused_so_far and row.attempts == refused_so_far.count(candidate.name):
                continue
            raise ApplicationError(
                f"cannot confirm an earlier attempt: {e}"[:200], type="ProviderUnavailable"
            ) from None
        if found is not None:
            return found
    return None


def _call_request(inp: PlaceCallInput, lead: Lead, campaign: Campaign, use_failover: bool) -> CallRequest:
    to_number = lead.phone_e164
    if not to_number:
        # Unreachable: the gate refuses a lead without a number (GateReason.NO_PHONE). Never dial "".
        raise ApplicationError("the lead has no phone number", type="NoPhone", non_retryable=True)
    return CallRequest(
        lead_id=inp.lead_id,
        chain_id=inp.chain_id,
        idempotency_key=inp.idempotency_key,
        to_number=to_number,
        language=lead.language,
        agent_id=campaign.failover_agent_id if use_failover else campaign.agent_id,
        from_number=(campaign.failover_from_number if use_failover else None) or campaign.from_number,
        variables=script_variables(lead, campaign),
    )


def _start_attempt(row: SideEffect) -> None:
    """Count the dial on the ledger row (committed before the provider is asked)."""
    row.attempts += 1
    row.result = {**(row.result or {}), "attempt": activity.info().attempt}
    db.session.commit()


def dial_window_s(now: datetime | None = None) -> float | None:
    """Seconds this attempt may still spend dialling, or None without a start-to-close timeout.

    Once an attempt's start-to-close window has closed, Temporal may start the next attempt, which looks
    the call up and, finding none, dials. A dial of the old attempt still on the wire then would be a
    second call to the person (seen: a worker starved of CPU for seconds between its last look and its
    POST). So a dial ends, answered or timed out, DIAL_MARGIN_S before the window closes."""
    info = activity.info()
    if info.start_to_close_timeout is None:
        return None
    closes = info.started_time + info.start_to_close_timeout
    return (closes - (now or datetime.now(UTC))).total_seconds() - DIAL_MARGIN_S


def _dial(row: SideEffect, provider: VoiceProvider, request: CallRequest) -> ProviderCall:
    # Last look before dialling: if this attempt ran past its timeout, a newer attempt owns the dial.
    db.session.refresh(row)
    if (row.result or {}).get("attempt") != activity.info().attempt:
        raise ApplicationError("superseded by a newer attempt", type="Superseded", non_retryable=True)
    window = dial_window_s()
    if window is not None:
        if window < MIN_DIAL_S:
            # Too late to dial inside this attempt; the next one looks the call up first (none was made).
            raise ApplicationError(
                f"{window:.1f} s left of the attempt: not dialling", type="DialWindowClosed"
            ) from None
        request = replace(request, timeout_s=window)
    try:
        return provider.place_call(request)
    except ProviderRejected as e:
        raise ApplicationError(str(e)[:200], type="ProviderRejected", non_retryable=True) from None
    except ProviderUnavailable as e:
        rate_limited = e.status == 429
        if e.status is not None:
            result = dict(row.result or {})
            result["refused_by"] = result.get("refused_by", []) + [provider.name]
            if rate_limited:
                # Counted apart: a busy provider is not a failed call (_budget_spent).
                result["rate_limited"] = int(result.get("rate_limited", 0)) + 1
                result.setdefault("rate_limited_since", utcnow().isoformat())
            row.result = result
            db.session.commit()
        delay = timedelta(seconds=e.retry_after_s) if e.retry_after_s else None
        kind = "ProviderRateLimited" if rate_limited else "ProviderUnavailable"
        raise ApplicationError(str(e)[:200], type=kind, next_retry_delay=delay) from None


def _budget_spent(row: SideEffect) -> str | None:
    """Why this attempt is not made (the call's budget is spent), or None. Under a bounded retry policy
    (chains from before PATCH_CALL_BUDGET) Temporal counts the attempts itself."""
    info = activity.info()
    policy = info.retry_policy
    if policy is not None and policy.maximum_attempts > 0:
        return None
    result = row.result or {}
    limited = int(result.get("rate_limited", 0))
    failures = info.attempt - 1 - limited
    if failures >= CALL_FAILURE_BUDGET:
        return f"{failures} failed attempts (budget {CALL_FAILURE_BUDGET}; {limited} rate-limited not counted)"
    since = result.get("rate_limited_since")
    if since is not None and utcnow() - datetime.fromisoformat(since) > CALL_RATE_LIMIT_HORIZON:
        return f"rate limited (429) for more than {CALL_RATE_LIMIT_HORIZON} ({limited} answers)"
    return None


def _last_attempt(error: ApplicationError) -> bool:
    """Does the chain stop trying this key after `error`? Non-retryable errors end it (a superseded
    attempt only ends itself), and so does the last attempt a bounded retry policy allows."""
    if error.type == "Superseded":
        return False
    if error.non_retryable:
        return True
    policy = activity.info().retry_policy
    return policy is not None and 0 < policy.maximum_attempts <= activity.info().attempt


def _give_up(row: SideEffect, inp: PlaceCallInput, reason: str) -> None:
    db.session.rollback()
    row = db.session.merge(row)
    db.session.refresh(row)
    if row.status != "intent":
        return
    row.status, row.completed_at = "failed", utcnow()
    row.result = {**(row.result or {}), "reason": reason}
    db.session.add(
        AuditEntry(
            actor="chain",
            action="call.failed",
            entity_type="lead",
            entity_id=inp.lead_id,
            after={"key": inp.idempotency_key, "reason": reason},
        )
    )
    db.session.commit()


def _pause_at_hard_limit(now: datetime) -> None:
    """The company's hard billing limit (crm.billing.limits) pauses new outbound calls: a retryable error,
    not a refusal on the ledger row, so the activity keeps retrying (PROVIDER_CALL_RETRY: no attempt limit,
    every 2 minutes at most) and the call goes out once the limit is raised or the payment is made. The
    reason is the attempt's failure, which the chain's status shows; nothing is dialled or lost meanwhile."""
    state = billing_limits.state(now)
    if state.level == billing_limits.HARD:
        raise ApplicationError(f"calls paused: {state.reason}", type="BillingHardLimit")
