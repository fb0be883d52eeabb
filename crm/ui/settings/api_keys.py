"""Settings → API keys: the admin creates, rotates and revokes the company's keys (crm.api.keys).

A new key is shown once, on the page that answers the POST (never stored, never in a redirect URL or a
flash cookie); the list shows each key's prefix, scopes, creation, last use, expiry and state. Every change
is audited with the key's id and prefix, never the key."""

from __future__ import annotations

from datetime import datetime

from flask import abort, flash, redirect, render_template, request, url_for

from crm.api import keys
from crm.extensions import db
from crm.models.api_keys import ApiKey, Scope
from crm.models.types import utcnow
from crm.services import audit, settings_store
from crm.ui.access import admin_only
from crm.ui.i18n import _
from crm.ui.settings.blueprint import actor, bp


def scope_labels() -> dict[str, str]:
    return {
        Scope.INTAKE.value: _("Send leads in"),
        Scope.READ.value: _("Read leads"),
        Scope.MANAGE.value: _("Manage chains"),
    }


def _company_id() -> int:
    row = settings_store.company()
    if row is None:  # an operator outside any company
        abort(404)
    return row.id


def state(key: ApiKey, now: datetime) -> str:
    if key.revoked_at is not None:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "live"


def _page(company_id: int, *, problems: dict[str, str] | None = None, shown: str | None = None, form=None):
    status = 422 if problems else (201 if shown else 200)
    return render_template(
        "ui/settings/api_keys.html",
        keys=keys.listing(company_id),
        now=utcnow(),
        state=state,
        scope_labels=scope_labels(),
        problems=problems or {},
        shown=shown,
        name=(form.get("name") or "") if form else "",
        days=(form.get("lifetime_days") or "") if form else "",
        chosen=form.getlist("scopes") if form else [Scope.INTAKE.value],
    ), status


@bp.get("/api-keys")
@admin_only
def api_keys():
    """The company's API keys and the form for a new one."""
    return _page(_company_id())


@bp.post("/api-keys")
@admin_only
def create_api_key():
    """Make a key (shown once on the answer); a bad field is a 422 naming it."""
    company_id = _company_id()
    raw_days = (request.form.get("lifetime_days") or "").strip()
    problems: dict[str, str] = {}
    days = None
    if raw_days:
        days = int(raw_days) if raw_days.isdigit() and len(raw_days) < 6 else -1
    try:
        if days == -1:
            raise ValueError("lifetime_days: a whole number of days")
        issued = keys.issue(
            company_id, request.form.get("name") or "", request.form.getlist("scopes"), lifetime_days=days
        )
    except ValueError as e:
        field, _sep, message = str(e).partition(": ")
        problems[field] = message
        return _page(company_id, problems=problems, form=request.form)
    after = {"prefix": issued.prefix, "scopes": issued.scopes}
    audit.record(actor(), "api_key.create", "api_key", issued.key_id, after=after)
    db.session.commit()
    return _page(company_id, shown=issued.secret)


@bp.post("/api-keys/<int:key_id>/rotate")
@admin_only
def rotate_api_key(key_id: int):
    """A successor key (shown once); the old one keeps working for a day."""
    company_id = _company_id()
    try:
        issued = keys.rotate(company_id, key_id)
    except LookupError:
        abort(404)
    audit.record(actor(), "api_key.rotate", "api_key", key_id, after={"successor": issued.key_id})
    db.session.commit()
    flash(_("New key made. The old key keeps working for 24 hours."), "info")
    return _page(company_id, shown=issued.secret)


@bp.post("/api-keys/<int:key_id>/revoke")
@admin_only
def revoke_api_key(key_id: int):
    """The key stops working now."""
    company_id = _company_id()
    try:
        keys.revoke(company_id, key_id)
    except LookupError:
        abort(404)
    audit.record(actor(), "api_key.revoke", "api_key", key_id)
    db.session.commit()
    flash(_("The key was revoked; it no longer works."), "success")
    return redirect(url_for("settings.api_keys"))
