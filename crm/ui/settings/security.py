"""Settings → Sign-in: whether the company requires two-factor sign-in of everyone (admins always need it,
crm.ui.two_factor), and its OpenID Connect provider (crm.ui.oidc): issuer, client id, whether an unknown
verified email may create a user. The client secret lives in the secrets store; the page says only whether it
is set and under which name. Changes are audited."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from flask import abort, current_app, flash, redirect, render_template, request, url_for

from crm.extensions import db
from crm.services import audit, settings_store
from crm.ui.access import admin_only
from crm.ui.i18n import _
from crm.ui.oidc import client_secret_name
from crm.ui.settings.blueprint import actor, bp

FIELDS = ("require_two_factor", "oidc_issuer", "oidc_client_id", "oidc_create_users")


def validate(form: Any, *, testing: bool) -> tuple[dict[str, Any], dict[str, str]]:
    """The form's values as the company row stores them, and the problems by field."""
    values: dict[str, Any] = {
        "require_two_factor": form.get("require_two_factor") == "on",
        "oidc_create_users": form.get("oidc_create_users") == "on",
        "oidc_issuer": (form.get("oidc_issuer") or "").strip().rstrip("/") or None,
        "oidc_client_id": (form.get("oidc_client_id") or "").strip() or None,
    }
    problems: dict[str, str] = {}
    issuer = values["oidc_issuer"]
    if issuer is not None and not _issuer_ok(issuer, testing):
        problems["oidc_issuer"] = _("the provider's https:// address (its issuer), at most 500 characters")
    if values["oidc_client_id"] is not None and len(values["oidc_client_id"]) > 200:
        problems["oidc_client_id"] = _("at most %(num)d characters", num=200)
    if (issuer is None) != (values["oidc_client_id"] is None):
        problems.setdefault("oidc_client_id", _("issuer and client id go together"))
    return values, problems


def _issuer_ok(issuer: str, testing: bool) -> bool:
    try:
        parts = urlsplit(issuer)
        host = parts.hostname
    except ValueError:  # e.g. an unclosed [ of an IPv6 address
        return False
    # https only; plain http only for a provider on this machine while testing (the tests' own provider)
    loopback = testing and parts.scheme == "http" and host in ("127.0.0.1", "localhost")
    printable = issuer.isprintable() and " " not in issuer
    return len(issuer) <= 500 and bool(host) and (parts.scheme == "https" or loopback) and not parts.query and printable


def _page(row, values: dict[str, Any], problems: dict[str, str], status: int = 200):
    name = client_secret_name(row.id)
    has_secret = bool(current_app.extensions["leadchain.secrets"].get(name))
    return render_template(
        "ui/settings/security.html",
        company=row,
        values=values,
        problems=problems,
        secret_name=name,
        has_secret=has_secret,
        sso_url=url_for("oidc.start", slug=row.slug, _external=True),
    ), status


@bp.get("/security")
@admin_only
def security():
    """The company's sign-in settings."""
    row = settings_store.company()
    if row is None:
        abort(404)
    return _page(row, {f: getattr(row, f) for f in FIELDS}, {})


@bp.post("/security")
@admin_only
def save_security():
    """Store the sign-in settings; a bad field is a 422 naming it."""
    row = settings_store.company()
    if row is None:
        abort(404)
    values, problems = validate(request.form, testing=current_app.testing)
    if problems:
        return _page(row, values, problems, 422)
    before = {f: getattr(row, f) for f in FIELDS}
    changed = {k: v for k, v in values.items() if before[k] != v}
    if changed:
        for key, value in changed.items():
            setattr(row, key, value)
        earlier = {k: before[k] for k in changed}
        audit.record(actor(), "company.sign_in", "company", row.id, before=earlier, after=changed)
        db.session.commit()
    flash(_("Sign-in settings saved."), "success")
    return redirect(url_for("settings.security"))
