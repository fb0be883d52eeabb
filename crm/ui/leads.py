"""The leads area: the list (search, filters, sort, pages, bulk actions), the lead page and its edit form.

GET  /leads                 the list; filters are query parameters; an htmx request gets only the results
POST /leads/bulk            assign (managers and admins), pause or resume the chains of the ticked leads
GET  /leads/<id>            the lead page; the chain's live status from the workflow's query
GET  /leads/<id>/edit, POST the edit form

Editing takes only the fields ``access.editable_fields(user)`` lists; anything else a form sends
(owner_id from a rep, role, consent fields from a non-admin, ids, scores) is ignored, never written.
Changes are validated with the intake normalisers and audited with the actor ``ui:<user id>``.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime
from typing import Any, Literal

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import format_datetime
from flask_login import current_user

from crm.extensions import db
from crm.languages import LANGUAGES
from crm.models import Channel, ConsentRecord, Lead, LeadStatus, LegalBasis, Priority, User
from crm.models.types import utcnow
from crm.services import audit, chain_control, money, normalize
from crm.temporal_gateway import ChainNotRunning, TemporalUnavailable
from crm.ui import lead_detail as lead_page
from crm.ui import lead_queries as q
from crm.ui.access import MANAGERS, any_role, editable_fields, lead_or_404, lead_visibility, user
from crm.ui.auth import safe_next
from crm.ui.i18n import _, current_language, ngettext

log = logging.getLogger(__name__)
bp = Blueprint("leads", __name__)

BULK_MAX = 200
TEXT_LIMITS = {"first_name": 100, "last_name": 100, "company": 200, "interest": 2000}
PROOF_MAX = 2000


def actor() -> str:
    return f"ui:{user().id}"


CONSENT_FORM = ("consent_channel", "consent_action", "consent_basis", "consent_proof")


def helpers() -> dict[str, Any]:
    """Template helpers of both lead blueprints: dates in the user's zone, money in their language (a
    provider's cost in the company currency with the rate used: crm.services.money)."""

    def when(value, fmt: str = "short") -> str:
        return format_datetime(value, fmt) if value else ""

    return {
        "when": when,
        "money": lambda cents, cur: money.display(cents, cur, current_language()),
        "is_manager": getattr(current_user, "role", None) in MANAGERS,
    }


bp.context_processor(helpers)


# ---------------------------------------------------------------- the list


@bp.get("/leads")
@any_role
def index():
    """The leads the user may see, filtered, sorted and one page at a time."""
    filters = q.parse_filters(request.args)
    page = q.list_leads(user(), filters)
    context = {
        "filters": filters,
        "page": page,
        "choices": q.filter_choices(user()),
        "statuses": [s for s in LeadStatus if s != LeadStatus.MERGED],
        "priorities": list(Priority),
    }
    partial = bool(request.headers.get("HX-Request")) and not request.headers.get("HX-History-Restore-Request")
    response = render_template("ui/leads/_results.html" if partial else "ui/leads/index.html", **context)
    return response, 200, {"Vary": "HX-Request"}


def _back_to_list():
    target = safe_next(request.form.get("next"))
    # Only back into the list itself: never an open redirect (nor a header with a line break).
    if not target.startswith("/leads"):
        target = url_for("leads.index")
    return redirect(target, code=303)


