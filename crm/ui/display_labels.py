"""The stored codes' labels (the page's words for ``waiting_for_retry``, ``no_consent``, …): one table
of msgids per kind, translated at render time (crm/locales/<language>/LC_MESSAGES/ui.po). crm.ui.display
builds every shown text on ``label``/``known``; this module only holds the table and the look-up."""

from __future__ import annotations

import re
from typing import Any

from crm.ui.i18n import _
from workflows.vocabulary import (
    CallOutcome,
    CallStatus,
    ChainStage,
    EmailTemplate,
    GateReason,
    ScoreReason,
    StopReason,
    TaskKind,
    TimelineStep,
)


def N_(message: str) -> str:
    """Marks a msgid that is translated later, at render time (the request's language is known then)."""
    return message


# ---------------------------------------------------------------------------------------------- codes

LABELS: dict[str, dict[str, str]] = {
    "status": {
        "new": N_("New"),
        "qualified": N_("Qualified"),
        "contacted": N_("Contacted"),
        "nurturing": N_("Nurturing"),
        "booked": N_("Booked"),
        "lost": N_("Lost"),
        "do_not_contact": N_("Do not contact"),
        "merged": N_("Merged"),
    },
    "priority": {"hot": N_("Hot"), "warm": N_("Warm"), "cold": N_("Cold")},
    # tags the scoring sets (crm/services/scoring.py); a rep's own tags are shown as typed
    "tag": {
        "hot": N_("Hot"),
        "warm": N_("Warm"),
        "cold": N_("Cold"),
        "b2b": N_("B2B"),
        "freemail": N_("Freemail"),
        "consent:phone": N_("Consent to calls"),
        "consent:email": N_("Consent to emails"),
        "interest": N_("Interest"),
        "engaged": N_("Engaged"),
    },
    # The chain's stages (LeadStage search attribute, lead.chain_stage, "chain.<stage>" audit rows),
    # including the timeline-only ones the workflow writes through _timeline()/_record().
    "stage": {
        ChainStage.IMPORTING: N_("Importing"),
        TimelineStep.IMPORTED: N_("Imported"),
        ChainStage.CONTINUING: N_("Continuing"),
        ChainStage.QUALIFYING: N_("Qualifying"),
        ChainStage.CALLING: N_("Calling"),
        ChainStage.WAITING_FOR_RESULT: N_("Waiting for the call result"),
        ChainStage.FOLLOWING_UP: N_("Following up"),
        ChainStage.NURTURING: N_("Nurturing"),
        "waiting": N_("Waiting"),
        ChainStage.WAITING_FOR_RETRY: N_("Waiting for the next attempt"),
        ChainStage.WAITING_FOR_WINDOW: N_("Waiting for calling hours"),
        ChainStage.PAUSED: N_("Paused"),
        ChainStage.CANCELLED: N_("Cancelled"),
        ChainStage.DO_NOT_CONTACT: N_("Do not contact"),
        ChainStage.BOOKED: N_("Booked"),
        ChainStage.UNSUBSCRIBED: N_("Unsubscribed"),
        ChainStage.REPLIED: N_("Replied"),
        ChainStage.COMPLETED: N_("Completed"),
        "failed": N_("Failed"),
        ChainStage.JOINED: N_("Joined another chain"),
        ChainStage.NURTURE_EXHAUSTED: N_("Nurturing finished"),
        ChainStage.HANDED_OVER: N_("Handed to the owner"),
        TimelineStep.GATE: N_("Call check"),
        TimelineStep.CALL: N_("Call"),
        TimelineStep.EMAIL: N_("Email"),
        TimelineStep.NURTURE: N_("Nurture email"),
        TimelineStep.REOPENED: N_("Chain re-opened"),
        TimelineStep.MERGED: N_("Submission merged"),
    },
    "outcome": {
        CallOutcome.INTERESTED: N_("Interested"),
        CallOutcome.NOT_INTERESTED: N_("Not interested"),
        CallOutcome.BOOKED: N_("Appointment booked"),
        CallOutcome.CALLBACK_REQUESTED: N_("Callback requested"),
        CallOutcome.DO_NOT_CALL: N_("Asked not to be called"),
        CallOutcome.WRONG_NUMBER: N_("Wrong number"),
        CallStatus.NO_ANSWER: N_("No answer"),
        CallStatus.BUSY: N_("Busy"),
        CallStatus.VOICEMAIL: N_("Voicemail"),
        CallStatus.COMPLETED: N_("Completed"),
        CallStatus.FAILED: N_("Failed"),
        "answered": N_("Answered"),
        "timeout": N_("No result"),
    },
    "sentiment": {
        "positive": N_("Positive"),
        "neutral": N_("Neutral"),
        "negative": N_("Negative"),
        "mixed": N_("Mixed"),
    },
    "email": {
        "sent": N_("Sent"),
        "processed": N_("Accepted by the mail service"),
        "delivered": N_("Delivered"),
        "opened": N_("Opened"),
        "clicked": N_("Clicked"),
        "bounced": N_("Bounced"),
        "blocked": N_("Blocked"),
        "dropped": N_("Not sent (suppressed)"),
        "received": N_("Received"),
        "deferred": N_("Delayed"),
    },
    "interaction": {
        "note": N_("Note"),
        "meeting": N_("Meeting"),
        "sms": N_("SMS"),
        "call": N_("Call"),
        "email": N_("Email"),
    },
    "task": {"open": N_("Open"), "done": N_("Done"), "cancelled": N_("Cancelled")},
    "task_kind": {
        TaskKind.CALLBACK: N_("Callback"),
        TaskKind.APPOINTMENT: N_("Appointment preparation"),
        TaskKind.PREPARE: N_("Preparation"),
        TaskKind.TODO: N_("To-do"),
        TaskKind.EMAIL_REPLY: N_("Answer the email"),
        TaskKind.FOLLOW_UP: N_("Follow-up"),
        TaskKind.REVIEW: N_("Review"),
    },
    "appointment": {"tentative": N_("Tentative"), "confirmed": N_("Confirmed"), "cancelled": N_("Cancelled")},
    "channel": {"phone": N_("Phone"), "email": N_("Email")},
    # where a consent came from: a lead source (shown as it is) or the CRM's edit form
    "consent_source": {"ui": N_("the CRM"), "api": N_("the API"), "import": N_("a CSV import")},
    "basis": {
        "express_consent": N_("Express consent"),
        "presumed_b2b": N_("Presumed consent (B2B)"),
        "callback_request": N_("Callback requested by the person"),
    },
    "direction": {"inbound": N_("incoming"), "outbound": N_("outgoing"), "internal": N_("internal")},
    "call_status": {
        CallStatus.CREATED: N_("Created"),
        CallStatus.QUEUED: N_("Queued"),
        CallStatus.RINGING: N_("Ringing"),
        CallStatus.IN_PROGRESS: N_("In progress"),
        CallStatus.ENDED: N_("Ended"),
        CallStatus.COMPLETED: N_("Completed"),
        CallStatus.FAILED: N_("Failed"),
        CallStatus.NO_ANSWER: N_("No answer"),
        CallStatus.BUSY: N_("Busy"),
        CallStatus.VOICEMAIL: N_("Voicemail"),
    },
    "reachability": {
        "valid": N_("valid"),
        "unverified": N_("unverified"),
        "invalid": N_("invalid"),
        "unknown": N_("unchecked"),
        "bounced": N_("bounced"),
        "unsubscribed": N_("unsubscribed"),
        "suppressed": N_("blocked"),
        "spam": N_("reported as spam"),
        "none": N_("no address"),
    },
    # crm/services/compliance.py GateDecision.reason
    "gate_reason": {
        GateReason.NO_PHONE: N_("no phone number"),
        GateReason.PHONE_INVALID: N_("phone number marked invalid"),
        GateReason.DO_NOT_CONTACT: N_("do not contact"),
        GateReason.NO_CONSENT: N_("no consent to calls"),
        GateReason.SCORE_BELOW_THRESHOLD: N_("score not above the threshold"),
        GateReason.ATTEMPT_CAP: N_("daily call limit reached"),
        GateReason.OUTSIDE_HOURS: N_("outside calling hours"),
        GateReason.OK: N_("allowed"),
        "refused": N_("refused"),
    },
    # StopSignal reasons: why a chain was stopped from outside
    "stop_reason": {
        StopReason.CANCELLED: N_("cancelled"),
        StopReason.DO_NOT_CONTACT: N_("do not contact"),
        StopReason.UNSUBSCRIBED: N_("unsubscribed"),
        StopReason.REPLIED: N_("the lead replied"),
        StopReason.BOOKED: N_("Appointment booked"),
    },
    # crm/services/scoring.py factor names (call:<outcome> is built from the outcome's label)
    "factor": {
        "source": N_("Source"),
        "has_phone": N_("Phone number"),
        "has_email": N_("Email address"),
        "has_company": N_("Company"),
        "has_full_name": N_("Full name"),
        "freemail_domain": N_("Freemail address"),
        "business_domain": N_("Business email address"),
        "phone_consent": N_("Consent to calls"),
        "email_consent": N_("Consent to emails"),
        "stated_interest": N_("Stated interest"),
        "email_opens": N_("Email opens"),
        "email_clicks": N_("Email clicks"),
    },
    # the chain's email templates (an email interaction's subject is its template key)
    "email_template": {
        EmailTemplate.FOLLOW_UP: N_("Follow-up email"),
        EmailTemplate.BOOKING_CONFIRMATION: N_("Booking confirmation"),
        EmailTemplate.CALLBACK_CONFIRMATION: N_("Callback confirmation"),
        EmailTemplate.NURTURE: N_("Nurture email"),
        "report": N_("Manager report"),
        # crm/services/appointment_mail.py: a booked, moved or cancelled appointment, or its reminder
        "appointment_update": N_("Appointment email"),
    },
    # why an email was not sent (activities/provider_activities.py send_email)
    "email_refusal": {
        "no email sender configured": N_("no email sender configured"),
        "no email address": N_("no email address"),
        "do not contact": N_("do not contact"),
    },
    # Lead.qualification keys (voice/bridge/booking.py QUALIFICATION_KEYS)
    "qualification": {"need": N_("Need"), "timing": N_("Timing"), "decision_maker": N_("Decision maker")},
    # what an intake found (crm/services/submissions.py outcomes)
    "intake_outcome": {
        "created": N_("new lead"),
        "updated": N_("existing lead updated"),
        "duplicate": N_("already known"),
        "flagged": N_("possible duplicate flagged"),
        "merged": N_("merged"),
    },
    # why the chain scored again
    "score_reason": {
        ScoreReason.INTAKE: N_("first score"),
        ScoreReason.RESCORE: N_("re-score"),
        ScoreReason.RESUBMISSION: N_("new submission"),
        "call_now": N_("call requested by a rep"),
    },
    # crm.models.Role (the users page)
    "role": {"sales": N_("sales"), "manager": N_("manager"), "admin": N_("admin")},
    # audit-log field names
    "field": {
        "first_name": N_("First name"),
        "last_name": N_("Last name"),
        "company": N_("Company"),
        "email": N_("Email"),
        "phone_e164": N_("Phone"),
        "phone_status": N_("Phone status"),
        "email_status": N_("Email status"),
        "language": N_("Language"),
        "source": N_("Source"),
        "utm_source": N_("UTM source"),
        "utm_medium": N_("UTM medium"),
        "utm_campaign": N_("UTM campaign"),
        "utm_term": N_("UTM term"),
        "utm_content": N_("UTM content"),
        "interest": N_("Interest"),
        "owner_id": N_("Owner"),
        "status": N_("Status"),
        "score": N_("Score"),
        "priority": N_("Priority"),
        "tags": N_("Tags"),
        "do_not_contact": N_("Do not contact"),
        "dnc_reason": N_("Reason"),
        "merged_into_id": N_("Merged into"),
        "qualification": N_("Qualification"),
        "role": N_("Role"),
        "active": N_("Active"),
        "name": N_("Name"),
        "timezone": N_("Time zone"),
        # deals (crm.services.deals)
        "title": N_("Title"),
        "stage": N_("Pipeline stage"),  # a deal's (the chain's stages are "Schritt" in German)
        "value_cents": N_("Value in cents"),
        "currency": N_("Currency"),
        "expected_close_on": N_("Expected close"),
        "lost_reason": N_("Reason"),
        "note": N_("Note"),
    },
    # audit actions
    "audit": {
        "lead.created": N_("Lead created"),
        "lead.updated": N_("Lead edited"),
        "lead.assigned": N_("Owner changed"),
        "lead.do_not_contact": N_("Marked do-not-contact"),
        "lead.merged": N_("Duplicate merged in"),
        "lead.merged_into": N_("Merged into another lead"),
        "lead.scored": N_("Score changed"),
        "lead.booked": N_("Appointment booked"),
        "lead.qualification": N_("Qualification answers recorded"),
        "lead.intake_conflict": N_("Source proposed other values"),
        "lead.phone_invalid": N_("Phone number marked invalid"),
        "lead.email_bounced": N_("Email address bounced"),
        "lead.email_invalid": N_("Email address invalid"),
        "lead.email_unsubscribed": N_("Unsubscribed from emails"),
        "lead.email_suppressed": N_("Email address blocked"),
        "lead.email_spam": N_("Reported as spam"),
        "lead.email_replied": N_("Replied by email"),
        "lead.email_auto_reply": N_("Automatic email reply"),
        "lead.assigned_automatically": N_("Owner assigned automatically"),
        "note.added": N_("Note added"),
        "task.created": N_("Task created"),
        "task.done": N_("Task done"),
        "consent.recorded": N_("Consent recorded"),
        "consent.withdrawn": N_("Consent withdrawn"),
        "duplicate.dismissed": N_("Not a duplicate"),
        "call.refused": N_("Call not allowed"),
        "email.refused": N_("Email not sent"),
        "appointment.booked": N_("Appointment booked"),
        "chain.pause_requested": N_("Chain pause requested"),
        "chain.resume_requested": N_("Chain resume requested"),
        "chain.cancel_requested": N_("Chain cancel requested"),
        "chain.call_now_requested": N_("Call requested"),
        "deal.created": N_("Deal created"),
        "deal.moved": N_("Deal moved"),
        "deal.won": N_("Deal won"),
        "deal.lost": N_("Deal lost"),
        "deal.reopened": N_("Deal reopened"),
        "deal.updated": N_("Deal edited"),
    },
}