@bp.post("/leads/bulk")
@any_role
def bulk():
    """Assign, pause or resume several leads at once; leads the user may not see are skipped."""
    action = request.form.get("action")
    if action not in ("assign", "pause", "resume"):
        flash(_("Please choose a bulk action."), "error")
        return _back_to_list()
    if action == "assign" and user().role not in MANAGERS:
        abort(403)
    ids = sorted({i for i in map(q.parse_id, request.form.getlist("lead_id")) if i is not None})[:BULK_MAX]
    if not ids:
        flash(_("Please tick at least one lead."), "error")
        return _back_to_list()
    leads = list(db.session.scalars(sa.select(Lead).where(Lead.id.in_(ids), lead_visibility(user()))))
    skipped = len(ids) - len(leads)
    if action == "assign":
        owner = _owner_from(request.form.get("owner_id"))
        if owner is False:
            flash(_("Please choose a valid owner."), "error")
            return _back_to_list()
        for lead in leads:
            if lead.owner_id != (owner.id if owner else None):
                before = audit.snapshot(lead, ("owner_id",))
                lead.owner_id = owner.id if owner else None
                audit.record(
                    actor(), "lead.assigned", "lead", lead.id, before=before, after=audit.snapshot(lead, ("owner_id",))
                )
        db.session.commit()
        flash(ngettext("%(num)d lead assigned.", "%(num)d leads assigned.", len(leads)), "success")
    else:
        done, not_running = 0, 0
        for lead in leads:
            try:
                chain_control.control(lead, action, actor=actor())
                done += 1
            except ChainNotRunning:
                not_running += 1
            except TemporalUnavailable:
                db.session.rollback()
                flash(_("The workflow service is unreachable. Please try again later."), "error")
                break
        if done:
            message = (
                ngettext("%(num)d chain paused.", "%(num)d chains paused.", done)
                if action == "pause"
                else ngettext("%(num)d chain resumed.", "%(num)d chains resumed.", done)
            )
            flash(message, "success")
        if not_running:
            flash(
                ngettext("%(num)d lead has no running chain.", "%(num)d leads have no running chain.", not_running),
                "warning",
            )
    if skipped:
        flash(ngettext("%(num)d lead was not found.", "%(num)d leads were not found.", skipped), "warning")
    return _back_to_list()


def _owner_from(raw: str | None) -> User | None | Literal[False]:
    """The chosen owner: a User, None for "unassigned", False when the choice is not a valid one."""
    raw = (raw or "").strip()
    if raw in ("", "none"):
        return None
    owner_id = q.parse_id(raw)
    if owner_id is None:
        return False
    owner = db.session.get(User, owner_id)
    if owner is None or not owner.active:
        return False
    return owner


# ---------------------------------------------------------------- the lead page


def chain_view(lead: Lead) -> dict[str, Any]:
    """The chain's live status, or what the CRM knows when Temporal cannot answer (never an error)."""
    try:
        chain = chain_control.status(lead)
    except ChainNotRunning:
        return {"running": False, "stage": lead.chain_stage, "chain_id": lead.chain_id}
    except TemporalUnavailable as e:
        log.warning("chain status of lead %s unavailable: %s", lead.id, e)
        return {"running": False, "stage": lead.chain_stage, "chain_id": lead.chain_id, "unavailable": True}
    # The status speaks ISO 8601 (it is also the API's answer); the page shows times in the user's zone.
    if chain.get("next_at"):
        chain["next_at_dt"] = datetime.fromisoformat(chain["next_at"])
    for h in chain.get("history") or []:
        h["at_dt"] = datetime.fromisoformat(h["at"])
    return chain


def render_lead(
    lead: Lead,
    *,
    status: int = 200,
    errors: dict[str, str] | None = None,
    form: dict[str, str] | None = None,
    form_name: str | None = None,
):
    """The lead page; action views re-render it with a form's field errors (status 422)."""
    who = user()
    detail = lead_page.lead_detail(who, lead)
    return render_template(
        "ui/leads/show.html",
        d=detail,
        lead=lead,
        chain=chain_view(lead),
        errors=errors or {},
        form=form or {},
        form_name=form_name,
        owners=q.assignable_users(who),
        can_edit=bool(editable_fields(who)),
    ), status


@bp.get("/leads/<int:lead_id>")
@any_role
def show(lead_id: int):
    """Profile, consent with proof, score, chain, duplicates and the whole timeline of one lead."""
    return render_lead(lead_or_404(lead_id))


# ---------------------------------------------------------------- editing


def _edit_values(lead: Lead) -> dict[str, str]:
    return {
        "first_name": lead.first_name or "",
        "last_name": lead.last_name or "",
        "company": lead.company or "",
        "email": lead.email or "",
        "phone": lead.phone_e164 or lead.phone_raw or "",
        "language": lead.language,
        "interest": lead.interest or "",
        "owner_id": str(lead.owner_id or ""),
        "priority": lead.priority.value if lead.priority else "",
    }


def _render_edit(lead: Lead, form: dict[str, str], errors: dict[str, str], status: int = 200):
    who = user()
    consents = list(
        db.session.scalars(
            sa.select(ConsentRecord).where(ConsentRecord.lead_id == lead.id).order_by(ConsentRecord.given_at.desc())
        )
    )
    return render_template(
        "ui/leads/edit.html",
        lead=lead,
        form=form,
        errors=errors,
        allowed=editable_fields(who),
        owners=q.assignable_users(who),
        consents=consents,
        priorities=list(Priority),
        bases=list(LegalBasis),
        channels=list(Channel),
    ), status


@bp.get("/leads/<int:lead_id>/edit")
@any_role
def edit(lead_id: int):
    lead = lead_or_404(lead_id)
    return _render_edit(lead, _edit_values(lead), {})


@bp.post("/leads/<int:lead_id>/edit")
@any_role
def update(lead_id: int):
    """Apply the allowed fields; every other submitted field is ignored (no mass assignment)."""
    lead = lead_or_404(lead_id)
    allowed = editable_fields(user())
    form = {**_edit_values(lead), **{k: v for k, v in request.form.items() if k in allowed}}
    if "consent" in allowed:
        form.update({name: request.form.get(name, "") for name in CONSENT_FORM})
    accepted = allowed | {"csrf_token"} | (set(CONSENT_FORM) if "consent" in allowed else set())
    ignored = sorted(set(request.form) - accepted)
    if ignored:
        log.info("lead edit by %s ignored fields not allowed for the role: %s", actor(), ", ".join(ignored))
    changes, errors = _validate(lead, {k: request.form[k] for k in allowed if k in request.form})
    consent = _consent_change(form) if "consent" in allowed else None
    if isinstance(consent, dict):
        errors.update(consent)
        consent = None
    if errors:
        db.session.rollback()
        return _render_edit(lead, form, errors, 422)

    before = audit.snapshot(lead)
    for name, value in changes.items():
        setattr(lead, name, value)
    if audit.snapshot(lead) != before:
        audit.record(actor(), "lead.updated", "lead", lead.id, before=before, after=audit.snapshot(lead))
    if consent:
        _apply_consent(lead, *consent)
    db.session.commit()
    flash(_("The lead has been saved."), "success")
    return redirect(url_for("leads.show", lead_id=lead.id), code=303)