# The chain's task titles (workflows/lead_chain.py _follow_up); a rep's own titles are shown as typed.
CHAIN_TASK_TITLES = (N_("Prepare the booked appointment"), N_("Call back the interested lead"))

# Titles the CRM writes in the *lead's* language (they reach the lead too): the task for an email reply
# (crm/webhooks/sendgrid_inbound.py _owner_task) and the appointment booked on a call (voice/bridge/booking.py
# _title). Recognised in either language and shown in the page's.
_EMAIL_REPLY = re.compile(r"(?:Email reply from|E-Mail-Antwort von|Réponse par e-mail de) (.+)", re.S)
_CONSULTATION = re.compile(r"(?:Consultation with|Beratungsgespräch mit) (.+) \(([^()]*)\)", re.S)
_PHONE_LOCATIONS = ("Phone call: we will call you", "Telefonat: wir rufen Sie an")


def task_title(title: str | None) -> str:
    title = title or ""
    if title in CHAIN_TASK_TITLES:
        return _(title)
    if m := _EMAIL_REPLY.fullmatch(title):
        return _("Email reply from %(name)s", name=m[1])
    return title


def appointment_title(title: str | None) -> str:
    title = title or ""
    if m := _CONSULTATION.fullmatch(title):
        return _("Consultation with %(company)s (%(owner)s)", company=m[1], owner=m[2])
    return title


def appointment_location(location: str | None) -> str:
    location = location or ""
    return _("Phone call: we will call you") if location in _PHONE_LOCATIONS else location


def label(kind: str, value: Any) -> str:
    """A stored code in words; "–" for none; an unknown code as it is."""
    if value is None or value == "":
        return "–"
    value = getattr(value, "value", value)
    msgid = LABELS.get(kind, {}).get(str(value))
    return _(msgid) if msgid else str(value)


def known(kind: str, value: Any) -> bool:
    return str(getattr(value, "value", value)) in LABELS.get(kind, {})