def _validate(lead: Lead, data: dict[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """Column values from the submitted (already whitelisted) fields, or an error per bad field. One
    function per rule group, run in the form's order (the changes are applied in that order)."""
    changes: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for rule in (_validate_texts, _validate_email, _validate_phone, _validate_choices):
        rule(lead, data, changes, errors)
    email = changes["email"] if "email" in changes else lead.email
    phone_e164 = changes["phone_e164"] if "phone_e164" in changes else lead.phone_e164
    if not errors and not email and not phone_e164:
        errors["email"] = _("A lead needs an email address or a phone number.")
    return changes, errors


def _validate_texts(lead: Lead, data: dict[str, str], changes: dict[str, Any], errors: dict[str, str]) -> None:
    """The free-text fields (length limits); a new last name re-keys the duplicate match."""
    for name, limit in TEXT_LIMITS.items():
        if name in data:
            try:
                changes[name] = normalize.clean_text(data[name], limit)
            except normalize.FieldError:
                errors[name] = _("At most %(num)d characters.", num=limit)
    if "last_name" in changes:
        changes["match_key"] = normalize.match_key(changes["last_name"])


def _validate_email(lead: Lead, data: dict[str, str], changes: dict[str, Any], errors: dict[str, str]) -> None:
    """An empty email clears it; else it must be valid and no other live lead's."""
    if "email" not in data:
        return
    raw = data["email"].strip()
    if not raw:
        changes.update(email=None, email_key=None)
        return
    try:
        changes["email"], changes["email_key"] = normalize.normalise_email(raw)
    except normalize.FieldError:
        errors["email"] = _("This is not a valid email address.")
        return
    if changes["email_key"] != lead.email_key and _taken(Lead.email_key, changes["email_key"], lead):
        errors["email"] = _("Another lead already has this email address.")


def _validate_phone(lead: Lead, data: dict[str, str], changes: dict[str, Any], errors: dict[str, str]) -> None:
    """An empty phone clears it; an unchanged one stays as stored; else it must parse (in the lead's region)
    and be no other live lead's."""
    if "phone" not in data:
        return
    raw = data["phone"].strip()
    if not raw:
        changes.update(phone_e164=None, phone_raw=None, phone_region=None, phone_timezone=None, phone_status="unknown")
        return
    if raw == lead.phone_e164:
        return
    try:
        phone = normalize.normalise_phone(raw, lead.phone_region or "DE")
    except normalize.FieldError:
        errors["phone"] = _("This is not a valid phone number.")
        return
    if phone.e164 != lead.phone_e164 and _taken(Lead.phone_e164, phone.e164, lead):
        errors["phone"] = _("Another lead already has this phone number.")
    changes.update(
        phone_e164=phone.e164,
        phone_raw=raw[:64],
        phone_region=phone.region,
        phone_timezone=phone.timezone,
        phone_status=phone.status,
    )


def _validate_choices(lead: Lead, data: dict[str, str], changes: dict[str, Any], errors: dict[str, str]) -> None:
    """Language, priority and owner: one of the offered values (an empty priority or owner clears it)."""
    if "language" in data:
        if data["language"] in LANGUAGES:
            changes["language"] = data["language"]
        else:
            errors["language"] = _("Please choose a language from the list.")
    if "priority" in data:
        if data["priority"] == "":
            changes["priority"] = None
        else:
            try:
                changes["priority"] = Priority(data["priority"])
            except ValueError:
                errors["priority"] = _("Please choose a priority from the list.")
    if "owner_id" in data:
        owner = _owner_from(data["owner_id"])
        if owner is False:
            errors["owner_id"] = _("Please choose a valid owner.")
        else:
            changes["owner_id"] = owner.id if owner else None


def _taken(column, value: str, lead: Lead) -> bool:
    return (
        db.session.scalar(
            sa.select(Lead.id).where(column == value, Lead.id != lead.id, Lead.merged_into_id.is_(None)).limit(1)
        )
        is not None
    )


def _consent_change(form: dict[str, str]) -> tuple[Channel, str, LegalBasis | None, str] | dict[str, str] | None:
    """An admin's consent change from the form: (channel, "grant"|"withdraw", basis, proof), or errors."""
    action = form.get("consent_action") or ""
    if not action:
        return None
    errors: dict[str, str] = {}
    try:
        channel = Channel(form.get("consent_channel") or "")
    except ValueError:
        errors["consent_channel"] = _("Please choose a channel.")
    if action not in ("grant", "withdraw"):
        errors["consent_action"] = _("Please choose what to do with the consent.")
    basis = None
    proof = (form.get("consent_proof") or "").strip()
    if action == "grant":
        try:
            basis = LegalBasis(form.get("consent_basis") or "")
        except ValueError:
            errors["consent_basis"] = _("Please choose a legal basis.")
        if not proof:
            errors["consent_proof"] = _("Describe the proof of consent (where, when, how it was given).")
    if len(proof) > PROOF_MAX:
        errors["consent_proof"] = _("At most %(num)d characters.", num=PROOF_MAX)
    return errors if errors else (channel, action, basis, proof)


def _apply_consent(lead: Lead, channel: Channel, action: str, basis: LegalBasis | None, proof: str) -> None:
    who = user()
    if action == "grant":
        if basis is None:  # _consent_change demands a basis for a grant
            raise ValueError("granting consent needs a legal basis")
        record = ConsentRecord(
            lead_id=lead.id,
            channel=channel,
            legal_basis=basis,
            source="ui",
            proof_text=f"{proof} (recorded by {who.name}, user {who.id})",
            proof_key=f"ui:{uuid.uuid4().hex}",
            given_at=utcnow(),
        )
        db.session.add(record)
        db.session.flush()
        audit.record(
            actor(),
            "consent.recorded",
            "consent",
            record.id,
            after={"lead_id": lead.id, "channel": channel.value, "legal_basis": basis.value, "source": "ui"},
        )
        return
    for record in db.session.scalars(
        sa.select(ConsentRecord).where(
            ConsentRecord.lead_id == lead.id, ConsentRecord.channel == channel, ConsentRecord.withdrawn_at.is_(None)
        )
    ):
        record.withdrawn_at, record.withdrawn_reason = utcnow(), (proof or "withdrawn in the CRM")[:200]
        audit.record(
            actor(),
            "consent.withdrawn",
            "consent",
            record.id,
            after={"lead_id": lead.id, "channel": channel.value, "reason": record.withdrawn_reason},
        )
